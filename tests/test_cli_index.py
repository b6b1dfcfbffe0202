"""`newsearch index`, `stats` and `check` through click's CliRunner: exact output and exit codes."""

from __future__ import annotations

import json
import os
import re

import pytest
from click.testing import CliRunner
from support.corpora import write_article

from newsearch.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    write_article(folder, "world/a.txt", "Troops captured", "Two soldiers were captured in Kursk.")
    write_article(folder, "world/b.txt", "Summit ends", "Leaders left the summit without a deal.")
    return folder


def normalise_duration(text: str) -> str:
    """The summary without its duration, and without the ISO time that starts it off a terminal."""
    return re.sub(r"in \d+\.\d s", "in X s", re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ", "", text))


def test_index_prints_the_summary(runner, corpus, tmp_path):
    index_path = tmp_path / "ix"
    result = runner.invoke(cli, ["index", str(corpus), "--index", str(index_path)])
    assert result.exit_code == 0, result.output
    assert normalise_duration(result.output) == (
        f"Built {index_path} in X s: 2 added, 0 updated, 0 deleted, 0 unchanged, 0 skipped.\n"
        "The index holds 2 documents.\n"
    )
    again = runner.invoke(cli, ["index", str(corpus), "--index", str(index_path)])
    assert normalise_duration(again.output) == (
        f"Updated {index_path} in X s: 0 added, 0 updated, 0 deleted, 2 unchanged, 0 skipped.\n"
        "The index holds 2 documents.\n"
    )


def test_index_reads_environment_variables(runner, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSEARCH_CORPUS", str(corpus))
    monkeypatch.setenv("NEWSEARCH_INDEX", str(tmp_path / "from-env"))
    result = runner.invoke(cli, ["index"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env" / "current").is_symlink()


def test_skipped_files_warn_and_strict_exits_5(runner, corpus, tmp_path):
    (corpus / "world" / "bad.txt").write_bytes(b"\x00\x00\x00")
    (corpus / "world" / "notes.docx").write_bytes(b"ignored")
    index_path = tmp_path / "ix"
    result = runner.invoke(cli, ["index", str(corpus), "--index", str(index_path)])
    assert result.exit_code == 0
    assert "warning: skipped world/bad.txt: binary" in result.stderr
    assert "Skipped: 1 binary." in result.stdout
    strict = runner.invoke(cli, ["index", str(corpus), "--index", str(index_path), "--strict"])
    assert strict.exit_code == 5


def test_index_json_summary(runner, corpus, tmp_path):
    result = runner.invoke(cli, ["index", str(corpus), "--index", str(tmp_path / "ix"), "--json"])
    data = json.loads(result.stdout)
    assert (data["added"], data["documents"], data["rebuilt"], data["skipped"]) == (2, 2, True, [])
    assert data["format_version"] == 1


def test_missing_corpus_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(cli, ["index", str(tmp_path / "missing"), "--index", str(tmp_path / "ix")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: corpus path not found: {tmp_path / 'missing'}\n"
    assert not (tmp_path / "ix").exists()


def test_stats_and_check(runner, corpus, tmp_path):
    index_path = tmp_path / "ix"
    runner.invoke(cli, ["index", str(corpus), "--index", str(index_path)])
    stats = runner.invoke(cli, ["stats", "--index", str(index_path)])
    assert stats.exit_code == 0
    assert "Documents:  2\n" in stats.output
    assert re.search(r"^  world\s+2$", stats.output, re.MULTILINE)
    data = json.loads(runner.invoke(cli, ["stats", "--index", str(index_path), "--json"]).output)
    assert data["documents"] == 2 and data["sources"] == {"world": 2}
    check = runner.invoke(cli, ["check", "--index", str(index_path)])
    assert check.exit_code == 0
    generation = os.readlink(index_path / "current")
    assert check.output == f"OK: {index_path} ({generation}): 2 documents from 2 files in 1 segment(s), all readable.\n"


def test_check_passes_an_empty_index(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    assert runner.invoke(cli, ["index", str(tmp_path / "empty"), "--index", str(tmp_path / "ix")]).exit_code == 0
    check = runner.invoke(cli, ["check", "--index", str(tmp_path / "ix")])
    live = os.readlink(tmp_path / "ix" / "current")
    assert (check.exit_code, check.output) == (
        0, f"OK: {tmp_path / 'ix'} ({live}): 0 documents from 0 files in 0 segment(s), all readable.\n")


def test_commands_on_a_missing_index_say_how_to_build_one(runner, tmp_path):
    for command in (["stats"], ["check"], ["search", "anything"], ["show", "x"], ["related", "x"],
                    ["timeline", "anything"]):
        result = runner.invoke(cli, [*command, "--index", str(tmp_path / "none")])
        assert result.exit_code == 3, command
        assert result.stderr == (
            f"Error: no index at {tmp_path / 'none'}: "
            f"run `newsearch index ARTICLES_FOLDER --index {tmp_path / 'none'}` to build one\n"
        )


def test_check_reports_a_damaged_index(runner, corpus, tmp_path):
    index_path = tmp_path / "ix"
    runner.invoke(cli, ["index", str(corpus), "--index", str(index_path)])
    for segment_file in (index_path / "current").glob("*.seg"):
        segment_file.write_bytes(b"garbage" * 10)
    for command in ("check", "search"):
        args = [command, "captured"] if command == "search" else [command]
        result = runner.invoke(cli, [*args, "--index", str(index_path)])
        assert result.exit_code == 4, command
        assert re.fullmatch(
            rf"Error: the index at {re.escape(str(index_path))} is damaged \(.+\); "
            rf"run `newsearch index --rebuild --index {re.escape(str(index_path))}`\n", result.stderr), result.stderr


def test_version_and_help(runner):
    assert runner.invoke(cli, ["--version"]).output == "newsearch, version 0.1.0\n"
    for command in ("index", "search", "related", "timeline", "show", "stats", "check"):
        result = runner.invoke(cli, [command, "-h"])
        assert result.exit_code == 0 and "Usage: " in result.output


def test_an_unexpected_error_is_one_line_not_a_traceback(runner, corpus, tmp_path, monkeypatch):
    import newsearch.indexer

    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(newsearch.indexer, "build_index", broken)
    result = runner.invoke(cli, ["index", str(corpus), "--index", str(tmp_path / "ix")])
    assert result.exit_code == 1
    assert result.stderr == ("Error: internal error (ZeroDivisionError: simulated bug); "
                             "set NEWSEARCH_DEBUG=1 to see the traceback, and please report it\n")
    monkeypatch.setenv("NEWSEARCH_DEBUG", "1")
    debug = runner.invoke(cli, ["index", str(corpus), "--index", str(tmp_path / "ix")])
    assert isinstance(debug.exception, ZeroDivisionError)


def test_an_empty_corpus_says_what_newsearch_reads(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(cli, ["index", str(tmp_path / "empty"), "--index", str(tmp_path / "ix")])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1:] == [
        "The index holds 0 documents.",
        "No articles found: newsearch reads .txt, .md, .json, .jsonl, .html, .rss/.atom/.xml, .csv, .tsv, .warc files "
        "(also gzipped); hidden files are ignored.",
    ]
