"""Browsing: an empty query with filters (or ``*``) lists articles newest first, in the library,
on the command line and over HTTP; ``Index.matching`` lists every match without a page."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.news import ARTICLES, write_news

from newsearch import build_index
from newsearch.cli import cli
from newsearch.errors import QueryError
from newsearch.searcher import Index

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NEWEST_FIRST = ["ferry-2", "ferry-1", "match", "budget", "ferry-old", "undated"]


@pytest.fixture(scope="module")
def news_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browse_news")
    report = build_index([write_news(root / "corpus")], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    return root / "index"


@pytest.fixture(scope="module")
def index(news_index):
    with Index(news_index) as opened:
        yield opened


def ids(results) -> list[str]:
    return [hit.id for hit in results.hits]


def test_star_lists_every_article_newest_first_with_copies_folded(index):
    results = index.search("*")
    assert ids(results) == ["ferry-2", "match", "budget", "ferry-old", "undated"]
    assert (results.total, results.stories) == (6, 5)
    assert [copy.id for copy in results.hits[0].similar] == ["ferry-1"]
    assert [hit.score for hit in results.hits] == [0.0] * 5
    assert ids(index.search("*", collapse=False)) == NEWEST_FIRST
    assert ids(index.search("*", collapse=False, sort="oldest")) == ["ferry-old", "budget", "match", "ferry-1",
                                                                    "ferry-2", "undated"]


def test_each_listed_article_shows_its_lead(index):
    (hit,) = index.search("", sources=["Sport Daily"]).hits
    (lead,) = hit.passages
    assert lead.text == "Harbour FC beat their rivals 2-1 in the derby." and lead.highlights == ()


def test_filters_alone_list_what_they_keep(index):
    assert ids(index.search("", sources=["harbour times"])) == ["ferry-1", "budget", "undated"]
    assert ids(index.search("", since="2025-01-16")) == ["ferry-2", "match"]
    assert ids(index.search("  ", until="2024")) == ["ferry-old"]
    assert ids(index.search("*", since="2025-01-15", until="2025-01-15")) == ["budget"]


def test_pages_and_facets_run_over_the_whole_list(index):
    page = index.search("*", collapse=False, limit=2, offset=2, facets=["source"])
    assert ids(page) == ["match", "budget"] and [hit.rank for hit in page.hits] == [3, 4]
    assert page.facets == {"source": (("Harbour Times", 3), ("Wire", 2), ("Sport Daily", 1))}


def test_an_empty_query_without_filters_is_refused(index):
    with pytest.raises(QueryError, match=r"the query is empty: .* or \* to list every article"):
        index.search("")
    with pytest.raises(QueryError, match="recency weighs relevance"):
        index.search("*", recency="30d")


def test_matching_lists_every_match_by_date(index):
    found = list(index.matching("ferry"))
    assert [match.id for match in found] == ["ferry-2", "ferry-1", "ferry-old", "undated"]
    assert found[0].published == datetime(2025, 1, 20, 11, 30, tzinfo=timezone.utc) and found[-1].published is None
    assert found[0].content_hash == index.document("ferry-2").content_hash
    folded = index.matching("ferry", collapse=True)
    assert [(match.id, match.similar) for match in folded] == [("ferry-2", ("ferry-1",)), ("ferry-old", ()),
                                                               ("undated", ())]
    assert [match.id for match in index.matching("*", sort="oldest")][:2] == ["ferry-old", "budget"]
    with pytest.raises(QueryError, match="sort must be newest or oldest, not 'relevance'"):
        index.matching("ferry", sort="relevance")


def test_the_command_line_lists_articles(news_index):
    result = CliRunner().invoke(cli, ["search", "--index", str(news_index), "--source", "wire", "--all"],
                                prog_name="newsearch")
    assert result.exit_code == 0, result.output
    assert [line.split(". ", 1)[1] for line in result.stdout.splitlines() if line[:4].strip().endswith(".")] == [
        "Ferry terminal shut by storm", "New ferry ordered"]
    empty = CliRunner().invoke(cli, ["search", "--index", str(news_index)], prog_name="newsearch")
    assert empty.exit_code == 2 and "the query is empty" in empty.stderr


def test_the_api_lists_articles_as_the_command_line_does(news_index):
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from newsearch.web.app import Settings, create_app

    with TestClient(create_app(Settings(index=str(news_index)))) as client:
        api = client.get("/api/search", params={"source": "Harbour Times"}).json()
        refused = client.get("/api/search")
    cli_json = json.loads(CliRunner().invoke(cli, ["search", "--index", str(news_index), "--source", "Harbour Times",
                                                   "--format", "json"], prog_name="newsearch").stdout)
    assert [hit["id"] for hit in api["hits"]] == ["ferry-1", "budget", "undated"]
    assert {**api, "elapsed_ms": 0, "links": None} == {**cli_json, "elapsed_ms": 0, "links": None}
    assert refused.status_code == 400 and "the query is empty" in refused.json()["error"]["message"]
