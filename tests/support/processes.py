"""``python -m newsearch`` in a real child process (for locks, kills and exit codes), the processes
it leaves, and the files this process holds, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m newsearch ARGS`` in a real process (for locks, kills and exit codes)."""
    return subprocess.run([sys.executable, "-m", "newsearch", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def invoke_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``run_cli`` in this process, through click's CliRunner: the same exit code and output without
    starting a process, for tests of what a command does and says rather than of processes."""
    from click.testing import CliRunner

    from newsearch.cli import cli

    here = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, list(args), env=env, prog_name="newsearch")
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


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


def popen_paused(marker: Path, after: int, *args: str) -> subprocess.Popen:
    """``popen_cli(*args)``, whose build creates ``marker`` and waits before reading its ``after``-th
    file (in each worker of a parallel build): see ``support/paused_cli.py``."""
    return subprocess.Popen([sys.executable, str(Path(__file__).with_name("paused_cli.py")), str(marker), str(after),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def held(folder: Path) -> set[str]:
    """The files under ``folder`` this process has open (descriptors) or mapped (``/proc/self/maps``)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.add(target)
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip().startswith(str(folder)):
                found.add(parts[5].strip().removesuffix(" (deleted)"))
    return found
