"""Counts over time: buckets, time zones, ISO weeks, bounds, renderers, facets, recency."""

from __future__ import annotations

import ast
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from newsearch.config import parse_half_life, parse_timezone
from newsearch.formatting import bucket_label, timeline_bars, timeline_csv, timeline_json
from newsearch.grouping import facet_counts, year_month
from newsearch.models import PERIODS, Timeline
from newsearch.ranking import recency_factor
from newsearch.timeline import bucket_start, timeline

UTC = timezone.utc
PLUS_ONE = timezone(timedelta(hours=1))
MINUS_FIVE = timezone(timedelta(hours=-5))


def at(text: str) -> datetime:
    """An aware datetime from ISO text ("Z" allowed)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- bucket_start ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "period", "tz", "expected"),
    [
        ("2025-01-31T23:30Z", "month", UTC, date(2025, 1, 1)),
        ("2025-01-31T23:30Z", "month", PLUS_ONE, date(2025, 2, 1)),
        ("2025-01-31T23:30Z", "day", PLUS_ONE, date(2025, 2, 1)),
        ("2025-02-01T03:00Z", "day", MINUS_FIVE, date(2025, 1, 31)),
        ("2024-12-31T23:30Z", "year", PLUS_ONE, date(2025, 1, 1)),
        ("2025-01-01T00:30Z", "year", MINUS_FIVE, date(2024, 1, 1)),
        ("2025-03-15T12:00Z", "year", UTC, date(2025, 1, 1)),
        # ISO weeks start on Monday; 2025-01-01 is a Wednesday, in week 1 starting 2024-12-30.
        ("2025-01-01T12:00Z", "week", UTC, date(2024, 12, 30)),
        ("2024-12-29T23:59Z", "week", UTC, date(2024, 12, 23)),  # a Sunday
        ("2024-12-30T00:00Z", "week", UTC, date(2024, 12, 30)),  # a Monday
        ("2024-12-29T23:30Z", "week", PLUS_ONE, date(2024, 12, 30)),  # Monday already in UTC+1
        ("2021-01-03T12:00Z", "week", UTC, date(2020, 12, 28)),  # 2020-W53
        # Leap years.
        ("2024-02-29T12:00Z", "day", UTC, date(2024, 2, 29)),
        ("2024-02-29T23:30Z", "day", PLUS_ONE, date(2024, 3, 1)),
        ("2024-02-29T12:00Z", "month", UTC, date(2024, 2, 1)),
    ],
)
def test_bucket_start(moment, period, tz, expected):
    assert bucket_start(at(moment), period, tz) == expected


def test_naive_datetimes_are_utc():
    assert bucket_start(datetime(2025, 1, 31, 23, 30), "month", PLUS_ONE) == date(2025, 2, 1)
    assert bucket_start(datetime(2025, 1, 31, 23, 30), "month") == date(2025, 1, 1)


def test_unknown_period_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown period 'quarter': use one of day, week, month, year"):
        bucket_start(at("2025-01-01T00:00Z"), "quarter")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown period"):
        timeline([], "hour")  # type: ignore[arg-type]


def test_labels():
    assert bucket_label(date(2025, 1, 31), "day") == "2025-01-31"
    assert bucket_label(date(2024, 12, 30), "week") == "2025-W01"
    assert bucket_label(date(2020, 12, 28), "week") == "2020-W53"
    assert bucket_label(date(2025, 1, 1), "month") == "2025-01"
    assert bucket_label(date(2025, 1, 1), "year") == "2025"
    assert bucket_label(date(2025, 1, 1), None) == "2025-01-01"


# --- timeline ----------------------------------------------------------------------------------


def test_empty_periods_are_zero_and_undated_items_are_counted_apart():
    dates = [at("2025-01-05T10:00Z"), None, at("2025-04-30T23:59Z"), at("2025-01-20T00:00Z"), None]
    result = timeline(dates, "month")
    assert result.buckets == (
        (date(2025, 1, 1), 2),
        (date(2025, 2, 1), 0),
        (date(2025, 3, 1), 0),
        (date(2025, 4, 1), 1),
    )
    assert (result.undated, result.outside, result.total, result.period) == (2, 0, 3, "month")
    assert list(result) == list(result.buckets) and len(result) == 4


def test_time_zone_moves_items_between_buckets():
    dates = [at("2025-01-31T23:30Z"), at("2025-01-15T12:00Z")]
    assert timeline(dates, "month").buckets == ((date(2025, 1, 1), 2),)
    assert timeline(dates, "month", tz=PLUS_ONE).buckets == ((date(2025, 1, 1), 1), (date(2025, 2, 1), 1))


def test_iso_weeks_across_the_new_year():
    dates = [
        at("2024-12-28T12:00Z"),
        at("2024-12-30T00:00Z"),
        at("2025-01-05T23:59Z"),
        at("2025-01-13T08:00Z"),
    ]
    assert timeline(dates, "week").buckets == (
        (date(2024, 12, 23), 1),
        (date(2024, 12, 30), 2),
        (date(2025, 1, 6), 0),
        (date(2025, 1, 13), 1),
    )


def test_days_through_a_leap_day():
    dates = [at("2024-02-28T10:00Z"), at("2024-03-01T10:00Z")]
    assert timeline(dates, "day").buckets == (
        (date(2024, 2, 28), 1),
        (date(2024, 2, 29), 0),
        (date(2024, 3, 1), 1),
    )
    assert [start for start, _ in timeline([at("2023-02-28T10:00Z"), at("2023-03-01T10:00Z")], "day")] == [
        date(2023, 2, 28),
        date(2023, 3, 1),
    ]


def test_years_and_months_spanning_several_years():
    dates = [at("2022-11-15T00:00Z"), at("2024-02-29T00:00Z")]
    assert timeline(dates, "year").buckets == (
        (date(2022, 1, 1), 1),
        (date(2023, 1, 1), 0),
        (date(2024, 1, 1), 1),
    )
    months = timeline(dates, "month").buckets
    assert len(months) == 16 and months[0] == (date(2022, 11, 1), 1) and months[-1] == (date(2024, 2, 1), 1)
    assert [start.month for start, _ in months[:4]] == [11, 12, 1, 2]


def test_since_is_inclusive_and_until_exclusive_and_they_set_the_range():
    dates = [
        at("2024-12-31T23:59Z"),
        at("2025-01-01T00:00Z"),
        at("2025-02-10T00:00Z"),
        at("2025-04-01T00:00Z"),
    ]
    result = timeline(dates, "month", since=at("2025-01-01T00:00Z"), until=at("2025-04-01T00:00Z"))
    assert result.buckets == ((date(2025, 1, 1), 1), (date(2025, 2, 1), 1), (date(2025, 3, 1), 0))
    assert result.outside == 2
    # The range comes from the bounds even where there is nothing to count.
    wide = timeline(
        [at("2025-02-10T00:00Z")], "month", since=at("2024-11-15T00:00Z"), until=at("2025-03-02T00:00Z")
    )
    assert [start for start, _ in wide] == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
        date(2025, 3, 1),
    ]
    assert timeline([], "day", since=at("2025-01-01T00:00Z"), until=at("2025-01-04T00:00Z")).buckets == (
        (date(2025, 1, 1), 0),
        (date(2025, 1, 2), 0),
        (date(2025, 1, 3), 0),
    )


def test_one_bound_takes_the_other_end_from_the_dates():
    dates = [at("2025-01-10T00:00Z"), at("2025-03-10T00:00Z")]
    assert [s for s, _ in timeline(dates, "month", since=at("2024-12-01T00:00Z"))] == [
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
        date(2025, 3, 1),
    ]
    assert timeline(dates, "month", until=at("2025-02-01T00:00Z")).buckets == ((date(2025, 1, 1), 1),)
    assert timeline([], "month", since=at("2025-01-01T00:00Z")).buckets == ()


def test_bounds_in_another_time_zone():
    # until = 2025-02-01T00:00+01:00 = 2025-01-31T23:00Z: the last bucket is January in UTC+1.
    result = timeline(
        [at("2025-01-31T22:30Z"), at("2025-01-31T23:30Z")],
        "month",
        until=datetime(2025, 2, 1, tzinfo=PLUS_ONE),
        tz=PLUS_ONE,
    )
    assert result.buckets == ((date(2025, 1, 1), 1),) and result.outside == 1


def test_no_dates_give_no_buckets():
    assert timeline([], "day") == Timeline("day", (), 0, 0)
    assert timeline([None, None], "week") == Timeline("week", (), 2, 0)


def test_bad_bounds_and_runaway_ranges_are_refused():
    with pytest.raises(ValueError, match=r"since \(2025-02-01T00:00:00\+00:00\) must be before until"):
        timeline([], "day", since=at("2025-02-01T00:00Z"), until=at("2025-01-01T00:00Z"))
    with pytest.raises(ValueError, match="more than 10,000: count by a longer period, or narrow the range"):
        timeline([datetime(205, 1, 1), datetime(2025, 1, 1)], "day")
    assert len(timeline([datetime(205, 1, 1), datetime(2025, 1, 1)], "year")) == 1821


def test_utc_days_have_no_daylight_saving_shift():
    # Around the European clock changes every UTC day holds exactly its 24 hours.
    start = at("2025-03-29T00:00Z")
    hourly = [start + timedelta(hours=h) for h in range(72)]
    assert timeline(hourly, "day").buckets == (
        (date(2025, 3, 29), 24),
        (date(2025, 3, 30), 24),
        (date(2025, 3, 31), 24),
    )


def test_a_zone_with_daylight_saving_time():
    try:
        london = ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone database")
    start = at("2025-03-29T00:00Z")
    hourly = [start + timedelta(hours=h) for h in range(72)]
    # 30 March 2025 has 23 hours in London (01:00 GMT -> 02:00 BST).
    assert timeline(hourly, "day", tz=london).buckets == (
        (date(2025, 3, 29), 24),
        (date(2025, 3, 30), 23),
        (date(2025, 3, 31), 24),
        (date(2025, 4, 1), 1),
    )


def test_every_period_is_accepted():
    for period in PERIODS:
        assert timeline([at("2025-06-15T12:00Z")], period).total == 1


# --- render_bars, to_csv, to_json --------------------------------------------------------------


def test_render_bars_exact_output():
    buckets = timeline(
        [at("2025-01-10T00:00Z")] * 12 + [at("2025-03-01T00:00Z")] * 3 + [at("2025-04-01T00:00Z")], "month"
    )
    assert timeline_bars(buckets, width=8) == "\n".join(
        [
            "2025-01  ████████ 12",
            "2025-02            0",
            "2025-03  ██        3",
            "2025-04  █         1",
        ]
    )
    assert timeline_bars(buckets, width=8, unicode=False) == "\n".join(
        [
            "2025-01  ######## 12",
            "2025-02            0",
            "2025-03  ##        3",
            "2025-04  #         1",
        ]
    )


def test_render_bars_small_counts_get_one_block_and_widths_are_proportional():
    buckets = [
        (date(2025, 1, 1), 1000),
        (date(2025, 1, 2), 1),
        (date(2025, 1, 3), 500),
        (date(2025, 1, 4), 0),
    ]
    lines = timeline_bars(buckets, width=50, unicode=False).splitlines()
    assert [line.count("#") for line in lines] == [50, 1, 25, 0]
    assert lines[0].startswith("2025-01-01  #")  # a plain list: ISO dates as labels
    assert {len(line) for line in lines} == {len("2025-01-01  ") + 50 + 1 + 4}
    weeks = timeline_bars([(date(2024, 12, 30), 2)], width=4, period="week")
    assert weeks == "2025-W01  ████ 2"


def test_render_bars_edge_cases():
    assert timeline_bars([], width=10) == ""
    assert timeline_bars(timeline([], "month")) == ""
    assert timeline_bars([(date(2025, 1, 1), 0)], width=3) == "2025-01-01      0"
    with pytest.raises(ValueError, match="width must be at least 1"):
        timeline_bars([(date(2025, 1, 1), 1)], width=0)


def test_csv_and_json_formats_are_stable():
    result = timeline([at("2025-01-31T23:30Z"), None, at("2025-03-02T00:00Z")], "month")
    assert timeline_csv(result) == (
        "start,label,count\n2025-01-01,2025-01,1\n2025-02-01,2025-02,0\n2025-03-01,2025-03,1\n"
    )
    assert timeline_json(result) == (
        '{"format_version": 1, "period": "month", "total": 2, "undated": 1, "outside": 0, "buckets": ['
        '{"start": "2025-01-01", "label": "2025-01", "count": 1}, '
        '{"start": "2025-02-01", "label": "2025-02", "count": 0}, '
        '{"start": "2025-03-01", "label": "2025-03", "count": 1}], "expansions": {}, "not_found": []}'
    )
    plain = json.loads(timeline_json([(date(2025, 1, 6), 4)], period="week"))
    assert plain == {
        "format_version": 1,
        "period": "week",
        "total": 4,
        "undated": None,
        "outside": None,
        "buckets": [{"start": "2025-01-06", "label": "2025-W02", "count": 4}],
    }
    assert timeline_csv([]) == "start,label,count\n"


# --- facets ------------------------------------------------------------------------------------


def test_facet_counts_sorted_by_count_then_name():
    values = ["politics", "tech", "business", "tech", None, "", "politics", "arts"]
    assert facet_counts(values) == [("politics", 2), ("tech", 2), ("arts", 1), ("business", 1)]
    assert facet_counts([]) == []


def test_year_month():
    assert year_month(at("2025-01-31T23:30Z")) == ("2025", "2025-01")
    assert year_month(at("2025-01-31T23:30Z"), PLUS_ONE) == ("2025", "2025-02")
    assert year_month(datetime(2024, 12, 31, 23, 0)) == ("2024", "2024-12")
    assert year_month(None) is None
    pairs = [year_month(at(m)) for m in ("2025-01-02T00:00Z", "2025-01-20T00:00Z", "2024-07-01T00:00Z")]
    assert facet_counts(p[1] for p in pairs if p) == [("2025-01", 2), ("2024-07", 1)]
    assert facet_counts(p[0] for p in pairs if p) == [("2025", 2), ("2024", 1)]


# --- recency -----------------------------------------------------------------------------------


def test_recency_factor_halves_every_half_life():
    now = at("2025-06-01T00:00Z")
    month = timedelta(days=30)
    assert recency_factor(now, now, month) == 1.0
    assert recency_factor(now - month, now, month) == pytest.approx(0.5)
    assert recency_factor(now - 2 * month, now, month) == pytest.approx(0.25)
    assert recency_factor(now - timedelta(days=15), now, month) == pytest.approx(2**-0.5)
    assert recency_factor(now - timedelta(days=36500), now, month) == pytest.approx(0.0, abs=1e-300)
    assert recency_factor(datetime(2025, 5, 2), now, month) == pytest.approx(0.5)  # naive = UTC


def test_recency_factor_future_and_undated():
    now = at("2025-06-01T00:00Z")
    assert recency_factor(now + timedelta(days=3), now, timedelta(days=30)) == 1.0
    assert recency_factor(None, now, timedelta(days=30)) is None
    with pytest.raises(ValueError, match="longer than zero"):
        recency_factor(now, now, timedelta(0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("1y", timedelta(days=365)),
        ("1.5d", timedelta(hours=36)),
        (" 7 D ", timedelta(days=7)),
    ],
)
def test_parse_half_life(text, expected):
    assert parse_half_life(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "30m", "30 days", "-3d", "3d2h", "1e3d", "∞d"])
def test_parse_half_life_refuses_with_a_clear_message(text):
    with pytest.raises(
        ValueError,
        match=r"invalid half-life .*: write a number and a unit, h \(hours\), d \(days\), "
        r"w \(weeks\) or y \(years of 365 days\), such as 30d or 12h",
    ):
        parse_half_life(text)


def test_parse_half_life_zero_and_huge():
    with pytest.raises(ValueError, match="it must be longer than zero"):
        parse_half_life("0d")
    with pytest.raises(ValueError, match="too long"):
        parse_half_life("99999999999y")


# --- boundaries --------------------------------------------------------------------------------


def _imports(module, top_level_only: bool) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_timeline_imports_only_the_standard_library_and_duplicates_no_whoosh():
    import newsearch.duplicates
    import newsearch.timeline

    # Of ours only plain data (models, config): see test_architecture.py for the layers.
    assert _imports(newsearch.timeline, top_level_only=False) <= set(sys.stdlib_module_names) | {"newsearch"}
    everywhere = _imports(newsearch.duplicates, top_level_only=False)
    assert "whoosh" not in everywhere and "numpy" in everywhere
    # numpy only on first use, inside a function.
    assert _imports(newsearch.duplicates, top_level_only=True) <= set(sys.stdlib_module_names) | {"newsearch"}


@pytest.mark.parametrize("text, offset", [
    ("UTC", timedelta(0)), ("z", timedelta(0)), ("+01:00", timedelta(hours=1)),
    ("-0530", timedelta(hours=-5, minutes=-30)),
    ("+9", timedelta(hours=9)),
])
def test_parse_timezone_offsets(text, offset):
    assert parse_timezone(text).utcoffset(datetime(2025, 1, 1)) == offset


def test_parse_timezone_names_follow_daylight_saving():
    berlin = parse_timezone("Europe/Berlin")
    assert berlin.utcoffset(datetime(2025, 1, 15)) == timedelta(hours=1)
    assert berlin.utcoffset(datetime(2025, 7, 15)) == timedelta(hours=2)


@pytest.mark.parametrize("text, message", [
    ("+25:00", "less than 24 hours"), ("Mars/Olympus", "unknown time zone 'Mars/Olympus'"), ("", "unknown time zone"),
])
def test_parse_timezone_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_timezone(text)
