"""Reliability: the indexer killed at random moments (SIGKILL), interrupted (SIGINT) or terminated (SIGTERM).

Every SIGKILL trial runs a real ``newsearch index`` process against a 400-file corpus that the trial
has just changed (files added, deleted and retitled), kills it at a moment drawn from the measured
duration of the same run (some early, some near the end, around the switch), and then requires:

* the live index holds exactly the old or exactly the new document set (ids and titles), and opens
  and searches consistently with it;
* ``newsearch check`` exits 0;
* the next ``newsearch index`` completes with no manual step and holds exactly the new set;
* nothing is left behind: no abandoned generation, no temporary file, no segment outside the table
  of contents, a bounded folder footprint, and retired generations only within the grace period.

The trials' runs are forked from a server that has imported newsearch already
(``support/cli_forkserver.py``): real processes, without the cost of starting an interpreter.
Heavier variants (more trials per mode) run with ``pytest -m slow``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli_forkserver import ForkServer
from support.corpora import synthetic_corpus, write_article
from support.processes import alive, popen_paused, worker_processes
from support.readers import folder_footprint, stored_documents

from newsearch import duplicate_store, open_index
from newsearch.duplicate_store import DUPLICATES_FILE
from newsearch.status import check_index
from newsearch.storage import CURRENT, GENERATION_PATTERN, RETIRE_GRACE_S, RETIRED_MARKER, checksums_name, open_current

CORPUS_FILES = 400  # at the parallel threshold: full builds use 2 workers unless --jobs 1


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_corpus(synthetic_400) -> Path:
    assert CORPUS_FILES == 400
    return synthetic_400  # shared and read-only (conftest.py): `prepared` copies it


@dataclass(frozen=True)
class Prepared:
    """A corpus with its complete index, and how long each kind of run takes on this machine (forked
    from ``cli_server``, as the trials run)."""

    corpus: Path
    index: Path
    durations: dict[tuple[str, str | None], float]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, base_corpus, cli_server) -> Prepared:
    folder = tmp_path_factory.mktemp("crash_prepared")
    corpus, index_path = folder / "corpus", folder / "ix"
    shutil.copytree(base_corpus, corpus)
    args = ["index", str(corpus), "--index", str(index_path), "--quiet"]
    serial = _timed_run(cli_server, *args, "--jobs", "1")
    parallel = _timed_run(cli_server, *args, "--rebuild")
    _mutate(corpus, random.Random(0), 998)
    _timed_run(cli_server, *args)  # the first update meets new words (it may load the stemmer); the trials' do not
    _mutate(corpus, random.Random(0), 999)
    update = _timed_run(cli_server, *args)
    _age_retired(index_path)
    _timed_run(cli_server, *args)  # removes the retired generation: copies start clean
    assert _leftovers(index_path) == []
    return Prepared(corpus, index_path, {("build", "1"): serial, ("rebuild", "1"): serial, ("build", None): parallel,
                                         ("rebuild", None): parallel, ("update", None): update})


def _expected(corpus: Path) -> frozenset[tuple[str, str]]:
    """The (id, title) set a complete index of ``corpus`` holds (ids are relative paths)."""
    return frozenset((path.relative_to(corpus).as_posix(), path.read_text("utf-8").split("\n", 1)[0])
                     for path in corpus.rglob("*.txt"))


def _mutate(corpus: Path, rng: random.Random, trial: int) -> None:
    """A real change for the next run: 5 files added, 3 deleted, 3 retitled (same id, new title)."""
    for k in range(5):
        write_article(corpus / "gamma", f"t{trial:03d}-{k}.txt", f"Added story {trial} {k}",
                      f"Fresh report {trial} {k} about the election and the economy. Story text.")
    existing = sorted(corpus.rglob("*.txt"))
    for path in rng.sample(existing, 6)[:3]:
        path.unlink()
    for path in rng.sample(sorted(corpus.rglob("*.txt")), 3):
        title, body = path.read_text("utf-8").split("\n", 1)
        time.sleep(0.002)  # a distinct mtime even on coarse clocks
        path.write_text(f"{title} rev{trial}\n{body}", encoding="utf-8")


def _timed_run(server: ForkServer, *args: str) -> float:
    started = time.monotonic()
    result = server.run_cli(*args)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started


def _kill_moment(rng: random.Random, duration: float, trial: int) -> float:
    """Alternate moments while it writes with moments near the end of the run (around the switch)."""
    if trial % 2:
        return duration * rng.uniform(0.82, 1.02)
    return duration * rng.uniform(0.15, 0.8)  # (before ~0.15 it is still starting: options, lock, scan)


META_TMP = "newsearch.json.tmp"


def _leftovers(index_path: Path) -> list[str]:
    """Everything in the index folder that a clean state would not hold."""
    problems = []
    live = os.readlink(index_path / CURRENT)
    for entry in sorted(os.listdir(index_path)):
        path = index_path / entry
        if entry in (CURRENT, ".lock", live):
            continue
        if not GENERATION_PATTERN.match(entry):
            problems.append(f"stray entry {entry}")
            continue
        try:
            retired_at = float((path / RETIRED_MARKER).read_text())
        except (OSError, ValueError):
            problems.append(f"abandoned generation {entry}")
            continue
        if time.time() - retired_at >= RETIRE_GRACE_S:
            problems.append(f"generation {entry} kept past its grace period")
    generation, ix = open_current(index_path)
    try:
        referenced = {segment.segment_id() for segment in ix._segments()}
        toc = ix.latest_generation()
    finally:
        ix.close()
    if duplicate_store.load(generation).toc != toc:
        problems.append(f"{DUPLICATES_FILE} does not belong to commit {toc}")
    allowed = {"newsearch.json", "vocabulary.tsv", DUPLICATES_FILE, "MAIN_WRITELOCK", f"_MAIN_{toc}.toc",
               RETIRED_MARKER, checksums_name(toc)}
    for entry in sorted(os.listdir(generation)):
        if entry in allowed or any(entry.startswith(segment + ".") for segment in referenced):
            continue
        problems.append(f"stray file {generation.name}/{entry}")
    return problems


def _non_retired_footprint(index_path: Path) -> tuple[int, int]:
    """folder_footprint of the index folder minus retired generations (which the grace period keeps)."""
    files, size = folder_footprint(index_path)
    for generation in index_path.iterdir():
        if GENERATION_PATTERN.match(generation.name) and (generation / RETIRED_MARKER).exists():
            retired_files, retired_size = folder_footprint(generation)
            files, size = files - retired_files, size - retired_size
    return files, size


def _age_retired(index_path: Path) -> list[str]:
    """Pretend the grace period has passed for every retired generation; return their names."""
    aged = []
    for generation in index_path.iterdir():
        marker = generation / RETIRED_MARKER
        if GENERATION_PATTERN.match(generation.name) and marker.exists():
            marker.write_text(str(time.time() - RETIRE_GRACE_S - 1))
            aged.append(generation.name)
    return aged


def _assert_consistent(index_path: Path, state: frozenset[tuple[str, str]],
                       run: Callable[..., subprocess.CompletedProcess] | None) -> None:
    """The index opens, a search sees the same documents, and `newsearch check` passes.

    ``run`` runs the command (a ``ForkServer``'s ``run_cli``); ``None`` calls the library function
    behind `newsearch check` in this process instead (same verification, without a new process).
    """
    with open_index(index_path) as index:
        found = index.search("story", limit=1000, passages=0, sort="newest", collapse=False)
    assert found.total == len(state)
    assert {hit.id for hit in found.hits} == {doc_id for doc_id, _title in state}
    if run is not None:
        check = run("check", "--index", str(index_path))
        assert check.returncode == 0, check.stdout + check.stderr
    else:
        assert check_index(index_path).documents == len(state)


def _sigkill_trials(tmp_path: Path, prepared: Prepared, server: ForkServer, mode: str, jobs: str | None,
                    trials: int) -> None:
    rng = random.Random(f"sigkill-{mode}-{jobs}")
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    shutil.copytree(prepared.corpus, corpus)  # keeps mtimes: the copied index is up to date with it
    shutil.copytree(prepared.index, index_path, symlinks=True)
    job_args = ["--jobs", jobs] if jobs else []
    # --prune: the copied index remembers the prepared corpus, and the trials delete files of the copy
    update_args = ["index", str(corpus), "--index", str(index_path), "--quiet", "--prune", *job_args]
    killed_args = update_args + (["--rebuild"] if mode == "rebuild" else [])
    duration = prepared.durations[(mode, jobs)]  # of the run that will be killed, measured uninterrupted
    baseline_files = baseline_size = None
    seen: Counter[str] = Counter()

    for trial in range(trials):
        if mode == "build":
            shutil.rmtree(index_path, ignore_errors=True)
            before = None
        else:
            before = stored_documents(index_path)
        _mutate(corpus, rng, trial)
        after = _expected(corpus)
        assert after != before

        process = server.popen_cli(*killed_args)
        time.sleep(_kill_moment(rng, duration, trial))
        ran_to_end = process.poll() is not None
        process.kill()
        process.communicate()

        state = stored_documents(index_path)
        assert state in (before, after), f"trial {trial}: a mixed state after the kill"
        outcome = "finished" if ran_to_end else ("killed, new state" if state == after else "killed, old state")
        seen[outcome] += 1
        if trial % 2 and ran_to_end:  # aim the near-end moments at the switch: earlier if they came too late,
            duration *= 0.9
        elif trial % 2 and state == before:  # later if they came too early
            duration *= 1.15
        if state is not None:
            _assert_consistent(index_path, state, server.run_cli if trial % 3 == 0 else None)

        aged = _age_retired(index_path) if index_path.exists() and trial % 3 else []
        started = time.monotonic()
        recovery = server.run_cli(*update_args)
        assert recovery.returncode == 0, f"trial {trial}: the next run failed: {recovery.stderr}"
        if mode == "update" and state == before:  # it redid the killed run's work: a fresh measurement
            duration = (duration + time.monotonic() - started) / 2
        assert stored_documents(index_path) == after
        assert check_index(index_path).documents == len(after)
        assert _leftovers(index_path) == [], f"trial {trial}"  # e.g. `_MAIN_<n>.toc.<time>`, newsearch.json.tmp
        assert not any((index_path / name).exists() for name in aged), "retired past the grace period, still there"

        files, size = _non_retired_footprint(index_path)
        if baseline_files is None:
            baseline_files, baseline_size = files, size
        assert files <= baseline_files + 12, f"trial {trial}: {files} files, first trial had {baseline_files}"
        assert size <= baseline_size * 2 + 200_000, f"trial {trial}: {size} bytes, first trial had {baseline_size}"
        if mode != "build":  # unaged retired generations stay within their grace period, and only they
            retired = [g for g in index_path.iterdir() if (g / RETIRED_MARKER).exists()]
            assert len(retired) <= 3

    print(f"\n{mode} --jobs {jobs or 'default'}: {trials} kills (run ~{duration:.1f} s): {dict(seen)}; "
          f"{trials} clean recoveries")


def test_updates_keep_the_index_searchable_in_every_sort_order(tmp_path):
    """The precondition of every trial below: after incremental updates (several segments, some documents
    deleted, none dated) each sort order still searches, and sees every document."""
    from newsearch.indexer import build_index

    corpus = tmp_path / "corpus"
    synthetic_corpus(corpus, 30)
    index_path = tmp_path / "ix"
    build_index([corpus], index_path, jobs=1)
    for trial in range(2):
        _mutate(corpus, random.Random(trial), trial)
        build_index([corpus], index_path)
    expected = {doc_id for doc_id, _title in _expected(corpus)}
    with open_index(index_path) as index:
        for sort in ("relevance", "newest", "oldest"):
            found = index.search("story", limit=1000, passages=0, sort=sort, collapse=False)
            assert {hit.id for hit in found.hits} == expected, sort


# -- SIGKILL at random moments -------------------------------------------------------------------

# 30 kills; full builds cost most (a complete build to recover), so most trials are updates and rebuilds.
DEFAULT_TRIALS = [("build", "1", 2), ("build", None, 1), ("rebuild", "1", 6), ("rebuild", None, 2),
                  ("update", None, 19)]


def test_sigkill_at_random_moments_leaves_old_or_new_state_and_recovers(tmp_path, prepared, cli_server):
    """The default 30 kills, in two streams at once (one per core): updates, and full builds and rebuilds."""
    streams = [[case for case in DEFAULT_TRIALS if case[0] == "update"],
               [case for case in DEFAULT_TRIALS if case[0] != "update"]]
    failures: list[tuple[str, BaseException]] = []

    def run(stream: list[tuple[str, str | None, int]]) -> None:
        for mode, jobs, trials in stream:
            folder = tmp_path / f"{mode}-{jobs or 'default'}"
            folder.mkdir()
            try:
                _sigkill_trials(folder, prepared, cli_server, mode, jobs, trials)
            except BaseException as exc:  # reported below, with the mode
                failures.append((f"{mode} --jobs {jobs or 'default'}", exc))
                return

    threads = [threading.Thread(target=run, args=(stream,)) for stream in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        where, exc = failures[0]
        raise AssertionError(f"{where}: {exc}") from exc


def test_default_run_has_at_least_30_kills():
    assert sum(trials for _mode, _jobs, trials in DEFAULT_TRIALS) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("mode, jobs, trials", [(mode, jobs, trials * 4) for mode, jobs, trials in DEFAULT_TRIALS],
                         ids=lambda value: str(value))
def test_sigkill_many_trials(tmp_path, prepared, cli_server, mode, jobs, trials):
    _sigkill_trials(tmp_path, prepared, cli_server, mode, jobs, trials)


# -- Ctrl-C and SIGTERM --------------------------------------------------------------------------


def _signal_trial(tmp_path: Path, prepared: Prepared, server: ForkServer, sig: int, args: list[str],
                  pause_after: int) -> tuple[int, str, set]:
    """Change the corpus, start ``newsearch index ARGS`` and send ``sig`` while its build waits before
    reading its ``pause_after``-th file (each worker of a parallel build does: ``support/paused_cli.py``):
    mid-build, with the lock held and part of the new documents written, whatever the machine's speed."""
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    shutil.copytree(prepared.corpus, corpus)
    shutil.copytree(prepared.index, index_path, symlinks=True)
    before = stored_documents(index_path)
    _mutate(corpus, random.Random(pause_after), 0)
    marker = tmp_path / "paused"
    process = popen_paused(marker, pause_after, "index", str(corpus), "--index", str(index_path), "--prune",
                           *args)  # as _sigkill_trials
    deadline = time.monotonic() + 60
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the run never reached file {pause_after}: {process.communicate()}")
        time.sleep(0.01)
    assert f'"pid": {process.pid}' in (index_path / ".lock").read_text()  # it holds the writer lock
    workers = worker_processes(process.pid)
    process.send_signal(sig)
    try:
        _out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
        raise AssertionError(f"the indexer did not exit within 30 s of signal {sig}; stderr: {err!r}") from None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.05)
    assert not any(alive(w) for w in workers), "workers outlived the interrupted indexer"
    assert process.returncode != 0, "the run finished: the signal did not stop it"
    assert stored_documents(index_path) == before  # it stopped before finishing: the old index, untouched
    _assert_consistent(index_path, before, server.run_cli)
    return process.returncode, err, workers


CTRL_C_CASES = [
    (["--rebuild", "--jobs", "1", "--quiet"], 50),  # a full build in one process, 49 files read
    (["--quiet"], 3),  # an incremental update (3 files deleted, 8 to read), while it writes
]


@pytest.mark.parametrize("args, pause_after", CTRL_C_CASES, ids=lambda value: str(value))
def test_ctrl_c_exits_130_keeps_the_old_index_and_prints_no_traceback(tmp_path, prepared, cli_server, args,
                                                                       pause_after):
    code, err, _workers = _signal_trial(tmp_path, prepared, cli_server, signal.SIGINT, args, pause_after)
    # Now and then CPython ends the run by re-raising SIGINT on itself after the handler printed
    # "Interrupted." (seen with strace: kill(self, SIGINT) at exit); a shell reports that as 130 too.
    assert code in (130, -signal.SIGINT), err
    assert "Traceback" not in err and "Interrupted." in err
    assert _leftovers(tmp_path / "ix") == []  # the interrupted build removed its own generation
    assert cli_server.run_cli("index", str(tmp_path / "corpus"), "--index", str(tmp_path / "ix"), "--quiet",
                   "--prune").returncode == 0
    assert stored_documents(tmp_path / "ix") == _expected(tmp_path / "corpus")


def test_ctrl_c_during_parallel_build_exits_130_promptly(tmp_path, prepared, cli_server):
    # (With the earlier queue-based parallel.py this hung for ever after printing "Interrupted.": the queue's
    # feeder thread was joined at exit while blocked on a pipe the terminated workers no longer read.)
    code, err, workers = _signal_trial(tmp_path, prepared, cli_server, signal.SIGINT, ["--rebuild", "--quiet"], 20)
    assert len(workers) == 2, "the build did not run in two workers"
    assert "Traceback" not in err
    assert code == 130, err
    assert _leftovers(tmp_path / "ix") == []


def test_sigterm_during_parallel_build_leaves_a_clean_state(tmp_path, prepared, cli_server):
    code, err, workers = _signal_trial(tmp_path, prepared, cli_server, signal.SIGTERM, ["--rebuild", "--quiet"], 20)
    assert len(workers) == 2, "the build did not run in two workers"
    assert code == -signal.SIGTERM and "Traceback" not in err
    # The next run completes and leaves no abandoned generation and no lock behind.
    finished = cli_server.run_cli("index", str(tmp_path / "corpus"), "--index", str(tmp_path / "ix"), "--quiet",
                                  "--prune")
    assert finished.returncode == 0, finished.stderr
    assert stored_documents(tmp_path / "ix") == _expected(tmp_path / "corpus")
    assert _leftovers(tmp_path / "ix") == []


def test_interrupt_right_after_the_switch_keeps_a_working_index(tmp_path, base_corpus, monkeypatch):
    import newsearch.indexer as indexer
    from newsearch.indexer import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(20):
        write_article(corpus, f"{number:02d}.txt", f"Story {number}", f"Body {number} about the election.")
    index_path = tmp_path / "ix"
    build_index([corpus], index_path)
    real_switch = indexer.switch_current

    def switch_then_interrupt(index_root, generation):
        real_switch(index_root, generation)
        raise KeyboardInterrupt  # Ctrl-C arriving as switch_current returns

    monkeypatch.setattr(indexer, "switch_current", switch_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_index([corpus], index_path, rebuild=True)
    assert stored_documents(index_path) is not None
    assert check_index(index_path).documents == 20


def _small_index(tmp_path: Path) -> tuple[Path, Path]:
    """A corpus of five short articles and its index: (corpus, index)."""
    from newsearch.indexer import build_index

    corpus = tmp_path / "corpus"
    for number in range(5):
        write_article(corpus, f"{number}.txt", f"Story {number}", "Body about the election.")
    index_path = tmp_path / "ix"
    build_index([corpus], index_path)
    return corpus, index_path


def test_killed_commit_leaves_no_toc_temp_file(tmp_path, cli_server):
    corpus, index_path = _small_index(tmp_path)
    live = index_path / CURRENT
    (live / f"_MAIN_2.toc.{time.time()}").write_bytes(b"half a table of contents")  # what the kill leaves
    write_article(corpus, "new.txt", "Story new", "Another body.")
    assert cli_server.run_cli("index", str(corpus), "--index", str(index_path), "--quiet").returncode == 0
    assert _leftovers(index_path) == []


def test_killed_metadata_write_leaves_no_tmp_file(tmp_path, cli_server):
    corpus, index_path = _small_index(tmp_path)
    (index_path / CURRENT / META_TMP).write_text('{"format": ')  # what a kill inside write_meta leaves
    assert cli_server.run_cli("index", str(corpus), "--index", str(index_path), "--quiet").returncode == 0
    assert _leftovers(index_path) == []
