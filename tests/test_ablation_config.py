"""Each ranking signal switched off through the configuration alone (``scoring.SIGNALS``,
``RankingConfig.without``, ``open_index(ranking=...)``) changes what it claims, and nothing
else; the default configuration is the documented one. The bench's ablation table
(tests/bench/README.md) is built on these switches.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from whoosh import query as wq

from newsearch import build_index, open_index
from newsearch.compiler import QueryCompiler
from newsearch.query import parse
from newsearch.scoring import RANKING, SIGNALS, RankingConfig, evidence, fused, prescore

BENCH_README = Path(__file__).resolve().parent / "bench" / "README.md"

# The documented defaults (README "Ranking", scoring.RankingConfig's comments).
DOCUMENTED = {
    "k1": 1.2, "b": 0.75, "field_b": (("title", 0.5),), "title_boost": 2.0, "typo_boost": 0.6,
    "rerank_depth": 15, "strict_coverage_up_to": 2, "coverage_weight": 1.0, "coverage_power": 3.0,
    "lead_scale": 20.0, "lead_fields": ("title", "body"), "lead_weight": 2.5, "passage_power": 4.0,
    "passage_evidence": True, "fused_score_weight": 0.25, "fused_coverage_weight": 0.25,
}

FILLER = ("The report covered many other matters of the week in some detail, from the weather and the "
          "roads to the schools, the shops, the trains, the parks and the new library hours. ")
ARTICLES = [
    # Covers both words of "glacier harbour", once each, deep in a long body.
    ("Town council notes", FILLER * 4 + "A glacier was seen from the harbour wall. " + FILLER * 2),
    # Only "glacier", many times, in a short title and body: the higher BM25F.
    ("Glacier glacier", "Glacier glacier glacier melts."),
    # Both words at the very start: a strong lead share.
    ("Weekly digest", "Glacier trips. Harbour fees. " + FILLER * 3),
    # Both words in one sentence after sixty words: the passage, not the lead, is the evidence.
    ("Coastal walks", FILLER * 2 + "Walkers can see the glacier from the old harbour at dawn. " + FILLER),
    ("Harbour dues rise", "The harbour board raised its dues. " + FILLER),
    ("Government plans", "The government announced plans for the harbour. " + FILLER),
    ("Government budget", "The government budget was cut. " + FILLER),
    ("Government talks", "The government held talks on the economy. " + FILLER),
    ("Election result", "The government lost the election. " + FILLER),
    ("Train strike", FILLER),
]


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation_config")
    corpus = root / "corpus"
    corpus.mkdir()
    lines = [json.dumps({"id": f"a{number}", "title": title, "body": body})
             for number, (title, body) in enumerate(ARTICLES)]
    (corpus / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_index([corpus], root / "index")
    return root / "index"


def _search(index_path: Path, query: str, config: RankingConfig = RANKING) -> list[tuple[str, float]]:
    with open_index(index_path, ranking=config) as index:
        results = index.search(query, limit=20, collapse=False)
    return [(hit.id, hit.score) for hit in results.hits]


def _compiled_terms(index_path: Path, query: str, config: RankingConfig) -> tuple[dict, list[wq.Term]]:
    with open_index(index_path, ranking=config) as index:
        snapshot = index._fresh()
        compiled = QueryCompiler(snapshot.searcher.reader(), snapshot.vocabulary, snapshot.written,
                                 config).compile(parse(query))
    return compiled.expansions, [term for term in compiled.query.leaves() if isinstance(term, wq.Term)]


# -- the configuration -----------------------------------------------------------------------------

def test_the_default_configuration_is_the_documented_one():
    assert dataclasses.asdict(RANKING) == DOCUMENTED
    assert RankingConfig() == RANKING == RANKING.without()


def test_each_signal_names_fields_that_exist_and_changes_them():
    fields = {field.name for field in dataclasses.fields(RankingConfig)}
    for signal, changes in SIGNALS.items():
        assert changes and set(changes) <= fields, signal
        off = RANKING.without(signal)
        assert off != RANKING and all(getattr(RANKING, name) != value for name, value in changes.items()), signal
        assert all(getattr(off, name) == value for name, value in changes.items())
        # Nothing else moves.
        assert dataclasses.replace(off, **{name: getattr(RANKING, name) for name in changes}) == RANKING


def test_signals_combine_and_unknown_names_are_refused():
    both = RANKING.without("lead share", "passage evidence")
    assert (both.lead_weight, both.passage_evidence) == (0.0, False)
    with pytest.raises(ValueError, match="unknown ranking signal 'recency'.*lead share"):
        RANKING.without("recency")


def test_the_bench_readme_documents_every_signal():
    text = BENCH_README.read_text(encoding="utf-8")
    start = text.index("## Ablation")
    section = text[start:text.index("\n## ", start + 1)]
    for signal, changes in SIGNALS.items():
        row = next((line for line in section.splitlines() if line.startswith(f"| {signal} |")), None)
        assert row is not None, f"the ablation section has no row for {signal!r}"
        for name in changes:
            assert f"`{name}" in row, (signal, name)


# -- the pure pieces ---------------------------------------------------------------------------------

def test_passage_evidence_off_leaves_the_lead_share_alone():
    off = RANKING.without("passage evidence")
    assert evidence(0.2, 0.9, off) == RANKING.lead_weight * 0.2
    assert evidence(0.0, 1.0, off) == 0.0
    assert evidence(0.0, 1.0) == 1.0  # on: a passage holding the whole query


def test_lead_share_off_leaves_the_passage_alone():
    off = RANKING.without("lead share")
    assert evidence(0.4, 0.5, off) == 0.5 ** RANKING.passage_power
    assert evidence(0.4, 0.0, off) == 0.0


def test_coverage_bonus_off_counts_coverage_nowhere():
    off = RANKING.without("coverage bonus")
    assert prescore(5.0, 10.0, 1.0, off) == 0.5
    assert fused(0.7, 5.0, 10.0, 1.0, off) == 0.7 + RANKING.fused_score_weight * 0.5
    assert prescore(5.0, 10.0, 1.0) == 1.5  # on


def test_bm25f_off_in_the_rerank_counts_only_evidence_and_coverage():
    off = RANKING.without("BM25F in rerank")
    assert fused(0.7, 5.0, 10.0, 1.0, off) == 0.7 + RANKING.fused_coverage_weight * 1.0
    assert prescore(5.0, 10.0, 0.0, off) == 0.5  # BM25F still orders the candidates


# -- through an index ---------------------------------------------------------------------------------

def test_open_index_threads_the_configuration(index_path):
    off = RANKING.without("title boost")
    with open_index(index_path, ranking=off) as index:
        assert index.ranking is off
        assert index._fresh().searcher.weighting.config is off
    with open_index(index_path) as index:
        assert index.ranking is RANKING


def test_the_default_configuration_ranks_as_before(index_path):
    for query in ("glacier harbour", "glacier", "government harbour economy", '"old harbour"'):
        assert _search(index_path, query, RankingConfig()) == _search(index_path, query)


def _bm25f_order(index_path: Path, query: str) -> list[tuple[str, float]]:
    """Whoosh's own BM25F scores of every match (as shares of the best), best first."""
    with open_index(index_path) as index:
        snapshot = index._fresh()
        searcher = snapshot.searcher
        compiled = QueryCompiler(searcher.reader(), snapshot.vocabulary, snapshot.written).compile(parse(query))
        found = searcher.search(compiled.query, limit=None)
        scored = [(hit["id"], hit.score) for hit in found]
    best = max(score for _, score in scored)
    return sorted(((doc_id, score / best) for doc_id, score in scored), key=lambda item: (-item[1], item[0]))


def test_rerank_off_with_coverage_off_is_the_bm25f_order(index_path):
    bare = RANKING.without("rerank", "coverage bonus", "strict coverage")
    found = _search(index_path, "glacier harbour", bare)
    expected = _bm25f_order(index_path, "glacier harbour")
    assert [doc_id for doc_id, _ in found] == [doc_id for doc_id, _ in expected]
    assert [score for _, score in found] == pytest.approx([score for _, score in expected], abs=1e-6)  # Hit rounds
    assert found[0][0] == "a1"  # "glacier" many times beats both words once
    assert found != _search(index_path, "glacier harbour")  # the full ranking differs


def test_rerank_off_keeps_the_coverage_order(index_path):
    # Without the rerank, the order is BM25F plus the coverage bonus, short queries in tiers:
    # the articles holding both words first.
    found = _search(index_path, "glacier harbour", RANKING.without("rerank"))
    both = {"a0", "a2", "a3"}
    assert {doc_id for doc_id, _ in found[:3]} == both
    # Only the tiers, no bonus: the same first three, in BM25F order among them.
    tiers_only = _search(index_path, "glacier harbour", RANKING.without("rerank", "coverage bonus"))
    bm25f = [doc_id for doc_id, _ in _bm25f_order(index_path, "glacier harbour") if doc_id in both]
    assert [doc_id for doc_id, _ in tiers_only[:3]] == bm25f


def test_strict_coverage_off_lets_the_score_decide(index_path):
    strict = _search(index_path, "glacier harbour", RANKING.without("rerank", "coverage bonus"))
    loose = _search(index_path, "glacier harbour", RANKING.without("rerank", "coverage bonus", "strict coverage"))
    assert strict[0][0] != "a1" and loose[0][0] == "a1"  # one word, higher BM25F


@pytest.mark.parametrize("signal, query", [("passage evidence", "glacier harbour"),
                                           ("lead share", "glacier harbour")])
def test_evidence_off_never_raises_a_score_and_lowers_one(index_path, signal, query):
    full = dict(_search(index_path, query))
    off = dict(_search(index_path, query, RANKING.without(signal)))
    assert set(off) == set(full)
    assert all(off[doc_id] <= full[doc_id] for doc_id in full)
    lowered = {doc_id for doc_id in full if off[doc_id] < full[doc_id]}
    # The passage is the evidence of a3 (both words in one sentence, sixty words in);
    # the lead share is the evidence of a2 (both words in its first words).
    assert ("a3" if signal == "passage evidence" else "a2") in lowered


def test_title_boost_off_counts_title_and_body_alike(index_path):
    _, terms = _compiled_terms(index_path, "glacier", RANKING)
    assert {(term.fieldname, term.boost) for term in terms} == {("title", RANKING.title_boost), ("body", 1.0)}
    _, terms = _compiled_terms(index_path, "glacier", RANKING.without("title boost"))
    assert {(term.fieldname, term.boost) for term in terms} == {("title", 1.0), ("body", 1.0)}
    assert _search(index_path, "glacier", RANKING.without("title boost")) != _search(index_path, "glacier")


def test_typo_discount_off_counts_a_correction_as_typed(index_path):
    expansions, terms = _compiled_terms(index_path, "goverment", RANKING)
    assert expansions  # the premise: corrected
    corrected = {(term.fieldname, term.boost) for term in terms if term.text == "govern"}
    assert corrected == {("title", RANKING.title_boost * RANKING.typo_boost), ("body", RANKING.typo_boost)}
    _, terms = _compiled_terms(index_path, "goverment", RANKING.without("typo discount"))
    corrected = {(term.fieldname, term.boost) for term in terms if term.text == "govern"}
    assert corrected == {("title", RANKING.title_boost), ("body", 1.0)}
