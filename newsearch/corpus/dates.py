"""Publication dates: ISO 8601, RFC 2822, written forms and epoch numbers -> aware UTC datetime."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser
from dateutil.tz import tzoffset

_MAX_LENGTH = 100  # longer strings are prose, not dates
_ZONES = {
    name: tzoffset(name, hours * 3600)
    for name, hours in {
        "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3,
        "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    }.items()
}
# Two different defaults: a field that comes out different was missing from the text.
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def parse_date(value: object) -> datetime | None:
    """A timezone-aware UTC datetime, or None when `value` is not a usable date.

    Strings in ISO 8601, RFC 2822 or written forms ("26 November 2026", "Nov 26, 2026 10:00 GMT");
    numbers as Unix seconds (milliseconds when too large for seconds). Naive times are UTC.
    A date without a year or month is dropped rather than guessed.

    >>> parse_date("Sat, 26 Nov 2026 10:00:00 +0100")
    datetime.datetime(2026, 11, 26, 9, 0, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MAX_LENGTH or not any(ch.isdigit() for ch in text):
        return None
    try:
        return _to_utc(datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text))
    except ValueError:
        pass
    try:
        return _to_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    return _parse_written(text)


def _parse_written(text: str) -> datetime | None:
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown zone names: the time is then taken as UTC
        for default in _DEFAULTS:
            try:
                results.append(dateutil_parser.parse(text, default=default, tzinfos=_ZONES))
            except (ValueError, OverflowError, TypeError):
                return None
    first, second = results
    if first.year != second.year or first.month != second.month:
        return None
    return _to_utc(first)


def _from_epoch(value: float) -> datetime | None:
    if value != value or value in (float("inf"), float("-inf")):
        return None
    seconds = value / 1000 if abs(value) >= 1e11 else value
    try:
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _to_utc(moment: datetime) -> datetime | None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
