"""``python -m newsearch`` in a real child process (for locks, kills and exit codes), and the
processes it leaves, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m newsearch ARGS`` in a real process (for locks, kills and exit codes)."""
    return subprocess.run([sys.executable, "-m", "newsearch", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def popen_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "newsearch", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def worker_processes(pid: int) -> set[int]:
    """The child processes of ``pid`` (its forked or spawned workers; not multiprocessing's
    resource tracker), from /proc."""
    workers = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    tracker = b"resource_tracker" in handle.read()
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid and not tracker:
                workers.add(int(entry))
    return workers


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
