"""Untrusted text never reaches the terminal raw: every command's stdout and stderr bytes are checked.

Indexed text (titles, bodies, sources, authors, urls, tags, ids), file and folder NAMES and skip
reasons carry escape sequences (OSC 52 clipboard writes, clear screen, 8-bit CSI, BEL, bidi
overrides). Text output must show them harmlessly; JSON output escapes them (and keeps them).
The commands run in processes forked from the ``cli_server`` (conftest.py): their output is what
a process writes, without an interpreter start each.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.readers import stored_documents

EVIL = "\x1b]52;c;SGVsbG8=\x07 \x1b[2J \x9b31m \x07 \u202eevil\u202c \x1b[5m \x08 \x7f \u2066iso\u2069"
# C0 controls but \t and \n, DEL, C1 controls, bidi embeddings/overrides/isolates, and bytes
# that are not UTF-8 (decoded as lone surrogates by surrogateescape)
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\udc80-\udcff]")
# plain words, so the escape sequences stay below the readers' "binary" threshold
PADDING = "The quick brown fox jumps over the lazy dog near the river bank. " * 16
OUR_SGR = re.compile(r"\x1b\[(?:0|1|1;33)m")  # what --color always itself writes


@pytest.fixture(scope="module")
def run_bytes(cli_server) -> Callable[..., subprocess.CompletedProcess]:
    """``newsearch ARGS`` in a process, its output as bytes."""
    return functools.partial(cli_server.run_cli, text=False)


def unsafe_in(data: bytes, allow_color: bool = False) -> list[str]:
    text = data.decode("utf-8", "surrogateescape")
    if allow_color:
        text = OUR_SGR.sub("", text)
    return UNSAFE.findall(text)


def assert_terminal_safe(result: subprocess.CompletedProcess, allow_color: bool = False) -> None:
    assert b"Traceback" not in result.stderr, result.stderr.decode("utf-8", "replace")
    assert not unsafe_in(result.stdout, allow_color), result.stdout
    assert not unsafe_in(result.stderr), result.stderr


def evil_corpus(root: Path) -> Path:
    corpus, outside = root / "corpus", root / f"out{EVIL}"
    folder = corpus / "news\x1b[31m\x9b1m"  # the folder name becomes the source
    folder.mkdir(parents=True)
    (folder / "evil.md").write_text(
        f"---\ntitle: Evil {EVIL} title\nsource: Src {EVIL}\nauthor: Auth {EVIL}\nurl: http://x/{EVIL}\n"
        f"tags: tag {EVIL}\n---\n\n{PADDING}\n\nPenguin body {EVIL} penguin \r end.\n", encoding="utf-8")
    (folder / "untitled.txt").write_text(f"Puffin \x1b[2J puffin {EVIL} {PADDING}\n", encoding="utf-8")
    plain = corpus / "plain"
    plain.mkdir()
    (plain / "items.jsonl").write_text(json.dumps({
        "id": f"id {EVIL}", "title": f"Otter {EVIL}", "body": f"Otter {EVIL} otter", "source": f"S {EVIL}",
        "author": f"A {EVIL}", "url": f"http://y/{EVIL}", "tags": [f"t {EVIL}"]}) + "\n", encoding="utf-8")
    (plain / f"name {EVIL}.txt").write_text("Name headline\n\nThe walrus file name is evil.\n", encoding="utf-8")
    (plain / f"skipped {EVIL}.txt").write_text("")
    (plain / "page.html").write_text(
        "<html><head><title>Page &#x1b;[2J&#x9b;31m&#x202e;evil</title>"
        "<meta property='og:site_name' content='Site &#27;]52;c;SGVsbG8=&#7;'></head>"
        "<body><p>The narwhal &#x1b;[2J &#155;31m &#x202e; &#7; page.</p></body></html>")
    outside.mkdir()
    (outside / "x.txt").write_text("X\n\nx\n")
    os.symlink(outside / "x.txt", plain / "link.txt")  # skipped; the reason names the evil target
    raw = os.fsencode(corpus / "raw")
    os.mkdir(raw)
    with open(os.path.join(raw, b"bad\x1b\x9b\xff.txt"), "wb"):
        pass  # empty: skipped, and its name is not even UTF-8
    with open(os.path.join(raw, b"good\x9bname.txt"), "wb") as handle:
        handle.write(b"Raw headline\n\nThe beaver raw name.\n")
    return corpus


@pytest.fixture(scope="module")
def evil(tmp_path_factory, run_bytes):
    root = tmp_path_factory.mktemp("terminal")
    corpus = evil_corpus(root)
    index = root / "index"
    first = run_bytes("index", str(corpus), "--index", str(index))
    return corpus, index, first


def test_index_warnings_and_summary_are_terminal_safe(evil, run_bytes, tmp_path):
    corpus, _index, first = evil
    assert first.returncode == 0, first
    assert_terminal_safe(first)
    stderr = first.stderr.decode("utf-8", "surrogateescape")
    assert stderr.count("warning: skipped") == 3  # the two empty files and the symlink
    assert "skipped plain/skipped " in stderr and "symlink outside the corpus" in stderr
    assert_terminal_safe(run_bytes("index", str(corpus), "--index", str(tmp_path / "index"), "--json"))


@pytest.mark.parametrize("word", ["penguin", "puffin", "otter", "walrus", "narwhal", "beaver", "evil", "sgvsbg8"])
@pytest.mark.parametrize("color", ["never", "always"])
def test_search_text_is_terminal_safe(evil, run_bytes, word, color):
    result = run_bytes("search", word, "--index", str(evil[1]), "--color", color)
    assert result.returncode in (0, 1)
    assert_terminal_safe(result, allow_color=color == "always")


@pytest.mark.parametrize("output", ["json", "jsonl"])
def test_search_json_escapes_and_keeps_the_text(evil, run_bytes, output):
    result = run_bytes("search", "otter OR penguin OR narwhal", "--index", str(evil[1]), "--format", output,
                       "--limit", "50")
    assert result.returncode == 0
    assert_terminal_safe(result)
    result.stdout.decode("ascii")  # ensure_ascii: nothing but escapes
    hits = json.loads(result.stdout)["hits"] if output == "json" else [
        json.loads(line) for line in result.stdout.splitlines()]
    otter = next(hit for hit in hits if hit["title"].startswith("Otter"))
    assert "\u202eevil\u202c" in otter["title"]  # escaped in the bytes, kept in the data


def test_show_and_stats_and_check_are_terminal_safe(evil, run_bytes):
    _corpus, index, _first = evil
    ids = sorted(doc_id for doc_id, _title in stored_documents(index))
    assert len(ids) == 6
    extras = ([], ["--query", "evil penguin"], ["--color", "always", "--query", "otter"], ["--format", "json"])
    for number, doc_id in enumerate(ids):  # each article once, each way of showing one at least once
        extra = extras[number % len(extras)]
        result = run_bytes("show", doc_id, "--index", str(index), *extra)
        assert result.returncode == 0, (doc_id, result)
        assert_terminal_safe(result, allow_color="always" in extra)
    for command in (["stats"], ["stats", "--json"], ["check"], ["check", "--json"]):
        result = run_bytes(*command, "--index", str(index))
        assert result.returncode == 0
        assert_terminal_safe(result)
    assert "news" in run_bytes("stats", "--index", str(index)).stdout.decode()


def test_file_names_with_control_characters_are_indexed_once(tmp_path):
    import newsearch

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / f"name {EVIL}.txt").write_text("Name headline\n\nThe walrus file name is evil.\n")
    with open(os.path.join(os.fsencode(corpus), b"good\x9bname.txt"), "wb") as handle:
        handle.write(b"Raw headline\n\nThe beaver raw name.\n")
    newsearch.build_index([corpus], tmp_path / "index")
    again = newsearch.build_index([corpus], tmp_path / "index")
    with newsearch.open_index(tmp_path / "index") as index:
        paths = [hit.path for hit in index.search("walrus OR beaver").hits]
    assert (again.added, again.deleted, again.unchanged) == (0, 0, 2)
    assert len(paths) == 2 and all(os.path.exists(path) for path in paths), paths


@pytest.mark.parametrize(("args", "code"), [
    (["search", f"foo:bar{EVIL}"], 2),
    (["search", '"the \x07\x9b\u202e\x1b of"~2'], 2),  # no letters in the escapes: only common words, with slop
    (["index", f"corpus{EVIL}"], 1),
    (["search", "bank", "--index", f"nowhere{EVIL}"], 3),
], ids=["unknown field", "phrase of common words", "corpus path", "index path"])
def test_error_messages_do_not_echo_control_characters(evil, run_bytes, tmp_path, args, code):
    if "--index" not in args:
        args = [*args, "--index", str(evil[1])]
    result = run_bytes(*args, cwd=tmp_path)
    assert result.returncode == code, result
    assert_terminal_safe(result)
