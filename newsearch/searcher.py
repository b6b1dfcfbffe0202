"""Searching: `open_index` and the long-lived, thread-safe `Index`.

Ranking, for ``sort="relevance"``:

1. Whoosh scores candidates with BM25F over title (boosted) and body.
2. For queries of one or two words or phrases, documents that cover all of
   them come first, then those missing one ("OR with a strong preference for
   all words"); from three on, the share of the query a document covers is a
   strong bonus (cubed) rather than a strict order, since a description, a
   remembered sentence or a headline ("Chelsea hold Arsenal") is rarely all in
   the article wanted, which may say "draw" where the headline says "hold".
   BM25F plus that bonus orders the candidates; only the top ``RERANK_DEPTH``
   of that order are reordered below, so which articles make a page never
   depends on how the index is split into segments.
3. Within the top ``RERANK_DEPTH``, two kinds of evidence that an article is the
   one wanted; the stronger of the two counts:
   * the best passage (or the title): the IDF-weighted share of the query it
     holds (MaxP), raised to ``PASSAGE_POWER``, so a passage that holds nearly
     the whole query (a remembered sentence) counts much more than one that
     holds some of it;
   * the lead share: news puts what an article is about in its opening, so each
     occurrence of a query word counts more the earlier it is in the body
     (``1 / (1 + word / LEAD_SCALE)``), saturated like BM25's term frequency and
     weighted by IDF (covering a rare word matters more than a common one), as a
     share of the whole query, times ``LEAD_WEIGHT``. This is what finds an
     article from its headline, whose words are in its first paragraph, not in
     any one sentence.
   Smaller shares of BM25F and of the coverage bonus are added to that.
4. Ties: newest first, then id, so output is stable.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from statistics import median
from typing import Any, Iterable, Iterator, Literal

from whoosh import scoring
from whoosh import query as wq
from whoosh import collectors
from whoosh.classify import Bo1Model
from whoosh.index import FileIndex
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.util.times import long_to_datetime

from newsearch import duplicate_store
from newsearch.analysis import terms, use_stem_lookup
from newsearch.candidates import gather, plain_concepts
from newsearch.compiler import CompiledQuery, QueryCompiler, date_filter
from newsearch.config import resolve_index_path
from newsearch.errors import DocumentNotFound, QueryError
from newsearch.duplicate_store import DuplicatePairs
from newsearch.models import Document, Hit, Passage, Results, SimilarCopy
from newsearch.passages import PassageQuery, best_passages, highlight_spans, lead_passage
from newsearch.query import parse
from newsearch.schema import source_key, stored_published
from newsearch.vocabulary import VOCABULARY_FILE, StemLookup, Vocabulary
from newsearch.storage import current_generation, open_current, reading, retry_while_committing
from newsearch.timeline import Period, Timeline, facet_counts, recency_factor, timeline, year_month

Sort = Literal["relevance", "newest", "oldest"]
SORTS = ("relevance", "newest", "oldest")
RERANK_DEPTH = 15  # 30 scored the same on the benchmark sets, at twice the passage work
BM25_B = 0.75
BM25_K1 = 1.2
STRICT_COVERAGE_UP_TO = 2  # words and phrases
COVERAGE_WEIGHT = 1.0
COVERAGE_POWER = 3.0
CANDIDATES = 100
DEFAULT_TIME_LIMIT_S = 2.0
LEAD_SCALE = 20.0  # words: an occurrence at word p counts 1 / (1 + p / LEAD_SCALE)
LEAD_FIELDS = ("title", "body")  # each read from its first word; the larger share counts
LEAD_WEIGHT = 2.5  # how a lead share compares with a passage share in the final score
PASSAGE_POWER = 4.0  # a passage counts much more when it holds nearly the whole query
FUSED_SCORE_WEIGHT = 0.25  # BM25F and coverage, once the lead and passage evidence is in
FUSED_COVERAGE_WEIGHT = 0.25
MAX_LIMIT = 1000
FEW_RESULTS = 3
MAX_CANDIDATES = 4000  # collapsing copies can call for more candidates than a page; never more than this
RECENCY_CANDIDATES = 300  # recency re-ranks this many of the most relevant matches
FACETS = ("source", "year", "month")
RELATED_TERMS = 25  # distinctive body terms that make a "more like this" query


def open_index(path: str | os.PathLike[str] | None = None) -> "Index":
    """Open the index at ``path`` (else $NEWSEARCH_INDEX, else ./index) for searching.

    Raises IndexNotFound, IndexUnreadable or IndexIncompatible with the command that fixes it.
    """
    return Index(path)


@dataclass
class _Snapshot:
    """One opened state of the index: a generation and its Whoosh commit."""

    generation: Path
    toc: int
    ix: FileIndex
    searcher: Searcher
    _vocabulary: Vocabulary | None = None
    _duplicates: DuplicatePairs | None = None

    def vocabulary(self) -> Vocabulary:
        """The generation's unstemmed words, read on first use (most queries never need them)."""
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.load(self.generation)
        return self._vocabulary

    def duplicates(self) -> DuplicatePairs:
        """The near-duplicate pairs the indexer found, read on first use."""
        if self._duplicates is None:
            self._duplicates = duplicate_store.load(self.generation)
        return self._duplicates

    def close(self) -> None:
        self.searcher.close()


class Index:
    """A searchable index. Safe to share between threads; follows commits and rebuilds.

    Use as a context manager, or call ``close()``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, time_limit: float = DEFAULT_TIME_LIMIT_S) -> None:
        self.path = resolve_index_path(path)
        self.time_limit = time_limit
        self._lock = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._fresh()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the index files."""
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.close()
                self._snapshot = None

    # -- state -----------------------------------------------------------------------------

    def _fresh(self) -> _Snapshot:
        """The snapshot for the index as it is on disk now, reopened if it changed."""
        snapshot = self._snapshot
        if snapshot is not None:
            try:
                generation = current_generation(self.path)
                if generation == snapshot.generation and snapshot.ix.latest_generation() == snapshot.toc:
                    return snapshot
            except (OSError, ValueError):
                pass

        def attempt() -> _Snapshot:
            generation, ix = open_current(self.path)
            use_stem_lookup(StemLookup(generation / VOCABULARY_FILE))
            with reading(self.path):
                toc = ix.latest_generation()
                searcher = ix.searcher(weighting=scoring.BM25F(B=BM25_B, K1=BM25_K1, title_B=0.5))
            return _Snapshot(generation, toc, ix, searcher)

        fresh = retry_while_committing(attempt, self.path)
        if snapshot is not None:
            snapshot.close()  # safe: every use of a snapshot holds self._lock
        self._snapshot = fresh
        return fresh

    # -- API -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        sources: Iterable[str] | None = None,
        sort: Sort = "relevance",
        passages: int = 3,
        passage_chars: int = 300,
        collapse: bool = True,
        facets: Collection[str] = (),
        recency: timedelta | None = None,
    ) -> Results:
        """Search; return one page of ranked hits with their best passages.

        ``since`` is inclusive and ``until`` exclusive (naive datetimes are UTC);
        ``sources`` keeps only those sources (exact names, case-insensitive).
        ``collapse`` folds each set of near-duplicate copies (one story republished)
        into its best-ranked article, whose ``similar`` lists the copies that match;
        ``total`` still counts every copy. ``facets`` (any of "source", "year",
        "month") counts the whole result set by that value. ``recency``, a half-life,
        multiplies each relevance score by ``0.5 ** (age / recency)``, the age taken
        from the newest of the most relevant matches; undated articles get the
        median factor of the dated ones.
        Raises QueryError for a query that cannot be run, with the fix in its message.
        """
        started = time.perf_counter()
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
        tree = parse(query)
        needed = offset + limit
        with self._lock:
            with reading(self.path):  # only what reads the index: its decoding errors mean damage
                snapshot = self._fresh()
                searcher = snapshot.searcher
                compiled = QueryCompiler(searcher.reader(), snapshot.vocabulary).compile(tree)
                filters = _filters(since, until, sources)
                duplicates = snapshot.duplicates() if collapse else None
                depth = max(CANDIDATES if recency is None else RECENCY_CANDIDATES, needed)
                while True:
                    hits, total, timed_out = self._collect(searcher, compiled, filters, depth, sort)
                    ranked = self._rank(compiled, hits, sort, passages, passage_chars, recency)
                    shown = _collapsed(ranked, duplicates)
                    if len(shown) >= needed or len(hits) < depth or timed_out or depth >= MAX_CANDIDATES:
                        break
                    depth = min(depth * 2, MAX_CANDIDATES)
                counted = self._facets(searcher, compiled.query, filters, facets) if facets else {}
            page = []
            passage_query = _passage_query(compiled)
            collected = {hit.docnum for hit in hits}
            for rank, (score, hit, found) in enumerate(shown[offset:needed], offset + 1):
                if found is None:
                    found = _shown_passages(hit.stored(), passage_query, passages, passage_chars)
                copies = (self._copies(searcher, hit, compiled.query, filters, duplicates, collected)
                          if duplicates else ())
                page.append(_hit(hit.stored(), rank, score, found, copies))
        suggestion = self._suggest(query, compiled) if total < FEW_RESULTS else None
        return Results(
            query=query,
            total=total,
            hits=tuple(page),
            suggestion=suggestion,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            expansions=tuple(compiled.expansions.items()),
            timed_out=timed_out,
            facets=counted,
        )

    def timeline(
        self,
        query: str,
        *,
        by: Period = "month",
        since: datetime | None = None,
        until: datetime | None = None,
        sources: Iterable[str] | None = None,
        tz: tzinfo = timezone.utc,
    ) -> Timeline:
        """How many articles match ``query`` per day, week, month or year (empty periods as 0).

        The periods run from ``since`` (else the first match) to ``until`` (else the last),
        in the calendar of ``tz``; undated matches are counted apart (``Timeline.undated``).
        """
        tree = parse(query)
        with self._lock, reading(self.path):
            snapshot = self._fresh()
            searcher = snapshot.searcher
            compiled = QueryCompiler(searcher.reader(), snapshot.vocabulary).compile(tree)
            matches = self._all_matches(searcher, compiled.query, _filters(since, until, sources))
            dates = [_published(raw) for raw in _column_values(searcher, "published", matches, _NO_DATE).values()]
        try:
            return timeline(dates, by, since=since, until=until, tz=tz)
        except ValueError as exc:
            raise QueryError(str(exc)) from None

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
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        with self._lock:
            with reading(self.path):
                snapshot = self._fresh()
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
                hits, total, timed_out = self._collect(searcher, compiled, filters, max(CANDIDATES, limit), "relevance")
                ranked = [(hit.score, hit, None) for hit in
                          sorted(hits, key=lambda hit: (-hit.score, hit.newest_first, hit.id))]
                shown = _collapsed(ranked, duplicates)[:limit]
            passage_query = _passage_query(compiled)
            collected = {hit.docnum for hit in hits}
            page = [
                _hit(hit.stored(), rank, score, _shown_passages(hit.stored(), passage_query, passages, passage_chars),
                     self._copies(searcher, hit, compiled.query, filters, duplicates, collected))
                for rank, (score, hit, _) in enumerate(shown, 1)
            ]
        return Results(query=id, total=total, hits=tuple(page), elapsed_ms=(time.perf_counter() - started) * 1000,
                       timed_out=timed_out)

    def document(self, id: str) -> Document:
        """The stored article with this id; raises DocumentNotFound."""
        with self._lock, reading(self.path):
            stored = self._fresh().searcher.document(id=id)
        if stored is None:
            raise DocumentNotFound(f"no document with id {id!r} in the index at {self.path}")
        return Document(
            id=stored["id"], title=stored.get("title", ""), body=stored.get("body", ""), path=stored.get("path", ""),
            published=stored_published(stored.get("published")), source=stored.get("source", ""),
            url=stored.get("url", ""), author=stored.get("author", ""), tags=tuple(stored.get("tags", ())),
        )

    def highlight(self, text: str, query: str) -> list[tuple[int, int]]:
        """Spans of ``text`` that ``query`` matches (its words in any form, its phrases)."""
        tree = parse(query)
        with self._lock:
            snapshot = self._fresh()
            compiled = QueryCompiler(snapshot.searcher.reader(), snapshot.vocabulary).compile(tree)
        return highlight_spans(text, _passage_query(compiled))

    # -- internals -------------------------------------------------------------------------

    def _collect(self, searcher: Searcher, compiled: CompiledQuery, filters: wq.Query | None, depth: int,
                 sort: Sort) -> tuple[list["_Candidate"], int, bool]:
        """The top ``depth`` candidates (score, stored fields, coverage), the total, and whether time ran out.

        Candidates are the best of the query and, for a plain list of words, the best of the
        same words all required. A plain list (see ``candidates.plain_concepts``) is collected
        in one pass over its postings, which gives the total and coverage as well; any other
        query goes through Whoosh's collectors with block-quality skipping (which is why
        coverage is found afterwards there, for the candidates only, not while collecting).
        """
        deadline = time.monotonic() + self.time_limit
        concepts = plain_concepts(compiled.query, compiled.concepts, compiled.all_words_query)
        if sort == "relevance" and concepts is not None:
            allowed = frozenset(searcher.docs_for_query(filters)) if filters is not None else None
            found = gather(searcher, concepts, depth, all_words=compiled.all_words_query is not None,
                           allowed=allowed, deadline=deadline)
            return self._candidates(searcher, found.scores, found.covered), found.total, found.timed_out
        queries = [compiled.query]
        if sort == "relevance" and compiled.all_words_query is not None:
            queries.append(compiled.all_words_query)
        candidates: dict[int, float] = {}
        timed_out = False
        for query in queries:
            top = searcher.collector(limit=depth, sortedby=None if sort == "relevance" else "published",
                                     reverse=(sort == "newest"))
            chain = _filtered(_Deadline(top, deadline), filters)
            try:
                searcher.search_with_collector(query, chain)
            except collectors.TimeLimit:
                timed_out = True
            for score, docnum in chain.results().top_n:
                candidates[docnum] = max(score, candidates.get(docnum, score))
            if timed_out:
                break
        counter = _filtered(_Deadline(collectors.UnsortedCollector(), deadline), filters)
        try:
            searcher.search_with_collector(compiled.query, counter)
            total = len(counter.results())
        except collectors.TimeLimit:
            timed_out = True
            total = len(candidates)
        covered = _coverage(searcher, compiled.concepts, candidates) if sort == "relevance" else {}
        hits = self._candidates(searcher, candidates, covered)
        if sort != "relevance":  # by date, then id; undated articles last either way
            sign = -1 if sort == "newest" else 1
            hits.sort(key=lambda hit: (hit.published >= _NO_DATE, sign * hit.published, hit.id))
        return hits, total, timed_out

    def _candidates(self, searcher: Searcher, scores: dict[int, float], covered: dict[int, int]) -> list["_Candidate"]:
        published = _column_values(searcher, "published", scores, _NO_DATE)
        ids = _column_values(searcher, "id", scores, b"")
        return [_Candidate(searcher, self.path, docnum, score, covered.get(docnum, 0), published[docnum],
                           ids[docnum].decode("utf-8", "surrogateescape"))
                for docnum, score in scores.items()]

    def _rank(self, compiled: CompiledQuery, hits: list["_Candidate"], sort: Sort,
              passages: int, passage_chars: int,
              recency: timedelta | None = None) -> list[tuple[float, "_Candidate", tuple[Passage, ...] | None]]:
        """Order the candidates (see the module docstring): ``(score, candidate, passages)``.

        Passages are found for the reranked top (None for the others: found when shown).
        """
        if sort != "relevance":
            return [(0.0, hit, None) for hit in hits]
        passage_query = _passage_query(compiled)
        concepts = compiled.concepts
        max_score = max((hit.score for hit in hits), default=1.0) or 1.0
        # Weights of the terms some article holds: a typed spelling that none does (its
        # corrections are searched instead) would otherwise count as the rarest word of the query.
        weights = _held(hits[0].searcher, compiled.weights) if hits else {}
        # The most a passage can score: every concept's best term (the passages' scale).
        max_passage = sum(sorted(weights.values(), reverse=True)[:len(concepts) or 1]) or 1.0
        decay = _recency_weights(hits, recency) if recency is not None else {}

        def title_share(stored: dict) -> float:
            """Like a passage score, for the title: the weight of the query terms it holds."""
            title_terms = set(terms(stored.get("title", "")))
            return sum(weight for term, weight in weights.items() if term in title_terms) / max_passage

        # One or two words: articles covering more of them always come first. Longer queries
        # (a description, a remembered sentence, a headline) rarely appear whole in the article
        # wanted, so coverage is a strong bonus there instead of a strict order.
        strict = len(concepts) <= STRICT_COVERAGE_UP_TO

        def tier(covered: int) -> int:
            return covered if strict else 0

        def coverage(covered: int) -> float:
            return (covered / len(concepts)) ** COVERAGE_POWER if concepts else 0.0

        def adjusted(hit: _Candidate, score: float) -> float:
            return score * decay.get(hit.docnum, 1.0)

        def prescore(hit: _Candidate) -> float:
            return adjusted(hit, hit.score / max_score + COVERAGE_WEIGHT * coverage(hit.covered))

        order = sorted(hits, key=lambda hit: (-tier(hit.covered), -prescore(hit), hit.newest_first, hit.id))
        # A fixed depth, whatever the page asked for: every page is cut from one ordering.
        depth = RERANK_DEPTH
        # Only the top of that order is reordered: promoting a candidate from the bottom of the
        # pool would make the page depend on the pool's cut-off, where ties fall by document number.
        leads = _lead_shares(hits[0].searcher, concepts, weights, [hit.docnum for hit in order[:depth]]) if hits else {}
        reranked = []
        for hit in order[:depth]:
            stored = hit.stored()
            best = best_passages(stored.get("body", ""), passage_query, count=max(passages, 1), max_chars=passage_chars)
            best_share = min(max(best[0].score / max_passage if best else 0.0, title_share(stored)), 1.0)
            evidence = max(LEAD_WEIGHT * leads.get(hit.docnum, 0.0), best_share ** PASSAGE_POWER)
            fused = adjusted(hit, evidence + FUSED_SCORE_WEIGHT * hit.score / max_score
                             + FUSED_COVERAGE_WEIGHT * coverage(hit.covered))
            shown = _shown_passages(stored, passage_query, passages, passage_chars, best)
            reranked.append((tier(hit.covered), fused, hit, shown))
        reranked.sort(key=lambda item: (-item[0], -item[1], item[2].newest_first, item[2].id))
        result: list[tuple[float, _Candidate, tuple[Passage, ...] | None]] = [
            (fused, hit, found) for _, fused, hit, found in reranked
        ]
        result += [(prescore(hit), hit, None) for hit in order[depth:]]
        return result

    def _copies(self, searcher: Searcher, hit: "_Candidate", query: wq.Query, filters: wq.Query | None,
                duplicates: DuplicatePairs, collected: set[int]) -> tuple[SimilarCopy, ...]:
        """The near-duplicates of ``hit`` that the query (and filters) match too.

        Copies among the ``collected`` candidates matched already; only the others are checked
        (a matcher for the whole query costs several milliseconds).
        """
        docnums = [searcher.document_number(id=other) for other in duplicates.copies(hit.id)]
        wanted = [docnum for docnum in docnums if docnum is not None]
        if not wanted:
            return ()
        matching = {docnum for docnum in wanted if docnum in collected}
        unknown = [docnum for docnum in wanted if docnum not in collected]
        if unknown:
            matching |= _matching(searcher, query if filters is None else wq.And([query, filters]), unknown)
        copies = []
        for docnum in sorted(matching):
            stored = searcher.stored_fields(docnum)
            copies.append(SimilarCopy(id=stored["id"], source=stored.get("source", ""),
                                      published=stored_published(stored.get("published")),
                                      path=stored.get("file", "")))
        return tuple(sorted(copies, key=lambda copy: (copy.source.casefold(), copy.id)))

    def _all_matches(self, searcher: Searcher, query: wq.Query, filters: wq.Query | None) -> list[int]:
        """Every document the query matches; QueryError when that takes longer than the time limit."""
        collector = _filtered(_Deadline(collectors.UnsortedCollector(), time.monotonic() + self.time_limit), filters)
        try:
            searcher.search_with_collector(query, collector)
        except collectors.TimeLimit:
            raise QueryError(
                f"counting every match took longer than {self.time_limit:g} s; narrow the query or the dates"
            ) from None
        return list(collector.results().docs())

    def _facets(self, searcher: Searcher, query: wq.Query, filters: wq.Query | None,
                wanted: Collection[str]) -> dict[str, tuple[tuple[str, int], ...]]:
        """Counts of the whole result set by source, year and/or month."""
        matches = self._all_matches(searcher, query, filters)
        counted: dict[str, tuple[tuple[str, int], ...]] = {}
        if "source" in wanted:
            keys = _column_values(searcher, "source_key", matches, "")
            names: dict[str, str] = {}
            for docnum, key in keys.items():
                if key and key not in names:  # the name as the first article of that source writes it
                    names[key] = searcher.stored_fields(docnum).get("source", key)
            counted["source"] = tuple(facet_counts(names.get(key) for key in keys.values()))
        if "year" in wanted or "month" in wanted:
            periods = [year_month(_published(raw)) for raw in _column_values(searcher, "published", matches, _NO_DATE).values()]
            if "year" in wanted:
                counted["year"] = tuple(facet_counts(period[0] if period else None for period in periods))
            if "month" in wanted:
                counted["month"] = tuple(facet_counts(period[1] if period else None for period in periods))
        return {name: counted[name] for name in FACETS if name in counted}

    @staticmethod
    def _suggest(query: str, compiled: CompiledQuery) -> str | None:
        """The query with each word the index has never seen replaced by its closest indexed spelling."""
        suggestion = query
        for typed, spellings in compiled.expansions.items():
            suggestion = re.sub(rf"(?<!\w){re.escape(typed)}(?!\w)", spellings[0], suggestion)
        return suggestion if suggestion != query else None


class _Deadline(collectors.WrappingCollector):
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


def _filtered(collector: collectors.Collector, filters: wq.Query | None) -> collectors.Collector:
    # Outermost, so that the filter sees every document before the collectors inside it.
    return collectors.FilterCollector(collector, allow=filters) if filters is not None else collector


def _matching(searcher: Searcher, query: wq.Query, docnums: Iterable[int]) -> set[int]:
    """Which of ``docnums`` the query matches (skipping through its matchers, without scoring)."""
    found = set()
    wanted = sorted(docnums)
    for subsearcher, offset in searcher.leaf_searchers():
        end = offset + subsearcher.doc_count_all()
        local = [docnum - offset for docnum in wanted if offset <= docnum < end]
        if not local:
            continue
        matcher = query.matcher(subsearcher, subsearcher.boolean_context())
        found.update(docnum + offset for docnum in _positioned(matcher, local))
    return found


def _positioned(matcher: Any, docnums: list[int]) -> Iterator[int]:
    """Those of the sorted ``docnums`` the matcher holds, each yielded while the matcher is on it."""
    for docnum in docnums:
        if not matcher.is_active():
            return
        if matcher.id() < docnum:
            matcher.skip_to(docnum)
        if matcher.is_active() and matcher.id() == docnum:
            yield docnum


def _coverage(searcher: Searcher, concepts: list[wq.Query], docnums: Iterable[int]) -> dict[int, int]:
    """For each document, how many of the query's words and phrases it matches."""
    covered = dict.fromkeys(docnums, 0)
    for concept in concepts:
        for docnum in _matching(searcher, concept, covered):
            covered[docnum] += 1
    return covered


def _collapsed(ranked: list[tuple[float, "_Candidate", tuple[Passage, ...] | None]],
               duplicates: DuplicatePairs | None) -> list[tuple[float, "_Candidate", tuple[Passage, ...] | None]]:
    """The ranking with each cluster of copies reduced to its best-ranked article."""
    if not duplicates or not duplicates.pairs:
        return ranked
    seen: set[str] = set()
    kept = []
    for item in ranked:
        cluster = duplicates.cluster_of.get(item[1].id)
        if cluster is not None:
            if cluster in seen:
                continue
            seen.add(cluster)
        kept.append(item)
    return kept


def _shown_passages(stored: dict, passage_query: PassageQuery, count: int, max_chars: int,
                    best: list[Passage] | None = None) -> tuple[Passage, ...]:
    """The ``count`` best passages (``best`` if already found), else the lead for a title-only match."""
    if count <= 0:
        return ()
    body = stored.get("body", "")
    if best is None:
        best = best_passages(body, passage_query, count=count, max_chars=max_chars)
    if best:
        return tuple(best[:count])
    lead = lead_passage(body, max_chars=max_chars)
    return (lead,) if lead else ()


def _recency_weights(hits: list["_Candidate"], half_life: timedelta) -> dict[int, float]:
    """docnum -> ``0.5 ** (age / half_life)``, the age from the newest candidate; undated: the median."""
    dated = {hit.docnum: moment for hit in hits if (moment := _published(hit.published)) is not None}
    if not dated:
        return {}
    newest = max(dated.values())
    weights = {docnum: recency_factor(published, newest, half_life) or 0.0 for docnum, published in dated.items()}
    neutral = median(weights.values())
    return {hit.docnum: weights.get(hit.docnum, neutral) for hit in hits}


def _held(searcher: Searcher, weights: dict[str, float]) -> dict[str, float]:
    """The weights of the terms that some article's title or body holds."""
    reader = searcher.reader()
    return {term: weight for term, weight in weights.items()
            if reader.doc_frequency("body", term) or reader.doc_frequency("title", term)}


def _lead_shares(searcher: Searcher, concepts: list[wq.Query], term_weights: dict[str, float],
                 docnums: Iterable[int]) -> dict[int, float]:
    """For each document, how much of the query it is about, judged mostly by its opening.

    Each word or phrase of the query counts with the IDF of its rarest term in ``term_weights``
    (the terms some article holds: for a misspelling, its corrections). In a field, every
    occurrence of one of its terms at word ``p`` adds ``1 / (1 + p / LEAD_SCALE)`` (a phrase's
    words count wherever they are: this is about topic, coverage is about the phrase), and the
    sum ``m`` saturates as ``m / (1 + m)``, as BM25 saturates term frequency. A field's share is
    the IDF-weighted sum of those over the query's total IDF (so below 1); a document's is the
    larger of its title's and its body's. Positions come from the index: no stored text is read.
    """
    shares = dict.fromkeys(docnums, 0.0)
    weights = [max((term_weights.get(text, 0.0) for _, text in concept.iter_all_terms()), default=0.0)
               for concept in concepts]
    total = sum(weights)
    if total <= 0 or not shares:
        return shares
    wanted = sorted(shares)
    for subsearcher, offset in searcher.leaf_searchers():
        reader = subsearcher.reader()
        end = offset + subsearcher.doc_count_all()
        local = [docnum - offset for docnum in wanted if offset <= docnum < end]
        if not local:
            continue
        for fieldname in LEAD_FIELDS:
            field_shares = dict.fromkeys(local, 0.0)
            for concept, weight in zip(concepts, weights):
                if weight <= 0:
                    continue
                positions: dict[int, set[int]] = {}
                for text in sorted({text for name, text in concept.iter_all_terms() if name == fieldname}):
                    if (fieldname, text) not in reader:
                        continue
                    matcher = reader.postings(fieldname, text)
                    for docnum in _positioned(matcher, local):
                        positions.setdefault(docnum, set()).update(matcher.value_as("positions"))
                for docnum, spots in positions.items():
                    # Summed in order, so equal documents get equal shares (ties stay ties).
                    mass = sum(1.0 / (1.0 + spot / LEAD_SCALE) for spot in sorted(spots))
                    field_shares[docnum] += weight * mass / (1.0 + mass)
            for docnum, share in field_shares.items():
                shares[docnum + offset] = max(shares[docnum + offset], share / total)
    return shares


def _passage_query(compiled: CompiledQuery) -> PassageQuery:
    return PassageQuery(weights=compiled.weights, phrases=tuple(compiled.phrases),
                        phrase_slop=tuple(compiled.phrase_slop))


def _filters(since: datetime | None, until: datetime | None, sources: Iterable[str] | None) -> wq.Query | None:
    parts = []
    dates = date_filter(since, until)
    if dates is not None:
        parts.append(dates)
    wanted = [source_key(name) for name in (sources or ()) if name.strip()]
    if wanted:
        parts.append(wq.Or([wq.Term("source_key", key) for key in wanted]))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


_NO_DATE = 1 << 63  # Whoosh's column value for a document without a date is the largest one


def _column_values(searcher: Searcher, fieldname: str, docnums: Iterable[int], default: object) -> dict[int, object]:
    """Raw column values of some documents, segment by segment: Whoosh's multi-segment column
    reader fails when a segment has no value of the field at all (e.g. no dated article)."""
    values = {}
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


def _published(raw: int) -> datetime | None:
    """A raw ``published`` column value as an aware UTC datetime (None: undated)."""
    return None if raw >= _NO_DATE else long_to_datetime(raw).replace(tzinfo=timezone.utc)


_COLUMNS: "weakref.WeakKeyDictionary[IndexReader, dict[str, object]]" = weakref.WeakKeyDictionary()


def _column(reader: IndexReader, fieldname: str) -> object:
    """A segment's raw column reader, made once per reader: making one reads the offsets of
    every document (for the id column, milliseconds per search on a large segment)."""
    columns = _COLUMNS.setdefault(reader, {})
    if fieldname not in columns:
        columns[fieldname] = reader.column_reader(fieldname, translate=False) if reader.has_column(fieldname) else None
    return columns[fieldname]


def _age_key(published: int) -> int:
    """Sorts newest first: minus the raw column value; undated documents last."""
    return 0 if published >= _NO_DATE else -published


class _Candidate:
    """A candidate hit: what ranking needs from columns, its stored fields read only if shown."""

    __slots__ = ("searcher", "index_path", "docnum", "score", "covered", "published", "newest_first", "id",
                 "_stored")

    def __init__(self, searcher: Searcher, index_path: Path, docnum: int, score: float, covered: int,
                 published: int, doc_id: str) -> None:
        self.searcher, self.index_path, self.docnum = searcher, index_path, docnum
        self.score, self.covered, self.id = score, covered, doc_id
        self.published = published  # the raw column value (_NO_DATE or more: undated)
        self.newest_first = _age_key(published)
        self._stored: dict | None = None

    def stored(self) -> dict:
        if self._stored is None:
            with reading(self.index_path):
                self._stored = self.searcher.stored_fields(self.docnum)
        return self._stored


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
    )
