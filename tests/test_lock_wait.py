"""`--wait`: a writer waiting for the index lock says for whom (pid, host, command, since when,
as the holder recorded them), how long it waited, and leaves the wait out of its run's duration."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.news import ARTICLES, write_news
from test_readme import README

from newsearch import build_index
from newsearch.errors import IndexLocked
from newsearch.storage import LOCK_FILE, LockHolder, writer_lock

ISO_MOMENT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"


def recorded_holder(index_root: Path) -> LockHolder:
    data = json.loads((index_root / LOCK_FILE).read_text())
    return LockHolder(data["pid"], data["since"], data["host"], data["command"])


class HeldElsewhere:
    """The writer lock held by another thread (flock locks of two open files conflict within
    one process too), released ``hold_s`` seconds after ``release_soon``."""

    def __init__(self, index_root: Path) -> None:
        self.index_root = index_root
        self.taken, self.go, self.done = threading.Event(), threading.Event(), threading.Event()
        self.hold_s = 0.0
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        with writer_lock(self.index_root):
            self.taken.set()
            self.go.wait(30)
            time.sleep(self.hold_s)
        self.done.set()

    def __enter__(self) -> HeldElsewhere:
        self.thread.start()
        assert self.taken.wait(30)
        return self

    def release_soon(self, hold_s: float = 0.0) -> None:
        self.hold_s = hold_s
        self.go.set()

    def __exit__(self, *exc_info: object) -> None:
        self.go.set()
        self.thread.join(30)


def test_the_lock_records_who_holds_it(tmp_path):
    with writer_lock(tmp_path) as waited:
        holder = recorded_holder(tmp_path)
    assert waited == 0.0
    command = shlex.join(sys.argv)  # pytest's own, long when it is given many files: shortened with an ellipsis
    shortened = command if len(command) <= 200 else command[:199] + "…"
    assert (holder.pid, holder.host, holder.command) == (os.getpid(), socket.gethostname(), shortened)
    assert re.fullmatch(ISO_MOMENT, holder.since)
    assert holder.describe() == f"process {os.getpid()} on {holder.host} ({holder.command}), since {holder.since}"
    assert LockHolder(7).describe() == "process 7"  # the kernel's pid alone, the file not written yet


def test_a_waiting_writer_is_told_whom_it_waits_for_and_how_long_it_waited(tmp_path):
    told: list[LockHolder | None] = []
    with HeldElsewhere(tmp_path) as held:
        expected = recorded_holder(tmp_path)

        def waiting(holder: LockHolder | None) -> None:
            told.append(holder)
            held.release_soon(0.3)

        with writer_lock(tmp_path, wait_s=60, waiting=waiting) as waited:
            assert held.done.is_set()
    assert told == [expected]
    assert waited >= 0.3  # the holder kept the lock that long after the wait began


def test_giving_up_names_the_holder_and_the_wait(tmp_path):
    with HeldElsewhere(tmp_path):
        holder = recorded_holder(tmp_path)
        with pytest.raises(IndexLocked) as refused:
            with writer_lock(tmp_path, wait_s=0.3):
                pass
        with pytest.raises(IndexLocked) as at_once:
            with writer_lock(tmp_path):
                pass
    assert str(refused.value) == (f"the index at {tmp_path} is being written by {holder.describe()} (waited 0 s); "
                                  f"try again later or use --wait SECONDS")
    assert str(at_once.value) == (f"the index at {tmp_path} is being written by {holder.describe()}; "
                                  f"try again later or use --wait SECONDS")


def test_a_builds_duration_leaves_out_the_wait(tmp_path):
    corpus = write_news(tmp_path / "corpus")
    index_root = tmp_path / "index"
    index_root.mkdir()
    told = []
    with HeldElsewhere(index_root) as held:
        def waiting(holder: LockHolder | None) -> None:
            told.append(holder)
            held.release_soon(0.5)

        before = time.monotonic()
        report = build_index([corpus], index_root, wait=60, waiting=waiting)
        wall = time.monotonic() - before
    assert report.documents == len(ARTICLES) and len(told) == 1
    assert report.waited_s >= 0.5
    assert report.duration_s + report.waited_s <= wall


def test_the_command_line_says_it_waits_and_for_whom(tmp_path):
    corpus = write_news(tmp_path / "corpus")
    index_root = tmp_path / "index"
    index_root.mkdir()
    with writer_lock(index_root):
        holder = recorded_holder(index_root)
        run = subprocess.Popen([sys.executable, "-m", "newsearch", "index", str(corpus), "--index", str(index_root),
                                "--wait", "60", "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        assert run.stderr is not None
        waiting_line = run.stderr.readline()  # written once the run starts waiting
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    # Without a terminal (cron), each line starts with the moment it was written.
    assert re.fullmatch(rf"{ISO_MOMENT} Waiting up to 60 s for {re.escape(holder.describe())}, "
                        rf"which is writing the index, to finish\.\n", waiting_line)
    assert re.match(rf"{ISO_MOMENT} Built {re.escape(str(index_root))} in \d+\.\d s "
                    rf"\(after waiting \d+\.\d s for another writer\): {len(ARTICLES)} added", out), out


def test_quiet_waits_without_a_word(tmp_path):
    corpus = write_news(tmp_path / "corpus")
    index_root = tmp_path / "index"
    index_root.mkdir()
    with writer_lock(index_root):
        run = subprocess.Popen([sys.executable, "-m", "newsearch", "index", str(corpus), "--index", str(index_root),
                                "--wait", "60", "--jobs", "1", "--quiet"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not Path(f"/proc/{run.pid}").exists() or not _blocked_on_lock(run.pid, index_root):
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)  # it is trying the lock now
    out, err = run.communicate(timeout=120)
    assert (run.returncode, err) == (0, "")
    assert f"{len(ARTICLES)} added" in out


def _blocked_on_lock(pid: int, index_root: Path) -> bool:
    """Whether ``pid`` has the index's lock file open (it opens it just before waiting)."""
    target = str(index_root / LOCK_FILE)
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_the_readme_shows_the_messages_as_they_are_printed():
    waiting = re.search(r"`(Waiting up to .*?)`", README, re.S)
    summary = re.search(r"`(Updated index in .*?): \.\.\.`", README, re.S)
    assert waiting and summary
    holder = LockHolder(4242, "2026-12-06T21:00:00+00:00", "web1", "newsearch index --rebuild articles")
    assert " ".join(waiting.group(1).split()) == (f"Waiting up to 600 s for {holder.describe()}, "
                                                  f"which is writing the index, to finish.")
    assert re.fullmatch(r"Updated index in \d+\.\d s \(after waiting \d+\.\d s for another writer\)", summary.group(1))
