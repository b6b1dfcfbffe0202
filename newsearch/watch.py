"""Saved searches that report what is new: ``Watches`` (add, list, remove, check, record).

A watch is a query with filters, kept by name in one JSON state file: by default ``watches.json``
in the index folder, beside the generations, so ``index --rebuild`` leaves it alone. Each run
reports the articles it matches that are new, or changed (another content hash), since the
watch's previous run, copies of one story folded as in ``search``; then records them.

Safe from cron. Every use holds an exclusive lock on ``<state>.lock`` for its whole length, so
overlapping runs take turns and the second reports nothing twice. The state is replaced
atomically, and only after the caller has delivered what a run found (``record``): a run killed
before that reports the same articles again next time instead of dropping them. A run lists the
matches of one index snapshot, so an indexer committing meanwhile makes an article appear in
this run or the next, never neither.

    with Watches.open(index_path) as watches:
        reports = [watches.check(index, name) for name in watches.names()]
        ...deliver them...
        watches.record(reports, feed_dir=...)
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from newsearch.config import resolve_index_path
from newsearch.errors import NewsearchError, QueryError
from newsearch.interchange import FeedEntry, atom_feed
from newsearch.models import NewArticle, WatchReport
from newsearch.options import date_range
from newsearch.query import parse
from newsearch.searcher import EVERY_ARTICLE, Index
from newsearch.storage import write_atomically

STATE_FILE = "watches.json"
STATE_ENV = "NEWSEARCH_WATCHES"
STATE_VERSION = 1
FEED_ENTRIES = 50  # the newest articles a feed keeps
SUMMARY_CHARS = 300
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class WatchError(NewsearchError):
    """A watch that does not exist, exists already, or a state file that cannot be used."""


@dataclass(frozen=True)
class Watch:
    """A saved search: its name, query and filters as typed (``since="7d"`` is read at each run)."""

    name: str
    query: str
    since: str | None = None
    until: str | None = None
    tz: str | None = None  # the calendar of since and until (None: the machine's zone)
    sources: tuple[str, ...] = ()
    show_all: bool = False
    exact: bool = False

    def describe(self) -> str:
        """``'ferry' --since 7d --source Wire``: the watch as one line."""
        parts = [repr(self.query)] if self.query else []
        parts += [f"--since {self.since}"] if self.since else []
        parts += [f"--until {self.until}"] if self.until else []
        parts += [f"--tz {self.tz}"] if self.tz and (self.since or self.until) else []
        parts += [f"--source {source!r}" for source in self.sources]
        parts += ["--all"] * self.show_all + ["--exact"] * self.exact
        return " ".join(parts)


def state_path(index: str | os.PathLike[str] | None = None, state: str | os.PathLike[str] | None = None) -> Path:
    """The state file: ``state`` if given, else $NEWSEARCH_WATCHES, else ``watches.json`` in the index folder."""
    chosen = state or os.environ.get(STATE_ENV)
    if chosen:
        return Path(chosen).expanduser().absolute()
    return resolve_index_path(index) / STATE_FILE


class Watches:
    """The watches of one state file, locked while open. Use ``Watches.open``."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data
        self._pending: dict[str, dict[str, str]] = {}  # watch name -> id -> hash, checked but not yet recorded

    @classmethod
    @contextmanager
    def open(cls, index: str | os.PathLike[str] | None = None,
             state: str | os.PathLike[str] | None = None) -> Iterator[Watches]:
        """The watches of ``state_path(index, state)``, the lock held until the block ends
        (waiting for another holder to finish)."""
        path = state_path(index, state)
        if not path.parent.is_dir():
            raise WatchError(f"cannot keep watches in {path}: the folder {path.parent} does not exist; "
                             "build the index first (`newsearch index`) or name a state file with --state")
        try:
            lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise WatchError(f"cannot lock the watches in {path}: {exc.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield cls(path, _read_state(path))
        finally:
            os.close(lock)  # releases the lock

    def names(self) -> list[str]:
        return sorted(self._data["watches"])

    def get(self, name: str) -> Watch:
        entry = self._data["watches"].get(name)
        if entry is None:
            known = ", ".join(self.names()) or "none yet"
            raise WatchError(f"no watch named {name!r} (watches: {known})")
        return Watch(name=name, **{"tz": None, **entry["watch"], "sources": tuple(entry["watch"]["sources"])})

    def add(self, watch: Watch) -> None:
        """Save ``watch`` (WatchError if the name is taken; QueryError if it cannot be searched)."""
        if not _NAME.fullmatch(watch.name):
            raise WatchError(f"invalid watch name {watch.name!r}: use letters, digits, '.', '_' and '-' "
                             "(at most 64, starting with a letter or digit)")
        if watch.name in self._data["watches"]:
            raise WatchError(f"a watch named {watch.name!r} exists already; remove it first")
        check_watch(watch)
        fields = {key: value for key, value in asdict(watch).items() if key != "name"}
        self._data["watches"][watch.name] = {"watch": {**fields, "sources": list(watch.sources)},
                                             "seen": {}, "feed": [], "last_run": None}
        self._save()

    def remove(self, name: str) -> None:
        self.get(name)
        del self._data["watches"][name]
        self._save()

    def last_run(self, name: str) -> datetime | None:
        value = self._data["watches"][self.get(name).name]["last_run"]
        return datetime.fromisoformat(value) if value else None

    def check(self, index: Index, name: str, now: datetime | None = None) -> WatchReport:
        """What watch ``name`` reports now: its matches new or changed since it last recorded a
        run, newest first. Records nothing: call ``record`` once they are delivered."""
        watch = self.get(name)
        seen: dict[str, str] = self._data["watches"][name]["seen"]
        since, until = date_range(watch.since, watch.until, tz=watch.tz)
        new = []
        with index.matching(watch.query, since=since, until=until, sources=watch.sources,
                            collapse=not watch.show_all, correct=not watch.exact) as matches:
            for match, document in matches.articles(lambda match: seen.get(match.id) != match.content_hash):
                new.append((match.content_hash, NewArticle(document, changed=match.id in seen, similar=match.similar)))
        report = WatchReport(name=name, query=watch.describe(), matched=len(matches),
                             new=tuple(article for _, article in new), ran_at=now or datetime.now(timezone.utc))
        self._pending[name] = {article.document.id: digest for digest, article in new}
        return report

    def record(self, reports: Sequence[WatchReport], feed_dir: str | os.PathLike[str] | None = None) -> None:
        """Remember ``reports`` (from ``check``) as delivered; with ``feed_dir``, write each
        watch's Atom feed there as ``NAME.atom`` (its ``FEED_ENTRIES`` newest articles)."""
        for report in reports:
            entry = self._data["watches"][report.name]
            entry["seen"].update(self._pending.pop(report.name, {}))
            entry["last_run"] = report.ran_at.isoformat()
            fresh = [_feed_entry(article, report.ran_at) for article in report.new]
            renewed = {new.id for new in fresh}
            kept = [item for item in entry["feed"] if item["id"] not in renewed]
            entry["feed"] = ([new.to_dict() for new in fresh] + kept)[:FEED_ENTRIES]
        self._save()
        if feed_dir is not None:
            folder = Path(feed_dir)
            folder.mkdir(parents=True, exist_ok=True)
            for report in reports:
                entries = [FeedEntry.from_dict(item) for item in self._data["watches"][report.name]["feed"]]
                feed = atom_feed(report.name, self.get(report.name).describe(), entries, report.ran_at)
                write_atomically(folder / f"{report.name}.atom", _writer(feed))

    def _save(self) -> None:
        write_atomically(self.path, lambda handle: json.dump(self._data, handle, ensure_ascii=True, indent=1))


def check_watch(watch: Watch) -> None:
    """QueryError if ``watch`` could not be searched: its query unreadable, its dates, or nothing
    to search for at all."""
    date_range(watch.since, watch.until, tz=watch.tz)
    text = watch.query.strip()
    if text == EVERY_ARTICLE:
        return
    if not text and not (watch.since or watch.until or watch.sources):
        raise QueryError(f"the watch {watch.name!r} has no query and no filter: give words to search for, "
                         f"a filter, or {EVERY_ARTICLE} for every new article")
    if text:
        parse(text)


def _writer(text: str) -> Callable[[TextIO], object]:
    return lambda handle: handle.write(text)


def _feed_entry(article: NewArticle, reported: datetime) -> FeedEntry:
    document = article.document
    summary = " ".join(document.body.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return FeedEntry(id=document.id, title=document.title, summary=summary, url=document.url,
                     source=document.source, published=document.published, reported=reported)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"format_version": STATE_VERSION, "watches": {}}
    except OSError as exc:
        raise WatchError(f"cannot read the watches in {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
        if data.get("format_version") != STATE_VERSION or not isinstance(data.get("watches"), dict):
            raise ValueError("not a watches file of this version")
    except (ValueError, AttributeError) as exc:
        raise WatchError(f"the watches file {path} is damaged ({exc}); move it away to start again") from None
    return data
