"""Real processes: the writer lock (exit 75) and builds killed with SIGKILL at random moments."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time

import pytest

from newsearch.searcher import open_index
from newsearch.storage import writer_lock
from newsearch.errors import IndexLocked

from helpers import popen_cli, run_cli, synthetic_corpus


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    synthetic_corpus(folder, 400)
    return folder


def test_second_writer_exits_75_naming_the_holder(tmp_path, big_corpus):
    index_path = tmp_path / "ix"
    index_path.mkdir()
    with writer_lock(index_path):
        result = run_cli("index", str(big_corpus), "--index", str(index_path))
    assert result.returncode == 75
    assert f"is being written by process {os.getpid()}" in result.stderr
    assert "--wait" in result.stderr


def test_wait_lets_the_second_writer_run_after_the_first(tmp_path, big_corpus):
    index_path = tmp_path / "ix"
    index_path.mkdir()
    with writer_lock(index_path):
        waiting = popen_cli("index", str(big_corpus), "--index", str(index_path), "--wait", "60", "--quiet")
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


def test_two_concurrent_index_runs_one_writes_one_exits_75(tmp_path, big_corpus):
    index_path = tmp_path / "ix"
    runs = [popen_cli("index", str(big_corpus), "--index", str(index_path), "--quiet") for _ in range(2)]
    codes = sorted(run.wait(timeout=120) for run in runs)
    assert codes == [0, 75]
    with open_index(index_path) as index:
        assert index.search("marker7").total == 1


def _document_count(index_path) -> int:
    with open_index(index_path) as index:
        return index._fresh().searcher.doc_count()


@pytest.mark.parametrize("mode", ["build", "rebuild", "update"])
def test_sigkill_at_random_moments_leaves_old_or_new_state(tmp_path, big_corpus, mode):
    rng = random.Random(f"kill-{mode}")
    corpus = tmp_path / "corpus"
    shutil.copytree(big_corpus, corpus)
    index_path = tmp_path / "ix"
    args = ["index", str(corpus), "--index", str(index_path), "--quiet"] + (["--rebuild"] if mode == "rebuild" else [])
    if mode != "build":
        assert run_cli(*args).returncode == 0
    for trial in range(3):
        if mode == "build":
            shutil.rmtree(index_path, ignore_errors=True)
        if mode == "update":
            synthetic_corpus(corpus / f"new{trial}", 40, seed=trial)  # a real change for the killed run
        before = _document_count(index_path) if mode != "build" else None
        expected_after = len(list(corpus.rglob("*.txt")))
        process = popen_cli(*args)
        time.sleep(rng.uniform(0.2, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if (index_path / "current").exists():
            assert _document_count(index_path) in {before, expected_after}
            check = run_cli("check", "--index", str(index_path))
            assert check.returncode == 0, check.stderr
        else:
            assert mode == "build" and before is None  # killed before the first switch: nothing to keep
        finished = run_cli(*args)
        assert finished.returncode == 0, finished.stderr
        assert _document_count(index_path) == expected_after
        live = os.readlink(index_path / "current")
        abandoned = [p.name for p in index_path.iterdir()
                     if p.name.startswith("gen-") and p.name != live and not (p / ".retired").exists()]
        assert abandoned == []  # only the live generation and retired ones (kept for a grace period)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killed_parallel_build_leaves_no_workers_and_no_lock(tmp_path, big_corpus):
    index_path = tmp_path / "ix"
    process = popen_cli("index", str(big_corpus), "--index", str(index_path), "--jobs", "2", "--quiet")
    deadline = time.monotonic() + 30
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        workers = {child for child in _children(process.pid) if child != process.pid}
        workers = {w for w in workers if "spawn_main" in open(f"/proc/{w}/cmdline").read()}
        time.sleep(0.05)
    assert len(workers) == 2, "the parallel build did not start two workers"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "orphaned workers outlived their killed parent"
    finished = run_cli("index", str(big_corpus), "--index", str(index_path), "--quiet")
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
