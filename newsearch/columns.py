"""Per-document columns as numpy arrays: what filters, facets and timelines count from,
with no Python work per matching document.

The roles:

* **segment columns** -- one segment's publication times and sources, each read from its
  Whoosh column in one go (``whoosh_internals``) and cached by segment id: a segment's
  values never change once written (deleting documents makes a new reader, not new values),
  so an index reopened after a commit reuses the columns of every segment it kept;
* **doc columns** -- a searcher's segments joined over its global document numbers, with one
  table of source keys (``doc_columns``, made once per searcher);
* **masks** -- the documents that a date range and a list of sources keep (``filter_mask``);
* **timeline_of** -- counts over time of an array of moments, as ``timeline.timeline``
  counts a list of datetimes;
* **matches** -- the documents a Whoosh query matches, as a sorted array (``matching_docnums``):
  terms as whole arrays from the posting sidecar (``candidates.term_arrays``), AND, OR and NOT
  as numpy set operations, any other query through its own matcher.

Publication times are Whoosh's raw column values (microseconds since 0001-01-01 UTC; ``NO_DATE``
or more: undated), so they compare with what ``matches.column_values`` reads one by one.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.util.times import datetime_to_long

from newsearch.candidates import term_arrays
from newsearch.compiler import AndNot
from newsearch.config import as_utc
from newsearch.models import Period, Timeline
from newsearch.timeline import MAX_BUCKETS, checked_bounds, counted
from newsearch.whoosh_internals import numeric_column_bytes, var_bytes_column

NO_DATE = 1 << 63  # Whoosh's column value for a document without a date is the largest one
EPOCH = datetime_to_long(datetime(1970, 1, 1))  # the raw value of 1970-01-01T00:00Z
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
EPOCH_DAY = EPOCH_UTC.date()
DAY_US = 86_400_000_000
MICROSECOND = timedelta(microseconds=1)
CACHED_DOCS = 4_000_000  # segment columns kept beyond those in use: about 13 bytes a document
KEY_CHUNK = 1 << 16  # source keys are compared this many documents at a time (bounds the scratch memory)
DEADLINE_CHECK = 4096  # documents between two looks at the clock


class MatchTimeout(Exception):
    """Finding every match took longer than the deadline."""


@dataclass(frozen=True, eq=False)
class SegmentColumns:
    """One segment's values, by its document numbers."""

    published: np.ndarray  # uint64: the raw ``published`` column value
    source: np.ndarray  # int32: index into ``keys``; -1 for no source
    keys: tuple[str, ...]  # the segment's source keys (``schema.source_key``), sorted


@dataclass(frozen=True, eq=False)
class DocColumns:
    """A searcher's values, by its global document numbers (deleted documents included)."""

    published: np.ndarray  # uint64: the raw ``published`` column value; NO_DATE or more: undated
    source: np.ndarray  # int32: index into ``source_keys``; -1 for no source
    source_keys: tuple[str, ...]  # every source key of the index, sorted

    def source_codes(self, keys: Iterable[str]) -> np.ndarray:
        """The codes of those of ``keys`` that some document has."""
        where = {key: code for code, key in enumerate(self.source_keys)}
        return np.array(sorted({where[key] for key in keys if key in where}), dtype=np.int32)


class _SegmentCache:
    """Segment columns by segment id, least recently used dropped first once those not in use
    hold more than ``CACHED_DOCS`` documents. One lock: two threads never read one segment twice."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, int], SegmentColumns] = OrderedDict()

    def get(self, reader: IndexReader, in_use: int) -> SegmentColumns:
        key = (reader.segment().segment_id(), reader.doc_count_all())
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                found = self.entries[key] = _read_segment(reader)
            self.entries.move_to_end(key)
            kept = sum(len(entry.published) for entry in self.entries.values())
            while kept > in_use + CACHED_DOCS and len(self.entries) > 1:
                _, dropped = self.entries.popitem(last=False)
                kept -= len(dropped.published)
            return found


_SEGMENTS = _SegmentCache()
_SEARCHERS: weakref.WeakKeyDictionary[Searcher, DocColumns] = weakref.WeakKeyDictionary()
_SEARCHERS_LOCK = threading.Lock()


def doc_columns(searcher: Searcher) -> DocColumns:
    """The columns of every document of ``searcher``, made on first use and kept while it lives."""
    with _SEARCHERS_LOCK:
        found = _SEARCHERS.get(searcher)
    if found is not None:
        return found
    leaves = [subsearcher.reader() for subsearcher, _ in searcher.leaf_searchers()]
    size = searcher.doc_count_all()
    segments = [_SEGMENTS.get(reader, size) for reader in leaves]
    keys = tuple(sorted({key for segment in segments for key in segment.keys}))
    where = {key: code for code, key in enumerate(keys)}
    sources = []
    for segment in segments:
        # index -1 (no source) takes the appended -1
        remap = np.array([where[key] for key in segment.keys] + [-1], dtype=np.int32)
        sources.append(remap[segment.source])
    found = DocColumns(
        published=_joined([segment.published for segment in segments], np.uint64),
        source=_joined(sources, np.int32),
        source_keys=keys,
    )
    with _SEARCHERS_LOCK:
        _SEARCHERS[searcher] = found
    return found


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)


def _read_segment(reader: IndexReader) -> SegmentColumns:
    size = reader.doc_count_all()
    published = np.full(size, NO_DATE, dtype=np.uint64)
    if reader.has_column("published"):
        raw = reader.column_reader("published", translate=False)
        stored = numeric_column_bytes(raw)
        if stored is None:  # not Whoosh's usual reader: value by value
            published[:] = np.fromiter(raw, dtype=np.uint64, count=size)
        else:
            data, count = stored
            if len(data) != 8 * count or count > size:
                raise ValueError(f"the published column of segment {reader.segment().segment_id()} is cut short")
            published[:count] = np.frombuffer(data, dtype=">u8")
    source, keys = _source_codes(reader, size)
    return SegmentColumns(published, source, keys)


def _source_codes(reader: IndexReader, size: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each document's source key as a code into the segment's sorted keys.

    Keys of one length are compared as fixed-width byte strings, so the work per document is
    numpy's; only the distinct keys are decoded."""
    codes = np.full(size, -1, dtype=np.int32)
    if not reader.has_column("source_key"):
        return codes, ()
    raw = reader.column_reader("source_key", translate=False)
    stored = var_bytes_column(raw)
    if stored is None:  # not Whoosh's usual reader: value by value
        values = list(raw)
        data, lengths = b"".join(values), np.array([len(value) for value in values], dtype=np.int64)
    else:
        data, lengths_array = stored
        lengths = np.asarray(lengths_array, dtype=np.int64)
    if len(lengths) != size or int(lengths.sum()) != len(data):
        raise ValueError(f"the source_key column of segment {reader.segment().segment_id()} is cut short")
    starts = np.cumsum(lengths) - lengths
    buffer = np.frombuffer(data, dtype=np.uint8)
    table: dict[bytes, int] = {}
    for length in np.unique(lengths[lengths > 0]).tolist():
        docs = np.flatnonzero(lengths == length)
        for first in range(0, len(docs), KEY_CHUNK):
            chunk = docs[first:first + KEY_CHUNK]
            rows = buffer[starts[chunk, None] + np.arange(length)]
            distinct, inverse = np.unique(rows.view(f"S{length}").ravel(), return_inverse=True)
            local = np.array([table.setdefault(value, len(table)) for value in distinct.tolist()], dtype=np.int32)
            codes[chunk] = local[inverse.ravel()]
    names = {raw_key: raw_key.decode("utf-8", "surrogateescape") for raw_key in table}
    ordered = sorted(table, key=names.__getitem__)
    remap = np.zeros(len(table) + 1, dtype=np.int32)
    remap[[table[raw_key] for raw_key in ordered]] = np.arange(len(ordered), dtype=np.int32)
    remap[-1] = -1  # code -1 (no source) stays -1
    return remap[codes], tuple(names[raw_key] for raw_key in ordered)


# Filters


def raw_moment(moment: datetime) -> int:
    """A moment as the ``published`` column holds it (a naive datetime is UTC)."""
    return datetime_to_long(as_utc(moment).replace(tzinfo=None))


def in_dates(published: np.ndarray, since: datetime | None, until: datetime | None) -> np.ndarray:
    """Which raw ``published`` values are dated and within ``since`` (inclusive) .. ``until`` (exclusive)."""
    keep = published < NO_DATE
    if since is not None:
        keep &= published >= raw_moment(since)
    if until is not None:
        keep &= published < raw_moment(until)
    return keep


def filter_mask(columns: DocColumns, since: datetime | None, until: datetime | None,
                source_keys: Collection[str]) -> np.ndarray | None:
    """Which documents (by global number) are dated within ``since`` .. ``until`` and from one of
    ``source_keys`` (``schema.source_key`` of the names asked for): what ``compiler.date_filter``
    and the ``source_key`` terms keep; None when there is no filter."""
    keep = None
    if since is not None or until is not None:
        keep = in_dates(columns.published, since, until)
    if source_keys:
        from_sources = np.isin(columns.source, columns.source_codes(source_keys))
        keep = from_sources if keep is None else keep & from_sources
    return keep


def epoch_micros(published: np.ndarray) -> tuple[np.ndarray, int]:
    """The dated raw ``published`` values as int64 microseconds since 1970-01-01T00:00Z, and how
    many values were undated."""
    dated = published[published < NO_DATE]
    return dated.astype(np.int64) - EPOCH, len(published) - len(dated)


# Counts over time


def timeline_of(moments: np.ndarray, undated: int, period: Period, *, since: datetime | None = None,
                until: datetime | None = None, tz: tzinfo = timezone.utc,
                max_buckets: int = MAX_BUCKETS) -> Timeline:
    """``timeline.timeline`` of dated ``moments`` (int64 microseconds since 1970-01-01T00:00Z, as
    ``epoch_micros`` gives them) and ``undated`` items, counted with numpy: the same Timeline."""
    lower, upper = checked_bounds(period, since, until)
    inside = np.ones(len(moments), dtype=bool)
    if lower is not None:
        inside &= moments >= (lower - EPOCH_UTC) // MICROSECOND
    if upper is not None:
        inside &= moments < (upper - EPOCH_UTC) // MICROSECOND
    kept = moments[inside]
    starts, numbers = np.unique(_period_starts(_local_days(kept, tz), period), return_counts=True)
    counts = {EPOCH_DAY + timedelta(days=start): number for start, number in zip(starts.tolist(), numbers.tolist())}
    return counted(counts, period, undated, len(moments) - len(kept), lower=lower, upper=upper, tz=tz,
                   max_buckets=max_buckets)


def _local_days(moments: np.ndarray, tz: tzinfo) -> np.ndarray:
    """The day (since 1970-01-01) on the calendar of ``tz`` of each moment.

    A fixed offset applies to all. Else the offset is looked up once per UTC day that holds
    a moment, at its first and its last microsecond: a day where the two agree (every day
    but those a zone changes its clocks) takes that offset; the moments of the others are
    converted one by one."""
    if isinstance(tz, timezone):
        return (moments + _micros(tz.utcoffset(None))) // DAY_US
    days, where = np.unique(moments // DAY_US, return_inverse=True)
    offsets = np.zeros(len(days), dtype=np.int64)
    changing = np.zeros(len(days), dtype=bool)
    for number, day in enumerate(days.tolist()):
        start = EPOCH_UTC + timedelta(days=day)
        offsets[number] = _micros(start.astimezone(tz).utcoffset())
        changing[number] = offsets[number] != _micros((start + timedelta(days=1) - MICROSECOND).astimezone(tz)
                                                      .utcoffset())
    local = (moments + offsets[where.ravel()]) // DAY_US
    for index in np.flatnonzero(changing[where.ravel()]).tolist():
        moment = EPOCH_UTC + timedelta(microseconds=int(moments[index]))
        local[index] = (moment.astimezone(tz).date() - EPOCH_DAY).days
    return local


def _micros(offset: timedelta | None) -> int:
    return 0 if offset is None else offset // MICROSECOND


def _period_starts(days: np.ndarray, period: Period) -> np.ndarray:
    """The first day (since 1970-01-01) of the day, ISO week, month or year holding each day."""
    if period == "day":
        return days
    if period == "week":
        return days - (days + 3) % 7  # 1970-01-01 was a Thursday; weeks start on Monday
    unit = "M" if period == "month" else "Y"
    return days.astype("datetime64[D]").astype(f"datetime64[{unit}]").astype("datetime64[D]").astype(np.int64)


# Matches


def matching_docnums(searcher: Searcher, query: wq.Query, allowed: np.ndarray | None = None,
                     deadline: float | None = None) -> np.ndarray:
    """The global numbers (sorted, int64) of the live documents ``query`` matches, of those
    ``allowed`` (a mask over global numbers) if given. Past ``deadline`` (a time.monotonic()
    value) raises MatchTimeout."""
    clock = _Clock(deadline)
    parts = []
    for subsearcher, offset in searcher.leaf_searchers():
        reader = subsearcher.reader()
        local = _matching(subsearcher, query, clock)
        if reader.has_deletions() and len(local):
            deleted = np.fromiter(reader.deleted_docs_set, dtype=np.int64)
            local = local[~np.isin(local, deleted, assume_unique=True)]
        parts.append(local + offset)
    found = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return found[allowed[found]] if allowed is not None else found


class _Clock:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise MatchTimeout


def _matching(searcher: Searcher, query: wq.Query, clock: _Clock) -> np.ndarray:
    """The local numbers (sorted, unique) of one segment's documents that ``query`` matches,
    deleted ones perhaps included."""
    kind = type(query)
    if kind is wq.Term:
        return _term_docs(searcher, query, clock)
    if kind is wq.Every and query.fieldname in (None, "", "*"):  # a list without query words
        return np.arange(searcher.reader().doc_count_all(), dtype=np.int64)
    if (kind is wq.Or and not query.minmatch) or kind is wq.DisjunctionMax:
        parts = [_matching(searcher, child, clock) for child in query.subqueries]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    if kind is wq.And or kind is wq.Require:
        found = None
        for child in query.children():
            docs = _matching(searcher, child, clock)
            found = docs if found is None else np.intersect1d(found, docs, assume_unique=True)
        return found if found is not None else np.zeros(0, dtype=np.int64)
    if kind is wq.AndNot or kind is AndNot:
        wanted = _matching(searcher, query.a, clock)
        return np.setdiff1d(wanted, _matching(searcher, query.b, clock), assume_unique=True) if len(wanted) else wanted
    if kind is wq.AndMaybe:
        return _matching(searcher, query.a, clock)
    # Any other query (phrases, ranges, wildcards...): its own matcher, document by document.
    matcher = query.matcher(searcher, searcher.boolean_context())
    return np.fromiter(_ids(matcher, clock), dtype=np.int64)


def _ids(matcher: Any, clock: _Clock) -> Iterator[int]:
    for seen, docnum in enumerate(matcher.all_ids(), 1):
        if seen % DEADLINE_CHECK == 0:
            clock.check()
        yield docnum


def _term_docs(searcher: Searcher, term: wq.Term, clock: _Clock) -> np.ndarray:
    """A term's documents: from the segment's posting sidecar, else decoded from Whoosh's blocks."""
    found = term_arrays(searcher, term)
    clock.check()
    return found[0].astype(np.int64) if found is not None else np.zeros(0, dtype=np.int64)
