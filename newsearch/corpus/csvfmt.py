"""CSV and TSV articles: a header row naming the columns, then one article a row.

The columns go by the names JSON keys do (`article.FIELD_NAMES`: title/headline, text/content/body,
date/published, url/link, source/site/publisher, author/byline, tags, id); others are ignored.
Quoted fields may run over several lines; a broken row is a problem for that row only, named by
the line it starts on. A file over the size cap is streamed a row at a time (`stream_csv`), the
cap applying to each row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .article import FIELD_NAMES, Article, ItemProblem, Refused, article_from_fields
from .decode import clean
from .htmlpage import html_to_text, looks_like_html
from .lines import quoted_records, text_start

if TYPE_CHECKING:
    from _csv import Reader as _Reader

# The csv module refuses fields over 128 KiB by default; an article body may be longer (the
# file's size cap still bounds them). The limit is process-wide, so it is only ever raised.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
_DELIMITERS = ",;\t|"
_KNOWN = frozenset(alias for aliases in FIELD_NAMES.values() for alias in aliases)


def read_csv(text: str, delimiter: str | None = None) -> Iterator[Article | ItemProblem]:
    """The articles of a CSV (`delimiter` None: the commonest of , ; tab | in the header) or TSV text.

    Raises Refused when the first row is not a header naming a text column.
    """
    lines = iter(text.splitlines(keepends=True))
    header_line = next(lines, "")
    delimiter = delimiter or max(_DELIMITERS, key=header_line.count)
    reader = csv.reader(_chain(header_line, lines), delimiter=delimiter, strict=True)
    return _rows(reader, _header(reader))


def stream_csv(chunks: Iterator[bytes], limit: int, delimiter: str | None = None) -> Iterator[Article | ItemProblem]:
    """The articles of a CSV/TSV file's bytes (UTF-8, else cp1252 byte by byte) read a row at a time:
    a row over `limit` bytes is a problem, never held. Raises Refused as `read_csv` does."""
    records = quoted_records(text_start(chunks)[0], limit)
    _line, first = next(records, (1, b""))
    if isinstance(first, int):
        raise Refused(f"no header: the first row is {first:,} bytes > cap {limit:,}")
    header_text = _text(first)
    if not header_text.strip():
        raise Refused("empty")
    delimiter = delimiter or max(_DELIMITERS, key=header_text.count)
    header = _header(csv.reader(header_text.splitlines(keepends=True), delimiter=delimiter, strict=True))
    for line, record in records:
        if isinstance(record, int):
            yield ItemProblem(f"too large: the row at line {line:,} is {record:,} bytes > cap {limit:,}")
            continue
        text = _text(record)
        if not text.strip():
            continue
        try:
            rows = list(csv.reader(text.splitlines(keepends=True), delimiter=delimiter, strict=True))
        except csv.Error as exc:
            yield ItemProblem(f"malformed CSV: line {line:,}: {exc}")
            continue
        yield from (_article(row, header, line) for row in rows if any(cell.strip() for cell in row))


def _text(record: bytes) -> str:
    return clean(record.decode("utf-8", "newsearch-cp1252"))


def _header(reader: _Reader) -> list[str]:
    """The column names of a CSV's first row; Refused when it names no known column or no text."""
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        raise Refused(f"malformed CSV: line 1: {exc}") from None
    if not _KNOWN.intersection(header):
        raise Refused("no header: the first row names none of the columns newsearch reads "
                      f"({', '.join(aliases[0] for aliases in FIELD_NAMES.values())}, ...)")
    if not set(FIELD_NAMES["body"]).intersection(header):
        raise Refused(f"no text column: the header names none of {', '.join(FIELD_NAMES['body'])}")
    return header


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _rows(reader: _Reader, header: list[str]) -> Iterator[Article | ItemProblem]:
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ItemProblem(f"malformed CSV: line {line}: {exc}")
            return  # the reader cannot resynchronise after a broken quote
        if any(cell.strip() for cell in row):
            yield _article(row, header, line)
        line = reader.line_num + 1


def _article(row: list[str], header: list[str], line: int) -> Article | ItemProblem:
    if len(row) != len(header):
        return ItemProblem(f"malformed CSV: line {line}: {len(row)} fields, the header names {len(header)}")
    article = article_from_fields(dict(zip(header, row)))
    if looks_like_html(article.body):
        article.body = html_to_text(article.body)
    return article
