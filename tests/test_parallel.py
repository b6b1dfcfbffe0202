"""Parallel full builds: corpus partitions, one segment per job, the same index content as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from support.corpora import synthetic_corpus
from support.processes import alive
from whoosh import index as whoosh_index

from newsearch import open_index, parallel
from newsearch.errors import IndexLocked
from newsearch.indexer import PARALLEL_MIN_FILES, build_index
from newsearch.parallel import LocalExecutor, partition
from newsearch.storage import LOCK_FILE, writer_lock


@pytest.mark.parametrize("sizes, parts, expected", [
    ([5, 5, 5, 5], 2, [range(0, 2), range(2, 4)]),
    ([1, 1, 1, 1, 1, 1], 3, [range(0, 2), range(2, 4), range(4, 6)]),
    ([100, 1, 1, 1], 2, [range(0, 1), range(1, 4)]),
    ([1, 1, 1, 100], 2, [range(0, 3), range(3, 4)]),
    ([3], 2, [range(0, 1)]),
    ([], 2, []),
    ([0, 0, 0], 2, [range(0, 2), range(2, 3)]),
])
def test_partition_is_contiguous_and_balanced(sizes, parts, expected):
    assert partition(sizes, parts) == expected


def test_partition_covers_everything_once():
    sizes = [(number * 7919) % 1000 for number in range(997)]
    for parts in (1, 2, 3, 8):
        slices = partition(sizes, parts)
        assert len(slices) == parts
        assert [index for part in slices for index in part] == list(range(len(sizes)))
        assert all(len(part) for part in slices)
        assert max(sum(sizes[i] for i in part) for part in slices) < sum(sizes) / parts + 1000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    synthetic_corpus(folder, PARALLEL_MIN_FILES)
    return folder


def _segments(index_path) -> int:
    return len(whoosh_index.open_dir(str(index_path / "current"))._segments())


def _stored(index_path) -> dict[str, dict]:
    with whoosh_index.open_dir(str(index_path / "current")).searcher() as searcher:
        return {fields["id"]: fields for fields in searcher.all_stored_fields()}


def test_default_build_writes_one_segment(tmp_path, corpus):
    build_index([corpus], tmp_path / "ix")
    assert _segments(tmp_path / "ix") == 1


def test_two_jobs_write_two_segments_with_the_same_documents_and_scores(tmp_path, corpus):
    """Part of the contract of ``newsearch.whoosh_internals``: segments written by unlocked workers
    (``finish_segment``) and committed by the parent (``commit_segments``) make the index one process makes."""
    serial = build_index([corpus], tmp_path / "serial", jobs=1)
    parallel = build_index([corpus], tmp_path / "parallel", jobs=2)
    assert (_segments(tmp_path / "serial"), _segments(tmp_path / "parallel")) == (1, 2)
    assert (serial.added, serial.documents, serial.skipped) == (parallel.added, parallel.documents, parallel.skipped)
    assert _stored(tmp_path / "serial") == _stored(tmp_path / "parallel")
    with open_index(tmp_path / "serial") as one, open_index(tmp_path / "parallel") as two:
        for query in ("election economy", "marker17", '"story number 3"', "profit OR football"):
            first, second = one.search(query, limit=20), two.search(query, limit=20)
            assert [(hit.id, round(hit.score, 9)) for hit in first.hits] == \
                [(hit.id, round(hit.score, 9)) for hit in second.hits], query


def test_an_id_repeated_across_partitions_is_kept_once_as_in_one_process(tmp_path):
    """Part of the contract of ``newsearch.whoosh_internals``: deletions in an uncommitted segment survive
    ``commit_segments``."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(PARALLEL_MIN_FILES):
        doc_id = "shared-id" if number in (3, PARALLEL_MIN_FILES - 2) else f"story-{number}"
        (corpus / f"{number:04d}.json").write_text(json.dumps(
            {"id": doc_id, "title": f"Story {number}", "body": f"Report number {number} on the election."}))
    serial = build_index([corpus], tmp_path / "serial", jobs=1)
    parallel = build_index([corpus], tmp_path / "parallel", jobs=2)
    assert serial.added == parallel.added == serial.documents == parallel.documents == PARALLEL_MIN_FILES - 1
    assert [(item.path, item.reason) for item in parallel.skipped] == \
        [(item.path, item.reason) for item in serial.skipped] == \
        [(f"{PARALLEL_MIN_FILES - 2:04d}.json", "duplicate id: 'shared-id' is already used by 0003.json")]
    assert _stored(tmp_path / "serial") == _stored(tmp_path / "parallel")
    with open_index(tmp_path / "parallel") as index:
        assert index.search('"report number 398"').relaxed_phrases == ("report number 398",)  # in no article
        assert [hit.title for hit in index.search('"report number 3"').hits] == ["Story 3"]


def open_files(_job: object) -> list[str]:
    """What a worker process has open (a job function: module-level, so a worker can run it)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; forks only on Linux")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_do_not_hold_the_writer_lock(tmp_path, monkeypatch, method):
    # A forked worker inherits its parent's descriptors: had it kept the lock's, a killed
    # build's orphaned worker would lock the index until it noticed and exited.
    monkeypatch.setattr(parallel, "start_method", lambda: method)
    with writer_lock(tmp_path, 0.0):
        with LocalExecutor(2) as executor:
            seen = executor.map(open_files, [None, None])
        assert not any(name.endswith(LOCK_FILE) for names in seen for name in names), seen
        assert any(name.endswith(LOCK_FILE) for name in open_files(None))  # the parent still holds it
        with pytest.raises(IndexLocked):
            with writer_lock(tmp_path, 0.0):
                pass


def test_workers_are_forked_only_while_the_process_has_one_thread():
    # Threads an earlier test left running (a Dask client's, in a run of chosen files) count too.
    alone = threading.active_count() == 1
    expected = "fork" if sys.platform.startswith("linux") and alone else "spawn"
    assert parallel.start_method() == expected
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert parallel.start_method() == "spawn"  # a lock held by the other thread would stay locked
    finally:
        release.set()
        other.join()


IDLE_EXECUTOR = """
import sys, time
from newsearch import parallel
parallel.start_method = lambda: sys.argv[1]
executor = parallel.LocalExecutor(2)
print(" ".join(str(process.pid) for process in executor.processes), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; forks only on Linux")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_idle_workers_exit_when_their_parent_is_killed(method):
    # An idle worker waits for its next job on its pipe: the parent's death must end that wait.
    parent = subprocess.Popen([sys.executable, "-c", IDLE_EXECUTOR, method], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(alive(pid) for pid in workers)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers), "a worker outlived its killed parent"


def test_no_more_workers_than_cores(tmp_path, corpus, monkeypatch):
    # Each worker writes a segment that every later search visits: --jobs 64 on 2 cores used to
    # leave 64 segments (a prefix search then took six times as long).
    monkeypatch.setattr("newsearch.indexer.usable_cores", lambda: 2)
    build_index([corpus], tmp_path / "ix", jobs=64)
    assert _segments(tmp_path / "ix") == 2
