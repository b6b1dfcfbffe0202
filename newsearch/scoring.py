"""Ranking in one place: the configuration every score reads, and BM25F's term score.

``RANKING`` (a ``RankingConfig``) holds every ranking constant: BM25F's ``k1`` and ``b``
(and ``b`` per field), the boosts the compiler gives title terms and typo corrections,
and the constants of the rerank (``ranking``). ``bm25f`` is the one term score: the
one-pass candidate collection (``candidates``) and Whoosh's collectors (through
``BM25FModel``, the searcher's weighting model) both call it. ``rank_key`` is the one
order of equal scores. The pure pieces of the rerank (coverage, lead share, the fused
score) are here too, as functions of plain numbers.

Each signal of the ranking can be switched off through the configuration alone (``SIGNALS``,
``RankingConfig.without``), so that a ranking change can be judged signal by signal (the
bench's ablation table); a search uses another configuration through
``open_index(path, ranking=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from math import log
from typing import Any

from whoosh import scoring

from newsearch.schema import SEARCH_FIELDS
from newsearch.whoosh_internals import BM25FScorerBase, field_b


@dataclass(frozen=True)
class RankingConfig:
    """Every ranking constant (the defaults are the documented ranking; see the README)."""

    # BM25F (Whoosh's expression, see ``bm25f``)
    k1: float = 1.2  # term-frequency saturation
    b: float = 0.75  # field-length normalisation, for fields not in ``field_b``
    field_b: tuple[tuple[str, float], ...] = (("title", 0.5),)  # (field, b): titles are all short
    # Boosts the compiler gives term queries (``compiler``)
    title_boost: float = 2.0  # a word in the title counts twice a word in the body
    typo_boost: float = 0.6  # a corrected spelling counts a little less than what was typed
    # The rerank (``ranking``)
    rerank_depth: int = 15  # 30 scored the same on the benchmark sets, at twice the passage work; 0: no rerank
    strict_coverage_up_to: int = 2  # words and phrases: up to this many, covering more always wins (0: never)
    coverage_weight: float = 1.0
    coverage_power: float = 3.0
    lead_scale: float = 20.0  # words: an occurrence at word p counts 1 / (1 + p / lead_scale)
    lead_fields: tuple[str, ...] = SEARCH_FIELDS  # each read from its first word; the larger share counts
    lead_weight: float = 2.5  # how a lead share compares with a passage share in the final score
    passage_power: float = 4.0  # a passage counts much more when it holds nearly the whole query
    passage_evidence: bool = True  # False: the best passage (or title) is no evidence; the lead share alone is
    fused_score_weight: float = 0.25  # BM25F and coverage, once the lead and passage evidence is in
    fused_coverage_weight: float = 0.25

    def b_for(self, fieldname: str) -> float:
        """BM25F's ``b`` for one field."""
        return dict(self.field_b).get(fieldname, self.b)

    def without(self, *signals: str) -> RankingConfig:
        """This configuration with each named signal (a key of ``SIGNALS``) switched off."""
        changes: dict[str, Any] = {}
        for signal in signals:
            if signal not in SIGNALS:
                raise ValueError(f"unknown ranking signal {signal!r}: choose from {', '.join(SIGNALS)}")
            changes.update(SIGNALS[signal])
        return replace(self, **changes)


SIGNALS: dict[str, dict[str, Any]] = {
    # The rerank as a whole: lead and passage evidence and the fused score; the order is
    # BM25F plus the coverage bonus (in tiers for short queries), as before the rerank.
    "rerank": {"rerank_depth": 0},
    # Short queries no longer put the articles covering more of them first, whatever the score.
    "strict coverage": {"strict_coverage_up_to": 0},
    # The share of the query an article covers counts neither before nor in the rerank.
    "coverage bonus": {"coverage_weight": 0.0, "fused_coverage_weight": 0.0},
    "lead share": {"lead_weight": 0.0},
    "passage evidence": {"passage_evidence": False},
    # BM25F's share of the reranked score (it still orders the candidates before the rerank).
    "BM25F in rerank": {"fused_score_weight": 0.0},
    # A title word counts as a body word in BM25F (the title still counts as a passage and a lead).
    "title boost": {"title_boost": 1.0},
    # A corrected spelling counts as much as a word typed as it is.
    "typo discount": {"typo_boost": 1.0},
}
"""Each reranking signal, and the configuration fields that switch it off (``RankingConfig.without``).

Recency is left out: it is off unless a search asks for it (``recency=``)."""


RANKING = RankingConfig()
"""The ranking every search uses."""


# -- BM25F -------------------------------------------------------------------------------------

def bm25f_idf(doc_frequency: int, doc_count: int) -> float:
    """Whoosh's IDF of a term in ``doc_frequency`` of ``doc_count`` documents (deleted ones included)."""
    return log(doc_count / (doc_frequency + 1)) + 1


def bm25f_tf(tf: Any, length: Any, avg_length: float, b: float, k1: float) -> Any:
    """The term-frequency part of BM25F: ``tf`` saturated by ``k1``, normalised by the field's
    length against the average (``b``: how much). Numbers, or numpy arrays of them."""
    return (tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / avg_length))


def bm25f(tf: float, length: float, avg_length: float, idf: float, b: float, k1: float) -> float:
    """The BM25F score of a term in a document: Whoosh's ``bm25()``, to the last bit.

    ``idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / avg_length)))``
    """
    return idf * bm25f_tf(tf, length, avg_length, b, k1)


class BM25FScorer(BM25FScorerBase):
    """Whoosh's BM25F scorer (its IDF, average length and block-quality bounds), scoring with ``bm25f``."""

    def score_weight(self, weight: float, length: float) -> float:
        return bm25f(weight, length, self.avgfl, self.idf, self.B, self.K1)


@dataclass(frozen=True)
class CollectionStatistics:
    """The figures of a whole collection that BM25F reads (plain data, so it travels to a worker):
    documents (deleted ones included, as Whoosh counts them), each field's total length, and the
    document frequency of each term a query scores. A shard scored with the statistics of all the
    shards scores every document exactly as one index over all of them would (``shards``)."""

    doc_count_all: int
    field_lengths: tuple[tuple[str, int], ...]
    doc_frequencies: tuple[tuple[str, bytes, int], ...]

    def avg_field_length(self, fieldname: str) -> float:
        """Whoosh's average length of the field, as its searcher computes it (1 for an empty field)."""
        return dict(self.field_lengths).get(fieldname, 0) / (self.doc_count_all or 1) or 1

    def doc_frequency(self, fieldname: str, text: bytes) -> int:
        for name, term, frequency in self.doc_frequencies:
            if name == fieldname and term == text:
                return frequency
        raise KeyError(f"no collection statistics for the term {text!r} of field {fieldname!r}")


class BM25FModel(scoring.BM25F):
    """The searcher's weighting model: BM25F with ``config``'s parameters, scored by ``bm25f``.

    ``statistics``: the collection's figures in place of the searcher's own (a shard's searcher
    scoring as the whole sharded index)."""

    def __init__(self, config: RankingConfig = RANKING, statistics: CollectionStatistics | None = None) -> None:
        super().__init__(B=config.b, K1=config.k1, **{f"{name}_B": b for name, b in config.field_b})
        self.config = config
        self.statistics = statistics

    def idf(self, searcher: Any, fieldname: str, text: bytes) -> float:
        if self.statistics is not None:
            return bm25f_idf(self.statistics.doc_frequency(fieldname, text), self.statistics.doc_count_all)
        parent = searcher.get_parent()
        return bm25f_idf(parent.doc_frequency(fieldname, text), parent.doc_count_all())

    def scorer(self, searcher: Any, fieldname: str, text: bytes, qf: int = 1) -> scoring.BaseScorer:
        if not searcher.schema[fieldname].scorable:
            return scoring.WeightScorer.for_(searcher, fieldname, text)
        scorer = BM25FScorer(searcher, fieldname, text, field_b(self, fieldname), self.K1, qf=qf)
        if self.statistics is not None:  # Whoosh's scorer reads the average from the searcher
            scorer.avgfl = self.statistics.avg_field_length(fieldname)
        return scorer


# -- the rerank's pure pieces ------------------------------------------------------------------

def coverage(covered: int, concepts: int, config: RankingConfig = RANKING) -> float:
    """The bonus for covering ``covered`` of the query's ``concepts`` words and phrases."""
    return (covered / concepts) ** config.coverage_power if concepts else 0.0


def prescore(score: float, max_score: float, coverage: float, config: RankingConfig = RANKING) -> float:
    """The order the rerank starts from: BM25F as a share of the best candidate's, plus the
    coverage bonus."""
    return score / max_score + config.coverage_weight * coverage


def lead_term(weight: float, positions: Iterable[int], config: RankingConfig = RANKING) -> float:
    """What one query word (of IDF ``weight``) adds to a field's lead share, from the word
    positions (sorted) where it occurs in the field: each occurrence at ``p`` counts
    ``1 / (1 + p / lead_scale)``, and the sum ``m`` saturates as ``m / (1 + m)``, as BM25
    saturates term frequency (so the result is below ``weight``)."""
    # Summed in order, so equal documents get equal shares (ties stay ties).
    mass = sum(1.0 / (1.0 + spot / config.lead_scale) for spot in positions)
    return weight * mass / (1.0 + mass)


def evidence(lead_share: float, passage_share: float, config: RankingConfig = RANKING) -> float:
    """The stronger of the two kinds of evidence that an article is the one wanted: its lead
    share (times ``lead_weight``) and its best passage's share (raised to ``passage_power``;
    none when ``passage_evidence`` is off)."""
    if not config.passage_evidence:
        return config.lead_weight * lead_share
    return max(config.lead_weight * lead_share, passage_share ** config.passage_power)


def fused(evidence: float, score: float, max_score: float, coverage: float, config: RankingConfig = RANKING) -> float:
    """The reranked score: the evidence, plus smaller shares of BM25F (against the best
    candidate's ``max_score``) and of the coverage bonus."""
    return evidence + config.fused_score_weight * score / max_score + config.fused_coverage_weight * coverage


def rank_key(score: float, newest_first: int, id: str, tier: int = 0) -> tuple[int, float, int, str]:
    """The sort key of a ranked article: the higher tier first, then the higher score; ties go
    to the newest article (``newest_first`` is minus its raw date, undated last), then by id,
    so output is stable."""
    return -tier, -score, newest_first, id
