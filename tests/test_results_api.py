"""Results people can trust (#12 items 7-9): filters that empty a result say why, totals and pages
count stories (copies folded) and agree, and the API takes what the CLI takes and gives back
the very JSON the CLI prints."""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsearch import QueryError, Results, build_index, open_index
from newsearch.cli import cli

UTC = timezone.utc

FILLER = ("council budget river bridge school teacher hospital nurse railway station farmer market weather "
          "storm museum painting concert theatre library garden bakery factory engine tunnel airport").split()


def prose(seed: int, words: int = 90) -> str:
    """Deterministic text no other article shares three words in a row with (never a copy)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(FILLER) for _ in range(words)) + "."


WIRE = (
    "Dock workers at the harbour of Rotterdam walked out on Monday in a dispute over automation, halting "
    "container traffic at Europe's largest port. The union said cranes operated from remote control "
    "rooms would cost hundreds of jobs within three years. Shipping lines diverted vessels to Antwerp and "
    "Hamburg while talks with the port authority continued late into the night. A spokesman for the "
    "employers said the walkout was illegal and that a court hearing had been requested for Wednesday."
)
FLOOD = "The harbour wall gave way in the night. " + prose(99, 120)

ARTICLES: list[dict[str, Any]] = [
    # One story, three copies (a wire story republished).
    dict(id="reuters-port", title="Dock workers strike", body=WIRE, date="2025-03-03T08:00:00Z", source="Reuters",
         author="Ann Lee", tags=["strike", "ports"]),
    dict(id="ap-port", title="Rotterdam dockers walk out",
         body="ROTTERDAM (AP) - " + WIRE.replace("hundreds of", "many"), date="2025-03-03T10:00:00Z", source="AP"),
    dict(id="bbc-port", title="Strike shuts the port", body=WIRE + " The government may intervene.",
         date="2025-03-03T12:00:00Z", source="BBC"),
    # Another story, two copies, one of them undated.
    dict(id="flood-a", title="Harbour wall breached", body=FLOOD, date="2025-02-10T06:00:00Z", source="Sky"),
    dict(id="flood-b", title="Harbour wall gives way", body=FLOOD + " More to follow.", source="Local"),
    # Different stories mentioning the harbour: four dated, four undated.
    *[dict(id=f"harbour-{n}", title=f"Harbour note {n}", body=f"The harbour {prose(n)}",
           source=("Reuters", "AP", "BBC", "Sky")[n % 4],
           **({"date": f"2025-01-{10 + n:02d}T09:00:00Z"} if n < 4 else {}))
      for n in range(8)],
    # Only undated articles say "lighthouse".
    dict(id="light-1", title="Lighthouse keeper retires", body="The lighthouse keeper retired. " + prose(201),
         source="Local"),
    dict(id="light-2", title="Lighthouse repainted", body="The lighthouse was repainted. " + prose(202),
         source="Local"),
]
ARTICLES_MATCHING_HARBOUR = 13  # 3 + 2 + 8
STORIES_MATCHING_HARBOUR = 10  # 1 + 1 + 8


@pytest.fixture(scope="module")
def index_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results_api")
    corpus = root / "corpus"
    corpus.mkdir()
    for article in ARTICLES:
        (corpus / f"{article['id']}.json").write_text(json.dumps(article), encoding="utf-8")
    report = build_index([corpus], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    return root / "index"


@pytest.fixture(scope="module")
def index(index_path):
    with open_index(index_path) as opened:
        yield opened


def run(index_path: Path, *args: str):
    return CliRunner().invoke(cli, ["search", "--index", str(index_path), *args], prog_name="newsearch")


def test_the_fixture_holds_two_stories_with_copies(index):
    everything = index.search("harbour", limit=100, collapse=False)
    assert everything.total == ARTICLES_MATCHING_HARBOUR
    folded = index.search("harbour", limit=100)
    assert {copy.id for hit in folded.hits for copy in hit.similar} == {"ap-port", "bbc-port", "flood-a", "flood-b"} - {
        hit.id for hit in folded.hits}
    assert len(folded.hits) == STORIES_MATCHING_HARBOUR


# -- item 7: filters that empty the result say why ------------------------------------------------


def test_a_source_filter_that_removes_every_match_says_so_in_the_api(index):
    from newsearch import FilterNote

    results = index.search("harbour", sources=["CNN"])
    assert (results.total, results.hits) == (0, ())
    note = results.filtered_out
    assert isinstance(note, FilterNote)
    assert (note.matches, note.from_sources, note.in_dates, note.removed_by) == (13, 0, None, ("sources",))
    assert note.match_sources == (("AP", 3), ("BBC", 3), ("Reuters", 3), ("Sky", 3), ("Local", 1))
    assert note.message == ("13 articles match 'harbour', but none from source 'CNN' "
                            "(their sources: AP 3, BBC 3, Reuters 3, Sky 3, Local 1)")


def test_a_date_filter_on_undated_matches_says_none_is_dated(index):
    note = index.search("lighthouse", since="2005-01-01").filtered_out
    assert note is not None
    assert (note.matches, note.dated, note.in_dates, note.removed_by) == (2, 0, 0, ("dates",))
    assert note.message == ("2 articles match 'lighthouse', but none of them is dated, "
                            "and a date filter keeps only dated articles")


def test_a_date_filter_outside_the_dates_of_the_matches_gives_their_range(index):
    note = index.search("harbour", until="2024").filtered_out
    assert note is not None
    assert (note.dated, note.in_dates, note.removed_by) == (8, 0, ("dates",))
    assert (note.earliest, note.latest) == (datetime(2025, 1, 10, 9, tzinfo=UTC), datetime(2025, 3, 3, 12, tzinfo=UTC))
    assert note.message == ("13 articles match 'harbour', but none published to 2024-12-31 "
                            "(the 8 dated are from 2025-01-10 to 2025-03-03; 5 undated)")


def test_filters_that_each_keep_some_but_not_together_say_so(index):
    note = index.search("harbour", sources=["Local"], since="2025-01-01").filtered_out
    assert note is not None
    assert (note.from_sources, note.in_dates, note.removed_by) == (1, 8, ())
    assert note.message == ("13 articles match 'harbour', but 1 from source 'Local' and 8 published from "
                            "2025-01-01 on, but none both")


def test_no_note_when_the_query_alone_matches_nothing_or_filters_keep_something(index):
    assert index.search("walrus", sources=["CNN"]).filtered_out is None
    assert index.search("harbour", sources=["Local"]).filtered_out is None
    assert index.search("harbour", sources=["CNN"], collapse=False).filtered_out is not None


def test_the_cli_says_which_filter_removed_the_matches_in_text_and_json(index_path):
    text = run(index_path, "harbour", "--source", "cnn")
    assert text.exit_code == 1
    assert text.stdout == ("No results: 13 articles match 'harbour', but none from source 'cnn' "
                           "(their sources: AP 3, BBC 3, Reuters 3, Sky 3, Local 1).\n")
    undated = run(index_path, "lighthouse", "--since", "2005-01-01")
    assert (undated.exit_code, undated.stdout) == (1, "No results: 2 articles match 'lighthouse', but none of them "
                                                      "is dated, and a date filter keeps only dated articles.\n")
    data = json.loads(run(index_path, "lighthouse", "--since", "2005-01-01", "--format", "json").stdout)
    assert data["filtered_out"] == {
        "query": "lighthouse", "matches": 2, "sources": [], "from_sources": None, "match_sources": [],
        "since": "2005-01-01T00:00:00+00:00", "until": None, "in_dates": 0, "dated": 0, "earliest": None,
        "latest": None, "removed_by": ["dates"],
        "message": "2 articles match 'lighthouse', but none of them is dated, and a date filter keeps only dated "
                   "articles"}
    assert json.loads(run(index_path, "walrus", "--format", "json").stdout)["filtered_out"] is None
    assert run(index_path, "walrus", "--source", "cnn").stdout == "No results for 'walrus'.\n"


# -- item 8: totals and pages agree ---------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 4, 10])
def test_pages_partition_the_stories(index, limit):
    everything = index.search("harbour", limit=100, passages=0)
    assert (everything.total, everything.stories) == (ARTICLES_MATCHING_HARBOUR, STORIES_MATCHING_HARBOUR)
    pages = []
    for number in range(1, 100):
        page = index.search("harbour", limit=limit, offset=(number - 1) * limit, passages=0)
        assert (page.total, page.stories, page.offset, page.limit) == (13, 10, (number - 1) * limit, limit)
        if not page.hits:
            break
        pages.append(page)
    assert len(pages) == pages[0].pages == pages[-1].pages == -(-STORIES_MATCHING_HARBOUR // limit)
    shown = [hit.id for page in pages for hit in page.hits]
    assert shown == [hit.id for hit in everything.hits]  # each story once, in one order
    assert [hit.rank for page in pages for hit in page.hits] == list(range(1, STORIES_MATCHING_HARBOUR + 1))
    assert all(len(page.hits) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1].hits) <= limit


def test_without_folding_pages_run_through_every_article(index):
    results = index.search("harbour", limit=5, offset=10, collapse=False)
    assert (results.total, results.stories, results.pages, len(results.hits)) == (13, 13, 3, 3)


def test_the_cli_counts_stories_and_articles_and_names_the_last_page(index_path):
    last = run(index_path, "harbour", "--limit", "4", "--page", "3", "--passages", "0")
    assert last.exit_code == 0
    assert re.search(r"^9-10 of 10 stories \(13 articles, \d[\d,]* ms\)$", last.stdout, re.M), last.stdout
    beyond = run(index_path, "harbour", "--limit", "4", "--page", "4")
    assert (beyond.exit_code, beyond.stdout) == (
        0, "No results on page 4; 10 stories (13 articles) in all, on 3 pages.\n")
    every = run(index_path, "harbour", "--limit", "4", "--page", "4", "--all", "--passages", "0")
    assert re.search(r"^13 of 13 results \(\d[\d,]* ms\)$", every.stdout, re.M), every.stdout
    data = json.loads(run(index_path, "harbour", "--limit", "4", "--page", "3", "--format", "json").stdout)
    assert (data["total"], data["stories"], data["offset"], data["limit"], len(data["hits"])) == (13, 10, 8, 4, 2)


def test_related_counts_stories_too(index):
    results = index.related("harbour-0", limit=50)
    assert results.stories == len(results.hits) < results.total


# -- item 9: the API takes what the CLI takes ----------------------------------------------------


def dated_ids(index, **options) -> list[str]:
    return [hit.id for hit in index.search("harbour", sort="oldest", limit=100, collapse=False, **options).hits
            if hit.published is not None]


@pytest.mark.parametrize("since", ["2025-02-10", date(2025, 2, 10), datetime(2025, 2, 10),
                                   datetime(2025, 2, 10, tzinfo=UTC), "2025-02-10 "])
def test_since_takes_a_string_a_date_or_a_datetime(index, since):
    assert dated_ids(index, since=since) == ["flood-a", "reuters-port", "ap-port", "bbc-port"]


def test_until_as_a_string_runs_to_the_end_of_the_period_as_on_the_command_line(index):
    assert dated_ids(index, until="2025-02") == ["harbour-0", "harbour-1", "harbour-2", "harbour-3", "flood-a"]
    assert dated_ids(index, until=date(2025, 2, 10)) == ["harbour-0", "harbour-1", "harbour-2", "harbour-3"]
    assert dated_ids(index, since="2025-03", until="2025-03-03") == ["reuters-port", "ap-port", "bbc-port"]


@pytest.mark.parametrize("recency", ["30d", " 30D ", "4.5w", timedelta(days=30)])
def test_recency_takes_a_string_or_a_timedelta(index, recency):
    expected = [hit.id for hit in index.search("harbour", recency=timedelta(days=30)).hits]
    if recency == "4.5w":
        expected = [hit.id for hit in index.search("harbour", recency=timedelta(weeks=4.5)).hits]
    assert [hit.id for hit in index.search("harbour", recency=recency).hits] == expected


@pytest.mark.parametrize("tz, month", [("Europe/Berlin", "2025-02"), ("+01:00", "2025-02"), ("-05:00", "2025-01"),
                                        (timezone(timedelta(hours=1)), "2025-02"), ("UTC", "2025-01")])
def test_timeline_takes_a_zone_name_an_offset_or_a_tzinfo(tmp_path, tz, month):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "late.json").write_text(json.dumps(
        {"id": "late", "title": "Late", "body": "A late harbour story.", "date": "2025-01-31T23:30:00Z"}))
    build_index([tmp_path / "corpus"], tmp_path / "index")
    with open_index(tmp_path / "index") as index:
        counts = index.timeline("harbour", by="month", tz=tz)
    assert [(start.strftime("%Y-%m"), count) for start, count in counts] == [(month, 1)]


@pytest.mark.parametrize("call, name, message", [
    (lambda ix: ix.search("harbour", since="last week"), "since", "cannot read the date 'last week'"),
    (lambda ix: ix.search("harbour", until="2025-13"), "until", "cannot read the date '2025-13'"),
    (lambda ix: ix.search("harbour", since=20250120), "since", "must be a date, a datetime or a string"),
    (lambda ix: ix.search("harbour", recency="fortnight"), "recency", "invalid half-life 'fortnight'"),
    (lambda ix: ix.search("harbour", recency="0d"), "recency", "longer than zero"),
    (lambda ix: ix.search("harbour", recency=30), "recency", "must be a timedelta or a string such as '30d'"),
    (lambda ix: ix.timeline("harbour", tz="Mars/Olympus"), "tz", "unknown time zone 'Mars/Olympus'"),
    (lambda ix: ix.timeline("harbour", tz="+25:00"), "tz", "an offset is less than 24 hours"),
    (lambda ix: ix.timeline("harbour", tz=1), "tz", "must be a tzinfo or a string"),
    (lambda ix: ix.timeline("harbour", since="soon"), "since", "cannot read the date 'soon'"),
])
def test_bad_values_are_refused_naming_the_argument(index, call, name, message):
    with pytest.raises(QueryError) as raised:
        call(index)
    assert str(raised.value).startswith(name) and message in str(raised.value), str(raised.value)


def test_hits_carry_author_and_tags(index):
    results = index.search("harbour", limit=100, collapse=False)
    by_id = {hit.id: hit for hit in results.hits}
    assert (by_id["reuters-port"].author, by_id["reuters-port"].tags) == ("Ann Lee", ("strike", "ports"))
    assert (by_id["ap-port"].author, by_id["ap-port"].tags) == ("", ())
    document = index.document("reuters-port")
    assert (document.author, document.tags) == (by_id["reuters-port"].author, by_id["reuters-port"].tags)


@pytest.mark.parametrize("args, options", [
    (["harbour", "--limit", "4", "--page", "2"], dict(limit=4, offset=4)),
    (["harbour", "--facets", "source,year", "--all"], dict(facets=["source", "year"], collapse=False)),
    (["harbour", "--source", "cnn"], dict(sources=["cnn"])),
    (["harbuor"], {}),
])
def test_to_dict_is_what_the_cli_prints_as_json(index_path, index, args, options):
    printed = json.loads(run(index_path, *args, "--format", "json").stdout)
    ours = index.search(args[0], **options).to_dict()
    assert isinstance(ours, dict)
    assert json.loads(json.dumps(ours)) == {**printed, "elapsed_ms": ours["elapsed_ms"]}
    assert list(ours) == list(printed)
    assert ours["format_version"] == 1


def test_a_hit_to_dict_is_a_json_lines_line(index_path, index):
    lines = run(index_path, "harbour", "--format", "jsonl", "--limit", "2").stdout.splitlines()
    hits = index.search("harbour", limit=2).hits
    assert [json.loads(line) for line in lines] == [{"format_version": 1, **hit.to_dict()} for hit in hits]
    assert {"author", "tags"} <= set(hits[0].to_dict())


def test_results_made_by_hand_count_every_article_as_a_story():
    results = Results(query="q", total=7, hits=())
    assert (results.stories, results.offset, results.limit, results.pages, results.filtered_out) == (7, 0, 10, 1, None)
