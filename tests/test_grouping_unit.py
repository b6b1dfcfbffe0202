"""Facet counting in `newsearch.grouping`, on plain values: no index needed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from newsearch.grouping import FACETS, facet_counts, year_month

UTC = timezone.utc


def test_facets_are_source_year_and_month_in_that_order():
    assert FACETS == ("source", "year", "month")


def test_facet_counts_most_frequent_first_then_by_value():
    values = ["tech", "sport", "tech", "arts", "sport", "tech", "business"]
    assert facet_counts(values) == [("tech", 3), ("sport", 2), ("arts", 1), ("business", 1)]


def test_facet_counts_ties_are_ordered_by_exact_value():
    # Uppercase sorts before lowercase: the order is by the value as written, not folded.
    assert facet_counts(["b", "B", "a", "A"]) == [("A", 1), ("B", 1), ("a", 1), ("b", 1)]


def test_facet_counts_skips_missing_and_empty_values():
    assert facet_counts([None, "", "BBC", None, "BBC", ""]) == [("BBC", 2)]
    assert facet_counts([None, ""]) == []
    assert facet_counts([]) == []


def test_facet_counts_takes_any_iterable_once():
    assert facet_counts(value for value in ("x", "y", "x")) == [("x", 2), ("y", 1)]


@pytest.mark.parametrize("moment, tz, expected", [
    (datetime(2025, 1, 31, 23, 30, tzinfo=UTC), UTC, ("2025", "2025-01")),
    (datetime(2025, 1, 31, 23, 30, tzinfo=UTC), timezone(timedelta(hours=1)), ("2025", "2025-02")),
    (datetime(2025, 1, 1, 0, 30, tzinfo=UTC), timezone(timedelta(hours=-5)), ("2024", "2024-12")),
    (datetime(2024, 12, 31, 23, 0), UTC, ("2024", "2024-12")),  # naive means UTC
    (datetime(2025, 6, 30, 22, 30, tzinfo=UTC), ZoneInfo("Europe/Berlin"), ("2025", "2025-07")),  # summer time
    (datetime(9, 3, 1, tzinfo=UTC), UTC, ("0009", "0009-03")),  # zero-padded, sorts as text
])
def test_year_month_in_a_time_zone(moment, tz, expected):
    assert year_month(moment, tz) == expected


def test_year_month_of_no_date_is_none():
    assert year_month(None) is None
    assert year_month(None, timezone(timedelta(hours=3))) is None


def test_year_and_month_facets_from_dates():
    moments = [datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC), None,
               datetime(2024, 7, 1, tzinfo=UTC)]
    periods = [year_month(moment) for moment in moments]
    assert facet_counts(period[0] if period else None for period in periods) == [("2025", 2), ("2024", 1)]
    assert facet_counts(period[1] if period else None for period in periods) == [("2025-01", 2), ("2024-07", 1)]
