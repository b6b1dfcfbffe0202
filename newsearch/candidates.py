"""Candidates for ranking in one pass over the postings of a plain query, with numpy.

A plain query is a list of concepts (the words and phrases typed) of which a document
may match any: the query is their disjunction, and its all-words variant their
conjunction. Ranking needs, from the whole index: the top ``depth`` documents of the
disjunction by BM25F score, the top ``depth`` of the conjunction, how many documents
match in all, and for each candidate how many concepts it matches.

Whoosh's collectors find these in four passes (top of the OR query, top of the AND
query, a count, then coverage), each walking a tree of matchers one posting at a
time. Here each term's postings are read once, as whole arrays from the segment's
posting sidecar (``postings``), and added term at a time into two arrays over the
whole index: the score so far and how many concepts matched. The count, the coverage
and both top lists (``np.argpartition``) then come from the arrays; deleted documents
and the filters are masks. No Python loop runs per matching document of a word.

Which queries are plain, and what each concept is made of (term queries, or phrases
with their terms and distances), the compiler says (``CompiledQuery.concepts_are_plain``,
``ConceptParts``): nothing here reads the shape of a Whoosh query.

Scores are Whoosh's, computed by the same function (``scoring.bm25f_tf``) on float64
arrays: for a term, its BM25F scorer's ``idf``, ``avgfl``, ``B`` and ``K1``, times the
term query's boost; a concept's score is the sum of its terms' (only the order of the
additions differs, so sums can differ in the last bit). A phrase reads its terms'
positions from Whoosh for the documents holding all its terms only; a concept of another
kind is scored by its own Whoosh matcher, run once to the end. Ties are broken as
Whoosh's top collector breaks them: the lower document number first.
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.matching import WrappingMatcher
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from newsearch.compiler import CompiledQuery, ConceptParts, PhraseParts
from newsearch.postings import sidecar
from newsearch.scoring import BM25FScorer, bm25f_tf
from newsearch.whoosh_internals import field_lengths_bytes as _length_bytes
from newsearch.whoosh_internals import posting_blocks

DEADLINE_CHECK = 64  # documents (or posting blocks) between two looks at the clock
_NONE = np.zeros(0, dtype=np.int64)
_NO_LOCK = nullcontext()  # one thread: reusable, never held


@dataclass
class Gathered:
    """What one pass found: candidate scores and coverage by global document number."""

    scores: dict[int, float]
    covered: dict[int, int]
    total: int  # documents matching any concept
    timed_out: bool  # the deadline stopped the pass: scores and total may be partial
    watched: set[int] = field(default_factory=set)  # those of the ``watch`` documents that match


class _TimeUp(Exception):
    pass


def plain_concepts(compiled: CompiledQuery) -> list[ConceptParts] | None:
    """The concepts, when the compiler says the query is exactly their disjunction (and its
    all-words variant None or their conjunction); else None (then the query needs Whoosh's
    own collectors)."""
    return list(compiled.concept_parts) if compiled.concepts_are_plain else None


Allowed = np.ndarray | Collection[int]
"""The documents a filter leaves in: a boolean array by global document number, or the numbers."""


def gather(searcher: Searcher, concepts: Sequence[ConceptParts], depth: int, *, all_words: bool,
           allowed: Allowed | None = None, deadline: float | None = None,
           watch: Sequence[int] | np.ndarray = (), whoosh: AbstractContextManager[Any] = _NO_LOCK) -> Gathered:
    """One pass over ``concepts`` (see the module docstring).

    Candidates are the top ``depth`` documents matching any concept and, with
    ``all_words``, the top ``depth`` matching every one. ``allowed`` (see ``Allowed``)
    restricts every figure; past ``deadline`` (a time.monotonic() value) the pass stops
    and returns what it has, flagged ``timed_out``. Of the ``watch`` documents (global
    numbers), those that match are returned too (``Gathered.watched``).

    Whoosh's matchers keep their place in a segment's files in the file objects the searcher
    shares, so threads sharing a searcher must not run two at once: ``whoosh`` (a lock) is
    held while one runs here (phrases' positions, concepts of other kinds). The sidecar's
    arrays need no lock: adding them up runs beside other threads.
    """
    size = searcher.doc_count_all()
    scores = np.zeros(size, dtype=np.float64)
    covered = np.zeros(size, dtype=np.int32)
    timed_out = False
    clock = _Clock(deadline, whoosh)
    leaves = searcher.leaf_searchers()
    try:
        for concept in concepts:
            hit = np.zeros(size, dtype=bool)
            for subsearcher, offset in leaves:
                stop = offset + subsearcher.reader().doc_count_all()
                _add_concept(subsearcher, concept, scores[offset:stop], hit[offset:stop], clock)
            covered += hit
    except _TimeUp:
        timed_out = True
    keep = covered > 0
    for subsearcher, offset in leaves:
        keep[offset + deleted_docnums(subsearcher.reader())] = False
    if allowed is not None:
        keep &= allowed_mask(allowed, size)
    matched = np.flatnonzero(keep)
    chosen = _top(scores, matched, depth)
    if all_words:
        chosen = _union(chosen, _top(scores, matched[covered[matched] == len(concepts)], depth))
    looked = np.asarray(watch, dtype=np.int64)
    return Gathered(scores=dict(zip(chosen.tolist(), scores[chosen].tolist())),
                    covered=dict(zip(chosen.tolist(), covered[chosen].tolist())),
                    total=len(matched), timed_out=timed_out, watched=set(looked[keep[looked]].tolist()))


def _top(scores: np.ndarray, docnums: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` best of ``docnums`` (ascending) by score, the lower number first on ties."""
    if len(docnums) > depth:
        values = scores[docnums]
        cut = values[np.argpartition(-values, depth - 1)[depth - 1]]
        docnums = docnums[values >= cut]  # the ties at the cut too: lexsort picks among them
    order = np.lexsort((docnums, -scores[docnums]))[:depth]
    return docnums[order]


def _union(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``np.union1d`` of two arrays of numbers, sorted, each once; without ``np.unique``, whose
    first call imports ``numpy.ma`` (a tenth of a cold search's imports)."""
    merged = np.concatenate((first, second))
    merged.sort()
    return merged[np.concatenate(([True], merged[1:] != merged[:-1]))] if len(merged) else merged


def allowed_mask(allowed: Allowed, size: int) -> np.ndarray:
    """``allowed`` as a boolean array of ``size`` documents."""
    if isinstance(allowed, np.ndarray):
        return allowed
    mask = np.zeros(size, dtype=bool)
    mask[np.fromiter(allowed, dtype=np.int64, count=len(allowed))] = True
    return mask


class _Clock:
    """The pass's deadline, and the lock held while a Whoosh matcher reads (see ``gather``)."""

    def __init__(self, deadline: float | None, whoosh: AbstractContextManager[Any]) -> None:
        self.deadline = deadline
        self.whoosh = whoosh

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _TimeUp


_DELETED: weakref.WeakKeyDictionary[IndexReader, np.ndarray] = weakref.WeakKeyDictionary()


def deleted_docnums(reader: IndexReader) -> np.ndarray:
    """A segment's deleted document numbers, as an array made once per segment reader."""
    if not reader.has_deletions():
        return _NONE
    found = _DELETED.get(reader)
    if found is None:
        deleted = getattr(reader, "deleted_docs_set", None)  # a segment reader's, cached
        numbers = deleted if deleted is not None else (
            docnum for docnum in range(reader.doc_count_all()) if reader.is_deleted(docnum))
        found = _DELETED[reader] = np.sort(np.fromiter(numbers, dtype=np.int64))
    return found


def _add_concept(searcher: Searcher, concept: ConceptParts, scores: np.ndarray, hit: np.ndarray,
                 clock: _Clock) -> None:
    """Add one concept's scores in one segment to ``scores`` and mark its documents in ``hit``."""
    if concept.kind == "terms":
        for term in concept.terms:
            _add_term(searcher, term, scores, hit, clock)
    elif concept.kind == "phrases":
        for phrase in concept.phrases:
            _add_phrase(searcher, phrase, scores, hit, clock)
    else:
        _add_matcher(searcher, concept.query, scores, hit, clock)


def _add_term(searcher: Searcher, term: wq.Term, scores: np.ndarray, hit: np.ndarray, clock: _Clock) -> None:
    found = term_arrays(searcher, term, clock.whoosh)
    if found is None:
        return
    scorer = _term_scorer(searcher, term)
    if scorer is None:
        _add_matcher(searcher, term, scores, hit, clock)
        return
    ids, weights = found
    scores[ids] += scorer.scores(ids, weights)
    hit[ids] = True
    clock.check()


def _add_phrase(searcher: Searcher, phrase: PhraseParts, scores: np.ndarray, hit: np.ndarray, clock: _Clock) -> None:
    """Documents where the terms occur in order at the phrase's distances, scored as Whoosh's
    ``SpanNear2`` scores them: the sum of the terms' scores (the intersection's). A phrase of
    stopwords only (no terms) is found by its required grams, each document scored ``phrase.score``.

    The documents holding every term and gram come from the sidecar's arrays; only for those
    are positions read from Whoosh (its matcher skips the blocks between them undecoded)."""
    reader = searcher.reader()
    holding = []
    for term in (*phrase.terms, *phrase.required):
        found = term_arrays(searcher, term, clock.whoosh)
        if found is None:
            return  # a term the field does not hold: no document has the phrase
        holding.append(found[0])
    common = reduce(np.intersect1d, sorted(holding, key=len)) if holding else _NONE
    common = np.setdiff1d(common, deleted_docnums(reader), assume_unique=True)
    clock.check()
    verify = phrase.verify
    if not phrase.terms:
        with clock.whoosh:
            kept = [docnum for docnum in common.tolist() if verify is None or not verify.verify
                    or verify.holds(searcher, docnum)]
        scores[kept] += phrase.score
        hit[kept] = True
        return
    scorers = []
    for term in phrase.terms:
        scorer = _term_scorer(searcher, term)
        if scorer is None:
            _add_matcher(searcher, phrase.query, scores, hit, clock)
            return
        scorers.append(scorer)
    wanted = common.tolist()
    weights: dict[str, list[float]] = {}
    positions: dict[str, list[list[int]]] = {}
    with clock.whoosh:
        for term in phrase.terms:
            if term.text not in weights:
                weights[term.text], positions[term.text] = _positions(searcher, term, wanted, clock)
        kept_at = [k for k, docnum in enumerate(wanted)
                   if _in_order(phrase, [positions[term.text][k] for term in phrase.terms])
                   and (verify is None or not verify.verify or verify.holds(searcher, docnum))]
    held = common[kept_at]
    total = np.zeros(len(held))  # 0.0 + x is x: the sum is the terms' scores added in order
    for term, scorer in zip(phrase.terms, scorers):
        total += scorer.scores(held, np.asarray(weights[term.text])[kept_at])
    scores[held] += total
    hit[held] = True


def _positions(searcher: Searcher, term: wq.Term, docnums: list[int], clock: _Clock
               ) -> tuple[list[float], list[list[int]]]:
    """The term's weight and positions in each of ``docnums`` (ascending; every one holds it)."""
    matcher = _leaf_matcher(searcher, term)
    weights, positions = [], []
    for k, docnum in enumerate(docnums):
        if matcher.id() < docnum:
            matcher.skip_to(docnum)
        if matcher.id() != docnum:
            raise ValueError(f"the postings of {term.text!r} in {term.fieldname!r} and their sidecar differ")
        weights.append(matcher.weight())
        positions.append(matcher.value_as("positions"))
        if k % DEADLINE_CHECK == 0:
            clock.check()
    return weights, positions


def _in_order(phrase: PhraseParts, positions: list[list[int]]) -> bool:
    """Whether some choice of one position per term has each within its distance after the last."""
    reached = sorted(positions[0])
    for k in range(1, len(positions)):
        low, high = phrase.mindist[k], phrase.maxdist[k]
        # p follows some r of ``reached`` (sorted) when one lies in [p - high, p - low]
        reached = [p for p in sorted(positions[k])
                   if bisect_right(reached, p - low) > bisect_left(reached, p - high)]
        if not reached:
            return False
    return True


def _add_matcher(searcher: Searcher, query: wq.Query, scores: np.ndarray, hit: np.ndarray, clock: _Clock) -> None:
    """Any query, through its own Whoosh matcher (deleted documents already left out)."""
    ids: list[int] = []
    found: list[float] = []
    with clock.whoosh:
        matcher = query.matcher(searcher, searcher.context(weighting=searcher.weighting))
        while matcher.is_active():
            ids.append(matcher.id())
            found.append(matcher.score())
            matcher.next()
            if len(ids) % DEADLINE_CHECK == 0:
                clock.check()
    scores[ids] += found
    hit[ids] = True


@dataclass
class _TermScorer:
    """A term query's BM25F score in one segment: ``idf * bm25f_tf(...) * boost``, Whoosh's
    ``bm25()`` times the query's boost (``scoring.bm25f``)."""

    idf: float
    boost: float
    lengths: _FieldLengths

    def scores(self, docnums: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The scores of the term in ``docnums`` where it has ``weights``."""
        lengths = self.lengths
        tf = bm25f_tf(weights.astype(np.float64), lengths.values[lengths.classes[docnums]], lengths.avg_length,
                      lengths.b, lengths.k1)
        result: np.ndarray = self.idf * tf * self.boost
        return result


def _term_scorer(searcher: Searcher, term: wq.Term) -> _TermScorer | None:
    """The scorer of a term query under our BM25F, or None for another model (then its own
    matcher scores it)."""
    fieldname = term.fieldname
    scorer = searcher.weighting.scorer(searcher, fieldname, _term_bytes(searcher, term))
    if type(scorer) is not BM25FScorer:
        return None
    lengths = _field_lengths(searcher.reader(), fieldname, scorer.B, scorer.K1, scorer.avgfl)
    return _TermScorer(scorer.idf, term.boost, lengths)


def _leaf_matcher(searcher: Searcher, term: wq.Term) -> Any:
    """The term's own postings matcher, without the deletions filter (callers mask deleted documents)."""
    matcher = searcher.reader().postings(term.fieldname, _term_bytes(searcher, term))
    while isinstance(matcher, WrappingMatcher):  # the deletions filter
        matcher = matcher.child
    return matcher


def term_arrays(searcher: Searcher, term: wq.Term, whoosh: AbstractContextManager[Any] = _NO_LOCK
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """A term's document numbers (ascending) and weights in one segment, deleted documents
    included; None when the field does not hold the term. Read from the segment's posting
    sidecar, or decoded from Whoosh's blocks when the segment has none (Whoosh's own writer)."""
    reader = searcher.reader()
    mapped = sidecar(reader)
    if mapped is not None:
        text = _term_bytes(searcher, term)
        return None if text is None else mapped.postings(term.fieldname, text)
    text = _indexed(searcher, term)
    if text is None:
        return None
    ids: list[int] = []
    weights: list[float] = []
    with whoosh:
        for block_ids, block_weights, _ in posting_blocks(_leaf_matcher(searcher, term), False):
            ids.extend(block_ids)
            weights.extend(block_weights)
    return np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float32)


def _term_bytes(searcher: Searcher, term: wq.Term) -> bytes | None:
    """The term's bytes as its field encodes them; None for a field the schema lacks or a text it refuses."""
    if term.fieldname not in searcher.schema:
        return None
    try:
        return searcher.schema[term.fieldname].to_bytes(term.text)
    except ValueError:
        return None


def _indexed(searcher: Searcher, term: wq.Term) -> bytes | None:
    """The term's bytes if its field holds it (as ``Term.matcher`` decides), else None."""
    text = _term_bytes(searcher, term)
    return text if text is not None and (term.fieldname, text) in searcher.reader() else None


@dataclass
class _FieldLengths:
    """A segment's lengths of one field: document ``d``'s is ``values[classes[d]]`` (the
    one-byte lengths Whoosh stores take at most 256 values)."""

    classes: np.ndarray
    values: np.ndarray
    avg_length: float
    b: float
    k1: float


_BYTE_LENGTHS = np.array([byte_to_length(byte) for byte in range(256)], dtype=np.float64)
_LENGTHS: weakref.WeakKeyDictionary[IndexReader, dict[tuple, _FieldLengths]] = weakref.WeakKeyDictionary()


def _field_lengths(reader: IndexReader, fieldname: str, b: float, k1: float, avgfl: float) -> _FieldLengths:
    """The field lengths of a segment, with ``fl`` as Whoosh stores it (one byte); read once
    per segment reader (two threads may both read it: either result is the same)."""
    cache = _LENGTHS.setdefault(reader, {})
    key = (fieldname, b, k1, avgfl)
    found = cache.get(key)
    if found is None:
        size = reader.doc_count_all()
        encoded = _length_bytes(reader, fieldname, size)
        if encoded is not None:
            classes, values = np.frombuffer(encoded, dtype=np.uint8), _BYTE_LENGTHS
        else:
            each = np.array([reader.doc_field_length(docnum, fieldname, 1) or 0 for docnum in range(size)],
                            dtype=np.float64)
            values, inverse = np.unique(each, return_inverse=True)
            classes = inverse.astype(np.int64)
        found = cache[key] = _FieldLengths(classes, values, avgfl, b, k1)
    return found
