"""The corpus an index is built from, as its newsearch.json remembers it, and the check that
keeps a run from deleting much of the index by mistake.

A corpus is a list of roots (the paths given: folders or files) and the options they are read
with (following symlinks, the size cap). Each root has a prefix put before the paths of its
files, and so before the ids of articles named by their path: a first build takes them relative
to the common folder of its roots (one folder: no prefix), and a root added later gets its own
name as prefix, so the ids of the articles already indexed never change when a root is added.

A run that would delete more than a share of the index (`DEFAULT_MAX_DELETE`, and more than
`ALWAYS_DELETABLE` articles), or that leaves out a root the index was built from and would delete
any article, is refused (`DeletionGuard`) unless told to prune: an unmounted archive, a typo'd path
or a stray NEWSEARCH_CORPUS looks exactly like a corpus whose articles were deleted. (The same
files found under a moved root are no loss: the run goes on and remembers the new path.)
"""

from __future__ import annotations

import os
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import ALWAYS_DELETABLE, DEFAULT_MAX_BYTES, DEFAULT_MAX_DELETE
from ..controlchars import escape_name
from ..errors import CorpusError


@dataclass(frozen=True)
class Root:
    """One path a corpus is read from, and the prefix its files' paths get: a file under a
    folder root is '<prefix><path below the folder>', a file root is '<prefix><its name>'."""

    path: Path  # absolute, as given (not resolved: a symlinked mount point stays itself)
    prefix: str  # '' or ending in '/'

    @property
    def base(self) -> Path:
        """The folder the paths of its files are relative to: the one its prefix names a path
        from (the common folder of a first build's roots), else the root's own folder."""
        folder = self.path if self.path.is_dir() else self.path.parent
        steps = [part for part in self.prefix.split("/") if part]
        if steps and list(folder.parts[-len(steps):]) == steps:
            return folder.parents[len(steps) - 1]
        return folder

    def relpath(self) -> str:
        """The path of the root itself in the corpus ('' for a folder without prefix)."""
        return self.prefix + self.path.name if self.path.is_file() else self.prefix.rstrip("/")


@dataclass(frozen=True)
class CorpusSettings:
    """A corpus: its roots and how they are read."""

    roots: tuple[Root, ...]
    follow_symlinks: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES

    @property
    def paths(self) -> list[Path]:
        return [root.path for root in self.roots]

    def to_meta(self) -> dict[str, object]:
        """Its entries in newsearch.json ('corpus' lists the paths alone, as older versions read it)."""
        return {
            "corpus": [str(path) for path in self.paths],
            "roots": [{"path": str(root.path), "prefix": root.prefix} for root in self.roots],
            "follow_symlinks": self.follow_symlinks,
            "max_bytes": self.max_bytes,
        }


def settings_from_meta(meta: Mapping[str, object]) -> CorpusSettings | None:
    """The corpus a newsearch.json remembers (None when it names none). An index written before
    roots were remembered has the prefixes its first build gave: relative to the common folder."""
    paths = meta.get("corpus")
    if not isinstance(paths, list) or not paths or not all(isinstance(path, str) for path in paths):
        return None
    roots = _roots_of(meta.get("roots")) or fresh_roots([Path(path) for path in paths])
    follow = meta.get("follow_symlinks")
    max_bytes = meta.get("max_bytes")
    return CorpusSettings(
        tuple(roots),
        follow_symlinks=follow if isinstance(follow, bool) else False,
        max_bytes=max_bytes if isinstance(max_bytes, int) and not isinstance(max_bytes, bool) and max_bytes > 0
        else DEFAULT_MAX_BYTES,
    )


def _roots_of(value: object) -> list[Root]:
    if not isinstance(value, list):
        return []
    roots = []
    for entry in value:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(key), str) for key in ("path", "prefix")):
            return []
        prefix = entry["prefix"]
        if prefix and not prefix.endswith("/"):
            return []
        roots.append(Root(Path(entry["path"]), prefix))
    return roots


def fresh_roots(paths: Sequence[Path]) -> list[Root]:
    """Roots for a corpus read for the first time: file paths relative to the folder the given
    paths have in common (the folder itself when one folder is given, a file's own folder)."""
    given = list(dict.fromkeys(Path(os.path.abspath(path)) for path in paths))
    if not given:
        return []
    if len(given) == 1:
        common = given[0] if given[0].is_dir() else given[0].parent
    else:
        common = Path(os.path.commonpath(given))
        if not common.is_dir():
            common = common.parent
    roots = []
    for path in given:
        rel = os.path.relpath(path if path.is_dir() else path.parent, common).replace(os.sep, "/")
        roots.append(Root(path, "" if rel == "." else rel + "/"))
    return roots


def plan(paths: Sequence[Path], remembered: CorpusSettings | None, *, follow_symlinks: bool | None = None,
         max_bytes: int | None = None) -> CorpusSettings:
    """The corpus a run reads: `paths`, each with the prefix the index remembers for it, a new
    one with its own name (made unique) when the index has other roots; the options given, else
    those remembered, else the defaults."""
    kept = {os.path.abspath(root.path): root for root in remembered.roots} if remembered else {}
    absolute = list(dict.fromkeys(Path(os.path.abspath(path)) for path in paths))
    if not any(str(path) in kept for path in absolute):
        roots = fresh_roots(absolute)
    else:
        roots = []
        for path in absolute:
            root = kept.get(str(path)) or Root(path, _free_prefix(path, roots + [r for r in kept.values()
                                                                                  if r.path in absolute]))
            roots.append(root)
    return CorpusSettings(
        tuple(roots),
        follow_symlinks=(follow_symlinks if follow_symlinks is not None
                         else remembered.follow_symlinks if remembered else False),
        max_bytes=max_bytes if max_bytes is not None else remembered.max_bytes if remembered else DEFAULT_MAX_BYTES,
    )


def _free_prefix(path: Path, taken: Sequence[Root]) -> str:
    """A prefix for a root added to `taken` whose paths cannot be those of another root's files:
    '' for a file whose name no other root has, else the root's name (its folder's, for a file),
    numbered from 2 when that is taken."""
    name = escape_name(path.name if path.is_dir() else path.parent.name) or "corpus"
    candidates = [f"{name}/"] + [f"{name}-{number}/" for number in range(2, 1000)]
    if path.is_file():
        candidates.insert(0, "")
    for prefix in candidates:
        if not any(_overlaps(prefix, path, root) for root in taken):
            return prefix
    raise CorpusError(f"{path}: no free name for it among the corpus paths")


def _overlaps(prefix: str, path: Path, other: Root) -> bool:
    """Whether a root at `path` with `prefix` could name a file as `other` names one of its own."""
    mine = prefix + path.name if path.is_file() else prefix  # a file's one path, or a folder's start
    theirs = other.relpath() if other.path.is_file() else other.prefix
    if path.is_file() and other.path.is_file():
        return mine == theirs
    if path.is_file():  # under the other folder?
        return mine.startswith(theirs) and os.path.lexists(other.path / mine[len(theirs):])
    if other.path.is_file():
        return theirs.startswith(mine)
    if theirs.startswith(mine):  # the other folder's files lie in this one's names
        return True
    return mine.startswith(theirs) and os.path.lexists(other.path / mine[len(theirs):].rstrip("/"))


@dataclass(frozen=True)
class DeletionGuard:
    """Refuses a run that would delete more than `max_share` of the index's articles (and more than
    `ALWAYS_DELETABLE`), or all of them, or any while it leaves out roots the index was built from
    (`dropped`), unless `prune`."""

    index: Path
    remembered: tuple[Path, ...] = ()  # the paths the index was built from
    given: tuple[Path, ...] = ()  # the paths of this run
    prune: bool = False
    max_share: float = DEFAULT_MAX_DELETE
    origin: str = ""  # where this run's paths come from, when not named: '$NEWSEARCH_CORPUS'

    @property
    def dropped(self) -> list[Path]:
        """The paths the index was built from that this run leaves out."""
        given = {os.path.abspath(path) for path in self.given}
        return [path for path in self.remembered if os.path.abspath(path) not in given]

    def check(self, deleted: Mapping[str, int], documents: int) -> None:
        """Raise CorpusError when deleting these articles (file path -> articles) of the index's
        `documents` is refused."""
        count = sum(deleted.values())
        dropped = self.dropped
        if self.prune or not count:
            return
        if not dropped and count < documents and count <= max(self.max_share * documents, ALWAYS_DELETABLE):
            return
        if dropped:
            reason = f"this run leaves out {_listed(dropped)}, which the index was built from"
            if self.origin:
                reason += f" (this run's paths come from {self.origin}: {_listed(self.given)})"
        else:
            reason = f"a run may delete at most {100 * self.max_share:g} % of its articles (or {ALWAYS_DELETABLE})"
        share = f" ({100 * count / documents:.0f} %)" if documents else ""
        reason += f"; it would delete {count:,} of its {documents:,} articles{share}: {_summary(deleted)}"
        advice = "If these articles are to go, run again with --prune"
        if dropped:
            added = [path for path in self.given if path not in self.remembered]
            every = " ".join(shlex.quote(str(path)) for path in (*self.remembered, *added))
            advice += (f"; to add {_listed(added) if added else 'a path'} to the index, name it with the index's "
                       f"paths: `newsearch index --index {shlex.quote(str(self.index))} {every}"
                       f"{'' if added else ' PATH'}`")
        else:
            advice += " (or allow more with --max-delete PERCENT)"
        raise CorpusError(f"refusing to update the index at {self.index}: {reason}. Nothing was changed: is a "
                          f"folder or drive missing, or a path mistyped? {advice}.")


def _listed(paths: Iterable[Path]) -> str:
    return ", ".join(str(path) for path in paths)


def _summary(deleted: Mapping[str, int], shown: int = 5) -> str:
    """Where the deleted articles come from, by top folder (or file), largest first."""
    by_top: Counter[str] = Counter()
    for path, count in deleted.items():
        top, slash, _ = path.partition("/")
        by_top[top + slash] += count
    parts = [f"{top} ({count:,} article{'s' if count != 1 else ''})" for top, count in by_top.most_common(shown)]
    more = len(by_top) - shown
    return ", ".join(parts) + (f" and {more:,} more" if more > 0 else "")
