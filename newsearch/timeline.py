"""Counts over time, facets and recency: pure functions over dates (no index, no Whoosh).

The roles:

* **bucket_start** -- the first day of the day, ISO week (Monday), month or year
  that holds a moment, as seen in a time zone (UTC unless told);
* **timeline** -- counts per period from the first to the last (or between
  ``since`` and ``until``), empty periods included as 0, in a ``Timeline`` that
  also says how many items had no date and how many fell outside the bounds;
* **renderers** -- ``render_bars`` (a terminal bar chart), ``to_csv``, ``to_json``;
* **facets** -- ``facet_counts`` and ``year_month`` for ``--facets year,month``;
* **recency** -- ``recency_factor`` (exponential decay with a half-life) and
  ``parse_half_life`` ("30d", "12h", "2w", "1y").

Moments follow the rest of newsearch: a naive ``datetime`` is UTC, ``since`` is
inclusive and ``until`` exclusive (as in ``Index.search``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Literal, get_args

__all__ = [
    "MAX_BUCKETS",
    "PERIODS",
    "Period",
    "Timeline",
    "bucket_label",
    "bucket_start",
    "facet_counts",
    "parse_half_life",
    "parse_timezone",
    "recency_factor",
    "render_bars",
    "timeline",
    "to_csv",
    "to_json",
    "year_month",
]

Period = Literal["day", "week", "month", "year"]
PERIODS: tuple[Period, ...] = get_args(Period)

MAX_BUCKETS = 10_000
"""The most periods one timeline may span (27 years of days): a date typed as 0205 must not
make millions of empty days."""

TIMELINE_FORMAT_VERSION = 1

Buckets = Iterable[tuple[date, int]]


def _utc(moment: datetime) -> datetime:
    """An aware datetime: naive ones are UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")


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
    _check_period(period)
    return _floor(_utc(moment).astimezone(tz).date(), period)


def bucket_label(start: date, period: Period | None) -> str:
    """How a period is named: 2025-01-31 (day), 2025-W05 (ISO week), 2025-01 (month), 2025 (year).

    With no period, the ISO date of its first day.
    """
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if period == "month":
        return f"{start.year:04d}-{start.month:02d}"
    if period == "year":
        return f"{start.year:04d}"
    return start.isoformat()


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
    _check_period(period)
    if since is not None and until is not None and _utc(since) >= _utc(until):
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    lower = None if since is None else _utc(since)
    upper = None if until is None else _utc(until)
    counts: Counter[date] = Counter()
    undated = outside = 0
    for moment in dates:
        if moment is None:
            undated += 1
            continue
        moment = _utc(moment)
        if (lower is not None and moment < lower) or (upper is not None and moment >= upper):
            outside += 1
            continue
        counts[_floor(moment.astimezone(tz).date(), period)] += 1

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


def _period_of(buckets: Buckets | Timeline, period: Period | None) -> Period | None:
    if period is not None:
        _check_period(period)
        return period
    return buckets.period if isinstance(buckets, Timeline) else None


def render_bars(
    buckets: Buckets | Timeline, width: int = 50, *, unicode: bool = True, period: Period | None = None
) -> str:
    """A bar chart, one line per period: label, bar, count (``2025-01  ████████ 12``).

    Bars are proportional to the largest count, rounded, and at least one block long
    for any count above zero; ``unicode=False`` draws them with ``#``. Counts are
    right-aligned after bars padded to ``width``. Lines end without a newline after
    the last; no buckets give "". The labels come from ``period`` (or the
    Timeline's); without either, the ISO date of each period's first day.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, not {width}")
    period = _period_of(buckets, period)
    rows = [(bucket_label(start, period), count) for start, count in buckets]
    if not rows:
        return ""
    block = "\u2588" if unicode else "#"
    largest = max(count for _, count in rows)
    label_width = max(len(label) for label, _ in rows)
    count_width = max(len(str(count)) for _, count in rows)
    lines = []
    for label, count in rows:
        if count < 0:
            raise ValueError(f"counts cannot be negative: {label} has {count}")
        length = 0 if count == 0 else max(1, (2 * count * width + largest) // (2 * largest))
        lines.append(f"{label:<{label_width}}  {block * length:<{width}} {count:>{count_width}}")
    return "\n".join(lines)


def to_csv(buckets: Buckets | Timeline, *, period: Period | None = None) -> str:
    """``start,label,count`` with a header line; ``start`` is an ISO date, lines end in "\\n"."""
    period = _period_of(buckets, period)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "label", "count"])
    for start, count in buckets:
        writer.writerow([start.isoformat(), bucket_label(start, period), count])
    return out.getvalue()


def to_json(buckets: Buckets | Timeline, *, period: Period | None = None) -> str:
    """One JSON object (keys in this order, only ever growing new ones)::

        {"format_version": 1, "period": "month", "total": 14, "undated": 2, "outside": 0,
         "buckets": [{"start": "2025-01-01", "label": "2025-01", "count": 12}, ...]}

    ``period`` is null when unknown; ``undated`` and ``outside`` are null unless given a Timeline.
    """
    period = _period_of(buckets, period)
    rows = [
        {"start": start.isoformat(), "label": bucket_label(start, period), "count": count}
        for start, count in buckets
    ]
    known = isinstance(buckets, Timeline)
    return json.dumps(
        {
            "format_version": TIMELINE_FORMAT_VERSION,
            "period": period,
            "total": sum(row["count"] for row in rows),  # type: ignore[misc]
            "undated": buckets.undated if known else None,  # type: ignore[union-attr]
            "outside": buckets.outside if known else None,  # type: ignore[union-attr]
            "buckets": rows,
        },
        ensure_ascii=True,
    )


def facet_counts(values: Iterable[str | None]) -> list[tuple[str, int]]:
    """``(value, count)`` pairs, most frequent first, ties by value; None and "" are not counted."""
    counts = Counter(value for value in values if value)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def year_month(moment: datetime | None, tz: tzinfo = timezone.utc) -> tuple[str, str] | None:
    """The year and month facet values of a moment, ``("2025", "2025-01")``; None without a date."""
    if moment is None:
        return None
    local = _utc(moment).astimezone(tz)
    return f"{local.year:04d}", f"{local.year:04d}-{local.month:02d}"


def recency_factor(published: datetime | None, now: datetime, half_life: timedelta) -> float | None:
    """``0.5 ** (age / half_life)``: 1.0 for an article published now (or in the future),
    0.5 at one half-life, 0.25 at two.

    An undated article gets None, not a number: articles without a date are neither
    favoured nor dropped, so the caller gives them a neutral factor of its choice
    (the median factor of the dated results, or 1.0 to leave their scores alone).
    """
    if half_life <= timedelta(0):
        raise ValueError(f"the half-life must be longer than zero, not {half_life}")
    if published is None:
        return None
    age = _utc(now) - _utc(published)
    if age <= timedelta(0):
        return 1.0
    return 0.5 ** (age / half_life)


_HALF_LIFE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([hdwy])\s*", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}


def parse_half_life(text: str) -> timedelta:
    """A half-life written as a number and a unit: ``12h``, ``30d``, ``2w``, ``1y`` (365 days), ``1.5d``."""
    match = _HALF_LIFE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid half-life {text!r}: write a number and a unit, h (hours), d (days), "
            "w (weeks) or y (years of 365 days), such as 30d or 12h"
        )
    number, unit = float(match.group(1)), match.group(2).lower()
    if number <= 0:
        raise ValueError(f"invalid half-life {text!r}: it must be longer than zero, such as 30d")
    try:
        return number * _UNITS[unit]
    except OverflowError:
        raise ValueError(f"invalid half-life {text!r}: too long, such as 30d") from None


_OFFSET = re.compile(r"([+-])(\d{1,2}):?(\d{2})?")


def parse_timezone(text: str) -> tzinfo:
    """A time zone written as ``UTC``, an offset (``+01:00``, ``-0530``, ``+9``) or an IANA name
    (``Europe/Berlin``, from the system's time zone database)."""
    name = text.strip()
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    offset = _OFFSET.fullmatch(name)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta >= timedelta(hours=24):
            raise ValueError(f"invalid time zone {text!r}: an offset is less than 24 hours, such as +01:00")
        return timezone(-delta if sign == "-" else delta)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {text!r}: write UTC, an offset such as +01:00, or a name such as Europe/Berlin"
        ) from None
