"""CSV and TSV articles: a header row naming the columns, then one article a row.

The columns go by the names JSON keys do (`article.FIELD_NAMES`: title/headline, text/content/body,
date/published, url/link, source/site/publisher, author/byline, tags, id); others are ignored.
Quoted fields may run over several lines; a broken row is a problem for that row only, named by
the line it starts on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .article import FIELD_NAMES, Article, ItemProblem, Refused, article_from_fields
from .htmlpage import html_to_text, looks_like_html

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
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        raise Refused(f"malformed CSV: line 1: {exc}") from None
    if not _KNOWN.intersection(header):
        raise Refused("no header: the first row names none of the columns newsearch reads "
                      f"({', '.join(aliases[0] for aliases in FIELD_NAMES.values())}, ...)")
    if not set(FIELD_NAMES["body"]).intersection(header):
        raise Refused(f"no text column: the header names none of {', '.join(FIELD_NAMES['body'])}")
    return _rows(reader, header)


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
