"""Dates as people say them (``today``, ``yesterday``, ``7d``, ``3m``, ``2025-01-20T14:00``) in a
time zone, wherever a date is taken: ``config.date_period``, ``search``/``export``/``watch`` on the
command line, and the HTTP API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.news import write_news

from newsearch import build_index
from newsearch.cli import cli
from newsearch.config import date_period, parse_date_bound, parse_timezone
from newsearch.errors import QueryError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

UTC = timezone.utc
NOW = datetime(2025, 3, 31, 0, 30, tzinfo=UTC)  # 02:30 in Berlin, the day after summer time began there
BERLIN = parse_timezone("Europe/Berlin")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize("text, zone, start, end", [
    ("today", UTC, at(2025, 3, 31), at(2025, 4, 1)),
    ("today", BERLIN, at(2025, 3, 30, 22), at(2025, 3, 31, 22)),
    ("yesterday", BERLIN, at(2025, 3, 29, 23), at(2025, 3, 30, 22)),  # 23 hours long
    ("Yesterday", UTC, at(2025, 3, 30), at(2025, 3, 31)),
    ("12h", BERLIN, at(2025, 3, 30, 12, 30), at(2025, 3, 30, 12, 30)),
    ("7d", UTC, at(2025, 3, 24, 0, 30), at(2025, 3, 24, 0, 30)),
    ("2w", UTC, at(2025, 3, 17, 0, 30), at(2025, 3, 17, 0, 30)),
    ("1m", UTC, at(2025, 2, 28, 0, 30), at(2025, 2, 28, 0, 30)),  # no 31 February: its last day
    ("3m", UTC, at(2024, 12, 31, 0, 30), at(2024, 12, 31, 0, 30)),
    ("1y", UTC, at(2024, 3, 31, 0, 30), at(2024, 3, 31, 0, 30)),
    ("2025-01-20T14", BERLIN, at(2025, 1, 20, 13), at(2025, 1, 20, 14)),
    ("2025-01-20T14:00", UTC, at(2025, 1, 20, 14), at(2025, 1, 20, 14, 1)),
    ("2025-01-20 14:00:30", UTC, at(2025, 1, 20, 14, 0, 30), at(2025, 1, 20, 14, 0, 31)),
    ("2025-01-20", BERLIN, at(2025, 1, 19, 23), at(2025, 1, 20, 23)),
    ("2025-01", parse_timezone("-05:00"), at(2025, 1, 1, 5), at(2025, 2, 1, 5)),
    ("2025", UTC, at(2025, 1, 1), at(2026, 1, 1)),
])
def test_each_form_names_its_period(text, zone, start, end):
    assert date_period(text, zone, NOW) == (start, end)


@pytest.mark.parametrize("text", ["last week", "2025-13", "2025-01-20T24:00", "7x", "3000y", "2025-01-20T1:2"])
def test_unreadable_dates_say_what_to_write(text):
    with pytest.raises(QueryError, match=rf"cannot read the date '{text}'; write YYYY, YYYY-MM, YYYY-MM-DD, a time "
                                         r"such as 2025-01-20T14:00, today, yesterday, or an age such as 12h"):
        parse_date_bound(text, now=NOW)


@pytest.fixture(scope="module")
def recent_index(tmp_path_factory) -> Path:
    """Articles published 1 hour, 3 days and 40 days ago, and one from 2024."""
    root = tmp_path_factory.mktemp("relative_dates")
    now = datetime.now(UTC).replace(microsecond=0)
    ages = {"hour": timedelta(hours=1), "days": timedelta(days=3), "weeks": timedelta(days=40)}
    bodies = {"hour": "The harbour opened a new quay.", "days": "Harbour pilots went on strike over pay.",
              "weeks": "A cruise ship ran aground outside the harbour.", "old": "The harbour museum reopened."}
    articles = [{"id": id, "title": f"Harbour news {id}", "body": bodies[id], "source": "Wire",
                 "date": (now - age).isoformat()} for id, age in ages.items()]
    articles.append({"id": "old", "title": "Harbour news old", "body": bodies["old"], "date": "2024-06-01T12:00:00Z"})
    build_index([write_news(root / "corpus", articles)], root / "index")
    return root / "index"


def found(index: Path, *args: str) -> list[str]:
    result = CliRunner().invoke(cli, ["search", "harbour", "--index", str(index), "--format", "json", "--tz", "UTC",
                                      *args], prog_name="newsearch")
    assert result.exit_code in (0, 1), result.output
    return sorted(hit["id"] for hit in json.loads(result.stdout)["hits"])


def test_the_command_line_takes_ages(recent_index):
    assert found(recent_index, "--since", "2d") == ["hour"]
    assert found(recent_index, "--since", "1w") == ["days", "hour"]
    assert found(recent_index, "--since", "3m") == ["days", "hour", "weeks"]
    assert found(recent_index, "--until", "2w") == ["old", "weeks"]
    assert found(recent_index, "--until", "2024-06-01T11") == []
    assert found(recent_index, "--since", "2024-06-01T12:00", "--until", "2024-06-01T12:00") == ["old"]


def test_export_and_the_api_read_them_the_same(recent_index):
    exported = CliRunner().invoke(cli, ["export", "--index", str(recent_index), "--since", "1w", "--tz", "+02:00"],
                                  prog_name="newsearch")
    assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == ["hour", "days"]
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from newsearch.web.app import Settings, create_app

    with TestClient(create_app(Settings(index=str(recent_index)))) as client:
        api = client.get("/api/search", params={"q": "harbour", "since": "1w", "tz": "UTC"}).json()
        bad = client.get("/api/search", params={"q": "harbour", "since": "today", "tz": "Mars/Olympus"})
    assert sorted(hit["id"] for hit in api["hits"]) == ["days", "hour"]
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("tz: unknown time zone 'Mars/Olympus'")


def test_a_watch_reads_its_age_at_each_run(recent_index, tmp_path):
    state = str(tmp_path / "watches.json")

    def watch(*args: str):
        return CliRunner().invoke(cli, ["watch", *args, "--index", str(recent_index), "--state", state],
                                  prog_name="newsearch")

    assert watch("add", "recent", "harbour", "--since", "2d", "--tz", "UTC").exit_code == 0
    assert watch("list").stdout.split("\t")[1] == "'harbour' --since 2d --tz UTC"
    result = watch("run", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["hour"]
