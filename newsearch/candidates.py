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
from bisect import bisect_left, bisect_right
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress

from whoosh import query as wq
from whoosh import scoring
from whoosh.matching import WrappingMatcher
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.query.spans import SpanNear2
from whoosh.util.numeric import byte_to_length

from newsearch.compiler import VerifiedPhrase
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
    if terms is not None:
        for term in terms:
            _add_term(searcher, term, bit, scores, masks, clock)
        return
    phrases = _phrase_parts(concept)
    if phrases is not None:
        for phrase in phrases:
            _add_phrase(searcher, phrase, bit, scores, masks, clock)
        return
    _add_matcher(searcher, concept, bit, scores, masks, clock)


def _term_parts(concept: wq.Query) -> list[wq.Term] | None:
    """The term queries whose sum a concept is: itself, or an unboosted ``Or`` of terms."""
    if type(concept) is wq.Term:
        return [concept]
    if _plain(concept, wq.Or) and all(type(part) is wq.Term for part in concept.subqueries):
        return list(concept.subqueries)
    return None


@dataclass
class _Phrase:
    """A phrase in one field as the compiler builds it (``_gapped_phrase``): Whoosh's nested
    ``SpanNear2`` over terms, each next term ``mindist`` to ``maxdist`` positions after the
    one before; ``verify`` (a ``VerifiedPhrase``) then checks the stored text."""

    terms: list[wq.Term]
    mindist: list[int]  # [0] unused
    maxdist: list[int]
    verify: VerifiedPhrase | None
    query: wq.Query | None = None  # as compiled, for any other weighting model


def _phrase_parts(concept: wq.Query) -> list[_Phrase] | None:
    """The phrases whose sum a concept is: itself, or an unboosted ``Or`` of them; else None."""
    parts = concept.subqueries if _plain(concept, wq.Or) else [concept]
    phrases = []
    for part in parts:
        verify = None
        if type(part) is VerifiedPhrase:
            verify, part = part, part.child
        phrase = _chain(part)
        if phrase is None or len(phrase.terms) < 2 or len({term.fieldname for term in phrase.terms}) != 1:
            return None
        phrase.verify = verify
        phrase.query = verify if verify is not None else part
        phrases.append(phrase)
    return phrases


def _chain(query: wq.Query) -> _Phrase | None:
    if type(query) is wq.Term:
        return _Phrase([query], [0], [0], None)
    if not (type(query) is SpanNear2 and query.ordered and len(query.qs) == 2 and getattr(query, "boost", 1.0) == 1.0
            and type(query.qs[1]) is wq.Term and 1 <= query.mindist <= query.slop):
        return None
    inner = _chain(query.qs[0])
    if inner is None:
        return None
    inner.terms.append(query.qs[1])
    inner.mindist.append(query.mindist)
    inner.maxdist.append(query.slop)
    return inner


def _add_phrase(searcher: Searcher, phrase: _Phrase, bit: int, scores: list[float], masks: list[int],
                clock: _Clock) -> None:
    """Documents where the terms occur in order at the phrase's distances, scored as Whoosh's
    ``SpanNear2`` scores them: the sum of the terms' scores (the intersection's)."""
    reader = searcher.reader()
    fieldname = phrase.terms[0].fieldname
    postings = {}  # term text -> its postings in the documents holding every term
    for term in phrase.terms:
        if term.text not in postings:
            found = _term_postings(searcher, term, clock)
            if found is None:
                return  # a term the field does not hold: no document has the phrase
            postings[term.text] = found
    # Documents with every term, then the positions of each term in those only.
    common: set[int] | None = None
    for blocks in sorted(postings.values(), key=lambda blocks: sum(len(block.ids) for block in blocks)):
        ids = {docnum for block in blocks for docnum in block.ids}
        common = ids if common is None else common & ids
        if not common:
            return
    if reader.has_deletions():
        common.difference_update(_deleted(reader))
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
    scorers = [_term_scorer(searcher, term) for term in phrase.terms]
    if any(scorer is None for scorer in scorers):
        _add_matcher(searcher, phrase.query, bit, scores, masks, clock)
        return
    for docnum in sorted(common):
        if not _in_order(phrase, [where[term.text][docnum][1] for term in phrase.terms]):
            continue
        if phrase.verify is not None and not phrase.verify.holds(searcher, docnum):
            continue
        total = None
        for term, (idf, k1_plus_1, boost, norms) in zip(phrase.terms, scorers):
            weight = where[term.text][docnum][0]
            score = idf * ((weight * k1_plus_1) / (weight + norms[docnum])) * boost
            total = score if total is None else total + score
        scores[docnum] += total
        masks[docnum] |= bit


def _in_order(phrase: _Phrase, positions: list[list[int]]) -> bool:
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
    idf, k1_plus_1, boost, norms = scorer
    for block in _term_blocks(searcher, term, values=False):
        for docnum, weight in zip(block.ids, block.weights):
            # Whoosh's bm25(): idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
            scores[docnum] += idf * ((weight * k1_plus_1) / (weight + norms[docnum])) * boost
            masks[docnum] |= bit
        clock.check()


def _term_scorer(searcher: Searcher, term: wq.Term) -> tuple[float, float, float, list[float]] | None:
    """``(idf, K1 + 1, boost, norms)`` of a term query under BM25F, or None for another model
    (then its own matcher scores it)."""
    fieldname = term.fieldname
    scorer = searcher.weighting.scorer(searcher, fieldname, _indexed(searcher, term))
    if type(scorer) is not scoring.BM25FScorer:
        return None
    norms = _norms(searcher.reader(), fieldname, scorer.B, scorer.K1, scorer.avgfl)
    return scorer.idf, scorer.K1 + 1, term.boost, norms


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
