"""The ranking's pure pieces (``newsearch.scoring``) on plain numbers: no index needed.

BM25F's term score, the order of ties, the configuration against what the README documents,
and the rerank's coverage, lead share, evidence and fused score.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from whoosh import scoring as whoosh_scoring

from newsearch.models import Ranked
from newsearch.scoring import (
    RANKING,
    RankingConfig,
    bm25f,
    bm25f_idf,
    bm25f_tf,
    coverage,
    evidence,
    fused,
    lead_term,
    prescore,
    rank_key,
)

README = Path(__file__).resolve().parent.parent / "README.md"
K1, B = RANKING.k1, RANKING.b


def score(tf: float = 1.0, length: float = 100.0, avg_length: float = 100.0, idf: float = 2.0,
          b: float = B, k1: float = K1) -> float:
    return bm25f(tf, length, avg_length, idf, b, k1)


# -- BM25F ---------------------------------------------------------------------------------------

def test_bm25f_is_whoosh_bm25_to_the_last_bit():
    for tf in (1, 2, 3, 7, 40):
        for length in (1, 5, 37, 100, 2000):
            for avg_length in (3.5, 120.25):
                for b in (0.0, 0.5, 0.75, 1.0):
                    expected = whoosh_scoring.bm25(1.7, tf, length, avg_length, b, K1)
                    assert bm25f(tf, length, avg_length, 1.7, b, K1) == expected


def test_bm25f_rises_with_term_frequency():
    scores = [score(tf=tf) for tf in range(1, 30)]
    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores)


def test_bm25f_saturates():
    gains = [score(tf=tf + 1) - score(tf=tf) for tf in range(1, 30)]
    assert gains == sorted(gains, reverse=True)  # each repetition adds less
    assert score(tf=10_000) < 2.0 * (K1 + 1)  # never past idf * (k1 + 1)
    assert score(tf=10_000) == pytest.approx(2.0 * (K1 + 1), rel=1e-3)


def test_bm25f_prefers_shorter_fields():
    scores = [score(length=length) for length in (10, 50, 100, 200, 1000)]
    assert scores == sorted(scores, reverse=True)
    assert score(length=10, b=0.0) == score(length=1000, b=0.0)  # b = 0: length does not count
    # At the average length, b makes no difference.
    assert score(length=100, avg_length=100, b=0.2) == pytest.approx(score(length=100, avg_length=100, b=0.9))


def test_bm25f_scales_with_idf():
    assert score(idf=4.0) == pytest.approx(2 * score(idf=2.0))
    assert bm25f_tf(3, 80, 100, B, K1) * 2.5 == bm25f(3, 80, 100, 2.5, B, K1)


def test_bm25f_idf_is_higher_for_rarer_terms():
    idfs = [bm25f_idf(frequency, 1000) for frequency in (1, 10, 100, 999)]
    assert idfs == sorted(idfs, reverse=True)
    assert bm25f_idf(9, 1000) == pytest.approx(1 + 4.605170185988092)  # log(1000 / 10) + 1


# -- ties ---------------------------------------------------------------------------------------

def test_ties_go_to_the_newest_then_by_id():
    undated = 0  # matches.Candidate.newest_first: minus the raw date, undated 0 (last)
    ranked = [
        ("b", 1.0, -100, 1), ("a", 1.0, -100, 1), ("old", 1.0, -50, 1), ("new", 1.0, -300, 1),
        ("none", 1.0, undated, 1), ("best", 2.0, undated, 1), ("more-covered", 0.1, undated, 2),
    ]
    order = sorted(ranked, key=lambda item: rank_key(item[1], item[2], item[0], item[3]))
    assert [item[0] for item in order] == ["more-covered", "best", "new", "a", "b", "old", "none"]


def test_without_tiers_the_key_orders_by_score():
    assert rank_key(3.0, 0, "z") < rank_key(2.0, -10, "a")


# -- configuration -------------------------------------------------------------------------------

def _ranking_paragraph() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("**Ranking.**")
    return " ".join(text[start:text.index("\n\n", start)].split())


def test_the_configuration_is_the_documented_ranking():
    documented = _ranking_paragraph()
    depth = re.search(r"Within the top (\d+)", documented)
    assert depth and int(depth.group(1)) == RANKING.rerank_depth
    assert "For queries of one or two words or phrases" in documented and RANKING.strict_coverage_up_to == 2
    assert "BM25F over title (boosted) and body" in documented and RANKING.title_boost > 1
    assert "Ties go to the newest article, then by id" in documented
    assert RANKING.lead_fields == ("title", "body")  # "the start of the title or body"


def test_bm25f_parameters_are_the_usual_ones():
    usual = whoosh_scoring.BM25F()
    assert (RANKING.k1, RANKING.b) == (usual.K1, usual.B) == (1.2, 0.75)
    assert RANKING.b_for("title") == 0.5  # titles are short: their length says little
    assert RANKING.b_for("body") == RANKING.b_for("author") == 0.75


def test_the_configuration_is_frozen_and_replaceable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RANKING.k1 = 2.0  # type: ignore[misc]
    other = dataclasses.replace(RANKING, rerank_depth=30)
    assert other.rerank_depth == 30 and RANKING.rerank_depth == 15
    assert RankingConfig() == RANKING


# -- the rerank's pieces --------------------------------------------------------------------------

def test_coverage_is_the_covered_share_cubed():
    assert coverage(0, 0) == 0.0
    assert coverage(3, 3) == 1.0
    assert coverage(1, 2) == 0.125
    shares = [coverage(covered, 5) for covered in range(6)]
    assert shares == sorted(shares)


def test_prescore_adds_coverage_to_the_score_share():
    assert prescore(5.0, 10.0, 0.125) == 0.5 + RANKING.coverage_weight * 0.125
    assert prescore(10.0, 10.0, 1.0) > prescore(10.0, 10.0, 0.5)


def test_lead_share_counts_early_words_more():
    assert lead_term(1.0, [0]) == 0.5  # one occurrence at the start: m = 1, m / (1 + m)
    early, late = lead_term(1.0, [2]), lead_term(1.0, [400])
    assert early > late > 0
    assert lead_term(1.0, [0, 5, 9]) > lead_term(1.0, [0])  # more occurrences, more share ...
    assert lead_term(1.0, list(range(0, 10_000, 3))) < 1.0  # ... saturating below the weight
    assert lead_term(3.0, [4, 8]) == pytest.approx(3 * lead_term(1.0, [4, 8]))
    assert lead_term(2.0, []) == 0.0
    # An occurrence at word p counts 1 / (1 + p / lead_scale).
    mass = 1 / (1 + 20 / RANKING.lead_scale)
    assert lead_term(1.0, [20]) == pytest.approx(mass / (1 + mass))


def test_evidence_is_the_stronger_of_lead_and_passage():
    assert evidence(0.2, 0.0) == RANKING.lead_weight * 0.2
    assert evidence(0.0, 0.9) == 0.9 ** RANKING.passage_power
    assert evidence(0.1, 1.0) == 1.0
    # A passage holding nearly the whole query counts far more than one holding half of it.
    assert evidence(0.0, 0.95) > 8 * evidence(0.0, 0.5)


def test_fused_adds_smaller_shares_of_score_and_coverage():
    assert fused(1.0, 0.0, 10.0, 0.0) == 1.0
    assert fused(1.0, 10.0, 10.0, 1.0) == 1.0 + RANKING.fused_score_weight + RANKING.fused_coverage_weight
    assert fused(0.5, 4.0, 8.0, 0.0) < fused(0.5, 8.0, 8.0, 0.0)


def test_ranked_names_its_parts():
    class Hit:
        id = "a1"

    item = Ranked(1.5, Hit())
    assert (item.score, item.candidate.id, item.passages) == (1.5, "a1", None)
