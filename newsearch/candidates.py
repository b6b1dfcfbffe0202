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

Which queries are plain, and what each concept is made of (term queries, or phrases
with their terms and distances), the compiler says (``CompiledQuery.concepts_are_plain``,
``ConceptParts``): nothing here reads the shape of a Whoosh query.

Scores are Whoosh's, computed by the same function (``scoring.bm25f``): for a term,
its BM25F scorer's ``idf``, ``avgfl``, ``B`` and ``K1``, times the term query's boost;
a concept's score is the sum of its terms' (only the order of the additions differs, so
sums can differ in the last bit). A concept of another kind is scored by its own Whoosh
matcher, run once to the end. Ties are broken as Whoosh's top collector breaks them:
the lower document number first.
"""

from __future__ import annotations

import heapq
import time
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress

from whoosh import query as wq
from whoosh.matching import WrappingMatcher
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from newsearch.compiler import CompiledQuery, ConceptParts, PhraseParts
from newsearch.scoring import BM25FScorer, bm25f_tf
from newsearch.whoosh_internals import field_lengths_bytes as _length_bytes
from newsearch.whoosh_internals import posting_blocks

DEADLINE_CHECK = 64  # documents (or posting blocks) between two looks at the clock


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


def gather(searcher: Searcher, concepts: Sequence[ConceptParts], depth: int, *, all_words: bool,
           allowed: frozenset[int] | set[int] | None = None, deadline: float | None = None,
           watch: Sequence[int] = ()) -> Gathered:
    """One pass over ``concepts`` (see the module docstring).

    Candidates are the top ``depth`` documents matching any concept and, with
    ``all_words``, the top ``depth`` matching every one. ``allowed`` (global document
    numbers) restricts every figure; past ``deadline`` (a time.monotonic() value) the
    pass stops and returns what it has, flagged ``timed_out``. Of the ``watch`` documents
    (global numbers, sorted), those that match are returned too (``Gathered.watched``).
    """
    full = (1 << len(concepts)) - 1
    tops: list[tuple[float, int]] = []
    all_tops: list[tuple[float, int]] = []
    found: dict[int, tuple[float, int]] = {}
    total = 0
    watched: set[int] = set()
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
        nearby = watch[bisect_left(watch, offset):bisect_left(watch, offset + size)]
        watched.update(docnum for docnum in nearby if masks[docnum - offset])
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
                    total=total, timed_out=timed_out, watched=watched)


class _Clock:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _TimeUp


def _drop_excluded(reader: IndexReader, offset: int, masks: list[int],
                   allowed: frozenset[int] | set[int] | None) -> None:
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


def _add_concept(searcher: Searcher, concept: ConceptParts, bit: int, scores: list[float], masks: list[int],
                 clock: _Clock) -> None:
    if concept.kind == "terms":
        for term in concept.terms:
            _add_term(searcher, term, bit, scores, masks, clock)
    elif concept.kind == "phrases":
        for phrase in concept.phrases:
            _add_phrase(searcher, phrase, bit, scores, masks, clock)
    else:
        _add_matcher(searcher, concept.query, bit, scores, masks, clock)


def _add_phrase(searcher: Searcher, phrase: PhraseParts, bit: int, scores: list[float], masks: list[int],
                clock: _Clock) -> None:
    """Documents where the terms occur in order at the phrase's distances, scored as Whoosh's
    ``SpanNear2`` scores them: the sum of the terms' scores (the intersection's). A phrase of
    stopwords only (no terms) is found by its required grams, each document scored ``phrase.score``."""
    reader = searcher.reader()
    postings: dict[str, list[_Block]] = {}  # term text -> its postings in the documents holding every term
    for term in phrase.terms:
        if term.text not in postings:
            blocks = _term_postings(searcher, term, clock)
            if blocks is None:
                return  # a term the field does not hold: no document has the phrase
            postings[term.text] = blocks
    required: list[set[int]] = []  # the documents of each required gram
    for term in phrase.required:
        ids = {docnum for block in _term_blocks(searcher, term, values=False) for docnum in block.ids}
        if not ids:
            return
        required.append(ids)
        clock.check()
    # Documents with every term and gram, then the positions of each term in those only.
    common: set[int] | None = None
    for ids in sorted([{docnum for block in blocks for docnum in block.ids} for blocks in postings.values()]
                      + required, key=len):
        common = ids if common is None else common & ids
        if not common:
            return
    if common is None:  # a phrase has terms or grams; for the type checker
        return
    if reader.has_deletions():
        common.difference_update(_deleted(reader))
    verify = phrase.verify
    if not phrase.terms:
        for docnum in sorted(common):
            if verify is not None and verify.verify and not verify.holds(searcher, docnum):
                continue
            scores[docnum] += phrase.score
            masks[docnum] |= bit
        clock.check()
        return
    fieldname = phrase.terms[0].fieldname
    decode = searcher.schema[fieldname].format.decode_as
    where: dict[str, dict[int, tuple[float, list[int]]]] = {}
    for text, blocks in postings.items():
        found = where[text] = {}
        for block in blocks:
            if common.isdisjoint(block.ids):
                continue
            values = block.values
            for k, docnum in enumerate(block.ids):
                if docnum in common:
                    found[docnum] = (block.weights[k], decode("positions", values[k]))
        clock.check()
    scorers = []
    for term in phrase.terms:
        scorer = _term_scorer(searcher, term)
        if scorer is None:
            _add_matcher(searcher, phrase.query, bit, scores, masks, clock)
            return
        scorers.append(scorer)
    for docnum in sorted(common):
        if not _in_order(phrase, [where[term.text][docnum][1] for term in phrase.terms]):
            continue
        if verify is not None and verify.verify and not verify.holds(searcher, docnum):
            continue
        total = 0.0  # 0.0 + x is x: the sum is the terms' scores added in order
        for term, scorer in zip(phrase.terms, scorers):
            total += scorer.score(docnum, where[term.text][docnum][0])
        scores[docnum] += total
        masks[docnum] |= bit


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
    if _indexed(searcher, term) is None:
        return
    scorer = _term_scorer(searcher, term)
    if scorer is None:
        _add_matcher(searcher, term, bit, scores, masks, clock)
        return
    # scorer.score(docnum, weight), inlined: a call per posting would slow the pass.
    lengths = scorer.lengths
    idf, boost, classes, rows = scorer.idf, scorer.boost, lengths.classes, lengths.rows
    for block in _term_blocks(searcher, term, values=False):
        for docnum, weight in zip(block.ids, block.weights):
            row = rows.get(weight) or lengths.row(weight)
            scores[docnum] += idf * row[classes[docnum]] * boost
            masks[docnum] |= bit
        clock.check()


@dataclass
class _TermScorer:
    """A term query's BM25F score in one segment: ``idf * bm25f_tf(...) * boost``, Whoosh's
    ``bm25()`` times the query's boost (``scoring.bm25f``), the tf part looked up in ``lengths``."""

    idf: float
    boost: float
    lengths: _FieldLengths

    def score(self, docnum: int, weight: float) -> float:
        return self.idf * self.lengths.row(weight)[self.lengths.classes[docnum]] * self.boost


def _term_scorer(searcher: Searcher, term: wq.Term) -> _TermScorer | None:
    """The scorer of a term query under our BM25F, or None for another model (then its own
    matcher scores it)."""
    fieldname = term.fieldname
    scorer = searcher.weighting.scorer(searcher, fieldname, _indexed(searcher, term))
    if type(scorer) is not BM25FScorer:
        return None
    lengths = _field_lengths(searcher.reader(), fieldname, scorer.B, scorer.K1, scorer.avgfl)
    return _TermScorer(scorer.idf, term.boost, lengths)


@dataclass
class _Block:
    ids: Sequence[int]
    weights: Sequence[float]
    values: Sequence[bytes] = ()


def _term_blocks(searcher: Searcher, term: wq.Term, values: bool) -> Iterator[_Block]:
    """A term's postings a block at a time (deleted documents included: the caller drops
    them); none when the field does not hold the term."""
    text = _indexed(searcher, term)
    if text is None:
        return
    matcher = searcher.reader().postings(term.fieldname, text)
    while isinstance(matcher, WrappingMatcher):  # the deletions filter
        matcher = matcher.child
    for ids, weights, block_values in posting_blocks(matcher, values):
        yield _Block(ids, weights, block_values)


def _indexed(searcher: Searcher, term: wq.Term) -> bytes | None:
    """The term's bytes if its field holds it (as ``Term.matcher`` decides), else None."""
    fieldname = term.fieldname
    if fieldname not in searcher.schema:
        return None
    try:
        text = searcher.schema[fieldname].to_bytes(term.text)
    except ValueError:
        return None
    return text if (fieldname, text) in searcher.reader() else None


def _term_postings(searcher: Searcher, term: wq.Term, clock: _Clock) -> list[_Block] | None:
    blocks = []
    for block in _term_blocks(searcher, term, values=True):
        blocks.append(block)
        clock.check()
    return blocks or None


@dataclass
class _FieldLengths:
    """A segment's lengths of one field: document ``d``'s is ``lengths[classes[d]]`` (the
    one-byte lengths Whoosh stores take at most 256 values). ``row(tf)`` holds
    ``scoring.bm25f_tf`` of ``tf`` for each length, made on first use: the tf part of BM25F
    is the same for every term of the field, only the IDF differs."""

    classes: Sequence[int]
    lengths: Sequence[float]
    avg_length: float
    b: float
    k1: float
    rows: dict[float, list[float]]

    def row(self, tf: float) -> list[float]:
        row = self.rows.get(tf)
        if row is None:
            row = self.rows[tf] = [bm25f_tf(tf, length, self.avg_length, self.b, self.k1) for length in self.lengths]
        return row


_LENGTHS: weakref.WeakKeyDictionary[IndexReader, dict[tuple, _FieldLengths]] = weakref.WeakKeyDictionary()


def _field_lengths(reader: IndexReader, fieldname: str, b: float, k1: float, avgfl: float) -> _FieldLengths:
    """The field lengths of a segment, with ``fl`` as Whoosh stores it (one byte); read once
    per segment reader."""
    cache = _LENGTHS.setdefault(reader, {})
    key = (fieldname, b, k1, avgfl)
    found = cache.get(key)
    if found is None:
        size = reader.doc_count_all()
        encoded = _length_bytes(reader, fieldname, size)
        classes: Sequence[int]
        lengths: Sequence[float]
        if encoded is not None:
            classes, lengths = encoded, [byte_to_length(byte) for byte in range(256)]
        else:
            each = [reader.doc_field_length(docnum, fieldname, 1) or 0 for docnum in range(size)]
            lengths = sorted(set(each))
            index = {length: k for k, length in enumerate(lengths)}
            classes = [index[length] for length in each]
        found = cache[key] = _FieldLengths(classes, lengths, avgfl, b, k1, {})
    return found

