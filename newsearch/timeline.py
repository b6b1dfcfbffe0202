"""Counts over time: pure functions over dates (no index, no Whoosh).

The roles:

* **bucket_start** -- the first day of the day, ISO week (Monday), month or year
  that holds a moment, as seen in a time zone (UTC unless told);
* **timeline** -- counts per period from the first to the last (or between
  ``since`` and ``until``), empty periods included as 0, in a ``Timeline`` that
  also says how many items had no date and how many fell outside the bounds
  (``columns.timeline_of``: the same over a numpy array of moments, with no Python
  work per item; both end in ``counted``).

The ``Timeline`` and ``Period`` types are in ``models``, the renderers (bar chart,
CSV, JSON) in ``formatting``, facets in ``grouping``, recency in ``ranking`` and the
parsing of half-lives and time zones in ``config``.

Moments follow the rest of newsearch: a naive ``datetime`` is UTC, ``since`` is
inclusive and ``until`` exclusive (as in ``Index.search``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo

from newsearch.config import as_utc
from newsearch.models import Period, Timeline, check_period

__all__ = [
    "MAX_BUCKETS",
    "bucket_start",
    "checked_bounds",
    "counted",
    "timeline",
]

MAX_BUCKETS = 10_000
"""The most periods one timeline may span (27 years of days): a date typed as 0205 must not
make millions of empty days."""


def _floor(day: date, period: Period) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def bucket_start(moment: datetime, period: Period, tz: tzinfo = timezone.utc) -> date:
    """The first day of the period holding ``moment``, on the calendar of ``tz``.

    Weeks are ISO weeks, starting on Monday. 2025-01-31T23:30Z is in February in UTC+1:

    >>> from datetime import datetime, timedelta, timezone
    >>> late = datetime(2025, 1, 31, 23, 30, tzinfo=timezone.utc)
    >>> bucket_start(late, "month", timezone(timedelta(hours=1)))
    datetime.date(2025, 2, 1)
    """
    check_period(period)
    return _floor(as_utc(moment).astimezone(tz).date(), period)


def _count_between(first: date, last: date, period: Period) -> int:
    if period == "day":
        return (last - first).days + 1
    if period == "week":
        return (last - first).days // 7 + 1
    if period == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return last.year - first.year + 1


def _nth(first: date, index: int, period: Period) -> date:
    if period == "day":
        return first + timedelta(days=index)
    if period == "week":
        return first + timedelta(weeks=index)
    if period == "month":
        months = first.month - 1 + index
        return date(first.year + months // 12, months % 12 + 1, 1)
    return date(first.year + index, 1, 1)


def timeline(
    dates: Iterable[datetime | None],
    period: Period,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    tz: tzinfo = timezone.utc,
    max_buckets: int = MAX_BUCKETS,
) -> Timeline:
    """Count ``dates`` per period, in the calendar of ``tz``.

    The buckets run from the period of ``since`` (or of the earliest date) to the
    period of the last moment before ``until`` (or of the latest date), with every
    period in between. Items before ``since`` or from ``until`` on are not counted
    (``Timeline.outside``), nor are ``None`` dates (``Timeline.undated``). No dates
    and no bounds give no buckets.

    >>> from datetime import datetime
    >>> list(timeline([datetime(2025, 1, 5), None, datetime(2025, 3, 1)], "month"))
    [(datetime.date(2025, 1, 1), 1), (datetime.date(2025, 2, 1), 0), (datetime.date(2025, 3, 1), 1)]
    """
    lower, upper = checked_bounds(period, since, until)
    counts: Counter[date] = Counter()
    undated = outside = 0
    for moment in dates:
        if moment is None:
            undated += 1
            continue
        moment = as_utc(moment)
        if (lower is not None and moment < lower) or (upper is not None and moment >= upper):
            outside += 1
            continue
        counts[_floor(moment.astimezone(tz).date(), period)] += 1
    return counted(counts, period, undated, outside, lower=lower, upper=upper, tz=tz, max_buckets=max_buckets)


def checked_bounds(period: Period, since: datetime | None,
                   until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` in UTC, once the period and their order are checked (ValueError)."""
    check_period(period)
    if since is not None and until is not None and as_utc(since) >= as_utc(until):
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return (None if since is None else as_utc(since)), (None if until is None else as_utc(until))


def counted(counts: Mapping[date, int], period: Period, undated: int, outside: int, *,
            lower: datetime | None, upper: datetime | None, tz: tzinfo, max_buckets: int = MAX_BUCKETS) -> Timeline:
    """The ``Timeline`` of ``counts`` by the first day of each period (``bucket_start``), its
    periods running from ``lower``'s (else the first counted) to ``upper``'s (else the last)."""
    first = bucket_start(lower, period, tz) if lower is not None else min(counts, default=None)
    last = (
        bucket_start(upper - timedelta(microseconds=1), period, tz)
        if upper is not None
        else max(counts, default=None)
    )
    if first is None or last is None:
        return Timeline(period, (), undated, outside)
    number = _count_between(first, last, period)
    if number > max_buckets:
        raise ValueError(
            f"{first.isoformat()} to {last.isoformat()} is {number:,} {period}s, more than "
            f"{max_buckets:,}: count by a longer period, or narrow the range with since/until"
        )
    buckets = []
    for index in range(number):
        start = _nth(first, index, period)
        buckets.append((start, counts.get(start, 0)))
    return Timeline(period, tuple(buckets), undated, outside)
