"""Settings as people write them, resolved once here for the CLI and the library alike.

* **paths** -- where the index and the corpus are: argument > NEWSEARCH_* environment
  variable > default (for the corpus, the paths the index was built from come before the default);
* **dates** -- ``parse_date_bound`` (``--since``/``--until``): YYYY, YYYY-MM, YYYY-MM-DD or a time
  of day (2025-01-20T14:00) as the period they name in a time zone, ``today``, ``yesterday``, or
  an age (``12h``, ``7d``, ``2w``, ``3m``, ``1y`` ago); ``date_bounds`` (``date:`` in queries):
  the UTC period of YYYY, YYYY-MM or YYYY-MM-DD; ``as_utc``;
* **durations** -- ``parse_half_life`` ("30d", "12h", "2w", "1y");
* **zones** -- ``parse_timezone`` ("UTC", "+01:00", "Europe/Berlin", "local"), ``local_zone``;
* **API arguments** -- ``moment_argument``, ``duration_argument`` and ``zone_argument`` take
  what the command line takes (the strings above) or the Python value, through the same parsers.
"""

from __future__ import annotations

import calendar
import os
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TypeVar

from newsearch.errors import QueryError

ParsedT = TypeVar("ParsedT")

INDEX_ENV = "NEWSEARCH_INDEX"
CORPUS_ENV = "NEWSEARCH_CORPUS"
DEFAULT_INDEX = "index"
DEFAULT_CORPUS = "corpus"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # an article file larger than this (once decompressed) is skipped
# A run may delete at most this share of an index's articles unless told to prune: more looks like
# a missing drive or a mistyped path, not like articles deleted on purpose.
DEFAULT_MAX_DELETE = 0.10
# Deleting this many articles is never refused: removing a few files from a small corpus is routine.
ALWAYS_DELETABLE = 10


def resolve_index_path(index: str | os.PathLike[str] | None = None) -> Path:
    """The index folder: ``index`` if given, else $NEWSEARCH_INDEX, else ./index."""
    chosen = index if index not in (None, "") else os.environ.get(INDEX_ENV) or DEFAULT_INDEX
    return Path(chosen).expanduser().absolute()


def resolve_corpus_paths(paths: Sequence[str | os.PathLike[str]] | None = None,
                         remembered: Sequence[str] | None = None) -> list[Path]:
    """The corpus paths: ``paths`` if given, else $NEWSEARCH_CORPUS (os.pathsep-separated), else
    ``remembered`` (those an existing index was built from), else ./corpus."""
    if paths:
        return [Path(p).expanduser().absolute() for p in paths]
    from_env = os.environ.get(CORPUS_ENV)
    if from_env:
        chosen = [p for p in from_env.split(os.pathsep) if p]
    else:
        chosen = list(remembered or ()) or [DEFAULT_CORPUS]
    return [Path(p).expanduser().absolute() for p in chosen]


def corpus_paths_origin(paths: Sequence[str | os.PathLike[str]] | None = None) -> str:
    """Where ``resolve_corpus_paths`` takes the corpus paths from, for messages: '' when named."""
    if paths:
        return ""
    return f"${CORPUS_ENV}" if os.environ.get(CORPUS_ENV) else "the paths the index remembers"


def max_delete_share(value: float) -> float:
    """The share of an index's articles a run may delete (``max_delete``): a number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"max_delete must be a share of the index from 0 to 1, not {type(value).__name__}")
    if not 0 <= value <= 1:
        raise ValueError(f"max_delete must be a share of the index from 0 to 1 (0.1 is 10 %), not {value!r}")
    return float(value)


# -- dates ----------------------------------------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """An aware datetime: naive ones are UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


DATE_FORMS = ("YYYY, YYYY-MM, YYYY-MM-DD, a time such as 2025-01-20T14:00, today, yesterday, "
              "or an age such as 12h, 7d, 2w, 3m or 1y")


def parse_date_bound(text: str, *, end: bool = False, zone: tzinfo = timezone.utc,
                     now: datetime | None = None) -> datetime:
    """A --since (start of the period) or --until (end of the period) date, as an aware UTC
    datetime: see ``date_period``."""
    try:
        start, stop = date_period(text, zone, now)
    except ValueError:
        raise QueryError(f"cannot read the date {text!r}; write {DATE_FORMS}") from None
    return stop if end else start


_AGE = re.compile(r"(\d{1,6})\s*([hdwmy])", re.IGNORECASE)
_TIME_OF_DAY = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})[T ](\d{1,2})(?::(\d{2}))?(?::(\d{2}))?", re.IGNORECASE)


def date_period(text: str, zone: tzinfo = timezone.utc, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The period ``text`` names, ``[start, end)`` in UTC, its calendar that of ``zone``:

    * ``2025``, ``2025-01``, ``2025-01-20``: that year, month or day;
    * ``2025-01-20T14``, ``2025-01-20T14:00``, ``2025-01-20T14:00:30``: that hour, minute or second;
    * ``today``, ``yesterday``: that day (as of ``now``, default the current time);
    * ``12h``, ``7d``, ``2w``, ``3m``, ``1y``: the moment that long before ``now`` (months and
      years by the calendar), a period of no length: since then, or until then.

    ValueError when ``text`` is none of these.
    """
    word = text.strip().lower()
    current = (now or datetime.now(timezone.utc)).astimezone(zone)
    if word in ("today", "yesterday"):
        day = current.date() - timedelta(days=1 if word == "yesterday" else 0)
        return _local_period(datetime(day.year, day.month, day.day), timedelta(days=1), zone)
    age = _AGE.fullmatch(word)
    if age:
        moment = _ago(current, int(age.group(1)), age.group(2).lower()).astimezone(timezone.utc)
        return moment, moment
    clock = _TIME_OF_DAY.fullmatch(word)
    if clock:
        day = date_bounds(clock.group(1))[0]
        hour, minute, second = (int(part) if part is not None else None for part in clock.groups()[1:])
        # ValueError for hour 24, minute 60...
        start = datetime(day.year, day.month, day.day, hour or 0, minute or 0, second or 0)
        length = (timedelta(hours=1) if minute is None else timedelta(minutes=1) if second is None
                  else timedelta(seconds=1))
        return _local_period(start, length, zone)
    start, end = date_bounds(word)
    if zone is timezone.utc:
        return start, end
    return _local_period(start.replace(tzinfo=None), end - start, zone)


def _local_period(start: datetime, length: timedelta, zone: tzinfo) -> tuple[datetime, datetime]:
    """The period of wall-clock ``length`` from the naive wall time ``start`` in ``zone``, in UTC
    (a day across a change of summer time is 23 or 25 hours long)."""
    stop = _later(start, length)  # aware only when past year 9999: the end of time
    return _wall_to_utc(start, zone), stop if stop.tzinfo else _wall_to_utc(stop, zone)


def _wall_to_utc(wall: datetime, zone: tzinfo) -> datetime:
    """The naive wall time ``wall`` of ``zone`` in UTC (the first or last moment Python has when
    that falls outside years 1 to 9999)."""
    try:
        return wall.replace(tzinfo=zone).astimezone(timezone.utc)
    except OverflowError:
        return (datetime.max if wall.year > 1 else datetime.min).replace(tzinfo=timezone.utc)


def _ago(moment: datetime, count: int, unit: str) -> datetime:
    """``count`` hours, or calendar days, weeks, months or years (wall-clock time in ``moment``'s
    zone) before ``moment`` (a month back from 31 March is the last day of February)."""
    if unit == "h":
        return moment.astimezone(timezone.utc) - timedelta(hours=count)
    if unit in "dw":
        return moment - timedelta(days=count * (7 if unit == "w" else 1))
    months = moment.year * 12 + moment.month - 1 - count * (12 if unit == "y" else 1)
    year, month = divmod(months, 12)
    if year < 1:
        raise ValueError(f"{count}{unit} ago is before year 1")
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


_DATE_PART = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def date_bounds(text: str) -> tuple[datetime, datetime]:
    """The UTC period a date names, ``[start, end)``: a year, a month or a day; ValueError if unreadable."""
    match = _DATE_PART.match(text.strip())
    if not match:
        raise ValueError(text)
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    if month is None:
        start = datetime(year, 1, 1, tzinfo=timezone.utc)
        return start, _later(start, timedelta(days=366 if calendar.isleap(year) else 365))
    if day is None:
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        return start, _later(start, timedelta(days=calendar.monthrange(year, month)[1]))
    start = datetime(year, month, day, tzinfo=timezone.utc)
    return start, _later(start, timedelta(days=1))


def _later(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, or the last representable moment for the end of year 9999."""
    try:
        return moment + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=timezone.utc)


# -- durations ------------------------------------------------------------------------------------

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


# -- zones ----------------------------------------------------------------------------------------

_OFFSET = re.compile(r"([+-])(\d{1,2}):?(\d{2})?")


def parse_timezone(text: str) -> tzinfo:
    """A time zone written as ``UTC``, an offset (``+01:00``, ``-0530``, ``+9``), an IANA name
    (``Europe/Berlin``, from the system's time zone database), or ``local`` (``local_zone``)."""
    name = text.strip()
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    if name.lower() == "local":
        return local_zone()
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


def local_zone() -> tzinfo:
    """The machine's time zone: $TZ if it names one, else /etc/localtime's, else the current offset."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    names = [os.environ.get("TZ", "").lstrip(":")]
    try:
        names.append(os.path.realpath("/etc/localtime").partition("/zoneinfo/")[2])
    except OSError:
        pass
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now().astimezone().tzinfo or timezone.utc


# -- API arguments --------------------------------------------------------------------------------


def moment_argument(value: object, name: str, *, end: bool = False) -> datetime | None:
    """A ``since``/``until`` argument as an aware datetime: a datetime (naive ones are UTC), a
    date (its midnight, UTC), or a string as on the command line (``"2025"``, ``"2025-01"``,
    ``"2025-01-20"``, ``"7d"``, ``"today"``: the start of that period in UTC, or with ``end`` its
    end). QueryError naming ``name`` otherwise."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        return _parsed(value, name, lambda text: parse_date_bound(text, end=end))
    raise _refused(value, name, "a date, a datetime or a string such as '2025-01-20'")


def duration_argument(value: object, name: str) -> timedelta | None:
    """A duration argument (``recency``): a timedelta or a string as on the command line
    (``"30d"``, ``"12h"``); QueryError naming ``name`` otherwise."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return _parsed(value, name, parse_half_life)
    raise _refused(value, name, "a timedelta or a string such as '30d'")


def zone_argument(value: object, name: str) -> tzinfo:
    """A time zone argument (``tz``): a tzinfo or a string as on the command line (``"UTC"``,
    ``"+01:00"``, ``"Europe/Berlin"``); QueryError naming ``name`` otherwise."""
    if isinstance(value, tzinfo):
        return value
    if isinstance(value, str):
        return _parsed(value, name, parse_timezone)
    raise _refused(value, name, "a tzinfo or a string such as 'Europe/Berlin'")


def _parsed(text: str, name: str, parse: Callable[[str], ParsedT]) -> ParsedT:
    """``parse(text)``, its refusal a QueryError naming the argument ``name``."""
    try:
        return parse(text)
    except (ValueError, QueryError) as exc:
        raise QueryError(f"{name}: {exc}") from None


def _refused(value: object, name: str, wanted: str) -> QueryError:
    return QueryError(f"{name} must be {wanted}, not {type(value).__name__} {value!r}")
