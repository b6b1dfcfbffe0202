"""Web archives (.warc, .warc.gz: the format of news crawls such as CC-NEWS): every HTML page the
crawler received is an article, read by the web-page reader, with the address it was fetched from.

Read with warcio (Webrecorder's WARC library: small, pure Python, a reader and a writer). Records
that are not a successful HTML response (requests, metadata, redirects, images, ...) are skipped and
counted in one notice per file.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

from .article import Article, ItemProblem, Notice, Refused, one_line
from .dates import parse_date
from .decode import decode
from .webpage import page_charset, read_page

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_warc(data: bytes) -> Iterator[Article | ItemProblem | Notice]:
    """The pages of a WARC file's (decompressed) bytes, then a Notice counting the records skipped."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    if not data.lstrip()[:5] == b"WARC/":  # warcio would take any text for a legacy ARC file
        raise Refused("broken WARC: the file does not start with a WARC record ('WARC/1.0', 'WARC/1.1')")
    skipped: Counter[str] = Counter()
    pages = 0
    try:
        for record in ArchiveIterator(io.BytesIO(data), check_digests=False):
            kind = _not_a_page(record)
            if kind:
                skipped[kind] += 1
                continue
            pages += 1
            yield _page(record)
    except ArchiveLoadFailed as exc:
        if not pages and not skipped:
            raise Refused(f"broken WARC: {one_line(str(exc))}") from None
        yield ItemProblem(f"broken WARC: after {pages + sum(skipped.values()):,} records: {one_line(str(exc))}")
    if not pages and not skipped:
        raise Refused("empty: the archive has no records")
    if skipped:
        counted = ", ".join(f"{count:,} {kind}" for kind, count in sorted(skipped.items()))
        yield Notice(f"not pages: {sum(skipped.values()):,} records skipped ({counted})")


def _not_a_page(record: Any) -> str:
    """'' for a successful HTML response, else what the record is (counted as skipped)."""
    if record.rec_type != "response":
        return f"{record.rec_type} records"
    headers = record.http_headers
    if headers is None:
        return "responses without HTTP headers"
    status = headers.get_statuscode() or ""
    if not status.startswith("2"):
        return f"HTTP {status or '?'} responses"
    content_type = (headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in _HTML_TYPES:
        return f"{content_type or 'untyped'} responses"
    return ""


def _page(record: Any) -> Article | ItemProblem:
    """One HTML response as an article: its address is the record's target URI, and its date the
    page's own, else the time it was crawled."""
    try:
        payload = record.content_stream().read()
    except Exception as exc:  # noqa: BLE001 - warcio decoding untrusted chunked/compressed bodies
        return ItemProblem(f"broken WARC: the response body cannot be read: {type(exc).__name__}: {exc}")
    missing = getattr(record.raw_stream, "limit", 0)  # warcio hands over a cut-off record as it is
    if missing:
        return ItemProblem(f"broken WARC: the record is cut short: {missing:,} of its {record.length:,} bytes "
                           "are missing")
    charset = _http_charset(record.http_headers.get_header("Content-Type") or "")
    try:
        article = read_page(decode(payload, page_charset(payload, charset)))
    except Refused as exc:
        return ItemProblem(str(exc))
    article.url = one_line(record.rec_headers.get_header("WARC-Target-URI") or "") or article.url
    article.published = article.published or parse_date(record.rec_headers.get_header("WARC-Date"))
    return article


def _http_charset(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip("'\"")
    return None
