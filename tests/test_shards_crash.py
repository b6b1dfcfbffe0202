"""A killed sharded build leaves every shard searchable at its previous state or its new one, and
the next run completes: the kill tests of one index (``test_reliability_crash``), repeated for
shards. The client ``newsearch index`` is killed while its shard jobs read the corpus (a full
rebuild and an update, paused at a known file: ``support/paused_cli.py``) and after its shard jobs
finished, before the pairs across shards and the manifest are written.
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from support.corpora import synthetic_corpus
from support.processes import alive, popen_paused, run_cli, worker_processes
from support.readers import stored_documents
from test_reliability_crash import _expected, _leftovers, _mutate

from newsearch import shards
from newsearch.shards import MANIFEST, build_sharded, check_index, open_index, shard_of

SHARDS = 2


def shard_states(index: Path) -> list[frozenset[tuple[str, str]] | None]:
    """What each shard's live generation holds: (id, title) of every document."""
    names = json.loads((index / MANIFEST).read_text())["shards"]
    return [stored_documents(index / name) for name in names]


def expected_shards(corpus: Path) -> list[frozenset[tuple[str, str]]]:
    """Each shard's share of a complete index of ``corpus`` (ids are relative paths, as routed)."""
    everything = _expected(corpus)
    return [frozenset(item for item in everything if shard_of(item[0], SHARDS) == shard) for shard in range(SHARDS)]


def assert_searchable(index: Path, states: list[frozenset[tuple[str, str]] | None]) -> None:
    """The sharded index opens and searches every shard's documents, and `newsearch check` passes."""
    ids = {doc_id for state in states for doc_id, _title in state or ()}
    with open_index(index) as opened:
        found = opened.search("story", limit=1000, passages=0, collapse=False)
    assert {hit.id for hit in found.hits} == ids and found.total == len(ids)
    assert check_index(index).documents == len(ids)


def assert_recovers(corpus: Path, index: Path) -> None:
    """The next run completes with no manual step, holds exactly the corpus, and leaves nothing behind."""
    finished = run_cli("index", str(corpus), "--index", str(index), "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert shard_states(index) == expected_shards(corpus)
    assert_searchable(index, expected_shards(corpus))
    names = json.loads((index / MANIFEST).read_text())["shards"]
    for name in names:
        assert _leftovers(index / name) == [], name
    assert sorted(entry.name for entry in index.iterdir()) == sorted([".lock", MANIFEST, "duplicates.tsv", *names])


@pytest.fixture
def sharded(tmp_path) -> tuple[Path, Path]:
    """(corpus, a sharded index of it) of 120 short articles."""
    corpus, index = tmp_path / "corpus", tmp_path / "sharded"
    synthetic_corpus(corpus, 120)
    build_sharded([corpus], index, shards=SHARDS)
    return corpus, index


@pytest.mark.parametrize("args, pause_after", [(["--rebuild"], 20), ([], 2)], ids=["rebuild", "update"])
def test_a_killed_client_leaves_each_shard_old_or_new_and_the_next_run_completes(sharded, tmp_path, args,
                                                                                 pause_after):
    corpus, index = sharded
    before = shard_states(index)
    _mutate(corpus, random.Random(pause_after), 0)  # files added, deleted and retitled, in both shards
    after = expected_shards(corpus)
    assert all(old != new for old, new in zip(before, after))
    marker = tmp_path / "paused"
    process = popen_paused(marker, pause_after, "index", str(corpus), "--index", str(index), "--quiet", *args)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    workers = worker_processes(process.pid)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    deadline = time.monotonic() + 10  # a shard job whose client died stops within a file
    while time.monotonic() < deadline and any(alive(worker) for worker in workers):
        time.sleep(0.05)
    assert not any(alive(worker) for worker in workers), "shard jobs outlived their client"
    states = shard_states(index)
    for old, new, state in zip(before, after, states):
        assert state in (old, new), "a shard holds a mixed state"
    assert states != after, "the kill came after the build"
    assert_searchable(index, states)
    assert_recovers(corpus, index)


def test_a_build_killed_after_its_shards_before_its_manifest(sharded, monkeypatch):
    """Every shard is new but the pairs across them and the manifest are old: searching brings the
    pairs up to date in memory, and the next run writes them."""
    corpus, index = sharded
    _mutate(corpus, random.Random(5), 0)

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # what SIGINT does as the shard jobs end; SIGKILL leaves the same files

    monkeypatch.setattr(shards, "_shard_states", killed)
    with pytest.raises(KeyboardInterrupt):
        build_sharded([corpus], index)
    monkeypatch.undo()
    assert shard_states(index) == expected_shards(corpus)
    assert_searchable(index, expected_shards(corpus))
    assert_recovers(corpus, index)
