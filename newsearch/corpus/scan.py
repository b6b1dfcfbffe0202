"""Find corpus files: walk folders, keep supported files, stat each once, never read."""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorpusError
from ..models import SkippedFile
from .formats import reader_for, suffix_of, supported_suffixes, unsupported
from .roots import Root, fresh_roots

SUPPORTED_SUFFIXES = supported_suffixes()  # as the table stood at import; scan asks the table itself


@dataclass(frozen=True, slots=True)
class CorpusFile:
    """One supported file found by `scan`; `relpath` is its stable key and default id.

    A corpus of a million files holds a million of these through a build: slots and a plain
    string path keep each under 300 bytes (a `Path` and an instance dict took 700)."""

    path: str  # absolute path on disk
    relpath: str  # its path in the corpus (the root's prefix, then the path below it), forward slashes
    root: Path  # the folder `relpath` is relative to (`Root.base`), one object shared by its files
    size: int
    mtime_ns: int
    # (device, inode) of the file the scan found: a read of another file at the path is refused
    # (a link to a file outside the corpus swapped in after the scan); None reads what the path names.
    identity: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        """The file's name on disk (its last path component)."""
        return os.path.basename(self.path)


@dataclass
class CorpusScan:
    """What `scan` found: files to read, paths it could not look at, and a count of the rest."""

    files: list[CorpusFile] = field(default_factory=list)  # sorted by relpath, deduplicated
    skipped: list[SkippedFile] = field(default_factory=list)
    ignored: int = 0  # hidden files/folders and unknown extensions
    ignored_types: dict[str, int] = field(default_factory=dict)  # of those, the unknown extensions: suffix -> files


def _supported(name: str) -> bool:
    return reader_for(suffix_of(name)) is not None


def scan(paths: Sequence[str | os.PathLike[str]] | Sequence[Root], *, follow_symlinks: bool = False,
         exclude: Sequence[str | os.PathLike[str]] = ()) -> CorpusScan:
    """Find the supported files under `paths` (files or folders, recursively).

    Only stats files; nothing is read. Relative paths are taken from the folder given, from
    the file's own folder for a single file, or from the common parent folder when several
    paths are given; `Root`s (what an index remembers) give each path its own prefix instead.
    Symlinks that leave their root are reported, not followed, unless `follow_symlinks`;
    symlink loops are reported, never walked. Folders in `exclude` (the index, when it lies
    inside the corpus) are not walked.

    >>> scan(["corpus"]).files[0].relpath
    'north-korean-soldiers-captured-in-kursk.txt'
    """
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("scan() takes a list of paths, not a single path")
    for path in paths:
        where = path.path if isinstance(path, Root) else path
        if not os.path.exists(where):
            raise CorpusError(f"corpus path not found: {os.fspath(where)}")
    if all(isinstance(path, Root) for path in paths):
        roots = [path for path in paths if isinstance(path, Root)]
        roots = [Root(Path(os.path.abspath(root.path)), root.prefix) for root in roots]
    else:
        roots = fresh_roots([Path(path) for path in paths if not isinstance(path, Root)])
    # A symlink stays inside the corpus when it points into one of the paths given, not merely
    # into their common parent (which, for two folders, may be /tmp or the home folder).
    walker = _Walker(follow_symlinks, inside=[root.path if root.path.is_dir() else root.path.parent for root in roots])
    walker.exclude(exclude, keep=[root.path for root in roots])
    for root in roots:
        walker.add_given(root)
    walker.follow_links()
    return walker.result()


class _Walker:
    """Collects candidates under one root; real paths win over symlinked duplicates."""

    def __init__(self, follow_symlinks: bool, inside: Sequence[Path]) -> None:
        self.real_folders = [os.path.realpath(folder) for folder in inside]
        self.follow_symlinks = follow_symlinks
        # (via symlink, relpath, size, mtime_ns, device, inode, path, the root folder): plain values, not the
        # stat result and a Path, which at a million files cost more than a gigabyte while the scan ran
        self.found: list[tuple[bool, str, int, int, int, int, str, Path]] = []
        self.skipped: list[SkippedFile] = []
        self.ignored = 0
        self.ignored_types: Counter[str] = Counter()
        self.walked: set[tuple[int, int]] = set()
        self.pending_links: list[tuple[str, str, Path]] = []  # (link path, relpath, root folder) of symlinked folders

    def exclude(self, folders: Sequence[str | os.PathLike[str]], keep: Sequence[Path]) -> None:
        """Never walk these folders (marked as walked, by identity, so no path or link reaches
        them), unless one is itself a path given to scan."""
        kept = set()
        for path in keep:
            try:
                info = os.stat(path)
                kept.add((info.st_dev, info.st_ino))
            except OSError:
                pass
        for folder in folders:
            try:
                info = os.stat(folder)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and (info.st_dev, info.st_ino) not in kept:
                self.walked.add((info.st_dev, info.st_ino))

    def add_given(self, root: Root) -> None:
        path = root.path
        folder = root.base
        rel = root.relpath() or path.name
        try:
            info = os.stat(path)
        except OSError as exc:
            self.skipped.append(SkippedFile(rel, f"unreadable: {exc.strerror}"))
            return
        if stat.S_ISDIR(info.st_mode):
            self.walk(str(path), root.prefix, info, via_symlink=False, root=folder)
        elif not _supported(path.name):
            self.skipped.append(SkippedFile(rel, unsupported(suffix_of(path.name))))
        else:
            self.add_file(rel, info, via_symlink=False, path=os.fspath(path), root=folder)

    def add_file(self, rel: str, info: os.stat_result, via_symlink: bool, path: str, root: Path) -> None:
        if stat.S_ISREG(info.st_mode):
            self.found.append((via_symlink, rel, info.st_size, info.st_mtime_ns, info.st_dev, info.st_ino, path, root))
        else:
            self.skipped.append(SkippedFile(rel, "not a regular file"))

    def walk(self, top: str, prefix: str, info: os.stat_result, via_symlink: bool, root: Path) -> None:
        """Walk one folder tree without recursion; symlinked folders are left for later."""
        stack = [(top, prefix, info)]
        while stack:
            folder, folder_prefix, folder_info = stack.pop()
            identity = (folder_info.st_dev, folder_info.st_ino)
            if identity in self.walked:
                continue
            self.walked.add(identity)
            try:
                with os.scandir(folder) as entries:
                    listing = list(entries)
            except OSError as exc:
                where = folder_prefix.rstrip("/") or root.name
                self.skipped.append(SkippedFile(where, f"unreadable: {exc.strerror}"))
                continue
            for entry in listing:
                name = entry.name
                rel = folder_prefix + name
                if name.startswith("."):
                    self.ignored += 1
                    continue
                try:
                    if entry.is_symlink():
                        self.add_link(entry.path, rel, via_symlink, root)
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, rel + "/", entry.stat(follow_symlinks=False)))
                    elif not _supported(name):
                        self.ignore(name)
                    else:
                        self.add_file(rel, entry.stat(follow_symlinks=False), via_symlink, entry.path, root)
                except OSError as exc:
                    self.skipped.append(SkippedFile(rel, f"unreadable: {exc.strerror}"))

    def ignore(self, name: str) -> None:
        """Count a file of a type no reader reads, by its suffix."""
        self.ignored += 1
        self.ignored_types[suffix_of(name) or "no extension"] += 1

    def add_link(self, path: str, rel: str, via_symlink: bool, root: Path) -> None:
        try:
            info = os.stat(path)
        except OSError as exc:
            reason = "symlink loop" if exc.errno == errno.ELOOP else f"broken symlink: {exc.strerror}"
            self.skipped.append(SkippedFile(rel, f"{reason}: -> {os.readlink(path)}"))
            return
        is_dir = stat.S_ISDIR(info.st_mode)
        if not is_dir and not _supported(os.path.basename(path)):
            self.ignore(os.path.basename(path))
            return
        target = os.path.realpath(path)
        if not self.follow_symlinks and not any(_is_within(target, folder) for folder in self.real_folders):
            self.skipped.append(SkippedFile(rel, f"symlink outside the corpus: -> {target}"))
        elif is_dir:
            self.pending_links.append((path, rel, root))
        else:
            self.add_file(rel, info, via_symlink=True, path=path, root=root)

    def follow_links(self) -> None:
        """Walk symlinked folders after every real tree, so real paths name the files."""
        while self.pending_links:
            self.pending_links.sort(key=lambda link: link[1])  # same order every run: stable relpaths
            self.follow_link(*self.pending_links.pop(0))

    def follow_link(self, path: str, rel: str, root: Path) -> None:
        """Walk one symlinked folder, unless it points back up (a loop)."""
        target = os.path.realpath(path)
        if _is_within(os.path.realpath(os.path.dirname(path)), target):
            self.skipped.append(SkippedFile(rel, f"symlink loop: -> {target}"))
            return
        try:
            info = os.stat(path)
        except OSError as exc:
            self.skipped.append(SkippedFile(rel, f"unreadable: {exc.strerror}"))
            return
        # A folder already walked under its real path is not walked again under the link.
        self.walk(path, rel + "/", info, via_symlink=True, root=root)

    def result(self) -> CorpusScan:
        files: dict[str, CorpusFile] = {}
        seen: set[tuple[int, int]] = set()
        self.found.sort(key=lambda item: (item[0], item[1]))
        for _, rel, size, mtime_ns, device, inode, path, root in self.found:
            identity = (device, inode)
            if identity in seen or rel in files:
                continue
            seen.add(identity)
            files[rel] = CorpusFile(path, rel, root, size, mtime_ns, identity)
        self.found = []
        return CorpusScan(
            files=sorted(files.values(), key=lambda f: f.relpath),
            skipped=sorted(self.skipped, key=lambda s: s.path),
            ignored=self.ignored,
            ignored_types=dict(self.ignored_types.most_common()),
        )


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
