"""`newsearch export` and ``newsearch.export.export``: every match in each format, checked against
golden files and against the formats' documented shapes, and the JSON Lines export indexed again."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.news import ARTICLES, write_news

from newsearch import build_index
from newsearch.cli import cli
from newsearch.errors import QueryError
from newsearch.export import export
from newsearch.interchange import CSV_FIELDS, opensearch_mapping
from newsearch.searcher import Index

GOLDEN = Path(__file__).parent / "golden"
NEWEST_FIRST = ["ferry-2", "ferry-1", "match", "budget", "ferry-old", "undated"]


@pytest.fixture(scope="module")
def news_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export_news")
    report = build_index([write_news(root / "corpus")], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    return root / "index"


def run(*args: str):
    return CliRunner().invoke(cli, ["export", *args], prog_name="newsearch")


@pytest.mark.parametrize("fmt, golden", [("jsonl", "export.jsonl"), ("csv", "export.csv"),
                                         ("opensearch", "export.ndjson")])
def test_every_format_matches_its_golden_file(news_index, tmp_path, fmt, golden):
    out = tmp_path / golden
    extra = ["--bulk-index", "archive"] if fmt == "opensearch" else []
    result = run("*", "--index", str(news_index), "--format", fmt, "-o", str(out), *extra)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\S+ Wrote 6 articles to {re.escape(str(out))}\.\n", result.stderr)
    assert out.read_bytes() == (GOLDEN / golden).read_bytes()
    assert not list(tmp_path.glob("*.part"))


def test_jsonl_holds_whole_articles_newest_first(news_index):
    result = run("*", "--index", str(news_index))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == NEWEST_FIRST
    budget = next(line for line in lines if line["id"] == "budget")
    assert budget == {"id": "budget", "title": 'Council budget, "final" draft',
                      "published": "2025-01-15T14:00:00+00:00", "source": "Harbour Times", "author": "Bo Chen",
                      "url": "", "tags": ["council"],
                      "path": "budget.json", "body": "The council approved its budget, with cuts to parks, libraries "
                                                    "and roads.\n\nCafé owners protested."}


def test_csv_reads_back_as_the_articles(news_index):
    rows = list(csv.reader(io.StringIO((GOLDEN / "export.csv").read_text(encoding="utf-8"), newline="")))
    assert tuple(rows[0]) == CSV_FIELDS
    by_id = {row[0]: dict(zip(CSV_FIELDS, row)) for row in rows[1:]}
    assert list(by_id) == NEWEST_FIRST
    assert by_id["budget"]["body"].endswith("roads.\n\nCafé owners protested.")
    assert by_id["ferry-1"]["tags"] == "ferry; storm" and by_id["undated"]["published"] == ""


def test_opensearch_bulk_is_action_and_document_pairs_with_a_trailing_newline():
    text = (GOLDEN / "export.ndjson").read_text(encoding="utf-8")
    assert text.endswith("}\n") and "\n\n" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    actions, documents = lines[0::2], lines[1::2]
    assert [action for action in actions] == [{"index": {"_index": "archive", "_id": doc["id"]}} for doc in documents]
    properties = opensearch_mapping()["mappings"]["properties"]
    for document in documents:
        assert set(document) == set(properties)  # "dynamic": "strict" would refuse any other field


def test_the_mapping_mirrors_the_fields(news_index, tmp_path):
    mapping = tmp_path / "mapping.json"
    result = run("ferry", "--index", str(news_index), "--format", "opensearch", "--mapping", str(mapping))
    assert result.exit_code == 0
    assert json.loads(mapping.read_text()) == json.loads((GOLDEN / "opensearch-mapping.json").read_text())
    types = {name: spec["type"] for name, spec in opensearch_mapping()["mappings"]["properties"].items()}
    assert types == {"id": "keyword", "title": "text", "body": "text", "published": "date", "source": "keyword",
                     "author": "keyword", "tags": "keyword", "url": "keyword", "path": "keyword"}
    assert opensearch_mapping()["mappings"]["properties"]["body"]["analyzer"] == "english"


def test_the_jsonl_export_indexes_into_a_new_index_as_it_was(news_index, tmp_path):
    exported = run("*", "--index", str(news_index)).stdout
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "export.jsonl").write_text(exported, encoding="utf-8")
    report = build_index([corpus], tmp_path / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    again = run("*", "--index", str(tmp_path / "index")).stdout
    without_path = [{**json.loads(line), "path": None} for line in exported.splitlines()]
    assert [{**json.loads(line), "path": None} for line in again.splitlines()] == without_path
    with Index(news_index) as first, Index(tmp_path / "index") as second:
        assert [first.document(id).content_hash for id in NEWEST_FIRST] == \
               [second.document(id).content_hash for id in NEWEST_FIRST]


def test_query_and_filters_choose_the_articles(news_index):
    def ids(*args: str) -> list[str]:
        result = run(*args, "--index", str(news_index))
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    assert ids("ferry") == ["ferry-2", "ferry-1", "ferry-old", "undated"]
    assert ids("ferry", "--sort", "oldest") == ["ferry-old", "ferry-1", "ferry-2", "undated"]
    assert ids("ferry", "--fold") == ["ferry-2", "ferry-old", "undated"]
    assert ids("--source", "wire") == ["ferry-2", "ferry-old"]
    assert ids("--since", "2025-01-16", "--until", "2025-01-19") == ["match"]
    assert ids("harbour", "-ferry") == ["match"]


def test_no_match_exits_1_with_nothing_written(news_index):
    result = run("walrus", "--index", str(news_index))
    assert (result.exit_code, result.stdout) == (1, "")


def test_bad_requests_are_refused(news_index):
    result = run("--index", str(news_index))
    assert result.exit_code == 2
    assert "the query is empty" in result.stderr
    result = run("ferry", "--index", str(news_index), "--mapping", "m.json")
    assert result.exit_code == 2 and "--mapping goes with --format opensearch" in result.stderr
    with Index(news_index) as index, pytest.raises(QueryError, match="format must be one of jsonl, csv, opensearch"):
        export(index.matching("ferry"), io.StringIO(), format="xml")


def test_the_library_streams_and_reports_progress(news_index):
    out, seen = io.StringIO(), []
    with Index(news_index) as index:
        written = export(index.matching("ferry"), out, progress=lambda done, total: seen.append((done, total)))
    assert written == 4 and seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len(out.getvalue().splitlines()) == 4


def test_an_export_is_the_index_as_it_was_when_it_began(news_index, tmp_path):
    index_path = tmp_path / "index"
    corpus = write_news(tmp_path / "corpus")
    build_index([corpus], index_path)

    class DeletingOut(io.StringIO):
        """Deletes an article, changes another and updates the index after the first article is written."""

        def write(self, text: str) -> int:
            if not self.getvalue():
                (corpus / "ferry-old.json").unlink()
                changed = json.loads((corpus / "undated.json").read_text())
                (corpus / "undated.json").write_text(json.dumps({**changed, "title": "Ferry lighthouse"}))
                build_index([corpus], index_path)
            return super().write(text)

    out = DeletingOut()
    with Index(index_path) as index:
        assert export(index.matching("ferry"), out) == 4
        assert [match.id for match in index.matching("ferry")] == ["ferry-2", "ferry-1", "undated"]
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [article["id"] for article in exported] == ["ferry-2", "ferry-1", "ferry-old", "undated"]
    assert exported[-1]["title"] == "Lighthouse history"
