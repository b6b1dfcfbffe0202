"""The deletion guard of a sharded index is decided once, for all its articles, before any shard job
runs: a run that one index would allow commits in every shard, one it would refuse changes none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_shards import assert_equivalent, generated_searches, write_corpus

from newsearch import build_index
from newsearch.errors import CorpusError
from newsearch.shards import MANIFEST, build_sharded, open_index, shard_of


@pytest.fixture
def indexed(tmp_path) -> tuple[Path, Path, Path]:
    corpus = write_corpus(tmp_path / "corpus")
    build_index([corpus], tmp_path / "one")
    build_sharded([corpus], tmp_path / "sharded", shards=3)
    return corpus, tmp_path / "one", tmp_path / "sharded"


def test_deletions_one_index_allows_are_made_in_every_shard(indexed):
    corpus, one, sharded = indexed
    # 14 of 176 articles (8 %, within the default 10 %), all of shard 0's files: a quarter of its articles
    doomed = [path for path in sorted(corpus.iterdir()) if shard_of(path.name, 3) == 0][:14]
    for path in doomed:
        path.unlink()
    assert build_index([corpus], one).deleted == 14
    report = build_sharded([corpus], sharded)
    assert report.deleted == 14 and report.documents == 162
    with open_index(sharded) as index:
        assert_equivalent(one, index, generated_searches(20, seed=4))


def test_deletions_one_index_refuses_change_no_shard(indexed):
    corpus, one, sharded = indexed
    before = json.loads((sharded / MANIFEST).read_text())
    # 30 of 176 articles (17 %), spread over the shards: each shard's share alone is refused too,
    # but one shard's file changed as well, and no shard may commit
    for path in sorted(corpus.iterdir())[:30]:
        path.unlink()
    edited = next(path for path in sorted(corpus.iterdir()) if shard_of(path.name, 3) == 2)
    edited.write_text(edited.read_text().replace("}", ', "author": "A. Editor"}', 1))
    with pytest.raises(CorpusError, match=r"refusing to update the index at .*sharded: a run may delete at most "
                                          r"10 % of its articles \(or 10\); it would delete 30 of its 176 articles"):
        build_sharded([corpus], sharded)
    assert json.loads((sharded / MANIFEST).read_text()) == before
    with open_index(sharded) as index:
        assert index.search("*").total == 176
