"""Real processes: the writer lock (exit 75) and parallel builds killed with SIGKILL
(random-moment kills: test_reliability_crash.py). The commands run in processes forked from the
``cli_server`` (conftest.py)."""

from __future__ import annotations

import os
import time

import pytest
from support.processes import alive, worker_processes

from newsearch import open_index
from newsearch.errors import IndexLocked
from newsearch.storage import writer_lock


@pytest.fixture(scope="module")
def big_corpus(synthetic_400):
    return synthetic_400  # 400 synthetic articles, shared and read-only (conftest.py)


def test_second_writer_exits_75_naming_the_holder(tmp_path, big_corpus, cli_server):
    index_path = tmp_path / "ix"
    index_path.mkdir()
    with writer_lock(index_path):
        result = cli_server.run_cli("index", str(big_corpus), "--index", str(index_path))
    assert result.returncode == 75
    assert f"is being written by process {os.getpid()}" in result.stderr
    assert "--wait" in result.stderr


def test_wait_lets_the_second_writer_run_after_the_first(tmp_path, big_corpus, cli_server):
    index_path = tmp_path / "ix"
    index_path.mkdir()
    with writer_lock(index_path):
        waiting = cli_server.popen_cli("index", str(big_corpus), "--index", str(index_path), "--wait", "60", "--quiet")
        time.sleep(1.0)
        assert waiting.poll() is None  # still waiting for the lock
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "400 added" in out


def test_lock_in_library_raises_index_locked(tmp_path):
    with writer_lock(tmp_path):
        with pytest.raises(IndexLocked, match=str(os.getpid())):
            with writer_lock(tmp_path, wait_s=0.2):
                pass


def test_two_concurrent_index_runs_one_writes_one_exits_75(tmp_path, big_corpus, cli_server):
    index_path = tmp_path / "ix"
    runs = [cli_server.popen_cli("index", str(big_corpus), "--index", str(index_path), "--quiet") for _ in range(2)]
    codes = sorted(run.wait(timeout=120) for run in runs)
    assert codes == [0, 75]
    with open_index(index_path) as index:
        assert index.search("marker7").total == 1


def _document_count(index_path) -> int:
    with open_index(index_path) as index:
        return index._fresh().searcher.doc_count()


def test_killed_parallel_build_leaves_no_workers_and_no_lock(tmp_path, big_corpus, cli_server):
    index_path = tmp_path / "ix"
    process = cli_server.popen_cli("index", str(big_corpus), "--index", str(index_path), "--jobs", "2", "--quiet")
    deadline = time.monotonic() + 30
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        workers = worker_processes(process.pid)
        time.sleep(0.05)
    assert len(workers) == 2, "the parallel build did not start two workers"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(alive(w) for w in workers), "orphaned workers outlived their killed parent"
    finished = cli_server.run_cli("index", str(big_corpus), "--index", str(index_path), "--quiet")
    assert finished.returncode == 0, finished.stderr  # no lock left behind
    assert _document_count(index_path) == 400


def test_parallel_and_serial_builds_hold_the_same_documents(tmp_path, big_corpus):
    from newsearch.indexer import build_index

    serial = build_index([big_corpus], tmp_path / "serial", jobs=1)
    parallel = build_index([big_corpus], tmp_path / "parallel", jobs=2)
    assert serial.added == parallel.added == 400
    with open_index(tmp_path / "serial") as one, open_index(tmp_path / "parallel") as two:
        for query in ("marker17", "election economy", '"story number 3"', "elec*", "electon"):
            first, second = one.search(query, limit=50), two.search(query, limit=50)
            assert first.total == second.total, query
            assert {hit.id for hit in first.hits} == {hit.id for hit in second.hits}, query
            assert first.expansions == second.expansions, query
    assert (tmp_path / "parallel" / "current" / "vocabulary.tsv").read_text() == \
        (tmp_path / "serial" / "current" / "vocabulary.tsv").read_text()
