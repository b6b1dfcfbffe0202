"""The index folder on disk: generations, the atomic switch, the writer lock, durability.

Layout of an index folder::

    index/
      .lock            writer lock (flock; holds the writer's pid), never removed
      current          symlink -> the live generation, switched with os.replace
      .current.tmp     the new symlink for a moment, while ``current`` is switched
      gen-000002-5c1e09a4/  the live generation: a complete Whoosh index plus our files
      gen-000001-b7f2d3e8/  a retired generation, removed after a grace period

and of a generation::

    gen-000002-5c1e09a4/
      newsearch.json   format (schema, analysis and duplicates versions), dates, corpus paths
      vocabulary.tsv   unstemmed words with counts and stems (``vocabulary``)
      duplicates.tsv   verified near-duplicate pairs of the last commit (``duplicate_store``)
      _MAIN_7.toc      Whoosh's table of contents, numbered by commit (the previous one is deleted)
      MAIN_<id>.seg    Whoosh segments (a commit adds one and may merge small ones; a parallel
                       build writes one per worker)
      MAIN_WRITELOCK   Whoosh's writer lock (empty; newsearch's own lock is ``.lock``)
      .retired         when the generation was retired (only in a retired generation)
      *.tmp            half-written files and a writer's scratch folder; with a half-written
                       table of contents (_MAIN_8.toc.*), what a killed writer leaves: the next removes it

A generation's name is its number (one more than any generation in the folder) and a
random token, so that a fresh build in a folder that was deleted and made again never
repeats a name an open ``Index`` holds: it sees ``current`` change and reopens. Names
without the token (``gen-000001``, written by earlier versions) are read the same way.

Incremental updates commit into the live generation (a Whoosh commit is atomic:
it renames a new table of contents into place). A full build or ``--rebuild``
writes a new generation beside the live one and switches ``current`` to it in
one rename, so readers never see an empty or half-built index. Readers resolve
``current`` once per searcher; retired generations stay for ``RETIRE_GRACE_S``
so that searchers opened just before a switch can finish.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pickle
import re
import secrets
import shutil
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, EmptyIndexError, FileIndex, IndexVersionError, clean_files

from newsearch.errors import (
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexUnreadable,
    IndexWriteError,
    NewsearchError,
)
from newsearch.schema import FORMAT
from newsearch.whoosh_internals import latest_generation

CURRENT = "current"
LOCK_FILE = ".lock"
META_FILE = "newsearch.json"
GENERATION_PATTERN = re.compile(r"^gen-(\d{6,})(?:-[0-9a-f]{8})?$")  # the token: see the module docstring
RETIRED_MARKER = ".retired"
RETIRE_GRACE_S = 300.0
OPEN_RETRIES = 20

T = TypeVar("T")


def current_generation(index_root: Path) -> Path:
    """The live generation folder, resolved now; raises if there is no index."""
    link = index_root / CURRENT
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        if not index_root.exists():
            raise IndexNotFound(
                f"no index at {index_root}: run `newsearch index --index {index_root}` to build one"
            ) from None
        if not os.access(index_root, os.R_OK | os.X_OK):
            raise IndexUnreadable(f"cannot read the index folder {index_root}: permission denied") from None
        raise IndexNotFound(
            f"no index at {index_root} (the folder has no '{CURRENT}' link): "
            f"run `newsearch index --index {index_root}` to build one"
        ) from None
    except PermissionError:
        raise IndexUnreadable(f"cannot read the index folder {index_root}: permission denied") from None
    except OSError as exc:
        raise IndexUnreadable(f"cannot read the index at {index_root}: {exc.strerror}") from None
    return index_root / target


def read_meta(generation: Path) -> dict[str, object]:
    """The newsearch.json of a generation; raises IndexIncompatible on another format,
    IndexCorrupt when it is missing or garbled, IndexUnreadable when it cannot be read."""
    damaged = (f"the index at {generation.parent} is damaged ({generation.name}/{META_FILE} is %s); "
               f"run `newsearch index --rebuild --index {generation.parent}`")
    try:
        meta = json.loads((generation / META_FILE).read_text("utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(damaged % "missing") from None
    except ValueError:  # not UTF-8 or not JSON
        raise IndexCorrupt(damaged % "not readable JSON") from None
    except OSError as exc:
        raise IndexUnreadable(f"cannot read {generation / META_FILE}: {exc.strerror or exc}") from None
    if not isinstance(meta, dict):
        raise IndexCorrupt(damaged % "not a JSON object")
    if meta.get("format") != FORMAT:
        raise IndexIncompatible(
            f"the index at {generation.parent} was built by another version of newsearch "
            f"({meta.get('format')}; this version reads {FORMAT}): "
            f"run `newsearch index --rebuild --index {generation.parent}`"
        )
    return meta


def write_meta(generation: Path, meta: dict[str, object]) -> None:
    """Atomically replace the generation's newsearch.json (durable on return)."""
    write_atomically(generation / META_FILE,
                     lambda handle: json.dump({"format": FORMAT, **meta}, handle, indent=2, sort_keys=True))


def retry_while_committing(action: Callable[[], T], what: Path) -> T:
    """Run ``action``, retrying the FileNotFoundError a concurrent commit can cause.

    Whoosh deletes the previous table of contents and merged segments right after a
    commit, so an open that listed the folder a moment earlier can miss its files.
    """
    delay = 0.005
    for attempt in range(OPEN_RETRIES):
        try:
            return action()
        except FileNotFoundError:
            if attempt == OPEN_RETRIES - 1:
                raise IndexUnreadable(f"the index at {what} kept changing while being opened") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
    raise AssertionError("unreachable")


# What Whoosh raises when it reads damaged files (truncated, overwritten, garbage).
DAMAGE_ERRORS = (struct.error, EOFError, zlib.error, IndexError, KeyError, ValueError, pickle.UnpicklingError)


def damaged(index_root: Path, exc: BaseException) -> IndexCorrupt:
    """The error for an index whose files cannot be decoded."""
    return IndexCorrupt(
        f"the index at {index_root} is damaged ({type(exc).__name__}: {exc}); "
        f"run `newsearch index --rebuild --index {index_root}`"
    )


@contextmanager
def reading(index_root: Path) -> Iterator[None]:
    """Turn a failure to decode the index's files into IndexCorrupt naming the fix.

    Every library entry point reads the index inside this (``Index`` and its searches,
    ``build_index`` updating the live index, ``index_stats``, ``check_index``), so damage
    reaches the caller as damage, never as one of Whoosh's exceptions (click would even take
    an EOFError for Ctrl-D). Damage is a decoding error (``DAMAGE_ERRORS``) raised anywhere,
    or any other error that Whoosh's own code raises while it reads (a bare ``Exception`` for
    an unknown block tag, ``FileFormatError``, a ``TypeError`` on a value that decoded as
    None): Whoosh reads only files it wrote, so its failure there means the files changed.
    Our own errors (a ``NewsearchError``, a bug in our code) and I/O errors pass unchanged.
    """
    try:
        yield
    except NewsearchError:
        raise
    except DAMAGE_ERRORS as exc:
        raise damaged(index_root, exc) from None
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # seeking or mapping past the end of a truncated file
            raise damaged(index_root, exc) from None
        raise
    except Exception as exc:
        if _raised_in_whoosh(exc):
            raise damaged(index_root, exc) from None
        raise


def _raised_in_whoosh(exc: BaseException) -> bool:
    """Whether the innermost frame of the exception's traceback is in Whoosh's code."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "")
    return module == "whoosh" or module.startswith("whoosh.")


def generation_storage(generation: Path, mmap: bool = True) -> FileStorage:
    """The Whoosh storage of a generation.

    ``mmap=False`` for writers and whole-index scans: on Whoosh's mmap path a reader copies
    each segment's files into memory when it opens (measured: 600 MB and 0.4 s for 100,000
    articles, against 28 MB and 0.02 s through the file). Searching keeps the map: its
    queries run 10-15 % faster from memory.
    """
    return FileStorage(str(generation), supports_mmap=mmap)


def open_generation(generation: Path, mmap: bool = True) -> FileIndex:
    """Open a generation's Whoosh index after checking its format (see ``generation_storage``)."""
    read_meta(generation)

    def attempt() -> FileIndex:
        try:
            with reading(generation.parent):
                try:
                    return generation_storage(generation, mmap).open_index()
                except EmptyIndexError:
                    raise IndexUnreadable(f"the index generation {generation} holds no committed index") from None
                except (AttributeError, ImportError, IndexVersionError) as exc:
                    # The pickled schema names a class this version lacks, or another Whoosh wrote it.
                    raise IndexIncompatible(
                        f"the index at {generation.parent} was written by an incompatible newsearch ({exc}): "
                        f"run `newsearch index --rebuild --index {generation.parent}`"
                    ) from None
        except PermissionError:
            raise IndexUnreadable(f"cannot read the index at {generation}: permission denied") from None

    return retry_while_committing(attempt, generation)


def open_current(index_root: Path) -> tuple[Path, FileIndex]:
    """Resolve ``current`` once and open that generation."""

    def attempt() -> tuple[Path, FileIndex]:
        generation = current_generation(index_root)
        return generation, open_generation(generation)

    return retry_while_committing(attempt, index_root)


def generations(index_root: Path) -> list[Path]:
    """Every generation folder, oldest (lowest number) first."""
    try:
        names = os.listdir(index_root)
    except FileNotFoundError:
        return []
    return [index_root / name for name in sorted((name for name in names if GENERATION_PATTERN.match(name)),
                                                 key=lambda name: (_generation_number(name), name))]


def _generation_number(name: str) -> int:
    """The number of a generation folder's name (0 for a name that is not one)."""
    match = GENERATION_PATTERN.match(name)
    return int(match.group(1)) if match else 0


def next_generation(index_root: Path) -> Path:
    """A fresh, empty generation folder numbered after every existing one, with a random token
    that no earlier index in this folder (since deleted) can have used."""
    number = max((_generation_number(path.name) for path in generations(index_root)), default=0) + 1
    path = index_root / f"gen-{number:06d}-{secrets.token_hex(4)}"
    path.mkdir()
    return path


def switch_current(index_root: Path, generation: Path) -> None:
    """Point ``current`` at ``generation`` in one atomic rename and retire the old one."""
    previous = None
    try:
        previous = index_root / os.readlink(index_root / CURRENT)
    except FileNotFoundError:
        pass
    tmp_link = index_root / f".{CURRENT}.tmp"
    try:
        tmp_link.unlink()
    except FileNotFoundError:
        pass
    os.symlink(generation.name, tmp_link)
    os.replace(tmp_link, index_root / CURRENT)
    try:  # the switch is done; what follows must not make the caller think it failed
        fsync_dir(index_root)
        if previous is not None and previous != generation and previous.exists():
            (previous / RETIRED_MARKER).write_text(str(time.time()))
    except OSError:
        pass


def is_live(index_root: Path, generation: Path) -> bool:
    try:
        return os.readlink(index_root / CURRENT) == generation.name
    except OSError:
        return False


# A TOC half-written, a writer's scratch folder, our own files half-written (*.tmp).
_WRITER_LEFTOVERS = re.compile(r"^(_MAIN_\d+\.toc\..+|.+\.tmp)$")


def remove_stale_generations(index_root: Path, live: Path | None, now: float | None = None) -> list[Path]:
    """Delete abandoned builds, generations retired longer than the grace period, and what
    a killed writer left in the live generation.

    Only the lock holder calls this, so a generation that is not live and not
    marked retired is a build that was interrupted: nobody can still be writing it.
    """
    now = time.time() if now is None else now
    removed = []
    if live is not None:
        _tidy_live(live)
    for generation in generations(index_root):
        if generation == live:
            continue
        marker = generation / RETIRED_MARKER
        try:
            retired_at = float(marker.read_text())
        except (OSError, ValueError):
            retired_at = None
        if retired_at is None or now - retired_at >= RETIRE_GRACE_S:
            shutil.rmtree(generation, ignore_errors=True)
            removed.append(generation)
    return removed


def _tidy_live(generation: Path) -> None:
    """Remove a killed writer's leftovers: temporary files, and segments no table of contents names."""
    for name in os.listdir(generation):
        if _WRITER_LEFTOVERS.match(name):
            path = generation / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    try:
        storage = FileStorage(str(generation))
        toc_generation = latest_generation(storage, "MAIN")
        if toc_generation >= 0:
            toc = TOC.read(storage, "MAIN", toc_generation)
            clean_files(storage, "MAIN", toc_generation, toc.segments)
    except Exception:  # tidying is best effort: the index itself is read and checked elsewhere
        pass


def write_atomically(path: Path, write: Callable[[TextIO], object]) -> None:
    """Replace the text file ``path`` atomically and durably (on return): ``write`` fills
    ``<name>.tmp`` beside it, which is fsynced, renamed over ``path``, then the folder fsynced.
    A crash leaves the old file or the new one, at worst with the ``.tmp`` file beside it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def numbered_lines(data: bytes) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of each line of one of our text files, read as bytes to check it;
    text None for a line that is not UTF-8."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline that ends the last line
    for number, raw in enumerate(lines, 1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def shown_line(line: str | None) -> str:
    """A line of a file as a problem message shows it: quoted and cut short."""
    if line is None:
        return "not UTF-8 text"
    return repr(line if len(line) <= 60 else line[:60] + "...")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(generation: Path, skip: Iterable[str] = ()) -> None:
    """Make the files of a generation durable (Whoosh itself never fsyncs), but those in ``skip``.

    Files are written once and never changed, so after a commit only the new ones need it.
    """
    already = set(skip)
    for name in os.listdir(generation):
        if name in already:
            continue
        path = generation / name
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(generation)


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


@dataclass(frozen=True)
class LockHolder:
    pid: int
    since: str


def ensure_index_root(index_root: Path) -> None:
    """Create the index folder, refusing a non-empty folder that is not a newsearch index."""
    try:
        index_root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise IndexWriteError(f"cannot use {index_root} as the index folder: it is a file") from None
    except OSError as exc:
        raise IndexWriteError(f"cannot create the index folder {index_root}: {exc.strerror}") from None
    if os.statvfs(index_root).f_flag & os.ST_RDONLY:
        raise IndexWriteError(f"cannot write to the index folder {index_root}: it is on a read-only file system")
    if not os.access(index_root, os.W_OK | os.X_OK):
        raise IndexWriteError(f"cannot write to the index folder {index_root}: permission denied")
    entries = [name for name in os.listdir(index_root) if not name.startswith(".")]
    ours = [name for name in entries if name == CURRENT or GENERATION_PATTERN.match(name)]
    if entries and not ours:
        raise IndexWriteError(
            f"{index_root} is not empty and is not a newsearch index; "
            f"choose an empty or new folder with --index"
        )


_held_locks: set[int] = set()  # descriptors of the writer locks this process holds


def _close_held_locks_in_child() -> None:
    """After a fork: the child's copies of the lock descriptors would keep the lock alive if the
    parent died first (flock belongs to the open file, not the process); the parent keeps it."""
    for fd in _held_locks:
        try:
            os.close(fd)
        except OSError:
            pass
    _held_locks.clear()


os.register_at_fork(after_in_child=_close_held_locks_in_child)


@contextmanager
def writer_lock(index_root: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the index's writer lock; raise IndexLocked naming the holder after ``wait_s``.

    flock locks die with their process, so a killed writer never blocks the next run
    (forked children close their copy of the descriptor at once).
    """
    path = index_root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise IndexWriteError(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    since = f" (since {holder.since})" if holder and holder.since != "unknown" else ""
                    who = f"process {holder.pid}{since}" if holder else "another process"
                    raise IndexLocked(
                        f"the index at {index_root} is being written by {who}; "
                        f"try again later or use --wait SECONDS"
                    ) from None
                time.sleep(0.1)
        try:  # who holds the lock is only information: a full disk must not stop the run here
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode(), 0)
        except OSError:
            pass
        _held_locks.add(fd)
        yield
    finally:
        _held_locks.discard(fd)
        os.close(fd)  # releases the flock


def _read_holder(fd: int) -> LockHolder | None:
    """Who holds the lock: the kernel's answer (/proc/locks), with the start time the holder
    wrote into the file. The file alone can be stale: a new holder rewrites it only just
    after it takes the lock."""
    owner = _flock_owner(fd)
    for _ in range(10):
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"null")
            written = LockHolder(int(data["pid"]), str(data["since"]))
        except (OSError, ValueError, TypeError, KeyError):
            written = None
        if written is not None and (owner is None or written.pid == owner):
            return written
        time.sleep(0.02)
    return LockHolder(owner, "unknown") if owner is not None else None


def _flock_owner(fd: int) -> int | None:
    """The pid holding a flock on the file open as ``fd``, from /proc/locks (Linux), or None."""
    try:
        info = os.fstat(fd)
        wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
        with open("/proc/locks", encoding="ascii") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
                    return int(fields[4])
    except (OSError, ValueError):
        pass
    return None
