"""Reading matches from a Whoosh searcher, segment by segment: deadlines, filters, which
documents a query matches, column values, and the candidate hits ranking works on.

Whoosh's multi-segment helpers either score (slow) or fail on a segment that lacks a
column; these walk each segment's matchers and columns themselves.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from whoosh import collectors
from whoosh import query as wq
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.util.times import long_to_datetime

from newsearch.columns import NO_DATE
from newsearch.storage import reading

ValueT = TypeVar("ValueT")


class Deadline(collectors.WrappingCollector):
    """Raises TimeLimit once ``deadline`` (a time.monotonic() value) has passed (checked every few hits)."""

    def __init__(self, child: collectors.Collector, deadline: float) -> None:
        super().__init__(child)
        self.deadline = deadline
        self.seen = 0

    def collect(self, sub_docnum: int) -> object:
        self.seen += 1
        if self.seen % 64 == 0 and time.monotonic() > self.deadline:
            raise collectors.TimeLimit
        return self.child.collect(sub_docnum)


def filtered(collector: collectors.Collector, filters: wq.Query | None) -> collectors.Collector:
    # Outermost, so that the filter sees every document before the collectors inside it.
    return collectors.FilterCollector(collector, allow=filters) if filters is not None else collector


def matching(searcher: Searcher, query: wq.Query, docnums: Iterable[int]) -> set[int]:
    """Which of ``docnums`` the query matches (skipping through its matchers, without scoring)."""
    found: set[int] = set()
    wanted = sorted(docnums)
    for subsearcher, offset in searcher.leaf_searchers():
        end = offset + subsearcher.doc_count_all()
        local = [docnum - offset for docnum in wanted if offset <= docnum < end]
        if not local:
            continue
        matcher = query.matcher(subsearcher, subsearcher.boolean_context())
        found.update(docnum + offset for docnum in positioned(matcher, local))
    return found


def positioned(matcher: Any, docnums: list[int]) -> Iterator[int]:
    """Those of the sorted ``docnums`` the matcher holds, each yielded while the matcher is on it."""
    for docnum in docnums:
        if not matcher.is_active():
            return
        if matcher.id() < docnum:
            matcher.skip_to(docnum)
        if matcher.is_active() and matcher.id() == docnum:
            yield docnum


def covered_concepts(searcher: Searcher, concepts: list[wq.Query], docnums: Iterable[int]) -> dict[int, int]:
    """For each document, how many of the query's words and phrases it matches."""
    covered = dict.fromkeys(docnums, 0)
    for concept in concepts:
        for docnum in matching(searcher, concept, covered):
            covered[docnum] += 1
    return covered


def column_values(searcher: Searcher, fieldname: str, docnums: Iterable[int], default: ValueT) -> dict[int, ValueT]:
    """Raw column values of some documents, segment by segment: Whoosh's multi-segment column
    reader fails when a segment has no value of the field at all (e.g. no dated article).
    Values are of the type of ``default`` (the column's raw type: int for dates, bytes for ids)."""
    values: dict[int, ValueT] = {}
    wanted = sorted(docnums)
    for subsearcher, offset in searcher.leaf_searchers():
        reader = subsearcher.reader()
        end = offset + reader.doc_count_all()
        local = [docnum for docnum in wanted if offset <= docnum < end]
        if not local:
            continue
        column = _column(reader, fieldname)
        for docnum in local:
            values[docnum] = column[docnum - offset] if column is not None else default
    return values


def published_at(raw: int) -> datetime | None:
    """A raw ``published`` column value as an aware UTC datetime (None: undated)."""
    return None if raw >= NO_DATE else long_to_datetime(raw).replace(tzinfo=timezone.utc)


_COLUMNS: weakref.WeakKeyDictionary[IndexReader, dict[str, object]] = weakref.WeakKeyDictionary()


def _column(reader: IndexReader, fieldname: str) -> Any:
    """A segment's raw column reader, made once per reader: making one reads the offsets of
    every document (for the id column, milliseconds per search on a large segment)."""
    columns = _COLUMNS.setdefault(reader, {})
    if fieldname not in columns:
        columns[fieldname] = reader.column_reader(fieldname, translate=False) if reader.has_column(fieldname) else None
    return columns[fieldname]


def _age_key(published: int) -> int:
    """Sorts newest first: minus the raw column value; undated documents last."""
    return 0 if published >= NO_DATE else -published


class Candidate:
    """A candidate hit: what ranking needs from columns, its stored fields read only if shown."""

    __slots__ = ("searcher", "index_path", "docnum", "score", "covered", "published", "newest_first", "id",
                 "_stored")

    def __init__(self, searcher: Searcher, index_path: Path, docnum: int, score: float, covered: int,
                 published: int, doc_id: str) -> None:
        self.searcher, self.index_path, self.docnum = searcher, index_path, docnum
        self.score, self.covered, self.id = score, covered, doc_id
        self.published = published  # the raw column value (NO_DATE or more: undated)
        self.newest_first = _age_key(published)
        self._stored: dict | None = None

    def stored(self) -> dict:
        if self._stored is None:
            with reading(self.index_path):
                self._stored = self.searcher.stored_fields(self.docnum)
        return self._stored
