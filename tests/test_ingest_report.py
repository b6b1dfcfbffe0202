"""What `newsearch index` says about a real-world corpus: files of types it does not read, dates it
cannot read (the article is indexed undated, with a warning naming the file); and the metadata fixes
of issue 17: RSS authors as names, and one source for a site's feed and its pages."""

from __future__ import annotations

import json

from click.testing import CliRunner
from support.corpora import only, read_one

from newsearch.cli import cli

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>The Ledger - Economy</title><link>https://ledger.example.net/economy</link>
<item><title>Rates held</title><description>The bank held rates.</description>
<author>econ@ledger.example.net (Mary Lane)</author><pubDate>someday soon</pubDate></item>
<item><title>Rates cut</title><description>The bank cut rates.</description>
<author>desk@ledger.example.net</author><pubDate>Tue, 03 Mar 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""

PAGE = ("<!DOCTYPE html><html><head><title>Markets calm | The Ledger</title>"
        "<meta property='og:site_name' content='The Ledger'></head><body><article><h1>Markets calm</h1>"
        + "".join(f"<p>Paragraph {n}: markets were calm after the bank held its rates.</p>" for n in range(5))
        + "</article></body></html>")


def test_rss_authors_are_names_and_a_feed_and_its_pages_are_one_source(tmp_path):
    feed = read_one(tmp_path, "ledger/economy.rss", FEED)
    page = only(read_one(tmp_path, "ledger/calm.html", PAGE))
    assert [(d.title, d.author, d.source) for d in feed.documents] == [
        ("Rates held", "Mary Lane", "The Ledger"), ("Rates cut", "desk@ledger.example.net", "The Ledger")]
    assert page.source == "The Ledger"


def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "economy.rss").write_text(FEED)
    (folder / "storm.txt").write_text("Title: Storm hits coast\nDate: someday soon\n\nWinds of 100 mph.\n")
    for name in ("report.pdf", "memo.docx", "chart.png", "photo.png", ".hidden.txt"):
        (folder / name).write_bytes(b"\x00binary")
    return folder


def test_the_summary_lists_ignored_types_and_unreadable_dates_are_warnings(tmp_path):
    result = CliRunner().invoke(cli, ["index", str(corpus(tmp_path)), "--index", str(tmp_path / "ix")])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: economy.rss#1: unreadable date: 'someday soon': indexed without a date",
        "warning: storm.txt: unreadable date: 'someday soon': indexed without a date",
    ]
    assert result.stdout.splitlines()[1:] == ["4 files ignored: .png (2), .docx, .pdf.", "The index holds 3 documents."]


def test_the_json_report_holds_the_ignored_types_and_the_warnings(tmp_path):
    result = CliRunner().invoke(cli, ["index", str(corpus(tmp_path)), "--index", str(tmp_path / "ix"), "--json"])
    report = json.loads(result.stdout)
    assert report["ignored"] == 5  # the hidden file too
    assert report["ignored_types"] == {".png": 2, ".docx": 1, ".pdf": 1}
    assert report["warnings"] == [
        {"path": "economy.rss#1", "reason": "unreadable date: 'someday soon': indexed without a date"},
        {"path": "storm.txt", "reason": "unreadable date: 'someday soon': indexed without a date"}]
