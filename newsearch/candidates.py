"""Candidates for ranking in one pass over the postings of a plain query.

A plain query is a list of concepts (the words and phrases typed) of which a document
may match any: the query is their disjunction, and its all-words variant their
conjunction. Ranking needs, from the whole index: the top ``depth`` documents of the
disjunction by BM25F score, the top ``depth`` of the conjunction, how many documents
match in all, and for each candidate how many concepts it matches.

Whoosh's collectors find these in four passes (top of the OR query, top of the AND
query, a count, then coverage), each walking a tree of matchers one posting at a
time. Here each concept's postings are read once, term at a time and block by block,
into two arrays per segment: the score so far and a bit per concept matched. The
count, the coverage (bits set) and both top lists then come from the arrays.

Scores are Whoosh's: for a term, its BM25F scorer's ``idf``, ``avgfl``, ``B`` and
``K1`` in Whoosh's own expression, times the term query's boost; a concept's score is
the sum of its terms' (only the order of the additions differs, so sums can differ in
the last bit). A concept that is not made of terms (a phrase) is scored by its own
Whoosh matcher, run once to the end. Ties are broken as Whoosh's top collector breaks
them: the lower document number first.
"""

from __future__ import annotations

import heapq
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress

from whoosh import query as wq
from whoosh import scoring
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.matching import WrappingMatcher
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

DEADLINE_CHECK = 64  # documents (or posting blocks) between two looks at the clock


@dataclass
class Gathered:
    """What one pass found: candidate scores and coverage by global document number."""

    scores: dict[int, float]
    covered: dict[int, int]
    total: int  # documents matching any concept
    timed_out: bool  # the deadline stopped the pass: scores and total may be partial


class _TimeUp(Exception):
    pass


def plain_concepts(query: wq.Query, concepts: Sequence[wq.Query],
                   all_words_query: wq.Query | None) -> list[wq.Query] | None:
    """``concepts`` when ``query`` is exactly their disjunction (a single concept, or an
    ``Or`` of them in order) and ``all_words_query`` is None or exactly their
    conjunction; else None (then the query needs Whoosh's own collectors)."""
    if not concepts:
        return None
    if len(concepts) == 1:
        if query is not concepts[0] or all_words_query is not None:
            return None
    elif not (_plain(query, wq.Or) and _same(query.subqueries, concepts)):
        return None
    if all_words_query is not None and not (_plain(all_words_query, wq.And)
                                            and _same(all_words_query.subqueries, concepts)):
        return None
    return list(concepts)


def _plain(query: wq.Query, kind: type) -> bool:
    if type(query) is not kind or query.boost != 1.0:
        return False
    return not (kind is wq.Or and (query.minmatch or query.scale))


def _same(left: Sequence[wq.Query], right: Sequence[wq.Query]) -> bool:
    return len(left) == len(right) and all(a is b for a, b in zip(left, right))


def gather(searcher: Searcher, concepts: Sequence[wq.Query], depth: int, *, all_words: bool,
           allowed: frozenset[int] | set[int] | None = None, deadline: float | None = None) -> Gathered:
    """One pass over ``concepts`` (see the module docstring).

    Candidates are the top ``depth`` documents matching any concept and, with
    ``all_words``, the top ``depth`` matching every one. ``allowed`` (global document
    numbers) restricts every figure; past ``deadline`` (a time.monotonic() value) the
    pass stops and returns what it has, flagged ``timed_out``.
    """
    full = (1 << len(concepts)) - 1
    tops: list[tuple[float, int]] = []
    all_tops: list[tuple[float, int]] = []
    found: dict[int, tuple[float, int]] = {}
    total = 0
    timed_out = False
    clock = _Clock(deadline)
    for subsearcher, offset in searcher.leaf_searchers():
        reader = subsearcher.reader()
        size = reader.doc_count_all()
        scores = [0.0] * size
        masks = [0] * size
        try:
            for number, concept in enumerate(concepts):
                _add_concept(subsearcher, concept, 1 << number, scores, masks, clock)
        except _TimeUp:
            timed_out = True
        _drop_excluded(reader, offset, masks, allowed)
        matched = list(compress(range(size), masks))
        total += len(matched)
        key = scores.__getitem__
        local = heapq.nlargest(depth, matched, key=key)  # stable: the lower docnum first on ties
        tops += [(scores[docnum], -(docnum + offset)) for docnum in local]
        if all_words:
            every = [docnum for docnum in matched if masks[docnum] == full]
            local_all = heapq.nlargest(depth, every, key=key)
            all_tops += [(scores[docnum], -(docnum + offset)) for docnum in local_all]
            local += local_all
        for docnum in local:
            found[docnum + offset] = (scores[docnum], masks[docnum].bit_count())
        if timed_out:
            break
    chosen = {-negative for _, negative in heapq.nlargest(depth, tops)}
    chosen.update(-negative for _, negative in heapq.nlargest(depth, all_tops))
    return Gathered(scores={docnum: found[docnum][0] for docnum in chosen},
                    covered={docnum: found[docnum][1] for docnum in chosen},
                    total=total, timed_out=timed_out)


class _Clock:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _TimeUp


def _drop_excluded(reader: IndexReader, offset: int, masks: list[int], allowed: frozenset[int] | set[int] | None) -> None:
    """Clear the bits of deleted documents and of those the filters leave out."""
    if reader.has_deletions():
        for docnum in _deleted(reader):
            masks[docnum] = 0
    if allowed is not None:
        for docnum in compress(range(len(masks)), masks):
            if docnum + offset not in allowed:
                masks[docnum] = 0


def _deleted(reader: IndexReader) -> Iterator[int]:
    deleted = getattr(reader, "deleted_docs_set", None)  # a segment reader's, cached
    if deleted is not None:
        return iter(deleted)
    return (docnum for docnum in range(reader.doc_count_all()) if reader.is_deleted(docnum))


def _add_concept(searcher: Searcher, concept: wq.Query, bit: int, scores: list[float], masks: list[int],
                 clock: _Clock) -> None:
    terms = _term_parts(concept)
    if terms is None:
        _add_matcher(searcher, concept, bit, scores, masks, clock)
        return
    for term in terms:
        _add_term(searcher, term, bit, scores, masks, clock)


def _term_parts(concept: wq.Query) -> list[wq.Term] | None:
    """The term queries whose sum a concept is: itself, or an unboosted ``Or`` of terms."""
    if type(concept) is wq.Term:
        return [concept]
    if _plain(concept, wq.Or) and all(type(part) is wq.Term for part in concept.subqueries):
        return list(concept.subqueries)
    return None


def _add_matcher(searcher: Searcher, query: wq.Query, bit: int, scores: list[float], masks: list[int],
                 clock: _Clock) -> None:
    """Any query, through its own Whoosh matcher (deleted documents already left out)."""
    matcher = query.matcher(searcher, searcher.context(weighting=searcher.weighting))
    seen = 0
    while matcher.is_active():
        docnum = matcher.id()
        scores[docnum] += matcher.score()
        masks[docnum] |= bit
        matcher.next()
        seen += 1
        if seen % DEADLINE_CHECK == 0:
            clock.check()


def _add_term(searcher: Searcher, term: wq.Term, bit: int, scores: list[float], masks: list[int],
              clock: _Clock) -> None:
    reader = searcher.reader()
    fieldname = term.fieldname
    if fieldname not in searcher.schema:
        return
    try:
        text = searcher.schema[fieldname].to_bytes(term.text)
    except ValueError:
        return
    if (fieldname, text) not in reader:
        return
    scorer = searcher.weighting.scorer(searcher, fieldname, text)
    if type(scorer) is not scoring.BM25FScorer:
        _add_matcher(searcher, term, bit, scores, masks, clock)
        return
    idf, k1_plus_1, boost = scorer.idf, scorer.K1 + 1, term.boost
    norms = _norms(reader, fieldname, scorer.B, scorer.K1, scorer.avgfl)
    for ids, weights in _blocks(reader.postings(fieldname, text)):
        for docnum, weight in zip(ids, weights):
            # Whoosh's bm25(): idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
            scores[docnum] += idf * ((weight * k1_plus_1) / (weight + norms[docnum])) * boost
            masks[docnum] |= bit
        clock.check()


def _blocks(matcher: object) -> Iterator[tuple[Sequence[int], Sequence[float]]]:
    """(ids, weights) of a term's postings, a block at a time (deleted documents included)."""
    while isinstance(matcher, WrappingMatcher):  # the deletions filter: _drop_excluded does that
        matcher = matcher.child
    if type(matcher) is W3LeafMatcher:
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_weights()
            yield matcher._ids, matcher._weights
            matcher._next_block()
        return
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    yield ids, weights


_NORMS: "weakref.WeakKeyDictionary[IndexReader, dict[tuple, list[float]]]" = weakref.WeakKeyDictionary()


def _norms(reader: IndexReader, fieldname: str, b: float, k1: float, avgfl: float) -> list[float]:
    """Per document, the length part of BM25's denominator, ``K1 * ((1 - B) + B * fl / avgfl)``,
    with ``fl`` the field length as Whoosh stores it (one byte); made once per segment reader."""
    cache = _NORMS.setdefault(reader, {})
    key = (fieldname, b, k1, avgfl)
    norms = cache.get(key)
    if norms is None:
        size = reader.doc_count_all()
        table = [k1 * ((1 - b) + b * byte_to_length(byte) / avgfl) for byte in range(256)]
        encoded = _length_bytes(reader, fieldname, size)
        if encoded is not None:
            norms = [table[byte] for byte in encoded]
        else:
            norms = [k1 * ((1 - b) + b * (reader.doc_field_length(docnum, fieldname, 1) or 0) / avgfl)
                     for docnum in range(size)]
        cache[key] = norms
    return norms


def _length_bytes(reader: IndexReader, fieldname: str, size: int) -> bytes | None:
    """The one-byte field lengths of a whole segment in one read, or None when the reader
    is not Whoosh's usual segment reader (then the lengths are read one by one)."""
    try:
        column = reader._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if column is None:
            return None
        count = min(column._count, size)
        data = bytes(column._dbfile.get(column._basepos, count)) if count else b""
    except AttributeError:
        return None
    return data + bytes(size - len(data))
