"""Searching: `open_index` and the long-lived, thread-safe `Index`.

``Index.search`` parses and compiles the query (``query``, ``compiler``), collects
candidates (``candidates`` for plain word lists, Whoosh's collectors for the rest;
``matches`` reads what they match), ranks them (``ranking``), folds copies of one
story, and cuts the page; ``related``, ``timeline`` and ``document`` share its state.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone, tzinfo
from itertools import islice
from pathlib import Path

import numpy as np
from whoosh import collectors
from whoosh import query as wq
from whoosh.classify import Bo1Model
from whoosh.index import FileIndex
from whoosh.searching import Searcher

from newsearch import duplicate_store
from newsearch.analysis import drop_stem_lookup, use_stem_lookup
from newsearch.candidates import Gathered, gather, plain_concepts
from newsearch.columns import MatchTimeout, doc_columns, epoch_micros, filter_mask, matching_docnums, timeline_of
from newsearch.compiler import CompiledQuery, ConceptParts, QueryCompiler, date_filter, unmatched_phrases
from newsearch.config import duration_argument, moment_argument, resolve_index_path, zone_argument
from newsearch.controlchars import escape_name
from newsearch.duplicate_store import DuplicatePairs
from newsearch.errors import DocumentNotFound, QueryError
from newsearch.grouping import (
    FACETS,
    clustered_docnums,
    collapsed,
    copies_matching,
    facets_of,
    filter_note,
    folded_copies,
)
from newsearch.listing import DateOrder, Matches, date_sort, stored_document
from newsearch.matches import NO_DATE, Candidate, Deadline, column_values, covered_concepts, filtered
from newsearch.models import (
    SORTS,
    Document,
    FilterNote,
    Hit,
    Passage,
    Period,
    Ranked,
    Results,
    SimilarCopy,
    Sort,
    Timeline,
)
from newsearch.passages import highlight_spans
from newsearch.query import parse
from newsearch.ranking import passage_query_for, rank_candidates, shown_passages
from newsearch.schema import source_key, stored_published
from newsearch.scoring import RANKING, BM25FModel, RankingConfig, rank_key
from newsearch.storage import is_live, open_current, reading, retry_while_committing
from newsearch.vocabulary import VOCABULARY_FILE, StemLookup, Vocabulary

CANDIDATES = 100
DEFAULT_TIME_LIMIT_S = 2.0
MAX_LIMIT = 1000
FEW_RESULTS = 3
MAX_CANDIDATES = 4000  # collapsing copies can call for more candidates than a page; never more than this
RECENCY_CANDIDATES = 300  # recency re-ranks this many of the most relevant matches
RELATED_TERMS = 25  # distinctive body terms that make a "more like this" query
EVERY_ARTICLE = "*"  # the query that lists every article (as an empty query with filters does)


def stored_id(id: str) -> str:
    """``id`` as the index stores it. The bytes of a file name that are not UTF-8 reach us as
    lone surrogates (a shell passes ``$'caf\\xe9.txt'`` so): they are escaped as the indexer
    escapes them (``caf\\xe9.txt``). Any other lone surrogate is in no id: QueryError."""
    surrogates = [char for char in id if "\ud800" <= char <= "\udfff"]
    if not surrogates:
        return id
    if any(not "\udc80" <= char <= "\udcff" for char in surrogates):
        raise QueryError(f"the id {id!r} holds a character no file name has (a lone surrogate); "
                         f"copy the id as search prints it")
    return escape_name(id)


@dataclass
class _Snapshot:
    """One opened state of the index: a generation and its Whoosh commit.

    Threads search one snapshot at once. Whoosh's matchers keep their place in the files
    its searcher shares, so whatever reads through Whoosh holds ``whoosh``; adding up the
    posting sidecars' arrays (``candidates.gather``) runs without it. ``users`` counts the
    searches using the snapshot: a retired one is closed when the last finishes."""

    generation: Path
    toc: int
    ix: FileIndex
    searcher: Searcher
    stems: StemLookup  # the vocabulary file, searched in place
    whoosh: threading.RLock = field(default_factory=threading.RLock)
    users: int = 0
    retired: bool = False
    _vocabulary: Vocabulary | None = None
    _duplicates: DuplicatePairs | None = None
    _clustered: tuple[dict[int, str], list[int]] | None = None

    def vocabulary(self) -> Vocabulary:
        """The generation's unstemmed words, read on first use (most queries never need them)."""
        with self.whoosh:
            if self._vocabulary is None:
                self._vocabulary = Vocabulary.load(self.generation)
        return self._vocabulary

    def written(self, word: str) -> bool:
        """Whether ``word`` (folded) was ever written in the index: a binary search of the
        vocabulary file, which most queries then never load."""
        return self.stems(word) is not None

    def duplicates(self) -> DuplicatePairs:
        """The near-duplicate pairs the indexer found, read on first use."""
        with self.whoosh:
            if self._duplicates is None:
                self._duplicates = duplicate_store.current(self.generation, self.toc, self.searcher.reader())
        return self._duplicates

    def clustered(self) -> tuple[dict[int, str], list[int]]:
        """Document number -> cluster key of every document with copies, and those numbers sorted:
        made once per snapshot, to count the stories of a result set."""
        with self.whoosh:
            if self._clustered is None:
                found = clustered_docnums(self.searcher, self.duplicates())
                self._clustered = found, sorted(found)
        return self._clustered

    def is_current(self, index_root: Path) -> bool:
        """Whether this is still the index on disk: one readlink and a listing (a changed ``current``
        is checked in full when reopened)."""
        try:
            return is_live(index_root, self.generation) and self.ix.latest_generation() == self.toc
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        """Release its files: the searcher's segments and the vocabulary's mapping."""
        self.searcher.close()
        drop_stem_lookup(self.stems)
        self.stems.close()

    def retire(self) -> None:
        """Close now if no search uses the snapshot, else when the last one finishes (``Index._using``)."""
        self.retired = True
        if not self.users:
            self.close()


class Index:
    """A searchable index. Safe to share between threads, which search it at once; follows commits
    and rebuilds.

    Use as a context manager, or call ``close()``, which releases every file (descriptors and
    mappings). Between calls it holds the files of the one state (generation and commit) it last
    opened, never more: a rebuild or commit that replaces that state does not release them (Linux
    frees a deleted file's blocks only when its last mapping goes), the next call, or
    ``release_if_replaced()``, or ``close()`` does. So an idle index keeps at most one replaced
    generation's space in use, however many rebuilds pass; one that may stay idle longer than a
    retired generation's grace period (``storage.RETIRE_GRACE_S``, 5 minutes; a server between
    requests) should call ``release_if_replaced()`` now and then (a readlink and a listing). Nothing
    else can release them: newsearch starts no thread of its own, so that a process with one thread
    can still fork its build workers. ``ranking``: as in ``open_index``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, time_limit: float = DEFAULT_TIME_LIMIT_S,
                 ranking: RankingConfig = RANKING) -> None:
        self.path = resolve_index_path(path)
        self.time_limit = time_limit
        self.ranking = ranking  # every score reads it: the compiler's boosts, BM25F, the rerank
        self._lock = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._fresh()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the index files."""
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.retire()
                self._snapshot = None

    def release_if_replaced(self) -> None:
        """Close the files of the state this index has open if a commit or rebuild replaced it (the
        next call opens the new one): one readlink and a listing, for a long-lived, idle index."""
        with self._lock:
            if self._snapshot is not None and not self._snapshot.is_current(self.path):
                self._snapshot.retire()  # a search another thread is running finishes first
                self._snapshot = None

    # -- state -----------------------------------------------------------------------------

    def _fresh(self) -> _Snapshot:
        """The snapshot for the index as it is on disk now, reopened if it changed."""
        snapshot = self._snapshot
        if snapshot is not None and snapshot.is_current(self.path):
            return snapshot

        def attempt() -> _Snapshot:
            generation, ix = open_current(self.path)
            stems = StemLookup(generation / VOCABULARY_FILE)
            use_stem_lookup(stems)
            with reading(self.path):
                toc = ix.latest_generation()
                searcher = ix.searcher(weighting=BM25FModel(self.ranking))
            return _Snapshot(generation, toc, ix, searcher, stems)

        fresh = retry_while_committing(attempt, self.path)
        if snapshot is not None:
            snapshot.retire()  # closed once the searches using it finish
        self._snapshot = fresh
        return fresh

    @contextmanager
    def _using(self) -> Iterator[_Snapshot]:
        """The fresh snapshot, kept open while the caller uses it (``self._lock`` only while it is got)."""
        snapshot, release = self._held()
        try:
            yield snapshot
        finally:
            release()

    def _held(self) -> tuple[_Snapshot, Callable[[], None]]:
        """The fresh snapshot, kept open until the function returned with it is called (once)."""
        with self._lock, reading(self.path):
            snapshot = self._fresh()
            snapshot.users += 1

        def release() -> None:
            with self._lock:
                snapshot.users -= 1
                if snapshot.retired and not snapshot.users:
                    snapshot.close()

        return snapshot, release

    # -- API -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int = 0,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        sources: Iterable[str] | None = None,
        sort: Sort = "relevance",
        passages: int = 3,
        passage_chars: int = 300,
        collapse: bool = True,
        facets: Collection[str] = (),
        recency: timedelta | str | None = None,
        correct: bool = True,
    ) -> Results:
        """Search; return one page of ranked hits with their best passages.

        ``since`` is inclusive and ``until`` exclusive (naive datetimes are UTC, a date is
        its midnight UTC); a string is read as on the command line: ``since="2025-01"``
        from the start of January, ``until="2025-01"`` to its end.
        ``sources`` keeps only those sources (exact names, case-insensitive).
        ``collapse`` folds each set of near-duplicate copies (one story republished)
        into its best-ranked article, whose ``similar`` lists the copies that match;
        ``total`` still counts every copy, ``stories`` each story once, and pages
        (``offset``, ``limit``) run through the stories. ``facets`` (any of "source",
        "year", "month") counts the whole result set by that value. ``recency``, a
        half-life (a timedelta or a string such as "30d"), multiplies each relevance
        score by ``0.5 ** (age / recency)``, the age taken from the newest of the most
        relevant matches; undated articles get the median factor of the dated ones.
        When the filters leave nothing of what the query matches, ``filtered_out`` says why.
        ``correct=False`` searches every word as typed: no typing error is corrected (see the
        README for when one is). An empty query with filters, or ``"*"``, lists the articles
        they keep instead, newest first unless ``sort="oldest"``. Raises QueryError for a query
        or argument that cannot be used, with the fix in its message.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self.time_limit
        since, until = moment_argument(since, "since"), moment_argument(until, "until", end=True)
        recency = duration_argument(recency, "recency")
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        if offset < 0:
            raise QueryError(f"offset must not be negative, not {offset}")
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        unknown = [name for name in facets if name not in FACETS]
        if unknown:
            raise QueryError(f"unknown facet {unknown[0]!r}: choose from {', '.join(FACETS)}")
        if recency is not None:
            if recency <= timedelta(0):
                raise QueryError(f"the recency half-life must be longer than zero, not {recency}")
            if sort != "relevance":
                raise QueryError(f"recency blends into relevance ranking; it cannot be combined with sorting by date "
                                 f"({sort})")
        if _browsing(query, since, until, sources):
            return self._browse(query, limit=limit, offset=offset, since=since, until=until, sources=sources,
                                sort=sort, passages=passages, passage_chars=passage_chars, collapse=collapse,
                                facets=facets, recency=recency, started=started)
        tree = parse(query)
        needed = offset + limit
        with self._using() as snapshot:
            with reading(self.path):  # only what reads the index: its decoding errors mean damage
                searcher = snapshot.searcher
                with snapshot.whoosh:
                    compiled = self._compiler(searcher, snapshot, correct, deadline=deadline).compile(tree)
                    allowed = _mask(searcher, since, until, sources)
                filters = _filters(since, until, sources)
                duplicates = snapshot.duplicates() if collapse else None
                clustered, watch = snapshot.clustered() if duplicates else ({}, [])
                depth = max(CANDIDATES if recency is None else RECENCY_CANDIDATES, needed)
                relax: frozenset[str] = frozenset()
                while True:
                    hits, total, timed_out, watched = self._collect(snapshot, compiled, filters, allowed, depth, sort,
                                                                    deadline, watch)
                    if not total and not timed_out and not relax:
                        with snapshot.whoosh:
                            # An exact phrase no article has: its words instead, and the results say so.
                            relax = unmatched_phrases(searcher, compiled)
                            if relax:
                                compiled = self._compiler(searcher, snapshot, correct, relax, deadline).compile(tree)
                        if relax:
                            continue
                    ranked = rank_candidates(compiled, hits, sort, passages, passage_chars, recency, self.ranking,
                                             whoosh=snapshot.whoosh)
                    shown = collapsed(ranked, duplicates)
                    if len(shown) >= needed or len(hits) < depth or timed_out or depth >= MAX_CANDIDATES:
                        break
                    depth = min(depth * 2, MAX_CANDIDATES)
                with snapshot.whoosh:
                    counted = (facets_of(searcher, self._all_matches(searcher, compiled.query, allowed), facets)
                               if facets else {})
                    note = (self._filter_note(searcher, query, compiled, sources, since, until)
                            if not total and filters is not None and not timed_out else None)
            page = []
            passage_query = passage_query_for(compiled)
            collected = {hit.docnum for hit in hits}
            for rank, item in enumerate(shown[offset:needed], offset + 1):
                if time.monotonic() > deadline:
                    timed_out = True  # the page ends early: the hits before are complete and in order
                    break
                hit, found = item.candidate, item.passages
                with snapshot.whoosh:  # the stored fields and the copies; passages are found in the text
                    stored = hit.stored()
                    copies = (copies_matching(searcher, hit, compiled.query, filters, duplicates, collected)
                              if duplicates else ())
                if found is None:
                    found = shown_passages(stored, passage_query, passages, passage_chars)
                page.append(_hit(stored, rank, item.score, found, copies))
        suggestion = self._suggest(query, compiled) if total < FEW_RESULTS or compiled.not_found else None
        return Results(
            query=query,
            total=total,
            hits=tuple(page),
            suggestion=suggestion,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            expansions=tuple(compiled.expansions.items()),
            timed_out=timed_out or compiled.timed_out,
            facets=counted,
            stories=total - folded_copies(clustered, watched),
            offset=offset,
            limit=limit,
            filtered_out=note,
            not_found=tuple(compiled.not_found),
            relaxed_phrases=tuple(compiled.relaxed),
        )

    def timeline(
        self,
        query: str,
        *,
        by: Period = "month",
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        sources: Iterable[str] | None = None,
        tz: tzinfo | str = timezone.utc,
        correct: bool = True,
    ) -> Timeline:
        """How many articles match ``query`` per day, week, month or year (empty periods as 0).

        The periods run from ``since`` (else the first match) to ``until`` (else the last),
        in the calendar of ``tz`` (a tzinfo, or a string as on the command line: "UTC",
        "+01:00", "Europe/Berlin"); ``since`` and ``until`` are read as in ``search``.
        Undated matches are counted apart (``Timeline.undated``).
        Typing errors are corrected as in ``search`` (``Timeline.expansions``), unless ``correct=False``.
        """
        since, until = moment_argument(since, "since"), moment_argument(until, "until", end=True)
        zone = zone_argument(tz, "tz")
        tree = parse(query)
        with self._using() as snapshot, reading(self.path), snapshot.whoosh:
            searcher = snapshot.searcher
            compiled = self._compiler(searcher, snapshot, correct).compile(tree)
            matches = self._all_matches(searcher, compiled.query, _mask(searcher, since, until, sources))
            moments, undated = epoch_micros(doc_columns(searcher).published[matches])
        try:
            counted = timeline_of(moments, undated, by, since=since, until=until, tz=zone)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        return replace(counted, expansions=tuple(compiled.expansions.items()), not_found=tuple(compiled.not_found))

    def related(
        self,
        id: str,
        *,
        limit: int = 10,
        before: bool = False,
        passages: int = 1,
        passage_chars: int = 300,
    ) -> Results:
        """The articles most like article ``id`` (by its most distinctive body terms), its copies left out.

        ``before`` keeps only articles published before it: the background to a story.
        Copies among the results are folded as in ``search``. Raises DocumentNotFound.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self.time_limit
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        id = stored_id(id)
        with self._using() as snapshot, snapshot.whoosh:
            with reading(self.path):
                searcher = snapshot.searcher
                docnum = searcher.document_number(id=id)
                if docnum is None:
                    raise DocumentNotFound(f"no document with id {id!r} in the index at {self.path}")
                stored = searcher.stored_fields(docnum)
                published = stored_published(stored.get("published"))
                if before and published is None:
                    raise QueryError(f"article {id!r} has no date, so nothing can be found published before it")
                text = f"{stored.get('title', '')}\n{stored.get('body', '')}"
                key_terms = searcher.key_terms_from_text("body", text, numterms=RELATED_TERMS, model=Bo1Model)
                duplicates = snapshot.duplicates()
                excluded = [id, *duplicates.copies(id)]
                compiled = CompiledQuery(
                    wq.Or([wq.Term("body", term, boost=weight) for term, weight in key_terms]),
                    weights=dict(key_terms),
                )
                filters = _filters(None, published if before else None, None)
                not_these = wq.Not(wq.Or([wq.Term("id", other) for other in excluded]))
                filters = not_these if filters is None else wq.And([filters, not_these])
                clustered, watch = snapshot.clustered()
                hits, total, timed_out, watched = self._collect(snapshot, compiled, filters, None,
                                                                max(CANDIDATES, limit), "relevance", deadline, watch)
                ranked = [Ranked(hit.score, hit) for hit in
                          sorted(hits, key=lambda hit: rank_key(hit.score, hit.newest_first, hit.id))]
                shown = collapsed(ranked, duplicates)[:limit]
            passage_query = passage_query_for(compiled)
            collected = {hit.docnum for hit in hits}
            page = []
            for rank, item in enumerate(shown, 1):
                if time.monotonic() > deadline:
                    timed_out = True  # as in search: the page ends early
                    break
                page.append(_hit(item.candidate.stored(), rank, item.score,
                                 shown_passages(item.candidate.stored(), passage_query, passages, passage_chars),
                                 copies_matching(searcher, item.candidate, compiled.query, filters, duplicates,
                                                 collected)))
        return Results(query=id, total=total, hits=tuple(page), elapsed_ms=(time.perf_counter() - started) * 1000,
                       timed_out=timed_out, stories=total - folded_copies(clustered, watched), limit=limit)

    def matching(
        self,
        query: str,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        sources: Iterable[str] | None = None,
        sort: Sort = "newest",
        collapse: bool = False,
        correct: bool = True,
    ) -> Matches:
        """Every article ``query`` matches, no page and no cap, newest first (``sort="oldest"``:
        oldest first; undated articles last either way, then by id).

        The query and filters are read as in ``search``; an empty query with filters, or ``"*"``,
        matches every article they keep. ``collapse`` keeps one article per story (the first in
        this order), the ids of its matching copies in ``Match.similar``. ``len()`` counts them at
        once; the ``Match`` objects (plain data) are made as they are iterated, so memory does not
        grow with them; ``Matches.articles()`` reads each article with its match. Both come from the
        index as it was when listed, kept open until the matches are closed (``with``). Counting
        the matches is bounded by the index's time limit (``Index(time_limit=...)``).
        """
        since, until = moment_argument(since, "since"), moment_argument(until, "until", end=True)
        tree = None if _browsing(query, since, until, sources) else parse(query)
        date_sort(sort)
        snapshot, release = self._held()
        try:
            with reading(self.path), snapshot.whoosh:
                searcher = snapshot.searcher
                compiled = (CompiledQuery(wq.Every()) if tree is None
                            else self._compiler(searcher, snapshot, correct).compile(tree))
                matched = self._all_matches(searcher, compiled.query, _mask(searcher, since, until, sources))
                order = DateOrder(searcher, matched, sort, snapshot.clustered()[0] if collapse else None)
                return Matches(order, snapshot.whoosh, self.path, release)
        except BaseException:
            release()
            raise

    def document(self, id: str) -> Document:
        """The stored article with this id; raises DocumentNotFound."""
        id = stored_id(id)
        with self._using() as snapshot, reading(self.path), snapshot.whoosh:
            stored = snapshot.searcher.document(id=id)
        if stored is None:
            raise DocumentNotFound(f"no document with id {id!r} in the index at {self.path}")
        return stored_document(stored)

    def highlight(self, text: str, query: str) -> list[tuple[int, int]]:
        """Spans of ``text`` that ``query`` matches (its words in any form, its phrases)."""
        tree = parse(query)
        with self._using() as snapshot, reading(self.path), snapshot.whoosh:
            compiled = self._compiler(snapshot.searcher, snapshot).compile(tree)
        return highlight_spans(text, passage_query_for(compiled))

    # -- internals -------------------------------------------------------------------------

    def _browse(self, query: str, *, limit: int, offset: int, since: datetime | None, until: datetime | None,
                sources: Iterable[str] | None, sort: Sort, passages: int, passage_chars: int, collapse: bool,
                facets: Collection[str], recency: timedelta | None, started: float) -> Results:
        """``search`` without query words: the articles the filters keep, by date, each with its lead."""
        if recency is not None:
            raise QueryError("recency weighs relevance; a list of articles without query words is by date already")
        lead = passage_query_for(CompiledQuery(wq.Every()))  # no words: each article's lead
        with self._using() as snapshot, reading(self.path), snapshot.whoosh:
            searcher = snapshot.searcher
            matched = self._all_matches(searcher, wq.Every(), _mask(searcher, since, until, sources))
            order = DateOrder(searcher, matched, "oldest" if sort == "oldest" else "newest",
                              snapshot.clustered()[0] if collapse else None)
            page = []
            for rank, (docnum, copies) in enumerate(order.page(offset, limit), offset + 1):
                stored = searcher.stored_fields(docnum)
                similar = [searcher.stored_fields(copy) for copy in copies]
                page.append(_hit(stored, rank, 0.0, shown_passages(stored, lead, passages, passage_chars), tuple(
                    sorted((SimilarCopy(id=other["id"], source=other.get("source", ""), path=other.get("file", ""),
                                        published=stored_published(other.get("published"))) for other in similar),
                           key=lambda copy: (copy.source.casefold(), copy.id)))))
            counted = facets_of(searcher, matched, facets) if facets else {}
        return Results(query=query, total=len(matched), hits=tuple(page), elapsed_ms=(time.perf_counter() - started)
                       * 1000, facets=counted, stories=order.story_count(), offset=offset, limit=limit)

    def _compiler(self, searcher: Searcher, snapshot: _Snapshot, correct: bool = True,
                  relax: Collection[str] = (), deadline: float | None = None) -> QueryCompiler:
        return QueryCompiler(searcher.reader(), snapshot.vocabulary, snapshot.written, self.ranking, correct=correct,
                             relax=relax, deadline=deadline)

    def _collect(self, snapshot: _Snapshot, compiled: CompiledQuery, filters: wq.Query | None,
                 allowed: np.ndarray | None, depth: int, sort: Sort, deadline: float, watch: Sequence[int] = ()
                 ) -> tuple[list[Candidate], int, bool, set[int]]:
        """The top ``depth`` candidates (score, stored fields, coverage), the total, whether time ran out,
        and which of the ``watch`` documents (sorted numbers) match.

        Candidates are the best of the query and, for a plain list of words, the best of the
        same words all required. A plain list (``CompiledQuery.concepts_are_plain``) is collected
        in one pass over its postings, which gives the total and coverage as well; any other
        query goes through Whoosh's collectors with block-quality skipping (which is why
        coverage is found afterwards there, for the candidates only, not while collecting). Only
        the one pass runs beside other threads' work (see ``_Snapshot``). The one pass needs the
        ``filters`` as ``allowed``, a mask over document numbers (``_mask``); without it, Whoosh's
        collectors apply them.
        """
        if sort != "relevance":
            return self._collect_by_date(snapshot, compiled, allowed, depth, sort, deadline, watch)
        concepts = plain_concepts(compiled)
        searcher = snapshot.searcher
        if concepts is not None and (filters is None or allowed is not None):
            found = self._gather(snapshot, concepts, depth, all_words=compiled.all_words_query is not None,
                                 allowed=allowed, deadline=deadline, watch=watch)
            with snapshot.whoosh:
                hits = self._candidates(searcher, found.scores, found.covered)
            return hits, found.total, found.timed_out, found.watched
        with snapshot.whoosh:
            return self._collect_whoosh(searcher, compiled, filters, depth, deadline, watch)

    def _collect_by_date(self, snapshot: _Snapshot, compiled: CompiledQuery, allowed: np.ndarray | None, depth: int,
                         sort: Sort, deadline: float, watch: Sequence[int]
                         ) -> tuple[list[Candidate], int, bool, set[int]]:
        """``_collect`` for a sort by date: the first ``depth`` of every match in date order, from
        the date column (undated articles last, ties by id)."""
        searcher = snapshot.searcher
        with snapshot.whoosh:
            try:
                matched = matching_docnums(searcher, compiled.query, allowed, deadline)
            except MatchTimeout:
                return [], 0, True, set()
            chunks = DateOrder(searcher, matched, sort).docnums()
            first = islice((docnum for chunk in chunks for docnum in chunk), depth)
            hits = self._candidates(searcher, dict.fromkeys(first, 0.0), {})
        watched = np.intersect1d(matched, np.asarray(watch, dtype=np.int64)).tolist()
        return hits, len(matched), False, set(watched)

    def _gather(self, snapshot: _Snapshot, concepts: Sequence[ConceptParts], depth: int, *, all_words: bool,
                allowed: np.ndarray | None, deadline: float, watch: Sequence[int]) -> Gathered:
        """The one pass over a plain query's postings (``candidates.gather``); a sharded index runs it
        on each shard with the statistics of all of them (``shards``)."""
        return gather(snapshot.searcher, concepts, depth, all_words=all_words, allowed=allowed, deadline=deadline,
                      watch=watch, whoosh=snapshot.whoosh)

    def _collect_whoosh(self, searcher: Searcher, compiled: CompiledQuery, filters: wq.Query | None, depth: int,
                        deadline: float, watch: Sequence[int]) -> tuple[list[Candidate], int, bool, set[int]]:
        """``_collect`` through Whoosh's collectors."""
        queries = [compiled.query]
        if compiled.all_words_query is not None:
            queries.append(compiled.all_words_query)
        candidates: dict[int, float] = {}
        timed_out = False
        for query in queries:
            top = searcher.collector(limit=depth)
            chain = filtered(Deadline(top, deadline), filters)
            try:
                searcher.search_with_collector(query, chain)
            except collectors.TimeLimit:
                timed_out = True
            for score, docnum in chain.results().top_n:
                candidates[docnum] = max(score, candidates.get(docnum, score))
            if timed_out:
                break
        counter = filtered(Deadline(collectors.UnsortedCollector(), deadline), filters)
        try:
            searcher.search_with_collector(compiled.query, counter)
            counted = counter.results()
            total = len(counted)
            matched = counted.docs() if watch else set()
            watched = {docnum for docnum in watch if docnum in matched}
        except collectors.TimeLimit:
            timed_out = True
            total = len(candidates)
            watched = set(candidates).intersection(watch)
        covered = covered_concepts(searcher, compiled.concepts, candidates)
        hits = self._candidates(searcher, candidates, covered)
        return hits, total, timed_out, watched

    def _candidates(self, searcher: Searcher, scores: dict[int, float], covered: dict[int, int]) -> list[Candidate]:
        published = column_values(searcher, "published", scores, NO_DATE)
        ids = column_values(searcher, "id", scores, b"")
        return [Candidate(searcher, self.path, docnum, score, covered.get(docnum, 0), published[docnum],
                           ids[docnum].decode("utf-8", "surrogateescape"))
                for docnum, score in scores.items()]

    def _all_matches(self, searcher: Searcher, query: wq.Query, allowed: np.ndarray | None) -> np.ndarray:
        """Every document the query matches of those ``allowed`` (sorted global numbers); QueryError
        when that takes longer than the time limit."""
        try:
            return matching_docnums(searcher, query, allowed, time.monotonic() + self.time_limit)
        except MatchTimeout:
            raise QueryError(
                f"counting every match took longer than {self.time_limit:g} s; narrow the query or the dates"
            ) from None

    def _filter_note(self, searcher: Searcher, query: str, compiled: CompiledQuery, sources: Iterable[str] | None,
                     since: datetime | None, until: datetime | None) -> FilterNote | None:
        """Why the filters left no result: None when the query alone matches nothing either (or
        counting its matches takes too long)."""
        try:
            matches = self._all_matches(searcher, compiled.query, None)
        except QueryError:
            return None
        if not len(matches):
            return None
        return filter_note(searcher, query, matches, _source_names(sources), since, until)

    @staticmethod
    def _suggest(query: str, compiled: CompiledQuery) -> str | None:
        """The query with each word the index has never seen replaced by its closest indexed spelling
        (the one searched, or the one offered)."""
        suggestion = query
        for typed, spellings in {**compiled.suggestions, **compiled.expansions}.items():
            suggestion = re.sub(rf"(?<!\w){re.escape(typed)}(?!\w)", spellings[0], suggestion)
        return suggestion if suggestion != query else None


def _browsing(query: str, since: datetime | None, until: datetime | None, sources: Iterable[str] | None) -> bool:
    """Whether ``query`` lists articles rather than searches them: ``*``, or nothing with filters;
    QueryError for nothing without filters (which would list the whole index by mistake)."""
    text = query.strip()
    if text == EVERY_ARTICLE:
        return True
    if text:
        return False
    names = [sources] if isinstance(sources, str) else list(sources or ())
    if since is None and until is None and not any(name.strip() for name in names):
        raise QueryError("the query is empty: type some words to search for, give a date or source filter to list "
                         f"the articles it keeps, or {EVERY_ARTICLE} to list every article")
    return True


def _filters(since: datetime | None, until: datetime | None, sources: Iterable[str] | None) -> wq.Query | None:
    parts = []
    dates = date_filter(since, until)
    if dates is not None:
        parts.append(dates)
    wanted = [source_key(name) for name in _source_names(sources)]
    if wanted:
        parts.append(wq.Or([wq.Term("source_key", key) for key in wanted]))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


def _source_names(sources: Iterable[str] | None) -> list[str]:
    """The source names asked for: one string is one name, not its letters; blank names are none."""
    names = [sources] if isinstance(sources, str) else list(sources or ())
    return [name for name in names if name.strip()]


def _mask(searcher: Searcher, since: datetime | None, until: datetime | None,
          sources: Iterable[str] | None) -> np.ndarray | None:
    """The documents the filters keep, as a mask over global document numbers (None: no filter)."""
    if since is None and until is None and not _source_names(sources):
        return None
    keys = [source_key(name) for name in _source_names(sources)]
    return filter_mask(doc_columns(searcher), since, until, keys)


def _hit(stored: dict, rank: int, score: float, passages: tuple[Passage, ...],
         similar: tuple[SimilarCopy, ...] = ()) -> Hit:
    return Hit(
        id=stored["id"],
        rank=rank,
        score=round(score, 6),
        title=stored.get("title", ""),
        source=stored.get("source", ""),
        published=stored_published(stored.get("published")),
        url=stored.get("url", ""),
        path=stored.get("file", ""),
        passages=passages,
        similar=similar,
        author=stored.get("author", ""),
        tags=tuple(stored.get("tags", ())),
    )
