"""The executor seam: the Executor protocol, its two implementations, and build_index(executor=...)."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

import newsearch
from newsearch import build_jobs, duplicate_store, indexer, open_index
from newsearch.errors import IndexWriteError, NewsearchError
from newsearch.indexer import build_index
from newsearch.parallel import Executor, FuturesExecutor, LocalExecutor, WorkerFailed, report_progress
from newsearch.storage import CURRENT, generations
from newsearch.vocabulary import Vocabulary

# --- job functions: module-level, so that process workers can run them -------------------------


def square(number: int) -> int:
    return number * number


def square_reporting(number: int) -> int:
    report_progress(1)
    return number * number


def fail_on_three(number: int) -> int:
    if number == 3:
        raise ValueError("three is not allowed")
    return number


def disk_full(_number: int) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


def refuse(_number: int) -> int:
    raise NewsearchError("refused")


def die(_number: int) -> int:
    os._exit(3)


# --- the protocol ------------------------------------------------------------------------------


@pytest.mark.slow  # a whole mypy run of newsearch (CI also type-checks the package itself)
def test_both_executors_type_check_as_the_protocol_and_a_bare_pool_does_not(tmp_path, monkeypatch):
    mypy = pytest.importorskip("mypy.api")
    monkeypatch.setenv("MYPYPATH", str(Path(newsearch.__file__).parents[1]))  # an editable install hides it
    program = tmp_path / "uses_executors.py"
    program.write_text(textwrap.dedent("""
        from concurrent.futures import ThreadPoolExecutor
        from newsearch.parallel import Executor, FuturesExecutor, LocalExecutor

        def local() -> Executor:
            return LocalExecutor(2)

        def adapted() -> Executor:
            return FuturesExecutor(ThreadPoolExecutor(2), units=len)

        def bare() -> Executor:
            return ThreadPoolExecutor(2)  # map returns an iterator, takes no progress: not one
    """))
    stdout, _, status = mypy.run([str(program), "--follow-imports=silent", "--no-incremental",
                                  "--cache-dir", os.devnull, "--ignore-missing-imports"])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 1 and len(errors) == 1 and "uses_executors.py:12:" in errors[0], stdout


def make_executor(kind: str) -> Executor:
    if kind == "local":
        return LocalExecutor(2)
    return FuturesExecutor(ThreadPoolExecutor(2) if kind == "threads" else ProcessPoolExecutor(2))


@pytest.fixture(params=["local", "threads", "processes"])
def executor(request) -> Executor:
    made = make_executor(request.param)
    yield made
    made.shutdown(cancel_futures=True)


def test_map_keeps_job_order_and_reports_progress(executor):
    reported: list[int] = []
    assert executor.map(square_reporting, list(range(9)), reported.append) == [n * n for n in range(9)]
    assert sum(reported) == 9  # reported by each job in a LocalExecutor, counted as each finishes in a pool
    assert executor.map(square, []) == []


def test_a_futures_executor_counts_each_finished_job_in_its_units():
    with ThreadPoolExecutor(2) as pool:
        reported: list[int] = []
        FuturesExecutor(pool, units=lambda job: len(job)).map(len, ["ab", "cde", ""], reported.append)
        assert sorted(reported) == [0, 2, 3]


@pytest.mark.parametrize("function, error, message", [
    (fail_on_three, WorkerFailed, "an indexing worker failed: ValueError: three is not allowed"),
    (disk_full, OSError, "No space left on device"),
    (refuse, NewsearchError, "refused"),
])
def test_a_failed_job_fails_the_map_with_a_portable_error(executor, function, error, message):
    with pytest.raises(error, match=message) as raised:
        executor.map(function, [1, 2, 3, 4])
    if error is OSError:
        assert raised.value.errno == errno.ENOSPC


@pytest.mark.parametrize("kind", ["local", "processes"])  # a thread cannot die alone
def test_a_dead_worker_is_reported_as_worker_failed(kind):
    executor = make_executor(kind)
    try:
        with pytest.raises(WorkerFailed, match="an indexing worker died"):
            executor.map(die, [1, 2])
    finally:
        executor.shutdown(cancel_futures=True)


def test_a_failed_map_cancels_the_jobs_not_yet_started():
    started: list[int] = []

    def job(number: int) -> int:
        started.append(number)
        if number == 0:
            raise ValueError("first job fails")
        time.sleep(0.2)
        return number

    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(WorkerFailed, match="first job fails"):
            FuturesExecutor(pool).map(job, list(range(20)))
    assert started in ([0], [0, 1])  # the one thread may have taken the next job before the map cancelled it


def test_a_local_executor_stops_its_workers_when_a_map_fails_or_it_is_cancelled():
    executor = LocalExecutor(2)
    with pytest.raises(WorkerFailed):
        executor.map(fail_on_three, [3, 1])
    assert not any(process.is_alive() for process in executor.processes)
    executor = LocalExecutor(2)
    executor.shutdown(wait=False, cancel_futures=True)
    assert not any(process.is_alive() for process in executor.processes)


def test_a_local_executor_shut_down_without_waiting_lets_its_workers_exit():
    executor = LocalExecutor(2)
    assert executor.map(square, [2, 3]) == [4, 9]
    executor.shutdown(wait=False)
    for process in executor.processes:
        process.join(10)
        assert process.exitcode == 0


# --- build_index(executor=...) -----------------------------------------------------------------

WORDS = ("minister election economy market shares profit bank growth inflation football match goal season "
         "club player coach film music award festival court police report storm flood").split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """60 articles in two folders, with some near-duplicates and one explicit id repeated across files."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = random.Random(11)
    bodies = []
    for number in range(60):
        if number % 10 == 9:  # a near-duplicate of an earlier story: a new last sentence
            body = bodies[number - 5].rsplit(".", 2)[0] + ". A late update."
        else:
            body = " ".join(" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(15))
        bodies.append(body)
        path = folder / ("sport" if number % 2 else "news") / f"{number:03d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"Story number {number}\n\n{body} Marker{number}.\n", encoding="utf-8")
    for name in ("a.json", "b.json"):  # the same id in two files: the first in corpus order keeps it
        (folder / "wire" / name).parent.mkdir(exist_ok=True)
        (folder / "wire" / name).write_text(f'{{"id": "wire-1", "title": "Wire {name}", "body": "Storm report."}}')
    return folder


def contents(index_path: Path) -> dict[str, object]:
    """What an index holds, independent of how it was cut into segments."""
    generation = index_path / CURRENT
    with whoosh_index.open_dir(str(generation)).searcher() as searcher:
        stored = sorted((fields["id"], sorted(fields.items())) for fields in searcher.all_stored_fields())
    with open_index(index_path) as index:
        searches = {query: [(hit.id, round(hit.score, 9)) for hit in index.search(query, limit=20).hits]
                    for query in ("election economy", "marker17", '"story number 3"', "storm OR flood",
                                  "late update")}
    vocabulary = Vocabulary.load(generation)
    return {"stored": stored, "searches": searches, "duplicates": duplicate_store.load(generation).pairs,
            "vocabulary": (vocabulary.words, vocabulary.counts, vocabulary.stems)}


def report_of(report) -> tuple:
    return report.added, report.documents, [(item.path, item.reason) for item in report.skipped]


@pytest.fixture(scope="module")
def default_builds(corpus, tmp_path_factory):
    """The default one-process build, and the default parallel build (two local worker processes)."""
    folder = tmp_path_factory.mktemp("default")
    serial = build_index([corpus], folder / "serial")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(indexer, "PARALLEL_MIN_FILES", 1)
        patch.setattr(indexer, "usable_cores", lambda: 2)
        parallel = build_index([corpus], folder / "parallel", jobs=2)
    assert report_of(serial) == report_of(parallel)
    assert serial.documents == 61 and report_of(serial)[2] == [
        ("wire/b.json", "duplicate id: 'wire-1' is already used by wire/a.json")]
    return {"serial": (serial, contents(folder / "serial")), "parallel": (parallel, contents(folder / "parallel"))}


def _segments(index_path: Path) -> int:
    return len(whoosh_index.open_dir(str(index_path / CURRENT))._segments())


@pytest.mark.parametrize("pool_class", [ThreadPoolExecutor, ProcessPoolExecutor])
def test_a_standard_pool_builds_exactly_the_default_index(corpus, default_builds, tmp_path, pool_class):
    progress: list[tuple[int, int]] = []
    with pool_class(2) as pool:
        report = build_index([corpus], tmp_path / "ix", jobs=2, executor=pool,
                             progress=lambda done, total: progress.append((done, total)))
        assert pool.submit(square, 4).result() == 16  # the caller's pool: still open
    assert _segments(tmp_path / "ix") == 2
    serial_report, serial = default_builds["serial"]
    parallel_report, parallel = default_builds["parallel"]
    assert report_of(report) == report_of(serial_report) == report_of(parallel_report)
    assert contents(tmp_path / "ix") == parallel == serial
    assert progress[-1] == (62, 62) and [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_one_job_on_a_pool_and_more_jobs_than_cores(corpus, default_builds, tmp_path):
    with ThreadPoolExecutor(3) as pool:
        one = build_index([corpus], tmp_path / "one", executor=pool)
        many = build_index([corpus], tmp_path / "many", jobs=5, executor=pool)
    assert (_segments(tmp_path / "one"), _segments(tmp_path / "many")) == (1, 5)
    serial_report, serial = default_builds["serial"]
    for name, report in (("one", one), ("many", many)):
        assert report_of(report) == report_of(serial_report)
        assert contents(tmp_path / name) == serial


def test_a_given_executor_is_used_for_full_builds_only(corpus, tmp_path):
    with ThreadPoolExecutor(2) as pool:
        build_index([corpus], tmp_path / "ix", jobs=2, executor=pool)
        (corpus / "news" / "000.txt").touch()
        update = build_index([corpus], tmp_path / "ix", jobs=2, executor=pool)
        empty = tmp_path / "empty"
        empty.mkdir()
        nothing = build_index([empty], tmp_path / "empty-ix", jobs=2, executor=pool)
    assert (update.rebuilt, update.unchanged, update.documents) == (False, 61, 61)
    assert (nothing.rebuilt, nothing.documents) == (True, 0)


def broken_partition(job):
    raise RuntimeError("worker out of its mind")


def test_a_failed_job_on_a_given_pool_leaves_the_previous_index(corpus, tmp_path, monkeypatch):
    build_index([corpus], tmp_path / "ix")
    before = generations(tmp_path / "ix")
    monkeypatch.setattr(build_jobs, "_index_partition", broken_partition)  # threads share the module
    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(IndexWriteError, match=r"building the index in .* failed: an indexing worker failed: "
                                                  r"RuntimeError: worker out of its mind"):
            build_index([corpus], tmp_path / "ix", rebuild=True, jobs=2, executor=pool)
    assert generations(tmp_path / "ix") == before and len(before) == 1
    with open_index(tmp_path / "ix") as index:
        assert index.search("marker17").total == 1


SCRIPT = """
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from newsearch import build_index

if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        report = build_index([sys.argv[1]], sys.argv[2], jobs=2, executor=pool)
    print(report.added, report.documents)
"""


def test_a_spawned_process_pool_builds_the_index(corpus, tmp_path):
    # Spawned workers unpickle the jobs in a fresh interpreter: nothing may rely on the parent's memory.
    script = tmp_path / "build.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script), str(corpus), str(tmp_path / "ix")],
                            capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stdout) == (0, "61 61\n"), result.stderr
