"""Plain data passed between the layers: every result type the library returns.

The bottom layer: nothing here imports Whoosh or any other module of newsearch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args

Period = Literal["day", "week", "month", "year"]
PERIODS: tuple[Period, ...] = get_args(Period)
Sort = Literal["relevance", "newest", "oldest"]
SORTS: tuple[Sort, ...] = get_args(Sort)
JSON_FORMAT_VERSION = 1  # of `newsearch search --format json` (``Results.to_dict``); fields only ever added


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and tuples as plain JSON values."""
    if type(value) in _SCALARS:  # most values of a page of hits: answered before any other test
        return value
    names = _field_names(type(value))
    if names is not None:  # not asdict: it copies every level, then we walk it again
        return {name: to_jsonable(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's field names, looked up once per class (``fields()`` is slow per call); None for other types."""
    if kind not in _FIELD_NAMES:
        _FIELD_NAMES[kind] = tuple(item.name for item in fields(kind)) if is_dataclass(kind) else None
    return _FIELD_NAMES[kind]


@dataclass(frozen=True)
class Document:
    """One article as read from the corpus, before indexing.

    ``id`` is stable across runs (explicit id/guid, else the corpus-relative path,
    plus ``#n`` for the n-th article of a multi-article file). ``published`` is
    timezone-aware UTC or None. ``path`` is the corpus-relative path of the file
    it came from (with forward slashes).
    """

    id: str
    title: str
    body: str
    path: str
    published: datetime | None = None
    source: str = ""
    url: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """SHA-256 over every indexed field, so any edit shows as a change."""
        digest = hashlib.sha256()
        published = self.published.isoformat() if self.published else ""
        for part in (self.id, self.title, self.body, published, self.source,
                     self.url, self.author, "\x1f".join(self.tags)):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return digest.hexdigest()


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file (or one article in it) that was not indexed, and why."""

    path: str
    reason: str


@dataclass
class BuildReport:
    """What one `newsearch index` run did."""

    index_path: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[SkippedFile] = field(default_factory=list)  # indexed, but with something to say (an unreadable date)
    ignored: int = 0  # hidden files and unknown extensions, counted not reported
    ignored_types: dict[str, int] = field(default_factory=dict)  # files of a type no reader reads: suffix -> count
    rebuilt: bool = False
    duration_s: float = 0.0  # the run's own time: waiting for another writer's lock left out
    documents: int = 0  # documents in the index after the run
    waited_s: float = 0.0  # waiting for another writer to finish first (`--wait`)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def skipped_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.skipped:
            key = item.reason.split(":", 1)[0]
            counts[key] = counts.get(key, 0) + 1
        return counts


@dataclass(frozen=True)
class IndexStats:
    """A summary of one index."""

    index_path: str
    generation: str
    documents: int
    sources: dict[str, int]
    earliest: datetime | None
    latest: datetime | None
    undated: int
    size_bytes: int
    created: datetime | None
    updated: datetime | None
    format: str
    versions: dict[str, str] = field(default_factory=dict)
    duplicate_clusters: int = 0  # stories with near-duplicate copies
    duplicates: int = 0  # copies beyond the first of each such story
    corpus: tuple[str, ...] = ()  # the paths it was last built from (what `newsearch index` updates it from)


@dataclass(frozen=True)
class CheckReport:
    """What `check` verified."""

    index_path: str
    generation: str
    documents: int
    files: int
    segments: int


@dataclass(frozen=True)
class Timeline:
    """Counts per period, oldest first, every period of the range present (0 when empty).

    ``undated`` items had no date and ``outside`` ones a date before ``since`` or from
    ``until`` on; neither is in ``buckets``. Iterating a Timeline yields its buckets.
    """

    period: Period
    buckets: tuple[tuple[date, int], ...]
    undated: int = 0
    outside: int = 0
    expansions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # as in ``Results``: typo -> spellings also counted
    not_found: tuple[str, ...] = ()  # words typed that no article holds

    @property
    def total(self) -> int:
        """The number of items counted in the buckets."""
        return sum(count for _, count in self.buckets)

    def __iter__(self) -> Iterator[tuple[date, int]]:
        return iter(self.buckets)

    def __len__(self) -> int:
        return len(self.buckets)


def check_period(period: str) -> None:
    """ValueError unless ``period`` is one of ``PERIODS``."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class Passage:
    """A snippet of an article's body that answers the query.

    ``start``/``end`` are offsets into the stored body (``body[start:end] == text``);
    ``highlights`` are ``(start, end)`` spans into ``text`` of the matched words.
    """

    text: str
    start: int
    end: int
    score: float
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class SimilarCopy:
    """A near-duplicate of a hit (the same story republished) that search folded into it."""

    id: str
    source: str
    published: datetime | None
    path: str


@dataclass(frozen=True)
class Hit:
    """One ranked article; plain data that outlives the index it came from."""

    id: str
    rank: int
    score: float
    title: str
    source: str
    published: datetime | None
    url: str
    path: str
    passages: tuple[Passage, ...] = ()
    similar: tuple[SimilarCopy, ...] = ()  # copies matching the query, hidden unless collapse=False
    author: str = ""
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON values, as in the ``hits`` of ``Results.to_dict`` (one line of ``--format jsonl``)."""
        data: dict[str, Any] = to_jsonable(self)
        return data


@dataclass(frozen=True)
class FilterNote:
    """Why the filters (sources, dates) left no result although the query alone matches articles.

    ``matches`` articles match ``query`` without filters; ``from_sources`` of them are from
    one of ``sources`` (None: no source filter) and ``in_dates`` published in
    ``[since, until)`` (None: no date filter). ``match_sources`` are the matches' own sources
    with counts, most frequent first; ``dated`` of the matches have a date, the earliest and
    latest given. ``message`` says it in one sentence.
    """

    query: str
    matches: int
    sources: tuple[str, ...] = ()
    from_sources: int | None = None
    match_sources: tuple[tuple[str, int], ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    in_dates: int | None = None
    dated: int = 0
    earliest: datetime | None = None
    latest: datetime | None = None

    @property
    def removed_by(self) -> tuple[str, ...]:
        """The filters that leave none of the matches on their own: "sources" and/or "dates"
        (empty when each keeps some, but no match passes both)."""
        return tuple(name for name, kept in (("sources", self.from_sources), ("dates", self.in_dates)) if kept == 0)

    @property
    def message(self) -> str:
        """``180 articles match 'blair', but none from source 'bbc' (theirs: politics 150, ...)``."""
        verb = "matches" if self.matches == 1 else "match"
        head = f"{self.matches:,} article{'' if self.matches == 1 else 's'} {verb} {self.query!r}"
        window = _window(self.since, self.until)
        named = " or ".join(repr(name) for name in self.sources)
        source_part = f"from source{'s' if len(self.sources) > 1 else ''} {named}"
        parts = []
        if self.from_sources == 0:
            theirs = ", ".join(f"{name} {count:,}" for name, count in self.match_sources[:10])
            more = f", +{len(self.match_sources) - 10:,} more" if len(self.match_sources) > 10 else ""
            parts.append(f"none {source_part} (their sources: {theirs}{more})" if theirs else f"none {source_part}")
        if self.in_dates == 0:
            if not self.dated:
                parts.append("none of them is dated, and a date filter keeps only dated articles" if self.matches > 1
                             else "it is not dated, and a date filter keeps only dated articles")
            else:
                undated = self.matches - self.dated
                span = (f"from {self.earliest:%Y-%m-%d} to {self.latest:%Y-%m-%d}"
                        if self.earliest and self.latest else "")
                parts.append(f"none published {window} (the {self.dated:,} dated are {span}"
                             + (f"; {undated:,} undated" if undated else "") + ")")
        if not parts:
            parts.append(f"{self.from_sources:,} {source_part} and {self.in_dates:,} published {window}, "
                         "but none both")
        return f"{head}, but " + "; ".join(parts)


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d") if moment.time() == datetime.min.time() else moment.isoformat()


def _window(since: datetime | None, until: datetime | None) -> str:
    """``from 2005-01-01 to 2005-01-31``: ``since`` inclusive, ``until`` exclusive (a midnight
    shown as the day before it, included)."""
    end = ""
    if until is not None:
        end = (f"to {_day(until - timedelta(days=1))}" if until.time() == datetime.min.time()
               else f"before {_day(until)}")
    if since is None:
        return end
    return f"from {_day(since)}" + (f" {end}" if end else " on")


@dataclass(frozen=True)
class Results:
    """One page of search results: ``hits`` from ``offset`` (0-based), at most ``limit`` of them.

    ``total`` counts the matching articles, each copy of a story included; ``stories`` counts
    what the pages hold over the whole result set (with copies folded, one per story; else
    ``total``): page ``n`` holds stories ``(n-1)*limit+1`` to ``n*limit``. ``filtered_out``
    says why the filters left nothing when the query alone matches articles.
    """

    query: str
    total: int
    hits: tuple[Hit, ...]
    suggestion: str | None = None
    elapsed_ms: float = 0.0
    expansions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # typo -> spellings also searched
    timed_out: bool = False  # the time limit stopped the search: hits may be incomplete
    # Requested facets over the whole result set: name -> ((value, count), ...), most frequent first.
    facets: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    stories: int | None = None  # None: the same as total
    offset: int = 0
    limit: int = 10
    filtered_out: FilterNote | None = None
    not_found: tuple[str, ...] = ()  # words typed that no article holds, searched as typed
    # Exact phrases no article has: the hits are the articles with their words closest together instead.
    relaxed_phrases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.stories is None:
            object.__setattr__(self, "stories", self.total)

    @property
    def pages(self) -> int:
        """How many pages of ``limit`` the stories fill."""
        return -(-(self.stories or 0) // max(self.limit, 1))

    def to_dict(self, *, with_hits: bool = True) -> dict[str, Any]:
        """The JSON document ``newsearch search --format json`` prints (``json.dumps`` of this;
        see README, "JSON output"): plain values, keys in a stable order, ``format_version`` first.
        ``with_hits=False`` leaves the hits out (an empty list): what is said of the search only."""
        note = self.filtered_out
        return {
            "format_version": JSON_FORMAT_VERSION,
            "query": self.query,
            "total": self.total,
            "stories": self.stories,
            "offset": self.offset,
            "limit": self.limit,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "timed_out": self.timed_out,
            "suggestion": self.suggestion,
            "expansions": {typed: list(spellings) for typed, spellings in self.expansions},
            "not_found": list(self.not_found),
            "relaxed_phrases": list(self.relaxed_phrases),
            "hits": [hit.to_dict() for hit in self.hits] if with_hits else [],
            "facets": {name: [{"value": value, "count": count} for value, count in counts]
                       for name, counts in self.facets.items()},
            "filtered_out": None if note is None else {
                **to_jsonable(note),
                "match_sources": [{"value": value, "count": count} for value, count in note.match_sources],
                "removed_by": list(note.removed_by),
                "message": note.message,
            },
        }


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


CandidateT = TypeVar("CandidateT", bound=_Identified)


@dataclass(slots=True)
class Ranked(Generic[CandidateT]):
    """A ranked candidate: its score, itself (``matches.Candidate`` in a search), and its
    passages if the ranking found them (None: found when shown)."""

    score: float
    candidate: CandidateT
    passages: tuple[Passage, ...] | None = None


@dataclass(frozen=True)
class Match:
    """One article a query matches, as ``Index.matching`` lists every one of them: its id, date
    and content hash (which changes with any edit), and the ids of its copies folded into it."""

    id: str
    published: datetime | None
    content_hash: str
    similar: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewArticle:
    """An article a saved search reports: new since its previous run, or ``changed`` since reported."""

    document: Document
    changed: bool = False
    similar: tuple[str, ...] = ()  # ids of its copies folded into it, as in search


@dataclass(frozen=True)
class WatchReport:
    """One run of one saved search: the articles new or changed since its previous run (newest
    first) out of the ``matched`` stories it matches now."""

    name: str
    query: str  # the search as one line: its query and filters
    matched: int
    new: tuple[NewArticle, ...]
    ran_at: datetime
