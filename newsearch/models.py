"""Plain data passed between the layers: every result type the library returns.

The bottom layer: nothing here imports Whoosh or any other module of newsearch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, Literal, Protocol, TypeVar, get_args

Period = Literal["day", "week", "month", "year"]
PERIODS: tuple[Period, ...] = get_args(Period)
Sort = Literal["relevance", "newest", "oldest"]
SORTS: tuple[Sort, ...] = get_args(Sort)


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
    ignored: int = 0  # hidden files and unknown extensions, counted not reported
    rebuilt: bool = False
    duration_s: float = 0.0
    documents: int = 0  # documents in the index after the run

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


@dataclass(frozen=True)
class Results:
    """One page of search results."""

    query: str
    total: int
    hits: tuple[Hit, ...]
    suggestion: str | None = None
    elapsed_ms: float = 0.0
    expansions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # typo -> spellings also searched
    timed_out: bool = False  # the time limit stopped the search: hits may be incomplete
    # Requested facets over the whole result set: name -> ((value, count), ...), most frequent first.
    facets: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    # Exact phrases no article has: the hits are the articles with their words closest together instead.
    relaxed_phrases: tuple[str, ...] = ()


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
