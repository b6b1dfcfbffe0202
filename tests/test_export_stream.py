"""Export and ``Index.matching`` stream: the matches are made a chunk at a time while read, never
all at once, so memory does not grow with the number of matches; the README's Python example runs."""

from __future__ import annotations

import gc
import io
import json

import pytest
from click.testing import CliRunner
from support.news import write_news
from test_readme import code_blocks, section

from newsearch import build_index, listing
from newsearch.cli import cli
from newsearch.export import export
from newsearch.models import Match
from newsearch.searcher import Index


def live_matches() -> int:
    return sum(isinstance(item, Match) for item in gc.get_objects())


def test_matches_are_made_a_chunk_at_a_time(synthetic_index, monkeypatch):
    monkeypatch.setattr(listing, "CHUNK", 8)
    monkeypatch.setattr(listing, "FIRST", 8)
    most, seen = 0, []
    with Index(synthetic_index.path) as index, index.matching("*") as matches:
        assert len(matches) == 120
        before = live_matches()
        for number, match in enumerate(matches):
            seen.append(match.id)
            del match
            if number % 10 == 0:
                most = max(most, live_matches() - before)
        expected = [m.id for m in index.matching("*")]  # the same list, read whole
    assert seen == expected and len(set(seen)) == 120
    assert most <= 8  # one chunk alive at a time, not 120


def test_an_export_holds_no_list_of_its_articles(synthetic_index, monkeypatch):
    """The exported articles are read one at a time: while one is written, at most a chunk of
    matches and no earlier article is alive."""
    monkeypatch.setattr(listing, "CHUNK", 8)
    monkeypatch.setattr(listing, "FIRST", 8)
    alive: list[int] = []

    class Watching(io.StringIO):
        def write(self, text: str) -> int:
            if text.startswith("{"):  # an article's line (not its newline)
                self.written = getattr(self, "written", 0) + 1
                if self.written % 10 == 1:
                    alive.append(live_matches())
            return super().write(text)

    out = Watching()
    with Index(synthetic_index.path) as index, index.matching("bank") as matches:
        assert export(matches, out) == len(matches) == 120
    assert max(alive) <= 8
    assert len(out.getvalue().splitlines()) == 120


def test_the_readme_python_export_example_runs(tmp_path, monkeypatch, capsys):
    (example,) = code_blocks(section("News workflows") or "", "python")
    build_index([write_news(tmp_path / "news")], tmp_path / "index")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    printed = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    cli_ids = CliRunner().invoke(cli, ["export", "ferry", "--since", "2025-01-01", "--index", str(tmp_path / "index")],
                                 prog_name="newsearch").stdout
    assert printed == [json.loads(line)["id"] for line in cli_ids.splitlines()] == ["ferry-2", "ferry-1"]


@pytest.mark.parametrize("fold", [False, True])
def test_the_command_line_exports_what_matching_lists(synthetic_index, fold):
    args = ["export", "*", "--index", str(synthetic_index.path), "--sort", "oldest"] + ["--fold"] * fold
    result = CliRunner().invoke(cli, args, prog_name="newsearch")
    assert result.exit_code == 0, result.output
    with Index(synthetic_index.path) as index, index.matching("*", sort="oldest", collapse=fold) as matches:
        assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [match.id for match in matches]
