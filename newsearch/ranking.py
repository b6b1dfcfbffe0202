"""Ranking the candidates of a search, for ``sort="relevance"``:

1. Whoosh scores candidates with BM25F over title (boosted) and body.
2. For queries of one or two words or phrases, documents that cover all of
   them come first, then those missing one ("OR with a strong preference for
   all words"); from three on, the share of the query a document covers is a
   strong bonus (cubed) rather than a strict order, since a description, a
   remembered sentence or a headline ("Chelsea hold Arsenal") is rarely all in
   the article wanted, which may say "draw" where the headline says "hold".
   BM25F plus that bonus orders the candidates; only the top ``rerank_depth``
   of that order are reordered below, so which articles make a page never
   depends on how the index is split into segments.
3. Within the top ``rerank_depth``, two kinds of evidence that an article is the
   one wanted; the stronger of the two counts:
   * the best passage (or the title): the IDF-weighted share of the query it
     holds (MaxP), raised to ``passage_power``, so a passage that holds nearly
     the whole query (a remembered sentence) counts much more than one that
     holds some of it;
   * the lead share: news puts what an article is about in its opening, so each
     occurrence of a query word counts more the earlier it is in the body
     (``1 / (1 + word / lead_scale)``), saturated like BM25's term frequency and
     weighted by IDF (covering a rare word matters more than a common one), as a
     share of the whole query, times ``lead_weight``. This is what finds an
     article from its headline, whose words are in its first paragraph, not in
     any one sentence.
   Smaller shares of BM25F and of the coverage bonus are added to that.
4. Ties: newest first, then id, so output is stable (``scoring.rank_key``).

Every constant named here is a field of ``scoring.RankingConfig``; the pure pieces of the
computation (coverage, lead share, evidence, fused score) are functions in ``scoring``.
"""

from __future__ import annotations

from bisect import bisect_right
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from whoosh import query as wq
from whoosh.searching import Searcher

from newsearch.analysis import NewsAnalyzer, find_terms
from newsearch.compiler import CompiledQuery
from newsearch.config import as_utc
from newsearch.matches import Candidate, published_at
from newsearch.models import Passage, Ranked, Sort
from newsearch.passages import PassageQuery, best_passages, lead_passage, query_terms
from newsearch.scoring import RANKING, RankingConfig, coverage, evidence, fused, lead_term, prescore, rank_key

_NO_LOCK = nullcontext()  # one thread: reusable, never held


def rank_candidates(compiled: CompiledQuery, hits: list[Candidate], sort: Sort, passages: int, passage_chars: int,
                    recency: timedelta | None = None, config: RankingConfig = RANKING,
                    whoosh: AbstractContextManager[Any] = _NO_LOCK) -> list[Ranked[Candidate]]:
    """Order the candidates (see the module docstring).

    Passages are found for the reranked top (None for the others: found when shown).
    ``whoosh`` (a lock) is held while the candidates' searcher is read (term statistics, the
    stored fields of the top); finding passages and lead shares in the stored text runs without it.
    """
    if sort != "relevance":
        return [Ranked(0.0, hit) for hit in hits]
    passage_query = passage_query_for(compiled)
    concepts = compiled.concepts
    max_score = max((hit.score for hit in hits), default=1.0) or 1.0
    # Weights of the terms some article holds: a typed spelling that none does (its
    # corrections are searched instead) would otherwise count as the rarest word of the query.
    with whoosh:
        weights = _held(hits[0].searcher, compiled.weights) if hits else {}
    # The most a passage can score: every concept's best term (the passages' scale).
    max_passage = sum(sorted(weights.values(), reverse=True)[:len(concepts) or 1]) or 1.0
    decay = _recency_weights(hits, recency) if recency is not None else {}

    def title_share(title_terms: set[str]) -> float:
        """Like a passage score, for the title: the weight of the query terms it holds."""
        return sum(weight for term, weight in weights.items() if term in title_terms) / max_passage

    # One or two words: articles covering more of them always come first. Longer queries
    # (a description, a remembered sentence, a headline) rarely appear whole in the article
    # wanted, so coverage is a strong bonus there instead of a strict order.
    strict = len(concepts) <= config.strict_coverage_up_to

    def tier(covered: int) -> int:
        return covered if strict else 0

    def covers(hit: Candidate) -> float:
        return coverage(hit.covered, len(concepts), config)

    def adjusted(hit: Candidate, score: float) -> float:
        return score * decay.get(hit.docnum, 1.0)

    def first_score(hit: Candidate) -> float:
        return adjusted(hit, prescore(hit.score, max_score, covers(hit), config))

    order = sorted(hits, key=lambda hit: rank_key(first_score(hit), hit.newest_first, hit.id, tier(hit.covered)))
    # A fixed depth, whatever the page asked for: every page is cut from one ordering.
    # Only the top of that order is reordered: promoting a candidate from the bottom of the
    # pool would make the page depend on the pool's cut-off, where ties fall by document number.
    top = order[:config.rerank_depth]
    with whoosh:
        stored_top = [hit.stored() for hit in top]
        lead = _LeadTerms.of(hits[0].searcher, concepts, weights, config) if hits else None
    # Each body and title is scanned once, for the terms of the passages, the title share and the lead.
    in_body = query_terms(passage_query) | (lead.wanted("body") if lead else frozenset())
    in_title = set(weights) | (lead.wanted("title") if lead else frozenset())
    reranked = []
    for hit, stored in zip(top, stored_top):
        body = stored.get("body", "")
        scanned = {"body": _scan(body, in_body), "title": _scan(stored.get("title", ""), in_title)}
        best = best_passages(body, passage_query, count=max(passages, 1), max_chars=passage_chars,
                             found=scanned["body"][0])
        title_terms = {term for _, term, _, _ in scanned["title"][0]}
        best_share = min(max(best[0].score / max_passage if best else 0.0, title_share(title_terms)), 1.0)
        found_lead = lead.share(stored, scanned) if lead else 0.0
        found_evidence = evidence(found_lead, best_share, config)
        score = adjusted(hit, fused(found_evidence, hit.score, max_score, covers(hit), config))
        shown = shown_passages(stored, passage_query, passages, passage_chars, best)
        reranked.append((tier(hit.covered), Ranked(score, hit, shown)))
    reranked.sort(key=lambda item: rank_key(item[1].score, item[1].candidate.newest_first, item[1].candidate.id,
                                            item[0]))
    result = [item for _, item in reranked]
    result += [Ranked(first_score(hit), hit) for hit in order[len(top):]]
    return result


def passage_query_for(compiled: CompiledQuery) -> PassageQuery:
    in_phrases = {term for phrase in compiled.phrases for term in phrase}
    return PassageQuery(weights=compiled.weights, phrases=tuple(compiled.phrases),
                        phrase_slop=tuple(compiled.phrase_slop), phrase_only=frozenset(in_phrases - compiled.words))


def shown_passages(stored: dict, passage_query: PassageQuery, count: int, max_chars: int,
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


def _recency_weights(hits: list[Candidate], half_life: timedelta) -> dict[int, float]:
    """docnum -> ``0.5 ** (age / half_life)``, the age from the newest candidate; undated: the median."""
    dated = {hit.docnum: moment for hit in hits if (moment := published_at(hit.published)) is not None}
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


Scan = tuple[list[tuple[int, str, int, int]], list[int]]
"""A text's ``find_terms`` for some terms, and the positions of its tokens without a term."""


def _scan(text: str, wanted: set[str] | frozenset[str]) -> Scan:
    termless: list[int] = []
    return find_terms(text, wanted, termless), termless


@dataclass(frozen=True)
class _LeadField:
    """One field of ``lead_fields``: the (weight, terms there) of each concept of positive
    weight, all those terms, and the field's analyzer."""

    name: str
    analyzer: Any
    concepts: tuple[tuple[float, frozenset[str]], ...]
    wanted: frozenset[str]


@dataclass(frozen=True)
class _LeadTerms:
    """What the lead share (``scoring.lead_term``) of a document needs.

    Each word or phrase of the query counts with the IDF of its rarest term in the weights
    given (the terms some article holds: for a misspelling, its corrections). In a field, every
    occurrence of one of its terms at word ``p`` adds ``1 / (1 + p / lead_scale)`` (a phrase's
    words count wherever they are: this is about topic, coverage is about the phrase), and the
    sum ``m`` saturates as ``m / (1 + m)``. A field's share is the IDF-weighted sum of those
    over the query's total IDF (so below 1); a document's is the larger of its fields'.

    The positions are the index's, found in the stored text (which is what was indexed): the
    tokens ``find_terms`` finds, each at its position plus the tokens without a term before it,
    where the field's own term filter gives the same term (a stopword there has none).
    """

    fields: tuple[_LeadField, ...]
    total: float
    config: RankingConfig

    @classmethod
    def of(cls, searcher: Searcher, concepts: list[wq.Query], term_weights: dict[str, float],
           config: RankingConfig) -> _LeadTerms | None:
        """None when the query has no weight (every share is 0)."""
        weights = [max((term_weights.get(text, 0.0) for _, text in concept.iter_all_terms()), default=0.0)
                   for concept in concepts]
        total = sum(weights)
        if total <= 0:
            return None
        fields = []
        for fieldname in config.lead_fields:
            in_field = tuple((weight, frozenset(text for name, text in concept.iter_all_terms() if name == fieldname))
                             for concept, weight in zip(concepts, weights) if weight > 0)
            analyzer = searcher.schema[fieldname].analyzer if fieldname in searcher.schema else None
            fields.append(_LeadField(fieldname, analyzer, in_field, frozenset().union(*(t for _, t in in_field))))
        return cls(tuple(fields), total, config)

    def wanted(self, fieldname: str) -> frozenset[str]:
        """The terms of every concept in the field."""
        return frozenset().union(*(field.wanted for field in self.fields if field.name == fieldname))

    def share(self, stored: dict, scanned: dict[str, Scan]) -> float:
        """The document's lead share, from its stored fields (``scanned``: a field's ``find_terms``
        for a superset of ``wanted`` and its termless positions, when the caller has them)."""
        best = 0.0
        for field in self.fields:
            spots = self._positions(stored.get(field.name) or "", field.analyzer, field.wanted, scanned.get(field.name))
            share = 0.0
            for weight, texts in field.concepts:
                found = sorted({position for term in texts for position in spots.get(term, ())})
                if found:
                    share += lead_term(weight, found, self.config)
            best = max(best, share / self.total)
        return best

    @staticmethod
    def _positions(text: str, analyzer: Any, wanted: frozenset[str],
                   scanned: Scan | None) -> dict[str, list[int]]:
        """term -> the index positions of the ``wanted`` terms of the field's ``text``."""
        spots: dict[str, list[int]] = {}
        if not text or not wanted or analyzer is None:
            return spots
        term_filter = analyzer.plain_term_filter() if isinstance(analyzer, NewsAnalyzer) else None
        if term_filter is None:  # another analyzer: run it, as the index did
            for token in analyzer(text, positions=True):
                if token.text in wanted:
                    spots.setdefault(token.text, []).append(token.pos)
            return spots
        found, termless = _scan(text, wanted) if scanned is None else scanned
        for position, term, start, end in found:
            if term in wanted and term_filter.term(text[start:end]) == term:
                spots.setdefault(term, []).append(position + bisect_right(termless, position))
        return spots


def recency_factor(published: datetime | None, now: datetime, half_life: timedelta) -> float | None:
    """``0.5 ** (age / half_life)``: 1.0 for an article published now (or in the future),
    0.5 at one half-life, 0.25 at two.

    An undated article gets None, not a number: articles without a date are neither
    favoured nor dropped, so the caller gives them a neutral factor of its choice
    (the median factor of the dated results, or 1.0 to leave their scores alone).
    """
    if half_life <= timedelta(0):
        raise ValueError(f"the half-life must be longer than zero, not {half_life}")
    if published is None:
        return None
    age = as_utc(now) - as_utc(published)
    if age <= timedelta(0):
        return 1.0
    return 0.5 ** (age / half_life)
