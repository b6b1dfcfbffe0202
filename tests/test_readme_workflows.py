"""The README's "News workflows" examples run: each ``$ newsearch ...`` line of its console blocks,
in order, over the news folder the section names, printing exactly the lines that follow it
(``<n>``, ``<time>`` and ``<path>`` stand for what changes from run to run)."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner
from support.news import write_news
from test_readme import code_blocks, section

from newsearch import build_index
from newsearch.cli import cli

PLACEHOLDERS = {"<n>": r"[\d.,]+", "<time>": r"\S+", "<path>": r"[^\"]+"}


def examples() -> list[tuple[str, str]]:
    """(command, expected output) of every example, in the order the README gives them."""
    text = section("News workflows")
    assert text is not None, "README.md has no '## News workflows' section"
    found = []
    for block in code_blocks(text, "console"):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            found.append((command, output))
    return found


def expected_pattern(output: str) -> re.Pattern[str]:
    parts = re.split("(" + "|".join(map(re.escape, PLACEHOLDERS)) + ")", output)
    return re.compile("".join(PLACEHOLDERS.get(part, re.escape(part)) for part in parts))


def test_the_section_has_examples_of_every_new_command():
    commands = " ".join(command for command, _ in examples())
    for part in ("search --source", "search '*'", "--tz", "export", "--format opensearch", "watch add", "watch run",
                 "watch list", "--highlight html", "--highlight-tags"):
        assert part in commands, part


def test_the_examples_print_what_the_readme_says(tmp_path, monkeypatch):
    build_index([write_news(tmp_path / "news")], tmp_path / "index")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSEARCH_INDEX", str(tmp_path / "index"))
    for command, output in examples():
        argv = shlex.split(command)
        assert argv[0] == "newsearch"
        result = CliRunner().invoke(cli, argv[1:], prog_name="newsearch")
        assert result.exit_code in (0, 1), f"{command}\n{result.output}"
        if not expected_pattern(output).fullmatch(result.stdout):
            pytest.fail(f"$ {command}\n--- README says:\n{output}--- printed:\n{result.stdout}")
