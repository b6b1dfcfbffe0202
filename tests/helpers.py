"""Fixture corpora the tests write themselves."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

WORDS = (
    "government minister election economy market shares profit bank growth inflation football "
    "match player coach film award music album court police report company deal talks energy"
).split()


def write_article(folder: Path, name: str, title: str, body: str) -> Path:
    """A BBC-style article: headline, blank line, body."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    return path


def synthetic_corpus(folder: Path, count: int, seed: int = 7) -> list[Path]:
    """``count`` deterministic articles of a few hundred words in two topic folders."""
    rng = random.Random(seed)
    paths = []
    for number in range(count):
        topic = "alpha" if number % 2 else "beta"
        sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(20)]
        paths.append(write_article(folder / topic, f"{number:04d}.txt", f"Story number {number}",
                                   " ".join(sentences) + f" Marker{number}."))
    return paths


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m newsearch ARGS`` in a real process (for locks, kills and exit codes)."""
    return subprocess.run([sys.executable, "-m", "newsearch", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def popen_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "newsearch", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# -- Reliability suite helpers (tests/test_reliability_*.py) -----------------------------------

CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
PR_CAPBSET_DROP = 24


def _drop_file_capabilities() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Drop root's permission-bypass capabilities from the bounding set, so after exec
    ``chmod 000`` really makes a file unreadable, while the process keeps uid 0 (and so can
    still run the interpreter under /root)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_cli_without_root_bypass(*args: str, env: dict[str, str] | None = None,
                                **kwargs) -> subprocess.CompletedProcess:
    """``run_cli`` in a process for which file permissions apply, even when the tests run as root."""
    return subprocess.run([sys.executable, "-m", "newsearch", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, preexec_fn=_drop_file_capabilities, **kwargs)


def can_drop_root_bypass() -> bool:
    """Whether permissions can be made to apply to a child (root with CAP_SETPCAP, or not root)."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run([sys.executable, "-c", "import os; open('/proc/self/status').read()"],
                           preexec_fn=_drop_file_capabilities, capture_output=True)
    return probe.returncode == 0


def stored_documents(index_path: Path) -> frozenset[tuple[str, str]] | None:
    """Every (id, title) the live generation holds, read directly; None when there is no index."""
    from newsearch.errors import IndexNotFound
    from newsearch.storage import open_current

    try:
        _generation, ix = open_current(Path(index_path))
    except IndexNotFound:
        return None
    try:
        with ix.searcher() as searcher:
            return frozenset((fields["id"], fields.get("title", "")) for fields in searcher.all_stored_fields())
    finally:
        ix.close()


def folder_footprint(folder: Path) -> tuple[int, int]:
    """(number of files, total bytes) under ``folder``, symlinks counted as files."""
    files = size = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            files += 1
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return files, size


# -- Corpus reader tests -----------------------------------------------------------------------


def read_one(root: Path, relpath: str, content: str | bytes, **options):
    """Write one file under ``root``, scan ``root``, and read that file (a ReadResult)."""
    from newsearch.corpus import read_file, scan

    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    file = next(file for file in scan([root]).files if file.relpath == relpath)
    return read_file(file, **options)


def only(result):
    """The one Document of a ReadResult that has no problems."""
    assert result.problems == []
    [document] = result.documents
    return document


def utc(*parts: int):
    from datetime import datetime, timezone

    return datetime(*parts, tzinfo=timezone.utc)


# -- Processes ---------------------------------------------------------------------------------


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
