"""Full disk, read-only and unreadable index folders, end to end through the `newsearch` command.

The full-disk tests mount a 3 MiB tmpfs (as root) and fill it with a filler file, so the
kernel itself answers ENOSPC; where mounting is not permitted they skip, and
`test_simulated_enospc_in_process` (which always runs) injects ENOSPC in-process instead.
The commands run in processes forked from the ``cli_server`` (conftest.py), those that must meet
file permissions as root without its bypass capabilities; where only the message is tested, in
this process.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.corpora import synthetic_corpus, write_article
from support.privileges import can_drop_root_bypass
from support.processes import invoke_cli
from support.readers import stored_documents

from newsearch import build_index

TMPFS_SIZE = "3m"
OLD_FILES = 20
NEW_FILES = 80  # sequential writer: fewer than PARALLEL_MIN_FILES
PARALLEL_FILES = 420  # parallel writer: at least PARALLEL_MIN_FILES, small ones
HEADROOM = 96 * 1024  # free bytes left beside the filler: enough to start, too little to finish


# -- helpers --------------------------------------------------------------------------------------

def assert_clean_error(result: subprocess.CompletedProcess, code: int) -> str:
    """The command failed with ``code`` and one line 'Error: ...' on stderr, no traceback; returns it."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def ids_of(documents: frozenset[tuple[str, str]] | None) -> set[str]:
    return {doc_id for doc_id, _title in documents or ()}


def generation_names(index: Path) -> set[str]:
    return {name for name in os.listdir(index) if name.startswith("gen-")}


def mount_tmpfs(where: Path, *options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("full-disk tests mount a tmpfs and need root; the in-process ENOSPC simulation ran instead")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join((f"size={TMPFS_SIZE}", *options)),
                           "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); "
                    f"the in-process ENOSPC simulation ran instead")


def unmount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """A filler file that leaves about ``leave`` bytes free on the filesystem of ``folder``."""
    filler = folder / "filler"
    chunk = b"\xff" * (64 * 1024)
    with open(filler, "wb", buffering=0) as handle:
        while True:
            free = shutil.disk_usage(folder).free
            if free <= leave:
                break
            try:
                handle.write(chunk[: max(4096, min(len(chunk), free - leave))])
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount_tmpfs(mount)
    yield mount
    unmount(mount)


# -- full disk during a build ---------------------------------------------------------------------

@dataclass
class FullDiskRun:
    mode: str
    index: Path
    before: set[str]
    generations_before: set[str]
    failed: subprocess.CompletedProcess
    after_failure: set[str]
    generations_after_failure: set[str]
    live_files_before: set[str]
    live_files_after_failure: set[str]
    search_after_failure: subprocess.CompletedProcess
    retry_while_full: subprocess.CompletedProcess | None
    after_retry: set[str]
    freed: subprocess.CompletedProcess
    final: set[str]
    expected_final: set[str]
    search_after_freeing: subprocess.CompletedProcess


def full_disk_run(base: Path, mode: str, run: Callable[..., subprocess.CompletedProcess]) -> FullDiskRun:
    """Index a small corpus, grow it, fill the disk, run the build that fails, retry, free space, run again.

    "sequential": an incremental update fails, then again while still full, then an update
    after freeing space. "parallel": a --rebuild by 2 worker processes fails, then (space freed)
    a --rebuild by one process.
    """
    corpus, mount = base / "corpus", base / "small"
    index = mount / "index"
    synthetic_corpus(corpus / "old", OLD_FILES)
    assert run("index", str(corpus), "--index", str(index), "--quiet").returncode == 0
    before = ids_of(stored_documents(index))
    generations_before = generation_names(index)
    live = index / os.readlink(index / "current")
    live_files_before = set(os.listdir(live))
    if mode == "parallel":
        for number in range(PARALLEL_FILES):
            write_article(corpus / "new", f"{number:04d}.txt", f"Short story {number}",
                          f"Brief{number} item{number * 7} note{number * 13} about the market and the bank.")
        first, retry, last = ["--rebuild", "--jobs", "2"], None, ["--rebuild", "--jobs", "1"]
    else:
        synthetic_corpus(corpus / "new", NEW_FILES, seed=11)
        first = retry = last = ["--jobs", "1"]
    filler = fill(mount, leave=HEADROOM)
    failed = run("index", str(corpus), "--index", str(index), *first)
    after_failure = ids_of(stored_documents(index))
    generations_after_failure = generation_names(index)
    live_files_after_failure = set(os.listdir(live))
    search = run("search", "marker3", "--index", str(index), "--format", "json")
    retried = run("index", str(corpus), "--index", str(index), *retry) if retry else None
    after_retry = ids_of(stored_documents(index))
    filler.unlink()
    freed = run("index", str(corpus), "--index", str(index), *last)
    final = ids_of(stored_documents(index))
    expected = {path.relative_to(corpus).as_posix() for path in corpus.rglob("*.txt")}
    search_after = run("search", "marker3", "--index", str(index), "--format", "json")
    return FullDiskRun(mode, index, before, generations_before, failed, after_failure, generations_after_failure,
                       live_files_before, live_files_after_failure, search, retried, after_retry, freed, final,
                       expected, search_after)


@pytest.fixture(scope="module", params=["sequential", "parallel"])
def full_disk(request, tmp_path_factory, cli_server) -> FullDiskRun:
    base = tmp_path_factory.mktemp(f"full_disk_{request.param}")
    mount = base / "small"
    mount_tmpfs(mount)
    try:
        yield full_disk_run(base, request.param, cli_server.run_cli)
    finally:
        unmount(mount)


def test_full_disk_fails_cleanly_and_the_old_index_survives(full_disk):
    run = full_disk
    assert run.before and len(run.before) == OLD_FILES
    assert run.failed.returncode == 1, run.failed
    assert "Traceback" not in run.failed.stderr
    assert "internal error" not in run.failed.stderr
    # the previous index is intact, searchable, and the failed build left no generation behind
    assert run.after_failure == run.before
    assert run.generations_after_failure == run.generations_before
    assert run.search_after_failure.returncode == 0, run.search_after_failure
    assert '"id": "old/' in run.search_after_failure.stdout


def test_full_disk_releases_the_lock_and_the_run_after_freeing_space_succeeds(full_disk):
    run = full_disk
    if run.retry_while_full is not None:  # not refused with 75: the lock was released; same clean failure
        assert "disk full while writing the index" in assert_clean_error(run.retry_while_full, 1)
    assert run.after_retry == run.before
    assert run.freed.returncode == 0, run.freed
    assert run.final == run.expected_final
    assert run.search_after_freeing.returncode == 0


def test_full_disk_message_names_the_problem(full_disk):
    line = assert_clean_error(full_disk.failed, 1)
    assert f"disk full while writing the index in {full_disk.index}" in line
    assert re.search(r"[\d,.]+ (bytes|KB|MB) free", line)
    assert "previous index is intact" in line


def test_full_disk_failure_gives_the_space_back(full_disk):
    assert full_disk.live_files_after_failure == full_disk.live_files_before


def test_full_disk_message_says_how_much_space_is_needed(full_disk):
    line = assert_clean_error(full_disk.failed, 1)
    assert not re.search(r"\(0 bytes free\)", line)
    assert re.search(r"needs? (about |at least )?[\d,.]+ ?(bytes|[KMG]i?B)", line), line


@pytest.mark.parametrize("situation", [
    pytest.param("new index"),
    pytest.param("rebuild"),
    pytest.param("update", marks=pytest.mark.slow),
])
def test_completely_full_disk_gives_the_disk_full_message(small_disk, tmp_path, cli_server, situation):
    corpus, index = tmp_path / "corpus", small_disk / "index"
    synthetic_corpus(corpus, 6)
    if situation != "new index":
        assert cli_server.run_cli("index", str(corpus), "--index", str(index), "--quiet").returncode == 0
    before = ids_of(stored_documents(index)) if situation != "new index" else set()
    synthetic_corpus(corpus / "more", 30, seed=5)
    filler = fill(small_disk)
    result = cli_server.run_cli("index", str(corpus), "--index", str(index),
                                *(["--rebuild"] if situation == "rebuild" else []))
    filler.unlink()
    if before:
        assert ids_of(stored_documents(index)) == before
    line = assert_clean_error(result, 1)
    assert "disk full" in line


def test_simulated_enospc_in_process(tmp_path, monkeypatch):
    """ENOSPC injected where the writer saves its files: same guarantees, no mount needed."""
    import newsearch
    from newsearch import indexer
    from newsearch.errors import IndexWriteError

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    synthetic_corpus(corpus, 8)
    newsearch.build_index([corpus], index)
    before = ids_of(stored_documents(index))
    synthetic_corpus(corpus / "more", 8, seed=5)

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for rebuild in (False, True):
        with monkeypatch.context() as patch:
            patch.setattr(indexer.Vocabulary, "save", no_space)
            full = r"disk full while writing the index in .* (bytes|KB|MB) free; it needs about"
            with pytest.raises(IndexWriteError, match=full):
                newsearch.build_index([corpus], index, rebuild=rebuild)
        assert ids_of(stored_documents(index)) == before
        assert len(generation_names(index)) == 1  # the failed rebuild's generation is gone
    report = newsearch.build_index([corpus], index)  # not IndexLocked: the lock was released
    assert report.added == 8
    assert len(ids_of(stored_documents(index))) == 16


# -- read-only index folder -----------------------------------------------------------------------

def search_works(index: Path, runner: Callable[..., subprocess.CompletedProcess]) -> None:
    result = runner("search", "marker1", "--index", str(index))
    assert result.returncode == 0, result
    assert "Story number 1" in result.stdout
    assert runner("stats", "--index", str(index)).returncode == 0


@pytest.fixture
def read_only_mount(tmp_path, cli_server):
    corpus, mount = tmp_path / "corpus", tmp_path / "ro"
    synthetic_corpus(corpus, 6)
    mount_tmpfs(mount)
    try:
        index = mount / "index"
        assert cli_server.run_cli("index", str(corpus), "--index", str(index), "--quiet").returncode == 0
        remount = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only: {remount.stderr.strip()}")
        yield corpus, index
    finally:
        unmount(mount)


def test_read_only_filesystem_search_works_index_fails_cleanly(read_only_mount, cli_server):
    corpus, index = read_only_mount
    search_works(index, cli_server.run_cli)
    synthetic_corpus(corpus / "more", 2, seed=3)
    line = assert_clean_error(cli_server.run_cli("index", str(corpus), "--index", str(index)), 1)
    assert str(index) in line and "cannot write" in line


def test_read_only_filesystem_message_says_read_only(read_only_mount, cli_server):
    corpus, index = read_only_mount
    line = assert_clean_error(cli_server.run_cli("index", str(corpus), "--index", str(index)), 1)
    assert "read-only" in line.lower()


needs_permissions = pytest.mark.skipif(not can_drop_root_bypass(),
                                       reason="cannot make file permissions apply to a child process here")


def chmod_tree(folder: Path, remove: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(stat.S_IMODE(path.stat().st_mode) & ~remove)


@needs_permissions
def test_read_only_permissions_search_works_index_fails_cleanly(tmp_path, cli_server):
    run_cli_without_root_bypass = functools.partial(cli_server.run_cli, without_root_bypass=True)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    synthetic_corpus(corpus, 6)
    assert build_index([corpus], index).documents == 6
    synthetic_corpus(corpus / "more", 2, seed=3)
    chmod_tree(index, stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    try:
        search_works(index, run_cli_without_root_bypass)
        for extra in ([], ["--rebuild"]):
            result = run_cli_without_root_bypass("index", str(corpus), "--index", str(index), *extra)
            line = assert_clean_error(result, 1)
            assert f"cannot write to the index folder {index}" in line
    finally:
        for path in [index, *index.rglob("*")]:
            if not path.is_symlink():
                path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)
    assert len(ids_of(stored_documents(index))) == 6


# -- missing versus unreadable index --------------------------------------------------------------

COMMANDS = [("search", "marker1"), ("stats",), ("show", "alpha/0001.txt"), ("check",)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_missing_index(tmp_path, command):
    index = tmp_path / "nowhere" / "index"
    line = assert_clean_error(invoke_cli(*command, "--index", str(index)), 3)
    assert line == f"Error: no index at {index}: run `newsearch index ARTICLES_FOLDER --index {index}` to build one"


@pytest.fixture(scope="module")
def built_index(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("unreadable")
    synthetic_corpus(base / "corpus", 4)
    assert build_index([base / "corpus"], base / "index").documents == 4
    return base / "index"


@needs_permissions
@pytest.mark.parametrize("what", ["index folder", "generation folder", "generation files"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_unreadable_index(built_index, cli_server, command, what):
    generation = built_index / os.readlink(built_index / "current")
    targets = {"index folder": [built_index], "generation folder": [generation],
               "generation files": sorted(generation.iterdir())}[what]
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in targets}
    for path in targets:
        path.chmod(0)
    try:
        result = cli_server.run_cli(*command, "--index", str(built_index), without_root_bypass=True)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    line = assert_clean_error(result, 3)
    assert "no index at" not in line  # not confused with a missing index
    assert "ermission denied" in line, line
    assert str(built_index) in line
