"""Searching: `open_index` and the long-lived, thread-safe `Index`.

Ranking, for ``sort="relevance"``:

1. Whoosh scores candidates with BM25F over title (boosted) and body.
2. For queries of up to three words or phrases, documents that cover all of
   them come first, then those missing one, and so on ("OR with a strong
   preference for all words"); for longer queries the share of the query a
   document covers is a strong bonus (cubed) rather than a strict order, since
   a remembered sentence or a headline is rarely all in the article wanted.
3. Within the top ``RERANK_DEPTH`` candidates the best passage's (or the
   title's) score is fused into the document score (MaxP), so an article with
   one paragraph that answers all the query words beats one that scatters them.
4. Ties: newest first, then id, so output is stable.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Literal

from whoosh import scoring
from whoosh import query as wq
from whoosh import collectors
from whoosh.index import FileIndex
from whoosh.reading import IndexReader
from whoosh.searching import Searcher

from newsearch.analysis import use_stem_lookup
from newsearch.analysis import terms
from newsearch.candidates import gather, plain_concepts
from newsearch.compiler import CompiledQuery, QueryCompiler, date_filter
from newsearch.config import resolve_index_path
from newsearch.errors import DocumentNotFound, QueryError
from newsearch.models import Document, Hit, Passage, Results
from newsearch.passages import PassageQuery, best_passages, highlight_spans, lead_passage
from newsearch.query import parse
from newsearch.schema import source_key, stored_published
from newsearch.vocabulary import VOCABULARY_FILE, StemLookup, Vocabulary
from newsearch.storage import current_generation, open_current, reading, retry_while_committing

Sort = Literal["relevance", "newest", "oldest"]
SORTS = ("relevance", "newest", "oldest")
RERANK_DEPTH = 15  # 30 scored the same on the benchmark sets, at twice the passage work
BM25_B = 0.75
BM25_K1 = 1.2
STRICT_COVERAGE_UP_TO = 3  # words and phrases
COVERAGE_WEIGHT = 1.0
COVERAGE_POWER = 3.0
CANDIDATES = 100
DEFAULT_TIME_LIMIT_S = 2.0
PASSAGE_WEIGHT = 1.0
MAX_LIMIT = 1000
FEW_RESULTS = 3


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

    def vocabulary(self) -> Vocabulary:
        """The generation's unstemmed words, read on first use (most queries never need them)."""
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.load(self.generation)
        return self._vocabulary

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
    ) -> Results:
        """Search; return one page of ranked hits with their best passages.

        ``since`` is inclusive and ``until`` exclusive (naive datetimes are UTC);
        ``sources`` keeps only those sources (exact names, case-insensitive).
        Raises QueryError for a query that cannot be run, with the fix in its message.
        """
        started = time.perf_counter()
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        if offset < 0:
            raise QueryError(f"offset must not be negative, not {offset}")
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        tree = parse(query)
        with self._lock:
            with reading(self.path):  # only what reads the index: its decoding errors mean damage
                snapshot = self._fresh()
                searcher = snapshot.searcher
                compiled = QueryCompiler(searcher.reader(), snapshot.vocabulary).compile(tree)
                filters = _filters(since, until, sources)
                depth = max(CANDIDATES, offset + limit)
                hits, total, timed_out = self._collect(searcher, compiled, filters, depth, sort)
            ranked = self._rank(compiled, hits, sort, offset + limit, passages, passage_chars)
        page = [
            _hit(stored, rank, score, found)
            for rank, (score, stored, found) in enumerate(ranked[offset:offset + limit], offset + 1)
        ]
        suggestion = self._suggest(query, compiled) if total < FEW_RESULTS else None
        return Results(
            query=query,
            total=total,
            hits=tuple(page),
            suggestion=suggestion,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            expansions=tuple(compiled.expansions.items()),
            timed_out=timed_out,
        )

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
        if sort != "relevance":
            hits.sort(key=lambda hit: (-hit.newest_first, hit.id), reverse=(sort == "newest"))
        return hits, total, timed_out

    def _candidates(self, searcher: Searcher, scores: dict[int, float], covered: dict[int, int]) -> list["_Candidate"]:
        published = _column_values(searcher, "published", scores, _NO_DATE)
        ids = _column_values(searcher, "id", scores, b"")
        return [_Candidate(searcher, self.path, docnum, score, covered.get(docnum, 0),
                           _age_key(published[docnum]), ids[docnum])
                for docnum, score in scores.items()]

    def _rank(self, compiled: CompiledQuery, hits: list["_Candidate"], sort: Sort, needed: int,
              passages: int, passage_chars: int) -> list[tuple[float, dict, tuple[Passage, ...]]]:
        """Order the candidates (see the module docstring) and pick each one's passages."""
        passage_query = _passage_query(compiled)

        def shown(stored: dict, best: list[Passage] | None = None) -> tuple[Passage, ...]:
            if passages <= 0:
                return ()
            body = stored.get("body", "")
            if best is None:
                best = best_passages(body, passage_query, count=passages, max_chars=passage_chars)
            if best:
                return tuple(best[:passages])
            lead = lead_passage(body, max_chars=passage_chars)  # a title-only match: the lead
            return (lead,) if lead else ()

        if sort != "relevance":
            return [(0.0, hit.stored(), shown(hit.stored())) for hit in hits[:needed]]

        concepts = compiled.concepts
        max_score = max((hit.score for hit in hits), default=1.0) or 1.0
        # The most a passage can score: every concept's best term (the passages' scale).
        max_passage = sum(sorted(compiled.weights.values(), reverse=True)[:len(concepts) or 1]) or 1.0

        def title_share(stored: dict) -> float:
            """Like a passage score, for the title: the weight of the query terms it holds."""
            title_terms = set(terms(stored.get("title", "")))
            return sum(weight for term, weight in compiled.weights.items() if term in title_terms) / max_passage

        # Short queries: articles covering more of the words and phrases always come first.
        # Longer ones (a remembered sentence, a headline) rarely appear whole in the article
        # wanted, so coverage is a strong bonus there instead of a strict order.
        strict = len(concepts) <= STRICT_COVERAGE_UP_TO

        def tier(covered: int) -> int:
            return covered if strict else 0

        def prescore(score: float, covered: int) -> float:
            bonus = COVERAGE_WEIGHT * (covered / len(concepts)) ** COVERAGE_POWER if concepts else 0.0
            return score / max_score + bonus

        order = sorted(hits, key=lambda hit: (-tier(hit.covered), -prescore(hit.score, hit.covered),
                                              hit.newest_first, hit.id))
        depth = max(RERANK_DEPTH, needed)
        reranked = []
        for hit in order[:depth]:
            stored = hit.stored()
            best = best_passages(stored.get("body", ""), passage_query, count=max(passages, 1), max_chars=passage_chars)
            best_share = max(best[0].score / max_passage if best else 0.0, title_share(stored))
            fused = prescore(hit.score, hit.covered) + PASSAGE_WEIGHT * min(best_share, 1.0)
            reranked.append((tier(hit.covered), fused, hit, shown(stored, best)))
        reranked.sort(key=lambda item: (-item[0], -item[1], item[2].newest_first, item[2].id))
        result = [(fused, hit.stored(), found_passages) for _, fused, hit, found_passages in reranked]
        result += [(hit.score / max_score, hit.stored(), shown(hit.stored())) for hit in order[depth:needed]]
        return result

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


def _coverage(searcher: Searcher, concepts: list[wq.Query], docnums: Iterable[int]) -> dict[int, int]:
    """For each document, how many of the query's words and phrases it matches."""
    covered = dict.fromkeys(docnums, 0)
    wanted = sorted(covered)
    for subsearcher, offset in searcher.leaf_searchers():
        end = offset + subsearcher.doc_count_all()
        local = [docnum - offset for docnum in wanted if offset <= docnum < end]
        if not local:
            continue
        context = subsearcher.boolean_context()
        for concept in concepts:
            matcher = concept.matcher(subsearcher, context)
            for docnum in local:
                if not matcher.is_active():
                    break
                if matcher.id() < docnum:
                    matcher.skip_to(docnum)
                if matcher.is_active() and matcher.id() == docnum:
                    covered[docnum + offset] += 1
    return covered


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

    __slots__ = ("searcher", "index_path", "docnum", "score", "covered", "newest_first", "id", "_stored")

    def __init__(self, searcher: Searcher, index_path: Path, docnum: int, score: float, covered: int,
                 newest_first: int, doc_id: str) -> None:
        self.searcher, self.index_path, self.docnum = searcher, index_path, docnum
        self.score, self.covered, self.newest_first, self.id = score, covered, newest_first, doc_id
        self._stored: dict | None = None

    def stored(self) -> dict:
        if self._stored is None:
            with reading(self.index_path):
                self._stored = self.searcher.stored_fields(self.docnum)
        return self._stored


def _hit(stored: dict, rank: int, score: float, passages: tuple[Passage, ...]) -> Hit:
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
    )
