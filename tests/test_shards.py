"""Sharded indexes give exactly the results of one index over the same articles.

A dated, multi-source corpus with near-duplicate copies is indexed once as one index and once as
three shards; generated queries (words, phrases, typos, exclusions, prefixes, filters, facets,
dates, recency) must then give the same ids, order, scores, totals, stories, facets, passages
and folded copies, searched in this process, through local worker processes, and (``test_dask``
below) on a Dask cluster.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsearch import build_index
from newsearch.errors import CorpusError, IndexWriteError, NewsearchError
from newsearch.models import Results
from newsearch.parallel import LocalExecutor, executor_for
from newsearch.shards import MANIFEST, ShardedIndex, build_sharded, check_index, index_stats, open_index, shard_of

WORDS = ("harbour ferry storm council budget market energy price river bridge school teacher strike rail "
         "station minister election vote hospital doctor nurse farmer harvest drought flood police court "
         "judge trial bank profit loss shares airline pilot airport museum painting festival music band "
         "football derby league coach injury weather snow summer winter tourist hotel beach coast").split()
SOURCES = ("Harbour Times", "Wire", "Sport Daily", "Evening Post")


def write_corpus(folder: Path, count: int = 160, seed: int = 15) -> Path:
    """``count`` JSON articles (Zipf-like words, four sources, two years of dates, a few undated),
    every tenth one followed by a near-duplicate copy under another id."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    for number in range(count):
        body = " ".join(" ".join(rng.choices(WORDS, weights, k=12)).capitalize() + "." for _ in range(6))
        article = {"id": f"story-{number:03d}", "title": " ".join(rng.choices(WORDS, weights, k=4)).title(),
                   "body": body, "source": SOURCES[number % len(SOURCES)]}
        if number % 17:
            article["date"] = (start + timedelta(hours=rng.randrange(2 * 365 * 24))).isoformat()
        (folder / f"{article['id']}.json").write_text(json.dumps(article), encoding="utf-8")
        if number % 10 == 0:
            copy = {**article, "id": f"copy-{number:03d}", "source": "Wire", "body": body + " A spokesman declined."}
            (folder / f"{copy['id']}.json").write_text(json.dumps(copy), encoding="utf-8")
    return folder


def generated_searches(count: int, seed: int = 3) -> list[tuple[str, dict]]:
    """``count`` (query, options) pairs of every kind the engine treats differently."""
    rng = random.Random(seed)
    searches = []
    for number in range(count):
        one, two, three = rng.sample(WORDS, 3)
        kind = number % 8
        query = [one, f"{one} {two}", f"{one} {two} {three}", f'"{one} {two}"', one[:-1] + one[-1] * 2,
                 f"{one} OR {two}", f"{one} -{two}", f"{one[:3]}*"][kind]
        options: dict = {"limit": rng.choice((5, 10, 20)), "passages": rng.choice((0, 1, 2))}
        if rng.random() < 0.4:
            options["facets"] = rng.sample(("source", "year", "month"), rng.randint(1, 3))
        if rng.random() < 0.25:
            options["since"] = f"2023-{rng.randint(3, 12):02d}"
        if rng.random() < 0.2:
            options["sources"] = rng.sample(SOURCES, 2)
        if rng.random() < 0.15:
            options["sort"] = rng.choice(("newest", "oldest"))
        elif rng.random() < 0.15:
            options["recency"] = "120d"
        if rng.random() < 0.1:
            options["collapse"] = False
        if rng.random() < 0.1:
            options["offset"] = 5
        searches.append((query, options))
    return searches


def same(results: Results) -> Results:
    """The results without the time they took (the one field that differs between two runs)."""
    return replace(results, elapsed_ms=0.0)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(corpus, one index, three shards) of the same articles."""
    base = tmp_path_factory.mktemp("shards")
    corpus = write_corpus(base / "corpus")
    build_index([corpus], base / "one")
    report = build_sharded([corpus], base / "sharded", shards=3)
    assert report.documents == 176 and report.added == 176 and not report.skipped
    return corpus, base / "one", base / "sharded"


def assert_equivalent(one_path: Path, sharded: ShardedIndex, searches: list[tuple[str, dict]]) -> None:
    with open_index(one_path) as one:
        for query, options in searches:
            expected, got = one.search(query, **options), sharded.search(query, **options)
            assert same(got) == same(expected), (query, options)
        for query in ("ferry storm", "bank", "budget council"):
            assert sharded.timeline(query, by="month") == one.timeline(query, by="month")
            assert list(sharded.matching(query, collapse=True)) == list(one.matching(query, collapse=True))
        for id in ("story-000", "story-033", "copy-040"):
            assert same(sharded.related(id, limit=8)) == same(one.related(id, limit=8))
            assert sharded.document(id) == one.document(id)


def test_a_sharded_index_searches_exactly_as_one_index(built):
    corpus, one, sharded = built
    assert json.loads((sharded / MANIFEST).read_text())["routing"] == "path-hash"
    counts = [open_index(sharded / name).search("*").total for name in json.loads((sharded / MANIFEST).read_text())
              ["shards"]]
    assert len(counts) == 3 and min(counts) > 30 and sum(counts) == 176  # every shard holds a share
    with open_index(sharded) as index:
        assert isinstance(index, ShardedIndex)
        assert_equivalent(one, index, generated_searches(200))


def test_copies_in_different_shards_are_folded(built):
    _, one, sharded = built
    names = json.loads((sharded / MANIFEST).read_text())["shards"]
    split = [number for number in range(0, 160, 10)
             if shard_of(f"story-{number:03d}.json", 3) != shard_of(f"copy-{number:03d}.json", 3)]
    assert split  # the test needs a story whose copy went to another shard
    with open_index(sharded) as index, open_index(one) as single:
        story = index.document(f"story-{split[0]:03d}")
        results = index.search(story.title, limit=20)
        assert results.stories < results.total
        assert results == replace(single.search(story.title, limit=20), elapsed_ms=results.elapsed_ms)
    assert len(names) == 3
    stats = index_stats(sharded)
    assert stats.documents == 176 and stats.duplicate_clusters == index_stats(one).duplicate_clusters >= 16
    assert check_index(sharded).documents == 176


def test_local_worker_processes_score_the_shards(built):
    _, one, sharded = built
    with LocalExecutor(2) as executor, ShardedIndex(sharded, executor=executor) as index:
        assert_equivalent(one, index, generated_searches(40, seed=5))


def test_a_killed_search_worker_is_a_clear_error_never_a_wrong_answer(built):
    _, one, sharded = built
    executor = LocalExecutor(2)
    with ShardedIndex(sharded, executor=executor) as index:
        index.search("ferry")
        os.kill(executor.processes[0].pid, signal.SIGKILL)
        with pytest.raises(NewsearchError, match=r"searching the shards of .* failed: an indexing worker died; search"):
            index.search("storm")


def test_an_update_rewrites_only_the_changed_shards(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    index = tmp_path / "sharded"
    build_sharded([corpus], index, shards=3)
    single = tmp_path / "one"
    build_index([corpus], single)  # updated alike: a replaced article stays counted (deleted) in both
    before = json.loads((index / MANIFEST).read_text())
    again = build_sharded([corpus], index)
    assert not again.changed and json.loads((index / MANIFEST).read_text()) == before
    article = json.loads((corpus / "story-007.json").read_text())
    (corpus / "story-007.json").write_text(json.dumps({**article, "body": "A kraken surfaced in the harbour."}))
    report = build_sharded([corpus], index)
    assert (report.updated, report.added, report.deleted) == (1, 0, 0)
    after = json.loads((index / MANIFEST).read_text())
    changed = {name for name in after["states"] if after["states"][name] != before["states"][name]}
    assert changed == {f"shard-{shard_of('story-007.json', 3):03d}"} and after["version"] == before["version"] + 1
    build_index([corpus], single)
    with open_index(index) as sharded_index:
        assert_equivalent(single, sharded_index, generated_searches(20, seed=11) + [("kraken", {})])
    with pytest.raises(IndexWriteError, match="has 3 shards, not 4"):
        build_sharded([corpus], index, shards=4)


def test_a_run_from_other_paths_than_the_remembered_ones_is_refused(tmp_path, monkeypatch):
    """A stray $NEWSEARCH_CORPUS (or a mistyped path) must not empty the shards, even with --rebuild."""
    corpus = write_corpus(tmp_path / "corpus")
    index = tmp_path / "sharded"
    build_sharded([corpus], index, shards=3)
    before = json.loads((index / MANIFEST).read_text())
    stray = tmp_path / "stray"
    stray.mkdir()
    monkeypatch.setenv("NEWSEARCH_CORPUS", str(stray))
    for rebuild in (False, True):
        with pytest.raises(CorpusError, match=rf"built from {re.escape(str(corpus))}, and this run's paths "
                                              rf"\(from \$NEWSEARCH_CORPUS\) are {re.escape(str(stray))}"):
            build_sharded(None, index, rebuild=rebuild)
    assert json.loads((index / MANIFEST).read_text()) == before
    with open_index(index) as sharded_index:
        assert sharded_index.search("harbour").total > 0
    assert build_sharded(None, index, prune=True).documents == 0  # said so: the run may delete


def test_the_executor_option():
    assert executor_for("local") is None and executor_for(None) is None
    with pytest.raises(NewsearchError, match=r"unknown executor 'ray://x': give `local` or `dask://HOST:PORT`"):
        executor_for("ray://x")


def _timeless(output: str) -> str:
    """Command output without the time a search took (text: "…, 57 ms)"; JSON: "elapsed_ms")."""
    return re.sub(r"\d+ ms\)|\"elapsed_ms\": [\d.]+", "", output)


def test_the_command_line_builds_and_searches_shards_like_one_index(built, tmp_path):
    from click.testing import CliRunner

    from newsearch.cli import cli

    corpus, one, _ = built
    runner = CliRunner()
    made = runner.invoke(cli, ["index", "--shards", "2", "--index", str(tmp_path / "sharded"), "-q", str(corpus)])
    assert made.exit_code == 0, made.output
    assert "176" in made.output
    for command in (["search", "ferry storm", "--format", "json"], ["timeline", "bank"], ["show", "story-010"],
                    ["related", "story-010"]):
        sharded = runner.invoke(cli, [*command, "--index", str(tmp_path / "sharded")])
        single = runner.invoke(cli, [*command, "--index", str(one)])
        assert sharded.exit_code == single.exit_code == 0, sharded.output
        assert _timeless(sharded.output) == _timeless(single.output)
    stats = runner.invoke(cli, ["stats", "--index", str(tmp_path / "sharded")])
    assert stats.exit_code == 0 and "2 shards, version 1" in stats.output
    assert runner.invoke(cli, ["check", "--index", str(tmp_path / "sharded")]).exit_code == 0
    refused = runner.invoke(cli, ["index", "--executor", "ray://x", "--index", str(tmp_path / "x"), str(corpus)])
    assert refused.exit_code == 1 and "unknown executor 'ray://x'" in refused.output


def test_an_id_in_two_files_of_different_shards_is_indexed_once(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = [f"{number:02d}.json" for number in range(40)]
    first = names[0]
    second = next(name for name in names[1:] if shard_of(name, 2) != shard_of(first, 2))
    for name in (first, second):
        (corpus / name).write_text(json.dumps({"id": "same", "title": f"Ferry {name}", "body": "A ferry story."}))
    build_index([corpus], tmp_path / "one")
    report = build_sharded([corpus], tmp_path / "sharded", shards=2)
    with open_index(tmp_path / "one") as one, open_index(tmp_path / "sharded") as sharded:
        assert same(sharded.search("ferry")) == same(one.search("ferry"))
    assert [item.path for item in report.skipped] == [second]
