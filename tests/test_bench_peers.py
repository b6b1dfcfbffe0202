"""The bench's peers (tests/bench/peers.py): on a tiny corpus, raw Whoosh, FTS5 and tantivy
(when installed) answer OR queries, count facets as a brute-force count does, and follow the
incremental recipe. The bench itself is a program (python -m tests.bench.run), never run here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.bench import peers
from tests.bench.corpora import read_article
from tests.bench.synth import changed_files

ARTICLES = {  # id -> (published, headline, body)
    "news/1.txt": ("2010-01-05", "Harbour storm", "A storm and rain hit the harbour and the ferry stayed in port."),
    "news/2.txt": ("2010-02-11", "Council budget", "The council voted on the budget for the ferry service."),
    "sport/3.txt": ("2011-02-20", "Cup final", "The final was played in the rain before a large crowd."),
    "sport/4.txt": ("", "Transfer window", "The club signed a striker in the rain on the last day of the window."),
}


def _peers() -> list[str]:
    return [name for name in peers.PEER_MODULES if not peers.missing(name)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for doc_id, (published, headline, body) in ARTICLES.items():
        path = root / doc_id
        path.parent.mkdir(exist_ok=True)
        header = f"Published: {published}\n\n" if published else ""
        path.write_text(f"{header}{headline}\n\n{body}\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module", params=_peers())
def built(request: pytest.FixtureRequest, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    index = tmp_path_factory.mktemp(request.param) / "index"
    assert peers.peer(request.param).build(corpus, index) == len(ARTICLES)
    return request.param, index


def test_a_query_is_its_words_or_ed_and_its_quoted_spans_as_phrases():
    assert peers.clauses('ferry "budget for the" Rain!') == [["budget", "for", "the"], ["ferry"], ["rain"]]


def test_the_fts5_expression_puts_or_between_clauses():
    from tests.bench.fts5 import match_expression

    assert match_expression('storm "ferry service"') == '"ferry service" OR "storm"'


def test_the_article_reader_takes_the_published_line_apart_from_the_headline(corpus: Path):
    fields = read_article("news/1.txt", corpus / "news" / "1.txt")
    assert (fields["published"], fields["title"], fields["source"]) == ("2010-01-05", "Harbour storm", "news")
    assert fields["body"] == ARTICLES["news/1.txt"][2]


def test_every_peer_finds_an_article_matching_any_one_word(built: tuple[str, Path]):
    name, index = built
    engine = peers.open_engine(name, index)
    try:
        # No article has both words: an AND would find nothing.
        assert sorted(engine.ids("storm striker zebra")) == ["news/1.txt", "sport/4.txt"]
        assert sorted(doc_id for doc_id, _ in engine.with_snippets("storm striker")) == ["news/1.txt", "sport/4.txt"]
        assert engine.ids('"ferry service" zebra') == ["news/2.txt"]
    finally:
        engine.close()


def test_every_peer_counts_facets_as_a_brute_force_count(built: tuple[str, Path]):
    name, index = built
    engine = peers.open_engine(name, index)
    try:
        counted = engine.facets("rain")  # an undated article counts for its source only
    finally:
        engine.close()
    assert counted == {"source": {"news": 1, "sport": 2}, "year": {"2010": 1, "2011": 1},
                       "month": {"2010-01": 1, "2011-02": 1}}


def test_every_peer_follows_the_incremental_recipe_and_the_corpus_is_put_back(
        built: tuple[str, Path], corpus: Path, tmp_path: Path):
    name, index = built
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    module = peers.peer(name)
    assert module.update(corpus, copy) == {"updated": 0, "added": 0, "deleted": 0}
    path = corpus / "sport" / "3.txt"
    before, stamp = path.read_bytes(), path.stat().st_mtime_ns
    with changed_files(corpus, [path]):
        path.write_text("Cup final\n\nA zebra ran onto the pitch.\n", encoding="utf-8")
        os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
        assert module.update(corpus, copy) == {"updated": 1, "added": 0, "deleted": 0}
    assert (path.read_bytes(), path.stat().st_mtime_ns) == (before, stamp)
    engine = peers.open_engine(name, copy)
    try:
        assert engine.ids("zebra") == ["sport/3.txt"]
    finally:
        engine.close()


def test_newsearch_fits_the_engine_interface_with_the_same_answers(corpus: Path, tmp_path: Path):
    from newsearch import build_index

    build_index([corpus], tmp_path / "index")
    engine = peers.open_engine("newsearch", tmp_path / "index")
    try:
        assert sorted(engine.ids("storm striker zebra")) == ["news/1.txt", "sport/4.txt"]
        assert [doc_id for doc_id, passages in engine.with_snippets('"ferry service"') if passages] == ["news/2.txt"]
        assert engine.facets("rain") == {"source": {"news": 1, "sport": 2}, "year": {"2010": 1, "2011": 1},
                                         "month": {"2010-01": 1, "2011-02": 1}}
    finally:
        engine.close()
