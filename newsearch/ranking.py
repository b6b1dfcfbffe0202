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

from collections.abc import Iterable
from datetime import datetime, timedelta
from statistics import median

from whoosh import query as wq
from whoosh.searching import Searcher

from newsearch.analysis import terms
from newsearch.compiler import CompiledQuery
from newsearch.config import as_utc
from newsearch.matches import Candidate, positioned, published_at
from newsearch.models import Passage, Ranked, Sort
from newsearch.passages import PassageQuery, best_passages, lead_passage
from newsearch.scoring import RANKING, RankingConfig, coverage, evidence, fused, lead_term, prescore, rank_key


def rank_candidates(compiled: CompiledQuery, hits: list[Candidate], sort: Sort, passages: int, passage_chars: int,
                    recency: timedelta | None = None, config: RankingConfig = RANKING) -> list[Ranked[Candidate]]:
    """Order the candidates (see the module docstring).

    Passages are found for the reranked top (None for the others: found when shown).
    """
    if sort != "relevance":
        return [Ranked(0.0, hit) for hit in hits]
    passage_query = passage_query_for(compiled)
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
    depth = config.rerank_depth
    # Only the top of that order is reordered: promoting a candidate from the bottom of the
    # pool would make the page depend on the pool's cut-off, where ties fall by document number.
    leads = (_lead_shares(hits[0].searcher, concepts, weights, [hit.docnum for hit in order[:depth]], config)
             if hits else {})
    reranked = []
    for hit in order[:depth]:
        stored = hit.stored()
        best = best_passages(stored.get("body", ""), passage_query, count=max(passages, 1), max_chars=passage_chars)
        best_share = min(max(best[0].score / max_passage if best else 0.0, title_share(stored)), 1.0)
        found = evidence(leads.get(hit.docnum, 0.0), best_share, config)
        score = adjusted(hit, fused(found, hit.score, max_score, covers(hit), config))
        shown = shown_passages(stored, passage_query, passages, passage_chars, best)
        reranked.append((tier(hit.covered), Ranked(score, hit, shown)))
    reranked.sort(key=lambda item: rank_key(item[1].score, item[1].candidate.newest_first, item[1].candidate.id,
                                            item[0]))
    result = [item for _, item in reranked]
    result += [Ranked(first_score(hit), hit) for hit in order[depth:]]
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


def _lead_shares(searcher: Searcher, concepts: list[wq.Query], term_weights: dict[str, float],
                 docnums: Iterable[int], config: RankingConfig = RANKING) -> dict[int, float]:
    """For each document, how much of the query it is about, judged mostly by its opening.

    Each word or phrase of the query counts with the IDF of its rarest term in ``term_weights``
    (the terms some article holds: for a misspelling, its corrections). In a field, every
    occurrence of one of its terms at word ``p`` adds ``1 / (1 + p / lead_scale)`` (a phrase's
    words count wherever they are: this is about topic, coverage is about the phrase), and the
    sum ``m`` saturates as ``m / (1 + m)`` (``scoring.lead_term``). A field's share is
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
        for fieldname in config.lead_fields:
            field_shares = dict.fromkeys(local, 0.0)
            for concept, weight in zip(concepts, weights):
                if weight <= 0:
                    continue
                positions: dict[int, set[int]] = {}
                for text in sorted({text for name, text in concept.iter_all_terms() if name == fieldname}):
                    if (fieldname, text) not in reader:
                        continue
                    matcher = reader.postings(fieldname, text)
                    for docnum in positioned(matcher, local):
                        positions.setdefault(docnum, set()).update(matcher.value_as("positions"))
                for docnum, spots in positions.items():
                    field_shares[docnum] += lead_term(weight, sorted(spots), config)
            for docnum, share in field_shares.items():
                shares[docnum + offset] = max(shares[docnum + offset], share / total)
    return shares


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
