"""Plain text and Markdown articles, encodings, dates, and the real corpora (sample and BBC)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from support.corpora import only, read_one, utc

from newsearch.corpus import read_file, scan
from newsearch.corpus.dates import parse_date
from newsearch.errors import CorpusError
from newsearch.models import Document

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "corpus" / "north-korean-soldiers-captured-in-kursk.txt"


# --- plain text -------------------------------------------------------------------------------

def test_bbc_style_headline_then_blank_line(tmp_path):
    text = "Ad sales boost Time Warner profit\n\nQuarterly profits rose 76%.\n\nThe firm said so.\n"
    document = only(read_one(tmp_path / "bbc", "business/001.txt", text))
    assert document == Document(
        id="business/001.txt", title="Ad sales boost Time Warner profit",
        body="Quarterly profits rose 76%.\n\nThe firm said so.", path="business/001.txt",
        published=None, source="business", url="", author="", tags=())


def test_sample_article_title_comes_from_its_first_sentence():
    [file] = scan([SAMPLE]).files
    document = only(read_file(file))
    text = SAMPLE.read_text(encoding="utf-8")
    assert document.title == (
        "In a striking turn of events, Ukrainian forces have detained two North Korean military personnel…")
    assert document.body == text.strip()
    assert document.body.startswith("In a striking turn of events, Ukrainian forces have detained")
    assert document.body.endswith("the ethical implications of involving foreign troops in domestic conflicts.")
    assert (document.id, document.path, document.source, document.published) == (
        "north-korean-soldiers-captured-in-kursk.txt", "north-korean-soldiers-captured-in-kursk.txt",
        "corpus", None)


def test_short_first_sentence_is_the_whole_title_without_its_full_stop(tmp_path):
    text = "The U.S. Senate voted on Monday. Mr. Smith said it was close.\nA second line."
    document = only(read_one(tmp_path, "vote.txt", text))
    assert document.title == "The U.S. Senate voted on Monday"
    assert document.body == text


def test_long_first_line_is_not_a_headline(tmp_path):
    first = "word " * 40  # 200 characters, followed by a blank line
    document = only(read_one(tmp_path, "long.txt", first + "\n\nRest of it."))
    assert document.title == ("word " * 20).strip() + "…"
    assert document.body == first.lstrip() + "\n\nRest of it."


def test_header_block_gives_metadata(tmp_path):
    text = ("Title: Storm hits coast\nDate: Nov 26, 2026 10:00 GMT\nSource: Wire Service\n"
            "URL: https://example.com/storm\nAuthor: Jane Doe\nTags: weather, storms, Weather\n"
            "ID: storm-1\n\nWinds of 100 mph were recorded.\n")
    document = only(read_one(tmp_path / "news", "world/storm.txt", text))
    assert document == Document(
        id="storm-1", title="Storm hits coast", body="Winds of 100 mph were recorded.",
        path="world/storm.txt", published=utc(2026, 11, 26, 10), source="Wire Service",
        url="https://example.com/storm", author="Jane Doe", tags=("weather", "storms"))


def test_header_keys_are_case_insensitive_and_headline_rule_still_applies(tmp_path):
    text = "PUBLISHED: 2026-11-26T10:00:00+02:00\n\nMarkets rally\n\nShares rose.\n"
    document = only(read_one(tmp_path, "m.txt", text))
    assert (document.title, document.body, document.published) == (
        "Markets rally", "Shares rose.", utc(2026, 11, 26, 8))


def test_body_line_with_a_colon_is_not_a_header(tmp_path):
    document = only(read_one(tmp_path, "note.txt", "Note: something happened\n\nDetails follow."))
    assert (document.title, document.body) == ("Note: something happened", "Details follow.")


def test_header_block_with_an_unknown_key_is_just_text(tmp_path):
    text = "Title: Storm\nMood: grim\n\nBody."
    document = only(read_one(tmp_path, "t.txt", text))
    assert (document.title, document.body) == ("Title: Storm", text)


def test_front_matter_gives_metadata(tmp_path):
    text = ('---\ntitle: "Budget: the details"\ndate: 2026-11-26\n'
            "publisher:\n  name: Budget Office\n  url: https://gov.example\n"
            "tags: [economy, 'tax']\nauthors:\n  - Ann Lee\n  - Bo Chan\nlayout: post\n---\n"
            "The budget was published today.\n\nIt is long.\n")
    document = only(read_one(tmp_path / "site", "2026/budget.md", text))
    assert document == Document(
        id="2026/budget.md", title="Budget: the details",
        body="The budget was published today.\n\nIt is long.", path="2026/budget.md",
        published=utc(2026, 11, 26), source="Budget Office", url="", author="Ann Lee, Bo Chan",
        tags=("economy", "tax"))


def test_front_matter_without_title_then_headline(tmp_path):
    text = "---\nsource: Daily Planet\n---\n\nHero saves city\n\nCrowds cheered.\n"
    document = only(read_one(tmp_path, "hero.txt", text))
    assert (document.title, document.body, document.source) == ("Hero saves city", "Crowds cheered.", "Daily Planet")


def test_unclosed_front_matter_is_text(tmp_path):
    text = "---\ntitle: x\nno closing line\n"
    document = only(read_one(tmp_path, "open.md", text))
    assert document.title == "title: x"


def test_gzipped_text_is_read_like_text(tmp_path):
    data = gzip.compress("Headline here\n\nBody £5.\n".encode())
    document = only(read_one(tmp_path / "news", "story.txt.gz", data))
    assert (document.id, document.title, document.body, document.source) == (
        "story.txt.gz", "Headline here", "Body £5.", "news")


# --- Markdown ----------------------------------------------------------------------------------

def test_markdown_heading_is_the_title_and_markup_is_stripped(tmp_path):
    text = ("# The **big** news #\n\nSome *emphasis*, a [link](https://x.org/a_b) and `code_here`.\n\n"
            "## Background\n\n> Quoted _words_ here.\n\n- item one\n\n```python\nx = 1\n```\n\n---\n\n"
            "![chart](chart.png) snake_case_name stays.\n\n[1]: https://example.com\n")
    document = only(read_one(tmp_path, "news.md", text))
    assert document.title == "The big news"
    assert document.body == (
        "Some emphasis, a link and code_here.\n\nBackground\n\nQuoted words here.\n\n- item one\n\n"
        "x = 1\n\n\nchart snake_case_name stays.")


def test_markdown_setext_heading(tmp_path):
    document = only(read_one(tmp_path, "s.markdown", "Election *day*\n=======\n\nVoters queued.\n"))
    assert (document.title, document.body) == ("Election day", "Voters queued.")


def test_markdown_without_heading_uses_the_headline_rule(tmp_path):
    document = only(read_one(tmp_path, "h.md", "**Rates rise**\n\nThe bank acted.\n"))
    assert (document.title, document.body) == ("Rates rise", "The bank acted.")


# --- encodings and clean text -------------------------------------------------------------------

def test_cp1252_text_is_decoded(tmp_path):
    data = "Café “quotes” — fine\n\nPrice: 5€.\n".encode("cp1252")
    document = only(read_one(tmp_path, "cp.txt", data))
    assert (document.title, document.body) == ("Café “quotes” — fine", "Price: 5€.")


def test_utf8_with_stray_latin1_byte_keeps_both(tmp_path):
    data = "Naïve headline\n\nA ".encode() + b"\xa315 fee"
    document = only(read_one(tmp_path, "mixed.txt", data))
    assert (document.title, document.body) == ("Naïve headline", "A £15 fee")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks(tmp_path, encoding):
    document = only(read_one(tmp_path, "bom.txt", "Zürich wins\n\nBody.".encode(encoding)))
    assert (document.title, document.body) == ("Zürich wins", "Body.")


def test_crlf_and_control_characters_are_cleaned(tmp_path):
    data = b"Head\x07line\r\n\r\nFirst\x1b line\r\nSecond\tline\rThird\x00"
    document = only(read_one(tmp_path, "crlf.txt", data.replace(b"\x00", b"")))
    assert (document.title, document.body) == ("Headline", "First line\nSecond\tline\nThird")


@pytest.mark.bbc
def test_bbc_latin1_pound_sign(bbc_corpus):
    [file] = [file for file in scan([bbc_corpus]).files if file.relpath == "sports/199.txt"]
    document = only(read_file(file))
    assert document.title == "Chelsea sack Mutu"
    assert "a £15.8m signing from Parma" in document.body
    assert "\ufffd" not in document.body


# --- dates ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-26", utc(2026, 11, 26)),
    ("2026-11-26T10:00:00Z", utc(2026, 11, 26, 10)),
    ("2026-11-26T10:00:00+01:00", utc(2026, 11, 26, 9)),
    ("2026-11-26 10:00", utc(2026, 11, 26, 10)),
    ("Thu, 26 Nov 2026 10:00:00 +0100", utc(2026, 11, 26, 9)),
    ("Thu, 26 Nov 2026 10:00:00 GMT", utc(2026, 11, 26, 10)),
    ("26 November 2026", utc(2026, 11, 26)),
    ("Nov 26, 2026 10:00 GMT", utc(2026, 11, 26, 10)),
    ("November 26, 2026 10:00 EST", utc(2026, 11, 26, 15)),
    ("Thursday, 26th of November 2026 at 3pm", utc(2026, 11, 26, 15)),
    (1_700_000_000, utc(2023, 11, 14, 22, 13, 20)),
    (1_700_000_000_000, utc(2023, 11, 14, 22, 13, 20)),
    ("26 November", None),  # no year: dropped, not guessed
    ("yesterday", None),
    ("2026-13-45", None),
    ("9999-12-31T23:00:00-05:00", None),  # beyond datetime's range in UTC
    ("", None),
    (None, None),
    (True, None),
    (1e300, None),
    ("2026 " * 40, None),
])
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_unparseable_date_is_dropped_not_fatal(tmp_path):
    document = only(read_one(tmp_path, "d.txt", "Date: someday soon\n\nHeadline\n\nBody."))
    assert (document.title, document.published) == ("Headline", None)


# --- the BBC corpus ------------------------------------------------------------------------------

@pytest.mark.bbc
def test_bbc_corpus_reads_every_file_without_problems(bbc_corpus):
    started = time.perf_counter()
    found = scan([bbc_corpus])
    documents = []
    for file in found.files:
        result = read_file(file)
        assert result.problems == []
        documents.extend(result.documents)
    elapsed = time.perf_counter() - started
    assert len(documents) == 2225
    assert len({document.id for document in documents}) == 2225
    assert all(document.title and document.body for document in documents)
    assert all("\n" not in document.title and len(document.title) <= 150 for document in documents)
    assert {document.source for document in documents} == {
        "business", "entertainment", "politics", "sports", "tech"}
    first = documents[0]
    assert (first.id, first.title) == ("business/001.txt", "Ad sales boost Time Warner profit")
    assert first.body.startswith("Quarterly profits at US media giant TimeWarner jumped 76%")
    print(f"\nBBC scan + read: {elapsed:.2f} s")  # a figure, not asserted: timings are noisy


def test_missing_file_after_scan_is_unreadable(tmp_path):
    (tmp_path / "gone.txt").write_text("Headline\n\nBody.")
    [file] = scan([tmp_path]).files
    (tmp_path / "gone.txt").unlink()
    with pytest.raises(CorpusError, match=r"^gone\.txt: unreadable: No such file or directory$"):
        read_file(file)


def test_corpus_package_does_not_import_whoosh_or_nltk():
    package = REPO / "newsearch" / "corpus"
    for module in package.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        for name in ("whoosh", "nltk"):
            assert f"import {name}" not in source and f"from {name}" not in source, module.name
