"""Web archives: each successful HTML response of a .warc/.warc.gz is an article read by the web-page
reader, with the record's target URI (and its crawl date when the page gives none); every other record
is skipped and counted. The archives are written with warcio's own writer."""

from __future__ import annotations

import io

import pytest
from support.corpora import read_one, utc

from newsearch.errors import CorpusError
from newsearch.models import SkippedFile

STORY = "".join(f"<p>Paragraph {n} about the harbour strike, the union and the port authority.</p>"
                for n in range(1, 6))


def html(title: str, head: str = "") -> bytes:
    return (f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head>"
            f"<body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{STORY}</article></body></html>"
            ).encode()


def archive(records: list[tuple], gzipped: bool = True) -> bytes:
    """A WARC of (type, uri, date, status, content type, payload) records, written by warcio."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzipped)
    writer.write_record(writer.create_warcinfo_record("crawl.warc", {"software": "test"}))
    for kind, uri, date, status, content_type, payload in records:
        headers = None
        if kind in ("response", "request"):
            first = f"{status} {'OK' if status == 200 else 'Moved'}" if kind == "response" else "GET / HTTP/1.1"
            headers = StatusAndHeaders(first, [("Content-Type", content_type)] if content_type else [],
                                       protocol="HTTP/1.1" if kind == "response" else "")
        record = writer.create_warc_record(uri, kind, payload=io.BytesIO(payload), http_headers=headers,
                                           warc_headers_dict={"WARC-Date": date})
        writer.write_record(record)
    return out.getvalue()


RECORDS = [
    ("request", "https://port.example/strike", "2026-03-05T10:00:00Z", 0, "", b""),
    ("response", "https://port.example/strike", "2026-03-05T10:00:01Z", 200, "text/html; charset=utf-8",
     html("Harbour strike ends", "<meta property='article:published_time' content='2026-03-04T08:00:00Z'>")),
    ("response", "https://port.example/logo.png", "2026-03-05T10:00:02Z", 200, "image/png", b"\x89PNG\r\n\x00\x00"),
    ("response", "https://port.example/old", "2026-03-05T10:00:03Z", 301, "text/html", b"<p>Moved</p>"),
    ("metadata", "https://port.example/strike", "2026-03-05T10:00:04Z", 0, "", b"via: crawler"),
    ("response", "https://port.example/cafe", "2026-03-06T11:00:00Z", 200, "text/html; charset=iso-8859-1",
     html("Caf\u00e9 reopens by the quay").replace("Caf\u00e9".encode(), "Caf\u00e9".encode("latin-1"))),
]


@pytest.mark.parametrize("name", ["crawl.warc.gz", "crawl.warc"])
def test_html_responses_become_articles_and_the_rest_is_counted(tmp_path, name):
    result = read_one(tmp_path / "crawls", name, archive(RECORDS, gzipped=name.endswith(".gz")))
    assert result.problems == []
    assert [(d.id, d.title, d.url, d.published, d.source) for d in result.documents] == [
        (f"{name}#1", "Harbour strike ends", "https://port.example/strike", utc(2026, 3, 4, 8), "crawls"),
        (f"{name}#2", "Café reopens by the quay", "https://port.example/cafe", utc(2026, 3, 6, 11), "crawls"),
    ]
    assert result.documents[0].body.startswith("Paragraph 1 about the harbour strike")
    assert "Home" not in result.documents[0].body
    assert result.warnings == [SkippedFile(name, "not pages: 5 records skipped (1 HTTP 301 responses, "
                                                 "1 image/png responses, 1 metadata records, 1 request records, "
                                                 "1 warcinfo records)")]


def test_a_truncated_archive_keeps_the_pages_before_the_break(tmp_path):
    data = archive(RECORDS[:2] + RECORDS[5:], gzipped=False)
    result = read_one(tmp_path, "cut.warc", data[:data.rindex(b"Paragraph 3")])
    assert [d.title for d in result.documents] == ["Harbour strike ends"]
    assert result.problems == [SkippedFile("cut.warc#2", "broken WARC: the record is cut short: 255 of its 630 "
                                                         "bytes are missing")]


def test_a_file_that_is_not_a_warc_is_refused(tmp_path):
    with pytest.raises(CorpusError, match=r"^notes\.warc: broken WARC: "):
        read_one(tmp_path, "notes.warc", b"These are my notes, not a web archive.\n")


def test_an_archive_without_pages_says_what_it_held(tmp_path):
    with pytest.raises(CorpusError, match=r"^images\.warc\.gz: empty: no articles$"):
        read_one(tmp_path, "images.warc.gz", archive(RECORDS[2:3]))


def test_junk_after_the_records_is_a_problem_and_the_pages_before_it_are_kept(tmp_path):
    data = archive(RECORDS[:2], gzipped=False) + b"\r\n\r\n<html>not a record</html>\r\n\r\n"
    result = read_one(tmp_path, "junk.warc", data)
    assert [d.title for d in result.documents] == ["Harbour strike ends"]
    assert result.problems == [SkippedFile("junk.warc#2", "broken WARC: after 3 records: Invalid WARC record, "
                                                          "first line: <html>not a record</html>")]
