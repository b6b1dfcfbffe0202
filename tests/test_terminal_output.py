"""Output made for reading: passages wrapped with a hanging indent, a pager on a terminal, notes
before the hits, folded copies named by id, and highlight styles (the same in the API's JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.news import ARTICLES, write_news

from newsearch import build_index
from newsearch.cli import cli
from newsearch.errors import QueryError
from newsearch.formatting import Highlighter, HighlightStyle, chosen_highlighter, render_results, wrap
from newsearch.searcher import Index

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def news_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("terminal_news")
    report = build_index([write_news(root / "corpus")], root / "index")
    assert report.documents == len(ARTICLES)
    return root / "index"


def search(index: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner(env=env).invoke(cli, ["search", "--index", str(index), *args], prog_name="newsearch")


def test_wrap_breaks_at_spaces_with_a_hanging_indent():
    text = "The harbour authority closed the northern ferry terminal on Monday"
    assert wrap(text, 30, "     ") == ["     The harbour authority", "     closed the northern ferry",
                                       "     terminal on Monday"]
    assert wrap("a " + "x" * 40 + " b", 30, "  ") == ["  a", "  " + "x" * 40, "  b"]  # never split mid-word
    marked = "north \x1b[1;33mferry\x1b[0m strike today"  # colour codes take no room
    assert wrap(marked, 27, "     ") == ["     north \x1b[1;33mferry\x1b[0m strike", "     today"]


def test_results_wrap_to_the_width_and_name_the_folded_copies(news_index):
    with Index(news_index) as index:
        results = index.search("storm ferry terminal", limit=1, passages=1)
    text = render_results(results, Highlighter(style=HighlightStyle.BRACKETS), width=60)
    lines = text.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert lines[:4] == ["  1. Storm closes ferry terminal", "     Harbour Times · 2025-01-20 · ferry-1",
                         "     The harbour authority closed the northern [ferry]", "     [terminal] on Monday after a "
                                                                                    "[storm] damaged the pier,"]
    assert "     +1 similar: ferry-2 (Wire)" in lines


def test_notes_come_before_the_hits(news_index):
    result = search(news_index, "lighthouse histroy", "--exact")
    lines = result.stdout.splitlines()
    assert lines[:4] == ["No article has 'histroy': these are results for the other words.",
                         "Did you mean: lighthouse history?", "", "  1. Lighthouse history"]


@pytest.mark.parametrize("style, tags, marked", [
    ("brackets", None, "The council approved its [budget], with cuts to parks"),
    ("none", None, "The council approved its budget, with cuts to parks"),
    ("html", None, "The council approved its <mark>budget</mark>, with cuts to parks"),
    ("html", "<em class=\"hit\">,</em>", "The council approved its <em class=\"hit\">budget</em>, with cuts to parks"),
    ("ansi", None, "The council approved its \x1b[1;33mbudget\x1b[0m, with cuts to parks"),
])
def test_highlight_styles_in_text_json_and_the_api(news_index, style, tags, marked):
    extra = ["--highlight-tags", tags] if tags else []
    text = search(news_index, "budget", "--highlight", style, *extra, "--passages", "1")
    assert marked in text.stdout
    data = json.loads(search(news_index, "budget", "--highlight", style, *extra, "--format", "json").stdout)
    (passage,) = data["hits"][0]["passages"]
    assert passage["highlighted"].startswith(marked)
    plain = json.loads(search(news_index, "budget", "--format", "json").stdout)
    assert "highlighted" not in plain["hits"][0]["passages"][0]
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from newsearch.web.app import Settings, create_app

    with TestClient(create_app(Settings(index=str(news_index)))) as client:
        api = client.get("/api/search", params={"q": "budget", "highlight": style,
                                                **({"highlight_tags": tags} if tags else {})}).json()
    assert api["hits"][0]["passages"] == data["hits"][0]["passages"]


def test_html_highlighting_escapes_the_text():
    highlighter = chosen_highlighter("html", "<b>,</b>")
    assert highlighter.render("a<b & c", [(4, 5)]) == "a&lt;b <b>&amp;</b> c"


def test_bad_highlight_tags_are_refused_the_same_way(news_index):
    result = search(news_index, "budget", "--highlight", "html", "--highlight-tags", "<b>")
    assert result.exit_code == 2
    assert result.stderr == ("Error: --highlight-tags must be the opening and closing tag separated by a comma, "
                             "such as '<em>,</em>', not '<b>'\n")
    with pytest.raises(QueryError, match="highlight must be one of ansi, brackets, html, none, not 'bold'"):
        chosen_highlighter("bold", None)


def test_a_terminal_gets_the_pager_with_less_frx(news_index, tmp_path, monkeypatch):
    captured = tmp_path / "paged.txt"
    pager = f"{sys.executable} -c \"import os,sys; open({str(captured)!r},'w').write(os.environ['LESS'] + '|' + " \
            f"sys.stdin.read())\""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("NEWSEARCH_PAGER", pager)
    monkeypatch.delenv("LESS", raising=False)
    from newsearch.cli import _Reading

    _Reading("never", None, None, page=True).emit("one\ntwo")
    assert captured.read_text() == "FRX|one\ntwo\n"
    captured.unlink()
    _Reading("never", None, None, page=False).emit("three")  # --no-pager
    assert not captured.exists()
