"""Reliability: overlapping `newsearch index` runs, and readers searching while the index changes.

* Two and five indexers started together, on a fresh and on an existing index: exactly one writes,
  the others exit 75 naming the holder's pid; with ``--wait`` they run one after another and
  nothing is lost. The default run starts five on a fresh index and two on an existing one;
  ``pytest -m slow`` runs the other two combinations.
* Reader processes, and threads sharing one ``Index``, search in a loop while a writer process
  commits 20+ times and rebuilds twice: no errors, every total seen is a committed one (and never
  goes back), and every new marker word becomes visible.

The indexers are processes forked from the ``cli_server`` (conftest.py): real processes that
meet at the lock, without an interpreter start each.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from support.cli_forkserver import ForkedCli, ForkServer
from support.corpora import synthetic_corpus, write_article
from support.readers import stored_documents

from newsearch import build_index, open_index
from newsearch.status import check_index
from newsearch.storage import writer_lock

COMMON = "zephyr"  # in every document a commit adds
COMMITS = 22
REBUILDS_AT = (7, 15)  # these commits are full rebuilds (`--rebuild`)
PER_COMMIT = 3
BASE_WITH_COMMON = 10


def _expected(corpus: Path) -> frozenset[tuple[str, str]]:
    return frozenset((path.relative_to(corpus).as_posix(), path.read_text("utf-8").split("\n", 1)[0])
                     for path in corpus.rglob("*.txt"))


# -- overlapping writers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def writers_corpus(synthetic_index) -> tuple[Path, Path]:
    """A corpus of 120 articles and its complete index, for copying (shared and read-only: conftest.py)."""
    return synthetic_index.corpus, synthetic_index.path


NEW_FILES = 300  # work for the next writer, so it holds the lock while the others start (a few tenths of a second)

# (count, existing): how many writers start together, on a fresh or an existing index. Two on a fresh
# index also run by default in test_crash_and_lock.py (test_two_concurrent_index_runs_one_writes_one_exits_75).
OVERLAPS = [
    pytest.param(2, False, id="fresh-2", marks=pytest.mark.slow),
    pytest.param(5, False, id="fresh-5"),
    pytest.param(2, True, id="existing-2"),
    pytest.param(5, True, id="existing-5", marks=pytest.mark.slow),
]


def _copy(writers_corpus: tuple[Path, Path], tmp_path: Path, existing: bool) -> tuple[Path, Path]:
    """A copy of the corpus and, if ``existing``, of its index, with NEW_FILES new files for the next writer."""
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    shutil.copytree(writers_corpus[0], corpus)  # keeps mtimes, so the copied index is up to date with it
    if existing:
        shutil.copytree(writers_corpus[1], index_path, symlinks=True)
    synthetic_corpus(corpus / "new", NEW_FILES, seed=11)
    return corpus, index_path


def _start_together(server: ForkServer, count: int, *args: str) -> list[ForkedCli]:
    return [server.popen_cli(*args) for _ in range(count)]


@pytest.mark.parametrize(("count", "existing"), OVERLAPS)
def test_overlapping_runs_one_writes_the_others_exit_75(tmp_path, writers_corpus, cli_server, count, existing):
    corpus, index_path = _copy(writers_corpus, tmp_path, existing)
    runs = _start_together(cli_server, count, "index", str(corpus), "--index", str(index_path), "--quiet")
    outcomes = [(run.pid, run.wait(timeout=120), run.communicate()[1]) for run in runs]
    codes = sorted(code for _pid, code, _err in outcomes)
    assert codes == [0] + [75] * (count - 1), outcomes
    (writer,) = [pid for pid, code, _err in outcomes if code == 0]
    for _pid, code, err in outcomes:
        if code == 75:  # started together, they reach the lock in the moment the winner takes it
            assert re.search(rf"is being written by process {writer}\b", err), err
            assert "--wait" in err and "Traceback" not in err, err
    assert stored_documents(index_path) == _expected(corpus)
    assert cli_server.run_cli("check", "--index", str(index_path)).returncode == 0


def test_the_refused_run_names_the_holder_not_a_stale_pid(tmp_path, cli_server):
    import fcntl

    corpus = tmp_path / "corpus"
    write_article(corpus, "a.txt", "Story", "Body.")
    index_path = tmp_path / "ix"
    index_path.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale_pid = int(dead.stdout)  # a finished process: what a previous run leaves in the lock file
    fd = os.open(index_path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, json.dumps({"pid": stale_pid, "since": "2025-01-01T00:00:00+0000"}).encode())
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the moment a new writer holds it, before rewriting it
        refused = cli_server.run_cli("index", str(corpus), "--index", str(index_path), "--quiet")
    finally:
        os.close(fd)
    assert refused.returncode == 75
    assert not re.search(rf"process {stale_pid}\b", refused.stderr)
    assert re.search(rf"process {os.getpid()}\b", refused.stderr), refused.stderr


@pytest.mark.parametrize(("count", "existing"), OVERLAPS)
def test_overlapping_runs_with_wait_run_in_turn_and_lose_nothing(tmp_path, writers_corpus, cli_server, count,
                                                                  existing):
    corpus, index_path = _copy(writers_corpus, tmp_path, existing)
    new_documents = NEW_FILES if existing else 120 + NEW_FILES
    runs = _start_together(cli_server, count, "index", str(corpus), "--index", str(index_path), "--wait", "120",
                           "--json")
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(report["added"] for report in reports) == new_documents  # each document added once
    assert sum(report["deleted"] for report in reports) == 0
    assert stored_documents(index_path) == _expected(corpus)
    check = cli_server.run_cli("check", "--index", str(index_path))
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_run_that_waited_does_not_undo_a_newer_run(tmp_path, cli_server):
    corpus = tmp_path / "corpus"
    for number in range(20):
        write_article(corpus, f"{number:02d}.txt", f"Story {number}", f"Body {number} about the election.")
    index_path = tmp_path / "ix"
    build_index([corpus], index_path)
    for attempt in range(3):
        with writer_lock(index_path):  # a long run holds the lock
            waiting = cli_server.popen_cli("index", str(corpus), "--index", str(index_path), "--wait", "60", "--json")
            time.sleep(1.5)  # it has scanned the corpus and waits for the lock
            for number in range(3):
                write_article(corpus, f"late-{attempt}-{number}.txt", f"Late story {attempt} {number}", "Late news.")
        newer = build_index([corpus], index_path, wait=60)  # a run started after the files arrived
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
        if newer.added == 3:
            break  # the newer run took the lock first, as intended
    else:
        pytest.skip("the waiting run always took the lock first")
    assert stored_documents(index_path) == _expected(corpus), f"the waiting run reported {out}"


# -- readers during writes -----------------------------------------------------------------------


def _marker(number: int) -> str:
    """A unique made-up word per commit (letters only, so the analyzer keeps it whole)."""
    letters = "bcdfghjklmnpqrstvwxz"
    return "quor" + letters[number // 20] + letters[number % 20] + "ix"


def _committed_totals() -> list[int]:
    return [BASE_WITH_COMMON + PER_COMMIT * commits for commits in range(COMMITS + 1)]


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from newsearch.indexer import build_index
    from support.corpora import write_article
    corpus, index_path, markers, rebuilds = Path({corpus!r}), Path({index!r}), {markers!r}, {rebuilds!r}
    for number in range({commits}):
        for k in range({per_commit}):
            write_article(corpus / "commits", "%03d-%d.txt" % (number, k), "Commit %d story %d" % (number, k),
                          "{common} report %d with the word %s." % (k, markers[number]))
        report = build_index([corpus], index_path, rebuild=number in rebuilds, jobs=1)
        assert report.rebuilt or report.added == {per_commit}, report
        print(number, report.documents, flush=True)
        time.sleep(0.05)
""")

READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from newsearch import open_index
    index_path, stop, markers = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    totals, errors, searches, visible = [], [], 0, 0
    with open_index(index_path) as index:
        deadline = None
        while visible < len(markers):
            if stop.exists():
                deadline = deadline or time.monotonic() + 20
                if time.monotonic() > deadline:
                    break
            try:
                total = index.search("{common}", limit=1, passages=0).total
                searches += 1
                if not totals or totals[-1] != total:
                    totals.append(total)
                searches += 1
                hits = index.search(markers[visible], limit=5, passages=0).hits
                if "commits/%03d-0.txt" % visible in [hit.id for hit in hits]:
                    visible += 1
            except Exception as exc:
                errors.append(f"{{type(exc).__name__}}: {{exc}}")
            time.sleep(0.005)
        totals.append(index.search("{common}", limit=1, passages=0).total)  # after the last commit
    print(json.dumps({{"totals": totals, "errors": errors[:20], "error_count": len(errors),
                      "searches": searches, "visible": visible}}))
""")


@pytest.fixture
def reader_index(tmp_path) -> tuple[Path, Path]:
    """A small index (serial builds, fast commits) with BASE_WITH_COMMON documents holding the common word."""
    corpus = tmp_path / "corpus"
    synthetic_corpus(corpus, 40)
    for number in range(BASE_WITH_COMMON):
        write_article(corpus / "base", f"{number}.txt", f"Base story {number}", f"A {COMMON} report, number {number}.")
    index_path = tmp_path / "ix"
    assert build_index([corpus], index_path).documents == 40 + BASE_WITH_COMMON
    return corpus, index_path


def _start_writer(corpus: Path, index_path: Path) -> subprocess.Popen:
    markers = [_marker(number) for number in range(COMMITS)]
    code = WRITER.format(tests=str(Path(__file__).parent), corpus=str(corpus), index=str(index_path),
                         commits=COMMITS, per_commit=PER_COMMIT, common=COMMON, markers=markers,
                         rebuilds=REBUILDS_AT)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_reader(name: str, outcome: dict) -> None:
    allowed = set(_committed_totals())
    assert outcome["error_count"] == 0, (name, outcome["errors"])
    assert set(outcome["totals"]) <= allowed, (name, sorted(set(outcome["totals"]) - allowed))
    assert outcome["totals"] == sorted(outcome["totals"]), (name, "a total went back", outcome["totals"])
    assert outcome["totals"][-1] == _committed_totals()[-1], name
    assert outcome["visible"] == COMMITS, (name, f"only {outcome['visible']} of {COMMITS} markers became visible")


def _finish_writer(writer: subprocess.Popen, stop: Path) -> list[str]:
    out, err = writer.communicate(timeout=300)
    stop.touch()
    assert writer.returncode == 0, err
    return out.split("\n")


def test_reader_processes_see_only_committed_states_during_commits_and_rebuilds(reader_index, tmp_path):
    corpus, index_path = reader_index
    stop = tmp_path / "stop"
    markers = json.dumps([_marker(number) for number in range(COMMITS)])
    command = [sys.executable, "-c", READER.format(common=COMMON), str(index_path), str(stop), markers]
    readers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    time.sleep(1.0)  # the readers are searching before the first commit
    writer = _start_writer(corpus, index_path)
    commits = [line for line in _finish_writer(writer, stop) if line]
    assert len(commits) == COMMITS
    outcomes = []
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        outcomes.append(json.loads(out))
    for number, outcome in enumerate(outcomes):
        _check_reader(f"reader {number}", outcome)
    assert check_index(index_path).documents == 40 + BASE_WITH_COMMON + COMMITS * PER_COMMIT
    print(f"\n3 reader processes x {[o['searches'] for o in outcomes]} searches during "
          f"{COMMITS - len(REBUILDS_AT)} commits + {len(REBUILDS_AT)} rebuilds, "
          f"{sum(o['error_count'] for o in outcomes)} errors; distinct totals seen: "
          f"{[len(o['totals']) for o in outcomes]}")


def test_threads_sharing_one_index_see_only_committed_states(reader_index, tmp_path):
    corpus, index_path = reader_index
    markers = [_marker(number) for number in range(COMMITS)]
    stop = threading.Event()
    outcomes: list[dict] = [{} for _ in range(4)]
    index = open_index(index_path)

    def read(slot: int) -> None:
        totals, errors, searches, visible = [], [], 0, 0
        deadline = None
        while visible < len(markers):
            if stop.is_set():
                deadline = deadline or time.monotonic() + 20
                if time.monotonic() > deadline:
                    break
            try:
                total = index.search(COMMON, limit=1, passages=0).total
                searches += 1
                if not totals or totals[-1] != total:
                    totals.append(total)
                searches += 1
                hits = index.search(markers[visible], limit=5, passages=0).hits
                if f"commits/{visible:03d}-0.txt" in [hit.id for hit in hits]:  # not a typo-corrected neighbour
                    visible += 1
            except Exception as exc:  # every error counts; the loop goes on
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.002)
        try:
            totals.append(index.search(COMMON, limit=1, passages=0).total)  # after the last commit
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        outcomes[slot] = {"totals": totals, "errors": errors[:20], "error_count": len(errors),
                          "searches": searches, "visible": visible}

    threads = [threading.Thread(target=read, args=(slot,)) for slot in range(4)]
    try:
        for thread in threads:
            thread.start()
        writer = _start_writer(corpus, index_path)
        out, err = writer.communicate(timeout=300)
        stop.set()
        assert writer.returncode == 0, err
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        stop.set()
        index.close()
    for slot, outcome in enumerate(outcomes):
        _check_reader(f"thread {slot}", outcome)
    print(f"\n4 threads x {[o['searches'] for o in outcomes]} searches on one Index during "
          f"{COMMITS - len(REBUILDS_AT)} commits + {len(REBUILDS_AT)} rebuilds, "
          f"{sum(o['error_count'] for o in outcomes)} errors")
