"""Plain data passed between the layers; nothing here knows about Whoosh."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar


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
