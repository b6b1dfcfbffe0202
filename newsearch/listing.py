"""Matches in date order, from the numpy date column: a page of them (browsing, a search sorted
by date) or every one, a chunk at a time (``Index.matching``: export, watch).

The order: newest first (or oldest first), undated articles last either way, ties by id. The
roles:

* **keys** -- one uint64 per match that sorts in that order but for the ids (``date_keys``);
* **DateOrder** -- the matches of one snapshot in that order: a page partitions the keys for the
  few it needs, the rest is one numpy sort; only articles sharing a moment have their ids read
  (a boundary's tie group, or each tie group of a chunk), never every id; copies of one story
  folded into its first article in the order (``stories``);
* **Matches** -- ``Index.matching``'s answer: its length at once, its ``Match`` objects (or the
  articles themselves) made a chunk at a time while iterated, so listing a million matches holds
  a few numbers per match, not an object per match.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import islice
from pathlib import Path

import numpy as np
from whoosh.searching import Searcher

from newsearch.columns import NO_DATE, doc_columns
from newsearch.errors import QueryError
from newsearch.grouping import folded_copies
from newsearch.matches import column_values, published_at
from newsearch.models import Document, Match
from newsearch.schema import stored_published
from newsearch.storage import reading

FIRST = 1024  # matches ordered by partitioning first: a page (and most watches) needs no more
CHUNK = 4096  # matches ordered, and read, at a time after those
_NEWEST_TOP = np.uint64(NO_DATE - 1)
_UNDATED = np.uint64(NO_DATE)

Story = tuple[int, tuple[int, ...]]  # a document number, and its matching copies' in order


def date_sort(sort: str) -> str:
    """``sort`` if it is an order by date; QueryError if not."""
    if sort not in ("newest", "oldest"):
        raise QueryError(f"every match is listed by date: sort must be newest or oldest, not {sort!r}")
    return sort


def date_keys(published: np.ndarray, sort: str) -> np.ndarray:
    """Keys whose ascending order is ``sort`` ("newest" or "oldest") over raw ``published``
    values, undated (``NO_DATE`` or more) last either way."""
    dated = published < _UNDATED
    return np.where(dated, _NEWEST_TOP - published if sort == "newest" else published, _UNDATED)


class DateOrder:
    """The ``matched`` documents (sorted numbers) of ``searcher`` in ``sort`` order; with
    ``clustered`` (document number -> story key, for documents with copies), each story once."""

    def __init__(self, searcher: Searcher, matched: np.ndarray, sort: str,
                 clustered: dict[int, str] | None = None) -> None:
        self.searcher = searcher
        self.matched = matched
        self.keys = date_keys(doc_columns(searcher).published[matched], date_sort(sort))
        self.stories_of: dict[str, list[int]] = {}  # story key -> its matching documents (those with copies)
        if clustered:
            for docnum in matched[np.isin(matched, np.fromiter(clustered, dtype=np.int64, count=len(clustered)))]:
                self.stories_of.setdefault(clustered[int(docnum)], []).append(int(docnum))
        self.story = {docnum: key for key, members in self.stories_of.items() for docnum in members}

    def __len__(self) -> int:
        return len(self.matched)

    def story_count(self) -> int:
        return len(self.matched) - folded_copies(self.story, self.story)

    def docnums(self) -> Iterator[list[int]]:
        """Every match in order, a chunk at a time (a chunk holds whole groups of equal dates,
        so each group's ids are read once)."""
        count, done = len(self.matched), 0
        if count > FIRST:  # the first few by partitioning: no sort of every match for a page
            kth = np.partition(self.keys, FIRST - 1)[FIRST - 1]
            near = np.flatnonzero(self.keys <= kth)  # whole groups: every match up to the FIRST-th's date
            near = near[np.argsort(self.keys[near], kind="stable")]
            yield self._ordered(near, self.keys[near])[:FIRST]
            done = FIRST
        if done >= count:
            return
        positions = np.argsort(self.keys, kind="stable")
        keys = self.keys[positions]
        first = int(np.searchsorted(keys, keys[done], side="left"))  # the group of the first not yet listed
        skip = done - first
        while first < count:
            end = int(np.searchsorted(keys, keys[min(first + CHUNK, count) - 1], side="right"))
            yield self._ordered(positions[first:end], keys[first:end])[skip:]
            first, skip = end, 0

    def stories(self) -> Iterator[Story]:
        """Each match in order with its matching copies (in order), the copies left out; every
        match on its own without ``clustered``."""
        listed: set[str] = set()
        for chunk in self.docnums():
            for docnum in chunk:
                key = self.story.get(docnum)
                if key is None:
                    yield docnum, ()
                elif key not in listed:
                    listed.add(key)
                    copies = [other for other in self.stories_of[key] if other != docnum]
                    yield docnum, tuple(self._in_order(copies))

    def page(self, offset: int, limit: int) -> list[Story]:
        return list(islice(self.stories(), offset, offset + limit))

    def _ordered(self, positions: np.ndarray, keys: np.ndarray) -> list[int]:
        """The documents at ``positions`` (into ``matched``, ordered by their ``keys``, whole
        groups of equal keys) in order: each group of more than one sorted by id, read for those
        groups only."""
        docs = self.matched[positions].tolist()
        edges = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), len(docs)]
        tied = [(a, b) for a, b in zip(edges, edges[1:]) if b - a > 1]
        if tied:
            ids = self.ids_of([docnum for a, b in tied for docnum in docs[a:b]])
            for a, b in tied:
                docs[a:b] = sorted(docs[a:b], key=ids.__getitem__)
        return docs

    def _in_order(self, docnums: list[int]) -> list[int]:
        keys = self.keys[np.searchsorted(self.matched, docnums)].tolist()
        ids = self.ids_of(docnums)
        return [docnum for _, _, docnum in sorted(zip(keys, [ids[docnum] for docnum in docnums], docnums))]

    def ids_of(self, docnums: list[int]) -> dict[int, str]:
        return {docnum: raw.decode("utf-8", "surrogateescape")
                for docnum, raw in column_values(self.searcher, "id", docnums, b"").items()}


class Matches:
    """Every article a query matches (``Index.matching``), in date order: ``len()`` at once, each
    ``Match`` made as it is iterated, a chunk at a time, so a million matches hold a few numbers
    each rather than an object each.

    The matches are those of the index state they were listed from, which stays open until
    ``close()`` (or the end of a ``with`` block, or until the object is dropped).
    """

    def __init__(self, order: DateOrder, lock: AbstractContextManager[object], index_path: Path,
                 release: Callable[[], None]) -> None:
        self._order = order
        self._lock = lock  # the index state's, held while its columns are read
        self._index_path = index_path
        self._size = order.story_count()
        self._release = weakref.finalize(self, release)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Match]:
        return (match for _, match in self._listed())

    def articles(self, wanted: Callable[[Match], bool] | None = None) -> Iterator[tuple[Match, Document]]:
        """Each match (those ``wanted``, if given) with its article, in order, as the index held
        them when they were listed (an update since changes none of them), read one at a time."""
        searcher = self._order.searcher
        for docnum, match in self._listed():
            if wanted is None or wanted(match):
                with reading(self._index_path), self._lock:
                    stored = searcher.stored_fields(docnum)
                yield match, stored_document(stored)

    def _listed(self) -> Iterator[tuple[int, Match]]:
        if not self._release.alive:
            raise ValueError("the matches were closed")
        order, stories = self._order, self._order.stories()
        published = doc_columns(order.searcher).published
        while True:
            with reading(self._index_path), self._lock:
                batch = list(islice(stories, CHUNK))
                docnums = [docnum for docnum, _ in batch]
                hashes = column_values(order.searcher, "content_hash", docnums, b"")
                ids = order.ids_of(docnums + [copy for _, copies in batch for copy in copies])
            if not batch:
                return
            for docnum, copies in batch:
                yield docnum, Match(ids[docnum], published_at(int(published[docnum])), hashes[docnum].decode("ascii"),
                                    tuple(ids[copy] for copy in copies))

    def close(self) -> None:
        """Let go of the index state the matches came from (iterating them is then an error)."""
        self._release()

    def __enter__(self) -> Matches:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def stored_document(stored: dict) -> Document:
    """A document's stored fields as the ``Document`` the library returns."""
    return Document(
        id=stored["id"], title=stored.get("title", ""), body=stored.get("body", ""), path=stored.get("path", ""),
        published=stored_published(stored.get("published")), source=stored.get("source", ""),
        url=stored.get("url", ""), author=stored.get("author", ""), tags=tuple(stored.get("tags", ())),
    )
