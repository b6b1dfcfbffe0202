"""Web archives (.warc, .warc.gz: the format of news crawls such as CC-NEWS): every HTML page the
crawler received is an article, read by the web-page reader, with the address it was fetched from.

Read with warcio (Webrecorder's WARC library: small, pure Python, a reader and a writer). Records
that are not a successful HTML response (requests, metadata, redirects, images, ...) are skipped and
counted in one notice per file. An archive over the size cap is streamed (`stream_warc`), the cap
applying to each page.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import IO, Any

from .article import Article, ItemProblem, Notice, Refused, one_line
from .dates import parse_date
from .decode import decode
from .webpage import page_charset, read_page

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_warc(data: bytes) -> Iterator[Article | ItemProblem | Notice]:
    """The pages of a WARC file's (decompressed) bytes, then a Notice counting the records skipped."""
    return _read(io.BytesIO(data), len(data))


def stream_warc(chunks: Iterable[bytes], limit: int) -> Iterator[Article | ItemProblem | Notice]:
    """`read_warc` of a file's (decompressed) bytes given a chunk at a time; a page over `limit`
    bytes is a problem, never held."""
    return _read(io.BufferedReader(_ChunkStream(chunks), 1 << 16), limit)


class _ChunkStream(io.RawIOBase):
    """The bytes of an iterable of chunks as a readable stream."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = memoryview(chunk)
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


def _read(stream: IO[bytes], limit: int) -> Iterator[Article | ItemProblem | Notice]:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    head = stream.peek(64) if isinstance(stream, io.BufferedReader) else stream.read(64)
    if not isinstance(stream, io.BufferedReader):
        stream.seek(0)
    if not head.lstrip()[:5] == b"WARC/":  # warcio would take any text for a legacy ARC file
        raise Refused("broken WARC: the file does not start with a WARC record ('WARC/1.0', 'WARC/1.1')")
    skipped: Counter[str] = Counter()
    pages = 0
    try:
        for record in ArchiveIterator(stream, check_digests=False):
            kind = _not_a_page(record)
            if kind:
                skipped[kind] += 1
                continue
            pages += 1
            yield _page(record, limit)
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


def _page(record: Any, limit: int) -> Article | ItemProblem:
    """One HTML response as an article: its address is the record's target URI, and its date the
    page's own, else the time it was crawled."""
    try:
        payload = record.content_stream().read(limit + 1)
    except Exception as exc:  # noqa: BLE001 - warcio decoding untrusted chunked/compressed bodies
        return ItemProblem(f"broken WARC: the response body cannot be read: {type(exc).__name__}: {exc}")
    if len(payload) > limit:
        uri = one_line(record.rec_headers.get_header("WARC-Target-URI") or "")
        return ItemProblem(f"too large: the page {uri} is over the cap of {limit:,} bytes")
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
