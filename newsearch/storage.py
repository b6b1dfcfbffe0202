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
      checksums-7.tsv  size and crc32 of every file as commit 7 left them (see "checksums" below)
      _MAIN_7.toc      Whoosh's table of contents, numbered by commit (the previous one is deleted)
      MAIN_<id>.seg    Whoosh segments (a commit adds one and may merge small ones; a parallel
                       build writes one per worker), each holding its posting sidecar (``postings``)
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

Nothing outside the index folder is ever written or removed: ``current`` must name a
generation folder beside it (a link elsewhere, dangling, or not a link at all is damage,
which ``--rebuild`` repairs), and every path removed is checked to lie inside the folder.
Opening an index runs no code from it: the table of contents is unpickled with an
allowlist (``whoosh_internals.read_toc``), and an index folder that users other than its
owner and the caller could write is refused (``check_trusted``), as git refuses a
repository owned by someone else, unless ``NEWSEARCH_TRUST_INDEX=1``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pickle
import re
import secrets
import shlex
import shutil
import socket
import stat
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO, TypeVar

from whoosh.filedb.filestore import FileStorage
from whoosh.index import EmptyIndexError, FileIndex, IndexVersionError, clean_files

from newsearch.errors import (
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexUnreadable,
    IndexUnsafe,
    IndexWriteError,
    NewsearchError,
)
from newsearch.schema import FORMAT, build_schema
from newsearch.whoosh_internals import ForbiddenClass, SafeFileIndex, latest_generation, pickled_classes, read_toc

CURRENT = "current"
LOCK_FILE = ".lock"
META_FILE = "newsearch.json"
GENERATION_PATTERN = re.compile(r"^gen-(\d{6,})(?:-[0-9a-f]{8})?$")  # the token: see the module docstring
RETIRED_MARKER = ".retired"
RETIRE_GRACE_S = 300.0
OPEN_RETRIES = 20
TRUST_ENV = "NEWSEARCH_TRUST_INDEX"  # 1: open an index folder others can write (see ``check_trusted``)

T = TypeVar("T")


def rebuild_hint(index_root: Path) -> str:
    """The command that repairs the index at ``index_root``, as it works when typed: with the corpus
    paths when the index does not remember them (a rebuild without paths uses those it remembers)."""
    command = f"newsearch index --rebuild --index {shlex.quote(str(index_root))}"
    if remembered_corpus(index_root) is None:
        command += " CORPUS_PATH..."
    return f"run `{command}`"


class BrokenCurrent(FileNotFoundError):
    """``current`` names a generation folder that is not there (retried: a commit or a folder
    deleted and built afresh can cause it for a moment; damage if it lasts)."""


def _broken_current(index_root: Path, what: str) -> IndexCorrupt:
    return IndexCorrupt(f"the index at {index_root} is damaged (its '{CURRENT}' {what}); {rebuild_hint(index_root)}")


def current_generation(index_root: Path) -> Path:
    """The live generation folder, resolved now; raises if there is no index, IndexCorrupt if
    ``current`` is not a link to a generation folder inside the index folder."""
    try:
        return live_generation(index_root)
    except BrokenCurrent as exc:
        raise _broken_current(index_root, str(exc)) from None


def live_generation(index_root: Path) -> Path:
    """``current_generation``, but a link to a missing folder raises ``BrokenCurrent`` (retryable)."""
    link = index_root / CURRENT
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        if not index_root.exists():
            raise IndexNotFound(
                f"no index at {index_root}: run `newsearch index ARTICLES_FOLDER --index {index_root}` to build one"
            ) from None
        if not os.access(index_root, os.R_OK | os.X_OK):
            raise IndexUnreadable(f"cannot read the index folder {index_root}: permission denied") from None
        raise IndexNotFound(
            f"no index at {index_root} (the folder has no '{CURRENT}' link): "
            f"run `newsearch index ARTICLES_FOLDER --index {index_root}` to build one"
        ) from None
    except PermissionError:
        raise IndexUnreadable(f"cannot read the index folder {index_root}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # a file or a folder, not a link
            raise _broken_current(index_root, "is not a link") from None
        raise IndexUnreadable(f"cannot read the index at {index_root}: {exc.strerror}") from None
    if not GENERATION_PATTERN.match(target):  # "..", an absolute path, itself, a path with a folder
        raise _broken_current(index_root, f"points to {target!r}, not to a generation folder beside it")
    generation = index_root / target
    try:
        info = os.lstat(generation)
    except FileNotFoundError:
        raise BrokenCurrent(f"points to {target!r}, which is missing") from None
    except OSError as exc:
        raise IndexUnreadable(f"cannot read the index at {index_root}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):  # a link to elsewhere, or a file
        raise _broken_current(index_root, f"points to {target!r}, which is not a generation folder")
    return generation


def read_corpus_paths(generation: Path) -> list[str] | None:
    """The corpus paths a generation was built from, read from its newsearch.json whatever its
    format (an incompatible index must still say what to rebuild it from); None if it does not say."""
    try:
        with open(generation / META_FILE, "rb") as handle:
            meta = json.loads(handle.read(1 << 20))
        corpus_paths = meta.get("corpus")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    if isinstance(corpus_paths, list) and corpus_paths and all(isinstance(path, str) for path in corpus_paths):
        return corpus_paths
    return None


def remembered_corpus(index_root: Path) -> list[str] | None:
    """The corpus paths the index at ``index_root`` was last built from: those of the live
    generation, or, when ``current`` is broken, of the newest generation that says (None: no
    index, or an index that does not say)."""
    try:
        target = os.readlink(index_root / CURRENT)
    except OSError:
        target = ""
    live = [index_root / target] if GENERATION_PATTERN.match(target) else []
    for generation in live + list(reversed(generations(index_root))):
        if os.path.isdir(generation) and not os.path.islink(generation):
            found = read_corpus_paths(generation)
            if found is not None:
                return found
    return None


def is_index(index_root: Path) -> bool:
    """Whether ``index_root`` holds an index, even a damaged one (a ``current`` or a generation)."""
    return os.path.lexists(index_root / CURRENT) or bool(generations(index_root))


def check_trusted(index_root: Path, generation: Path) -> None:
    """Refuse (IndexUnsafe) an index that users other than its owner and the caller could have
    written, since its files are unpickled: the index folder, the generation folder or one of its
    files writable by group (other than the owner's own group) or others, or owned by a user who
    is neither the caller nor root. ``NEWSEARCH_TRUST_INDEX=1`` opens it anyway."""
    if os.environ.get(TRUST_ENV, "") not in ("", "0"):
        return
    try:
        paths = [index_root, generation] + [generation / name for name in os.listdir(generation)]
    except OSError:
        return  # what cannot be listed is reported by the open that follows
    for path in paths:
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        problem = _untrusted(info)
        if problem:
            shown = "the index folder" if path == index_root else str(path.relative_to(index_root))
            raise IndexUnsafe(
                f"refusing to open the index at {index_root}: {shown} {problem}, who could make "
                f"newsearch run code of theirs (an index holds pickled data); if you trust them, set "
                f"{TRUST_ENV}=1, or fix it: chmod go-w and chown the index folder to its user"
            )


def _untrusted(info: os.stat_result) -> str | None:
    """What makes a file others could write: writable by others, by a group with other members,
    or owned by another user who is not root."""
    if info.st_mode & stat.S_IWOTH:
        return "is writable by every user"
    if info.st_mode & stat.S_IWGRP and not _private_group(info.st_uid, info.st_gid):
        return f"is writable by group {_group_name(info.st_gid)}"
    if info.st_uid not in (0, os.geteuid()):
        return f"is owned by {_user_name(info.st_uid)}, not by you or root"
    return None


def _private_group(uid: int, gid: int) -> bool:
    """Whether ``gid`` is the primary group of ``uid`` with no other listed member (a user's own group)."""
    import grp
    import pwd

    try:
        user = pwd.getpwuid(uid)
        return user.pw_gid == gid and set(grp.getgrgid(gid).gr_mem) <= {user.pw_name}
    except KeyError:
        return False


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user_name(uid: int) -> str:
    import pwd

    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"user {uid}"


def read_meta(generation: Path) -> dict[str, object]:
    """The newsearch.json of a generation; raises IndexIncompatible on another format,
    IndexCorrupt when it is missing or garbled, IndexUnreadable when it cannot be read."""
    damaged = (f"the index at {generation.parent} is damaged ({generation.name}/{META_FILE} is %s); "
               f"{rebuild_hint(generation.parent)}")
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
            f"({meta.get('format')}; this version reads {FORMAT}): {rebuild_hint(generation.parent)}"
        )
    return meta


def write_meta(generation: Path, meta: dict[str, object]) -> None:
    """Atomically replace the generation's newsearch.json (durable on return)."""
    write_atomically(generation / META_FILE,
                     lambda handle: json.dump({"format": FORMAT, **meta}, handle, indent=2, sort_keys=True))


def retry_while_committing(action: Callable[[], T], what: Path) -> T:
    """Run ``action``, retrying the FileNotFoundError a concurrent commit can cause.

    Whoosh deletes the previous table of contents and merged segments right after a
    commit, so an open that listed the folder a moment earlier can miss its files; the
    next attempt reads the new table of contents, which names other files. A file missing
    on every attempt is named by a table of contents that stays: the index is damaged.
    """
    delay = 0.005
    missing: set[str | None] = set()
    for attempt in range(OPEN_RETRIES):
        try:
            return action()
        except FileNotFoundError as exc:
            missing.add(exc.filename if isinstance(exc.filename, str) else None)
            if attempt == OPEN_RETRIES - 1:
                index_root = what.parent if GENERATION_PATTERN.match(what.name) else what
                if isinstance(exc, BrokenCurrent):
                    raise _broken_current(index_root, str(exc)) from None
                if len(missing) == 1 and exc.filename:
                    raise missing_file(index_root, exc.filename) from None
                raise IndexUnreadable(f"the index at {index_root} kept changing while being opened "
                                      f"(a writer committing without pause?); run the command again") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
    raise AssertionError("unreachable")


# What Whoosh raises when it reads damaged files (truncated, overwritten, garbage).
DAMAGE_ERRORS = (struct.error, EOFError, zlib.error, IndexError, KeyError, ValueError, pickle.UnpicklingError)


def damaged(index_root: Path, exc: BaseException) -> IndexCorrupt:
    """The error for an index whose files cannot be decoded."""
    return IndexCorrupt(
        f"the index at {index_root} is damaged ({_one_line(exc)}); {rebuild_hint(index_root)}"
    )


def missing_file(index_root: Path, path: str | os.PathLike[str]) -> IndexCorrupt:
    """The error for a file of the index that is not there (named by a table of contents that stays,
    or gone while a writer holding the lock reads it)."""
    return IndexCorrupt(f"the index at {index_root} is damaged ({os.path.relpath(path, index_root)} is missing); "
                        f"{rebuild_hint(index_root)}")


def _one_line(exc: BaseException) -> str:
    """The exception as one line of a message (a pickle error's text holds line breaks)."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


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


_schema_classes: frozenset[tuple[str, str]] | None = None


def schema_classes() -> frozenset[tuple[str, str]]:
    """The classes our schema's pickle names: all that reading a table of contents may load."""
    global _schema_classes
    if _schema_classes is None:
        _schema_classes = pickled_classes(build_schema())
    return _schema_classes


def open_generation(generation: Path, mmap: bool = True) -> FileIndex:
    """Open a generation's Whoosh index after checking its format and that nobody else could have
    written it (see ``generation_storage``, ``check_trusted``); its table of contents may name
    only the classes of our schema."""
    check_trusted(generation.parent, generation)
    read_meta(generation)
    verify_opening(generation)

    def attempt() -> FileIndex:
        try:
            with reading(generation.parent):
                try:
                    return SafeFileIndex(generation_storage(generation, mmap), allowed=schema_classes())
                except ForbiddenClass as exc:
                    raise IndexCorrupt(
                        f"the index at {generation.parent} is damaged or was tampered with: its table of "
                        f"contents names {exc.qualified}, which newsearch never stores (refused, nothing "
                        f"of it was run); {rebuild_hint(generation.parent)}"
                    ) from None
                except EmptyIndexError:
                    # `current` names only a generation whose build committed: its table of contents is gone.
                    raise IndexCorrupt(
                        f"the index at {generation.parent} is damaged ({generation.name} has no table of "
                        f"contents, _MAIN_<n>.toc); {rebuild_hint(generation.parent)}"
                    ) from None
                except (AttributeError, ImportError, IndexVersionError, TypeError, MemoryError) as exc:
                    # newsearch.json says this version wrote the generation (read_meta checked it), so a
                    # table of contents naming another Whoosh format or a class it lacks, decoding to
                    # values of the wrong type or to an absurd length, has been changed since.
                    raise IndexCorrupt(
                        f"the index at {generation.parent} is damaged (its table of contents cannot be read: "
                        f"{_one_line(exc)}); {rebuild_hint(generation.parent)}"
                    ) from None
        except PermissionError:
            raise IndexUnreadable(f"cannot read the index at {generation}: permission denied") from None

    return retry_while_committing(attempt, generation)


def open_current(index_root: Path) -> tuple[Path, FileIndex]:
    """Resolve ``current`` once and open that generation."""

    def attempt() -> tuple[Path, FileIndex]:
        generation = live_generation(index_root)
        return generation, open_generation(generation)

    return retry_while_committing(attempt, index_root)


def generations(index_root: Path) -> list[Path]:
    """Every generation folder, oldest (lowest number) first."""
    try:
        names = os.listdir(index_root)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise IndexUnreadable(f"cannot use {index_root} as an index folder: it is a file, not a folder") from None
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
    ensure_inside(index_root, generation)
    previous = None
    try:
        previous = live_generation(index_root)
    except (NewsearchError, OSError):  # none, or a broken one: replaced below, nothing retired
        pass
    link = index_root / CURRENT
    if os.path.isdir(link) and not os.path.islink(link):  # damage: a folder cannot be replaced by a link
        shutil.rmtree(link)
    tmp_link = _remove_switch_leftover(index_root)
    os.symlink(generation.name, tmp_link)
    os.replace(tmp_link, link)
    try:  # the switch is done; what follows must not make the caller think it failed
        fsync_dir(index_root)
        if previous is not None and previous != generation and previous.exists():
            (previous / RETIRED_MARKER).write_text(str(time.time()))
    except OSError:
        pass


def ensure_inside(index_root: Path, path: Path) -> None:
    """Raise IndexCorrupt unless ``path``, resolved (links followed), lies inside the index folder:
    checked before anything is written or removed there."""
    root = os.path.realpath(index_root)
    if os.path.commonpath([root, os.path.realpath(path)]) != root or os.path.realpath(path) == root:
        raise IndexCorrupt(
            f"the index at {index_root} is damaged ({path.name} leads outside the index folder; "
            f"nothing there was touched); {rebuild_hint(index_root)}"
        )


def keep_owner(index_root: Path) -> None:
    """Give what root wrote into another user's index folder to that user (the folder's owner and
    group), so that the user's own runs can still update it and remove what it replaces.
    Nothing to do unless running as root in a folder root does not own; best effort."""
    if os.geteuid() != 0:
        return
    try:
        owner = os.stat(index_root)
    except OSError:
        return
    if owner.st_uid == 0:
        return
    for folder, dirs, files in os.walk(index_root):  # never into linked folders
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_uid != owner.st_uid:
                    os.lchown(path, owner.st_uid, owner.st_gid)
            except OSError:
                pass


def is_live(index_root: Path, generation: Path) -> bool:
    try:
        return os.readlink(index_root / CURRENT) == generation.name
    except OSError:
        return False


# A TOC half-written, a writer's scratch folder, our own files half-written (*.tmp).
_WRITER_LEFTOVERS = re.compile(r"^(_MAIN_\d+\.toc\..+|.+\.tmp)$")


def _remove_switch_leftover(index_root: Path) -> Path:
    """Remove the new ``current`` link a switch killed before its rename left (never what it
    points to), and return its path."""
    tmp_link = index_root / f".{CURRENT}.tmp"
    try:
        tmp_link.unlink()
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(tmp_link)
    return tmp_link


def remove_stale_generations(index_root: Path, live: Path | None, now: float | None = None) -> list[Path]:
    """Delete abandoned builds, generations retired longer than the grace period, a switch's
    leftover link, and what a killed writer left in the live generation.

    Only the lock holder calls this, so a generation that is not live and not
    marked retired is a build that was interrupted: nobody can still be writing it.
    """
    now = time.time() if now is None else now
    _remove_switch_leftover(index_root)
    removed = []
    if live is not None:
        ensure_inside(index_root, live)
        _tidy_live(live)
    for generation in generations(index_root):
        if generation == live:
            continue
        if os.path.islink(generation) or not os.path.isdir(generation):  # not a folder we made
            if os.path.islink(generation) or os.path.isfile(generation):
                generation.unlink(missing_ok=True)  # the link itself, never what it points to
                removed.append(generation)
            continue
        ensure_inside(index_root, generation)
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
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() \
                else path.unlink(missing_ok=True)
    try:
        storage = FileStorage(str(generation))
        toc_generation = latest_generation(storage, "MAIN")
        if toc_generation >= 0:
            toc = read_toc(storage, "MAIN", schema_classes(), gen=toc_generation)
            clean_files(storage, "MAIN", toc_generation, toc.segments)
    except Exception:  # tidying is best effort: the index itself is read and checked elsewhere
        pass


def write_atomically(path: Path, write: Callable[[TextIO], object]) -> None:
    """Replace the text file ``path`` atomically and durably (on return): ``write`` fills
    ``<name>.tmp`` beside it, which is fsynced, renamed over ``path``, then the folder fsynced.
    A crash leaves the old file or the new one, at worst with the ``.tmp`` file beside it."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)  # never through a link
    with open(fd, "w", encoding="utf-8") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def checked_file(generation: Path, filename: str) -> tuple[bytes | None, list[str]]:
    """The bytes of one of a generation's files, for ``check``; or None and the problem, naming it."""
    name = f"{generation.name}/{filename}"
    try:
        return (generation / filename).read_bytes(), []
    except FileNotFoundError:
        return None, [f"{name} is missing"]
    except OSError as exc:
        return None, [f"{name} cannot be read ({exc.strerror or exc})"]


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


# -- checksums: what each commit wrote, verified on opening and by `check` -----------------------
#
# As Lucene's codec footers do for its segments, every file of a generation is checksummed
# (crc32) when a commit writes it, so that damage which still decodes (a flipped bit in a
# posting, a changed stem) is found instead of changing results. The checksums of commit N are
# ``checksums-N.tsv``, written last in the commit; a run that changes the live generation first
# renames them to ``checksums.previous`` (the files are about to change), so a run killed before
# its new checksums leaves the newest commit without any: "not verified", never "damaged", until
# the next ``newsearch index`` writes them. Any file of the generation is covered, not a fixed list,
# but for what changes without a commit (names below).

CHECKSUMS_PATTERN = re.compile(r"^checksums-(\d+)\.tsv$")
_PREVIOUS_CHECKSUMS = "checksums.previous"
_CHECKSUMS_HEADER = re.compile(r"^# newsearch-checksums 1 toc=(\d+)$")
_UNCHECKED = re.compile(r"^(\..*|MAIN_WRITELOCK|checksums-\d+\.tsv|checksums\.previous|_MAIN_\d+\.toc\..+|.+\.tmp)$")
OPEN_CHECKSUM_BYTES = 4 << 20
"""On opening, files up to this size are checksummed in full (the table of contents, newsearch.json,
the pairs, the vocabulary of up to about 200,000 words, every file of a small index), larger ones
(the segments of BBC's 2,225 articles are 8 MB each) by size: crc32 reads about 1.3 GB/s here, so
opening the BBC index checks its 0.5 MB of small files in under a millisecond; ``check`` reads all."""


@dataclass(frozen=True)
class _Sum:
    size: int
    inode: int
    crc: int


def checksums_name(toc: int) -> str:
    return f"checksums-{toc}.tsv"


def write_checksums(generation: Path, toc: int) -> None:
    """Record every file of ``generation`` as commit ``toc`` leaves it, atomically and durably;
    the last step of a commit. A file the previous checksums list with the same size and inode
    (Whoosh never rewrites a file; ours are replaced, so they get a new inode) keeps its recorded
    checksum: damage done since is then found, not recorded as the truth."""
    try:
        previous = _read_sums(generation / _PREVIOUS_CHECKSUMS) or {}
    except FileNotFoundError:
        previous = {}
    lines = []
    for name in sorted(os.listdir(generation)):
        path = generation / name
        if _UNCHECKED.match(name) or not (name.isascii() and name.isprintable()) or not path.is_file():
            continue  # not a file of the commit (or not one of ours: a name we could not have written)
        info = os.stat(path)
        known = previous.get(name)
        crc = known.crc if known and (known.size, known.inode) == (info.st_size, info.st_ino) else _crc32(path)
        lines.append(f"{name}\t{info.st_size}\t{info.st_ino}\t{crc:08x}\n")
    body = f"# newsearch-checksums 1 toc={toc}\n" + "".join(lines)
    write_atomically(generation / checksums_name(toc),
                     lambda handle: handle.write(f"{body}# crc32={zlib.crc32(body.encode()):08x}\n"))
    _remove_other_checksums(generation, toc)


def _remove_other_checksums(generation: Path, toc: int) -> None:
    for name in os.listdir(generation):
        if (CHECKSUMS_PATTERN.match(name) or name == _PREVIOUS_CHECKSUMS) and name != checksums_name(toc):
            (generation / name).unlink(missing_ok=True)


def ensure_checksums(generation: Path, toc: int) -> None:
    """Write the checksums of commit ``toc`` if a run killed after its commit did not, and remove
    what a run killed while writing them left beside them (older or set-aside checksums)."""
    if (generation / checksums_name(toc)).exists():
        _remove_other_checksums(generation, toc)
    else:
        _drop_stale_checksums(generation)
        write_checksums(generation, toc)


def set_checksums_aside(generation: Path) -> None:
    """Before a run changes the live generation's files: its checksums no longer hold (kept aside,
    durably, for the next ones to reuse)."""
    current = [name for name in os.listdir(generation) if CHECKSUMS_PATTERN.match(name)]
    for name in current:
        os.replace(generation / name, generation / _PREVIOUS_CHECKSUMS)
    if not current:
        _drop_stale_checksums(generation)
    fsync_dir(generation)


def _drop_stale_checksums(generation: Path) -> None:
    """Remove set-aside checksums a killed run left: the files it replaced since freed their inode
    numbers, which the file system hands out again, so a later file of the same name and size
    could take the old inode and inherit a checksum of other bytes."""
    (generation / _PREVIOUS_CHECKSUMS).unlink(missing_ok=True)


@contextmanager
def checksums_set_aside(generation: Path, toc: int) -> Iterator[None]:
    """The checksums of commit ``toc`` set aside while a run commits into the live generation; if
    it fails before its commit, the files as they are then (the same but for a larger vocabulary)
    are recorded again, as far as the failure allows (else unverified until the next run)."""
    set_checksums_aside(generation)
    try:
        yield
    except BaseException:
        try:
            if latest_generation(generation_storage(generation), "MAIN") == toc:
                write_checksums(generation, toc)
        except OSError:
            pass
        raise


def verify_checksums(generation: Path, toc: int, full: bool) -> list[str]:
    """What differs from the checksums of commit ``toc``, each problem naming the file: a file
    missing, another size, or (``full``, or for files up to ``OPEN_CHECKSUM_BYTES``) other bytes.
    Nothing when that commit has no checksums (not verified), or when a writer has begun changing
    the generation meanwhile (it sets the checksums aside first)."""
    path = generation / checksums_name(toc)
    try:
        sums = _read_sums(path)
    except FileNotFoundError:
        return []
    if sums is None:
        problems = [f"{generation.name}/{path.name} is not a complete list of checksums"]
    else:
        problems = [problem for name, known in sums.items()
                    if (problem := _file_problem(generation, name, known, full))]
    if problems and not (path.exists() and latest_generation(generation_storage(generation), "MAIN") == toc):
        return []  # the files changed under a writer: what was read is not what the commit left
    return problems


def verify_opening(generation: Path) -> None:
    """Raise IndexCorrupt if the files of the generation's newest commit differ from its checksums
    (sizes, and files up to ``OPEN_CHECKSUM_BYTES`` in full)."""
    toc = latest_generation(generation_storage(generation), "MAIN")
    problems = verify_checksums(generation, toc, full=False) if toc >= 0 else []
    if problems:
        raise checksum_damage(generation.parent, problems)


def checksum_damage(index_root: Path, problems: list[str]) -> IndexCorrupt:
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return IndexCorrupt(f"the index at {index_root} is damaged ({shown}); {rebuild_hint(index_root)}")


def _read_sums(path: Path) -> dict[str, _Sum] | None:
    """The checksums in ``path``, None if they are damaged (raises FileNotFoundError if missing)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError:
        return None
    body, _, trailer = data.rstrip(b"\n").rpartition(b"\n")
    if trailer != b"# crc32=%08x" % zlib.crc32(body + b"\n"):
        return None
    header, *lines = body.decode("ascii", "replace").split("\n")
    if not _CHECKSUMS_HEADER.match(header):
        return None
    sums = {}
    try:
        for line in lines:
            name, size, inode, crc = line.split("\t")
            sums[name] = _Sum(int(size), int(inode), int(crc, 16))
    except ValueError:
        return None
    return sums


def _file_problem(generation: Path, name: str, known: _Sum, full: bool) -> str | None:
    shown = f"{generation.name}/{name}"
    try:
        size = os.stat(generation / name).st_size
        if size != known.size:
            return f"{shown} has {size:,} bytes, but its commit wrote {known.size:,}"
        if (full or size <= OPEN_CHECKSUM_BYTES) and _crc32(generation / name) != known.crc:
            return f"{shown} has changed since its commit wrote it (its checksum differs)"
    except FileNotFoundError:
        return f"{shown} is missing"
    except OSError as exc:
        return f"{shown} cannot be read ({exc.strerror or exc})"
    return None


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            crc = zlib.crc32(block, crc)
    return crc


@dataclass(frozen=True)
class LockHolder:
    """Who holds an index's writer lock, as the holder recorded itself in the lock file (the
    kernel's pid alone, other fields empty, when the file does not name it yet)."""

    pid: int
    since: str = ""  # local time the lock was taken, ISO 8601
    host: str = ""
    command: str = ""  # the holder's command line, shell-quoted and shortened

    def describe(self) -> str:
        """``process 4242 on web1 (newsearch index --rebuild), since 2026-12-06T21:00:00+0000``."""
        where = f" on {self.host}" if self.host else ""
        what = f" ({self.command})" if self.command else ""
        when = f", since {self.since}" if self.since else ""
        return f"process {self.pid}{where}{what}{when}"


LockWaiting = Callable[[LockHolder | None], None]  # told whom a writer waits for (again when that changes)
HOLDER_COMMAND_CHARS = 200


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
def writer_lock(index_root: Path, wait_s: float = 0.0, waiting: LockWaiting | None = None) -> Iterator[float]:
    """Hold the index's writer lock; yield how many seconds it took to get it (0.0: at once).

    While another process holds it, wait up to ``wait_s`` seconds, telling ``waiting`` whom
    for (when the wait starts and whenever the holder changes); then raise IndexLocked naming
    the holder. flock locks die with their process, so a killed writer never blocks the next
    run (forked children close their copy of the descriptor at once).
    """
    path = index_root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # never through a link
    except OSError as exc:
        raise IndexWriteError(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        started = time.monotonic()
        deadline = started + max(wait_s, 0.0)
        blocked, told, next_look = False, None, started
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            now = time.monotonic()
            if now >= deadline:
                holder = _read_holder(fd)
                who = holder.describe() if holder else "another process"
                after = f" (waited {now - started:.0f} s)" if wait_s > 0 else ""
                raise IndexLocked(
                    f"the index at {index_root} is being written by {who}{after}; "
                    f"try again later or use --wait SECONDS"
                ) from None
            if waiting is not None and now >= next_look:
                holder = _read_holder(fd)
                if not blocked or holder != told:
                    waiting(holder)
                    told = holder
                next_look = now + 1.0
            blocked = True
            time.sleep(0.1)
        waited = time.monotonic() - started if blocked else 0.0
        try:  # who holds the lock is only information: a full disk must not stop the run here
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(_holder_record(), ensure_ascii=True).encode(), 0)
        except OSError:
            pass
        _held_locks.add(fd)
        yield waited
    finally:
        _held_locks.discard(fd)
        os.close(fd)  # releases the flock


def _holder_record() -> dict[str, object]:
    command = shlex.join(sys.argv) if sys.argv and sys.argv[0] else "python"
    if len(command) > HOLDER_COMMAND_CHARS:
        command = command[:HOLDER_COMMAND_CHARS - 1] + "…"
    since = datetime.now().astimezone().isoformat(timespec="seconds")
    return {"pid": os.getpid(), "since": since, "host": socket.gethostname(), "command": command}


def _read_holder(fd: int) -> LockHolder | None:
    """Who holds the lock: the kernel's answer (/proc/locks), with what the holder wrote into
    the file. The file alone can be stale: a new holder rewrites it only just after it takes
    the lock."""
    owner = _flock_owner(fd)
    for _ in range(10):
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"null")
            written = LockHolder(int(data["pid"]), str(data["since"]), str(data.get("host", "")),
                                 str(data.get("command", "")))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            written = None
        if written is not None and (owner is None or written.pid == owner):
            return written
        time.sleep(0.02)
    return LockHolder(owner) if owner is not None else None


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
