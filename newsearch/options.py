"""The options of ``search`` and ``timeline`` as people type them, on the command line or as HTTP
query parameters, turned into the keyword arguments of ``Index.search`` and ``Index.timeline``.

One code path for both front-ends, so ``newsearch search --page 2`` and ``GET /api/search?page=2``
run the same search and refuse the same mistakes with the same message. ``flag`` spells an
option's name in those messages: ``--since`` on the command line, ``since`` over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import TypedDict

from newsearch.config import duration_argument, local_zone, parse_date_bound, zone_argument
from newsearch.errors import QueryError
from newsearch.models import PERIODS, SORTS, Period, Sort

LIMITS = (1, 1000)  # hits per page (the library's own bound)
PASSAGE_COUNTS = (0, 20)  # passages per hit
FACET_SEPARATOR = ","


def plain_name(name: str) -> str:
    """An option named as in the library and in HTTP query parameters."""
    return name


def long_flag(name: str) -> str:
    """An option named as on the command line: ``--since``."""
    return f"--{name}"


Flag = Callable[[str], str]


class SearchArguments(TypedDict):
    """The keyword arguments of ``Index.search``."""

    limit: int
    offset: int
    since: datetime | None
    until: datetime | None
    sources: tuple[str, ...]
    sort: Sort
    passages: int
    collapse: bool
    facets: list[str]
    recency: timedelta | None
    correct: bool


class TimelineArguments(TypedDict):
    """The keyword arguments of ``Index.timeline``."""

    by: Period
    since: datetime | None
    until: datetime | None
    sources: tuple[str, ...]
    tz: tzinfo
    correct: bool


def search_arguments(*, limit: int = 10, page: int = 1, offset: int | None = None, since: str | None = None,
                     until: str | None = None, sources: Sequence[str] = (), sort: str = "relevance",
                     recency: str | None = None, show_all: bool = False, facets: str | None = None,
                     passages: int = 3, exact: bool = False, tz: str | None = None,
                     flag: Flag = plain_name) -> SearchArguments:
    """``Index.search``'s arguments for ``newsearch search``'s options: ``page`` (from 1) or
    ``offset`` (from 0) of ``limit`` hits, ``since``/``until`` as dates typed (in the calendar of
    the zone ``tz``, default the machine's), ``recency`` a half-life typed, ``facets``
    comma-separated names, ``show_all`` and ``exact`` as flags.
    QueryError naming the option (spelt by ``flag``) when one cannot be used."""
    _check_range(limit, LIMITS, flag("limit"))
    _check_range(passages, PASSAGE_COUNTS, flag("passages"))
    if offset is None:
        _check_range(page, (1, None), flag("page"))
        offset = (page - 1) * limit
    elif page != 1:
        raise QueryError(f"give {flag('page')} or {flag('offset')}, not both")
    _check_range(offset, (0, None), flag("offset"))
    if sort not in SORTS:
        raise QueryError(f"{flag('sort')} must be one of {', '.join(SORTS)}, not {sort!r}")
    since_at, until_at = date_range(since, until, flag, tz)
    return SearchArguments(
        limit=limit, offset=offset, since=since_at, until=until_at, sources=tuple(sources), sort=sort,
        passages=passages, collapse=not show_all, facets=facet_names(facets),
        recency=duration_argument(recency or None, flag("recency")), correct=not exact,
    )


def timeline_arguments(*, by: str = "month", since: str | None = None, until: str | None = None,
                       sources: Sequence[str] = (), tz: str = "UTC", exact: bool = False,
                       flag: Flag = plain_name) -> TimelineArguments:
    """``Index.timeline``'s arguments for ``newsearch timeline``'s options (``by`` a period name,
    ``tz`` a zone typed: the calendar of the periods and of ``since``/``until``); QueryError
    naming the option when one cannot be used."""
    if by not in PERIODS:
        raise QueryError(f"{flag('by')} must be one of {', '.join(PERIODS)}, not {by!r}")
    since_at, until_at = date_range(since, until, flag, tz)
    return TimelineArguments(by=by, since=since_at, until=until_at, sources=tuple(sources),
                             tz=zone_argument(tz, flag("tz")), correct=not exact)


def date_range(since: str | None, until: str | None, flag: Flag = plain_name,
               tz: str | None = None) -> tuple[datetime | None, datetime | None]:
    """``since`` (from the start of the period it names) and ``until`` (to its end) as datetimes,
    read in the calendar of the zone ``tz`` (default the machine's; see ``config.date_period``:
    ``2025-01-20``, ``2025-01-20T14:00``, ``today``, ``7d``...); QueryError when one is
    unreadable or they leave no date in between."""
    zone = zone_argument(tz, flag("tz")) if tz else local_zone()
    since_at = parse_date_bound(since, zone=zone) if since else None  # its message quotes the date, enough to find it
    until_at = parse_date_bound(until, end=True, zone=zone) if until else None
    if since_at is not None and until_at is not None and since_at >= until_at:
        raise QueryError(f"{flag('since')} {since} is after {flag('until')} {until}: no date is in between")
    return since_at, until_at


def facet_names(text: str | None) -> list[str]:
    """``"source, Year"`` -> ``["source", "year"]`` (the library refuses unknown names)."""
    return [name.strip().lower() for name in text.split(FACET_SEPARATOR) if name.strip()] if text else []


def _check_range(value: int, bounds: tuple[int, int | None], name: str) -> None:
    low, high = bounds
    if value < low or (high is not None and value > high):
        within = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise QueryError(f"{name} must be {within}, not {value}")

