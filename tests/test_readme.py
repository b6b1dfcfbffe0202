"""The README is tested: its commands exist and have help, its Python example and query examples run."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsearch import build_index
from newsearch.cli import cli

REPO = Path(__file__).resolve().parent.parent

README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str | None:
    """The text of the `## title` section (up to the next `## ` heading), or None."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    return match.group(1) if match else None


def code_blocks(text: str, language: str = "") -> list[str]:
    return re.findall(rf"^```{language}[^\n]*\n(.*?)^```", text, re.M | re.S)


def table_commands() -> list[str]:
    """The subcommands named in the first column of the Commands table, in order."""
    commands = section("Commands")
    assert commands is not None, "README.md has no '## Commands' section"
    names = re.findall(r"^\| `newsearch ([a-z][a-z-]*)", commands, re.M)
    return list(dict.fromkeys(names))


def test_the_commands_table_names_every_command():
    assert table_commands() == ["index", "search", "related", "timeline", "show", "export", "watch", "stats", "check",
                                "serve"]
    assert sorted(table_commands()) == sorted(cli.commands)


@pytest.mark.parametrize("command", table_commands())
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_in_the_readme_has_help(command, flag):
    result = CliRunner().invoke(cli, [command, flag], prog_name="newsearch")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: newsearch {command} [OPTIONS]")
    assert "-h, --help" in result.stdout


def test_python_api_example_runs(tmp_path, monkeypatch):
    (example,) = code_blocks(section("Python API") or "", "python")
    corpus = tmp_path / "corpus" / "world"
    corpus.mkdir(parents=True)
    (corpus / "kursk.json").write_text(json.dumps({
        "id": "kursk", "title": "North Korean soldiers captured in Kursk",
        "body": "Ukrainian forces captured two North Korean soldiers in Kursk.\n\nThe soldiers were injured.",
        "date": "2025-01-11T10:00:00Z", "source": "BBC News"}), encoding="utf-8")
    (corpus / "ferry.json").write_text(json.dumps({
        "id": "ferry", "title": "Ferry strike", "body": "Ferry workers in the North Sea walked out.",
        "date": "2025-01-12T10:00:00Z", "source": "Reuters"}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(example, "README.md", "exec"), {"__name__": "__readme__"})
    assert output.getvalue() == (
        "1 North Korean soldiers captured in Kursk BBC News 2025-01-11 10:00:00+00:00\n"
        "    Ukrainian forces captured two North Korean soldiers in Kursk. ((30, 35), (36, 42), (43, 51))\n"
        "    The soldiers were injured. ((4, 12),)\n"
        "2 Ferry strike Reuters 2025-01-12 10:00:00+00:00\n"
        "    Ferry workers in the North Sea walked out. ((21, 26),)\n"
    )
    assert (tmp_path / "index" / "current").is_symlink()


@pytest.fixture(scope="module")
def bundled_index(tmp_path_factory):
    """The repository's own corpus/ (the README's set-up indexes it), indexed into a temporary folder."""
    index = tmp_path_factory.mktemp("readme") / "index"
    build_index([REPO / "corpus"], index)
    return index


def test_query_language_examples_run(bundled_index):
    text = section("Query language")
    assert text is not None, "README.md has no '## Query language' section"
    examples = [line.strip() for block in code_blocks(text) for line in block.splitlines()
                if line.strip().startswith("newsearch search") and " # " in line]
    assert examples, "the query language section has no `newsearch search ...` examples"
    for example in examples:
        command, _, comment = example.partition(" #")
        argv = shlex.split(command)[1:]
        result = CliRunner().invoke(cli, [argv[0], "--index", str(bundled_index), *argv[1:]], prog_name="newsearch")
        # Each example says how many results it gives on the bundled corpus ("# 1 result").
        expected = int(re.match(r"\s*(\d+) result", comment).group(1))
        assert result.exit_code == (0 if expected else 1), f"{example}\n{result.output}"
        if expected:
            counted = re.search(rf"^\S+ of {expected} results? \(", result.output, re.MULTILINE)
            assert counted, f"{example}\n{result.output}"


def test_every_public_name_is_importable_and_listed():
    import newsearch

    exported = set(newsearch.__all__) - {"__version__"}
    assert exported == set(newsearch._MODULE_OF)
    for name in exported:
        assert getattr(newsearch, name) is not None


def test_the_api_example_runs_as_a_script_without_a_main_guard(tmp_path, bbc_corpus):
    """A large corpus indexed from an unguarded script: the library must not spawn workers by default."""
    import subprocess
    import sys

    script = tmp_path / "example.py"
    script.write_text(
        "import newsearch\n"
        f"report = newsearch.build_index([{str(bbc_corpus / 'tech')!r}], {str(tmp_path / 'ix')!r})\n"
        "print(report.added)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "401\n"
