"""Hostile and changing corpus files, end to end: a file swapped for a FIFO or a folder after the
scan, a file rewritten while it is read, file names that are not UTF-8, and text that hides or
reorders what a terminal shows (issue #13, items 1, 7, 8 and 12).

Every run that could hang runs in a child process with a timeout, so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.corpora import write_article, write_hidden_corpus
from support.readers import stored_documents

import newsearch
from newsearch.cli import cli

# -- 12. invisible and reordering characters never reach the terminal raw --------------------------

# LRM, RLM, ALM; zero-width space, non-joiner, joiner, word joiner, BOM; soft hyphen; tag
# characters (invisible ASCII: "EVIL"); line and paragraph separators
HIDDEN = ("\u200e\u200f\u061c \u200b\u200c\u200d\u2060\ufeff \u00ad "
          "\U000e0045\U000e0056\U000e0049\U000e004c \u2028\u2029")
HIDDEN_CHARS = re.compile("[\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff\u00ad\U000e0000-\U000e007f\u2028\u2029]")


def hidden_in(data: bytes) -> list[str]:
    return HIDDEN_CHARS.findall(data.decode("utf-8", "surrogateescape"))


@pytest.fixture(scope="module")
def hidden_index(tmp_path_factory, cli_server):
    root = tmp_path_factory.mktemp("hidden")
    write_hidden_corpus(root / "corpus" / f"src{HIDDEN}", HIDDEN, front_matter=f"tags: tag{HIDDEN}\nurl: http://x/{HIDDEN}\n")
    index = root / "index"
    built = cli_server.run_cli("index", str(root / "corpus"), "--index", str(index), text=False)
    return index, built


def test_index_warnings_hide_no_invisible_characters(hidden_index):
    _index, built = hidden_index
    assert built.returncode == 0, built
    assert b"warning: skipped" in built.stderr
    assert hidden_in(built.stdout) == [] and hidden_in(built.stderr) == []


def test_search_show_related_stats_hide_no_invisible_characters(hidden_index, cli_server):
    index, _built = hidden_index
    ids = sorted(doc_id for doc_id, _title in stored_documents(index))
    assert len(ids) == 2
    runs = [["search", "heron"], ["search", "heron", "--color", "always"], ["stats"], ["check"]]
    runs += [["show", doc_id] for doc_id in ids] + [["show", doc_id, "--query", "heron"] for doc_id in ids]
    runs += [["related", doc_id] for doc_id in ids]
    for args in runs:
        result = cli_server.run_cli(*args, "--index", str(index), text=False)
        assert result.returncode in (0, 1), (args, result)
        assert b"Traceback" not in result.stderr
        assert hidden_in(result.stdout) == [] and hidden_in(result.stderr) == [], (args, result.stdout)
    shown = cli_server.run_cli("search", "heron", "--index", str(index), text=False).stdout.decode("utf-8")
    assert "\\u200e\\u200f\\u061c" in shown  # direction marks: escaped, so they are seen
    assert "\\U000e0045\\U000e0056" in shown  # tag characters: escaped, the smuggled text shown


def test_json_keeps_invisible_characters_escaped(hidden_index, cli_server):
    index, _built = hidden_index
    result = cli_server.run_cli("search", "heron", "--format", "json", "--index", str(index), text=False)
    assert result.returncode == 0
    result.stdout.decode("ascii")  # ensure_ascii: nothing but escapes
    titles = [hit["title"] for hit in json.loads(result.stdout)["hits"]]
    assert any(HIDDEN.strip() in title for title in titles), titles  # kept as stored


# -- 1. a FIFO or a folder swapped in after the scan: skipped, never waited on, indexed version kept --

SWAP_AFTER_SCAN = """
import json, os, sys
import newsearch
from newsearch import corpus

corpus_path, index_path, victim, kind, rebuild = sys.argv[1:]
real_scan = corpus.scan

def scan_then_swap(*args, **kwargs):
    found = real_scan(*args, **kwargs)
    os.unlink(victim)
    os.mkfifo(victim) if kind == "fifo" else os.mkdir(victim)
    return found

corpus.scan = scan_then_swap
report = newsearch.build_index([corpus_path], index_path, rebuild=rebuild == "rebuild")
print(json.dumps({"skipped": {s.path: s.reason for s in report.skipped}, "deleted": report.deleted}))
"""
TIMEOUT_S = 60  # a run takes a second or two; a hang on a FIFO fails here instead of hanging the suite


def two_articles(corpus: Path) -> None:
    write_article(corpus, "heron.txt", "Heron", "The heron waits by the river for fish.")
    write_article(corpus, "otter.txt", "Otter", "The otter swims in the cold river.")


def ids_and_titles(index: Path) -> dict[str, str]:
    return dict(stored_documents(index) or ())


def swap_after_scan(corpus: Path, index: Path, victim: str, kind: str, rebuild: bool) -> dict:
    result = subprocess.run([sys.executable, "-c", SWAP_AFTER_SCAN, str(corpus), str(index), str(corpus / victim),
                             kind, "rebuild" if rebuild else "update"],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_file_swapped_after_the_scan_is_skipped_and_keeps_its_indexed_version(tmp_path, cli_server, kind):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    two_articles(corpus)
    newsearch.build_index([corpus], index)
    write_article(corpus, "heron.txt", "Heron two", "The heron was rewritten, and will be swapped.")
    report = swap_after_scan(corpus, index, "heron.txt", kind, rebuild=False)
    assert report["skipped"] == {"heron.txt": "unreadable: not a regular file"}
    assert report["deleted"] == 0
    assert ids_and_titles(index) == {"heron.txt": "Heron", "otter.txt": "Otter"}  # the indexed version kept
    again = cli_server.run_cli("index", str(corpus), "--index", str(index), timeout=TIMEOUT_S)  # the scan sees it now
    assert again.returncode == 0, again.stderr
    if kind == "fifo":  # still not a regular file: skipped again, still kept
        assert "heron.txt: not a regular file" in again.stderr
        assert ids_and_titles(index) == {"heron.txt": "Heron", "otter.txt": "Otter"}
    else:  # a folder is walked as a folder: the file is gone
        assert ids_and_titles(index) == {"otter.txt": "Otter"}
    assert cli_server.run_cli("check", "--index", str(index)).returncode == 0


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_full_build_skips_a_file_swapped_after_the_scan(tmp_path, kind):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    two_articles(corpus)
    report = swap_after_scan(corpus, index, "heron.txt", kind, rebuild=True)
    assert report["skipped"] == {"heron.txt": "unreadable: not a regular file"}
    assert ids_and_titles(index) == {"otter.txt": "Otter"}


def test_a_fifo_in_the_corpus_never_blocks_the_writer_lock(tmp_path, cli_server):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    two_articles(corpus)
    newsearch.build_index([corpus], index)
    (corpus / "otter.txt").unlink()
    os.mkfifo(corpus / "otter.txt")
    for _ in range(2):  # the second run would exit 75 if the first still held the lock
        result = cli_server.run_cli("index", str(corpus), "--index", str(index), timeout=TIMEOUT_S)
        assert result.returncode == 0, result.stderr
    assert ids_and_titles(index) == {"heron.txt": "Heron", "otter.txt": "Otter"}


# -- 7. a file rewritten while it is read: the hash is of the bytes indexed -------------------------

FULL = "Heron full\n\n" + "The heron waits by the river, very still, for the fish to come close. " * 60 + "The end.\n"


def set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


def test_a_file_read_while_rewritten_is_indexed_in_full_once_complete(tmp_path, monkeypatch):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    two_articles(corpus)
    newsearch.build_index([corpus], index)
    heron = corpus / "heron.txt"
    heron.write_text(FULL, encoding="utf-8")  # the new version, complete when the run starts
    set_mtime(heron, 1_700_000_000)
    real_open, rewrites = os.open, []

    def open_mid_rewrite(path, flags, *args, **kwargs):
        if os.fspath(path) == str(heron) and not rewrites:  # the writer starts rewriting it in place
            rewrites.append(path)
            with open(heron, "r+b") as handle:
                handle.truncate(len(FULL) // 3)
            set_mtime(heron, 1_700_000_100)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_mid_rewrite)
    newsearch.build_index([corpus], index)
    monkeypatch.undo()
    heron.write_text(FULL, encoding="utf-8")  # the rewrite finishes
    set_mtime(heron, 1_700_000_200)
    newsearch.build_index([corpus], index)
    with newsearch.open_index(index) as opened:
        body = opened.document("heron.txt").body
    assert body.endswith("The end.") and len(body) == len(FULL.split("\n\n", 1)[1].strip())


class ChangingReads:
    """os.open and os.read that append to the file after the first read of each of its first
    ``times`` opens (a writer busy with it while it is read)."""

    def __init__(self, path: Path, times: int) -> None:
        self.path, self.times, self.fds = path, times, set()
        self.real_open, self.real_read = os.open, os.read

    def open(self, path, flags, *args, **kwargs):
        fd = self.real_open(path, flags, *args, **kwargs)
        if os.fspath(path) == str(self.path):
            self.fds.add(fd)
        return fd

    def read(self, fd, size):
        chunk = self.real_read(fd, size)
        if fd in self.fds and self.times > 0:
            self.fds.discard(fd)
            self.times -= 1
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(" More text.")
        return chunk


def test_a_file_that_changed_while_read_is_read_again(tmp_path, monkeypatch):
    from newsearch.corpus import load_file, read_file, scan

    corpus = tmp_path / "corpus"
    two_articles(corpus)
    [file] = [file for file in scan([corpus]).files if file.relpath == "heron.txt"]
    changing = ChangingReads(corpus / "heron.txt", times=1)
    monkeypatch.setattr(os, "open", changing.open)
    monkeypatch.setattr(os, "read", changing.read)
    result = read_file(file)
    final = (corpus / "heron.txt").read_bytes()
    assert result.documents[0].body.endswith("More text.")  # the second read, of the file as it stayed
    assert result.version is not None and result.version.size == len(final)
    assert load_file(file).version == result.version  # the hash is of the bytes parsed


def test_a_file_that_keeps_changing_is_skipped_and_keeps_its_indexed_version(tmp_path, monkeypatch):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    two_articles(corpus)
    newsearch.build_index([corpus], index)
    write_article(corpus, "heron.txt", "Heron two", "The heron is being rewritten all the time.")
    changing = ChangingReads(corpus / "heron.txt", times=1000)
    monkeypatch.setattr(os, "open", changing.open)
    monkeypatch.setattr(os, "read", changing.read)
    report = newsearch.build_index([corpus], index)
    monkeypatch.undo()
    assert [(skipped.path, skipped.reason.split(":")[0]) for skipped in report.skipped] == [("heron.txt", "changing")]
    assert ids_and_titles(index) == {"heron.txt": "Heron", "otter.txt": "Otter"}


# -- 8. file names that are not UTF-8: lossless, unique ids ------------------------------------------

def write_named(corpus: Path, name: bytes, title: str, body: str) -> None:
    with open(os.path.join(os.fsencode(corpus), name), "wb") as handle:
        handle.write(f"{title}\n\n{body}\n".encode())


def test_names_that_are_not_utf8_get_lossless_unique_ids(tmp_path, cli_server):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    write_named(corpus, b"caf\xe9.txt", "Latin one", "The first cafe story, about coffee.")
    first = cli_server.run_cli("index", str(corpus), "--index", str(index))
    assert first.returncode == 0, first.stderr
    write_named(corpus, b"caf\xe8.txt", "Latin two", "The second cafe story, about tea.")
    write_named(corpus, b"caf.txt", "Plain", "The plain cafe story, about milk.")
    write_named(corpus, b"caf\\xe9.txt", "Backslash", "The cafe story whose name holds a backslash, about water.")
    second = cli_server.run_cli("index", str(corpus), "--index", str(index))
    assert second.returncode == 0, second.stderr
    assert "skipped" not in second.stderr
    expected = {"caf\\xe9.txt": "Latin one", "caf\\xe8.txt": "Latin two", "caf.txt": "Plain",
                "caf\\\\xe9.txt": "Backslash"}
    assert ids_and_titles(index) == expected
    assert cli_server.run_cli("check", "--index", str(index)).returncode == 0
    again = cli_server.run_cli("index", str(corpus), "--index", str(index), "--json")
    assert json.loads(again.stdout)["unchanged"] == 4  # the odd names are found unchanged, not re-added
    searched = cli_server.run_cli("search", "cafe", "--index", str(index), "--limit", "10")
    assert "caf\\xe9.txt" in searched.stdout and "caf\\\\xe9.txt" in searched.stdout  # shown escaped
    for doc_id, title in expected.items():  # in this process: the real one reads raw bytes below
        shown = CliRunner().invoke(cli, ["show", doc_id, "--index", str(index)])
        assert shown.exit_code == 0 and shown.stdout.startswith(title), (doc_id, shown.output)
        related = CliRunner().invoke(cli, ["related", doc_id, "--index", str(index), "--format", "json"])
        assert related.exit_code == 0, (doc_id, related.output)
        assert doc_id not in {hit["id"] for hit in json.loads(related.stdout)["hits"]}
    with newsearch.open_index(index) as opened:
        assert opened.document("caf\\xe9.txt").body == "The first cafe story, about coffee."
        # The raw bytes, as a shell passes $'caf\xe9.txt' (surrogate-escaped), name the same article.
        assert opened.document("caf\udce9.txt").title == "Latin one"
        assert opened.related("caf\udce9.txt").hits
    raw = subprocess.run([sys.executable, "-m", "newsearch", "show", b"caf\xe9.txt", "--index", str(index)],
                         capture_output=True, text=True)
    assert raw.returncode == 0 and raw.stdout.startswith("Latin one"), raw.stderr


def test_an_id_with_odd_bytes_is_a_bad_or_unknown_id_never_damage(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    write_named(corpus, b"story.txt", "Story", "A healthy index.")
    newsearch.build_index([corpus], index)
    for command in ("show", "related"):
        # Bytes from a shell: a possible file name, not in the index.
        done = subprocess.run([sys.executable, "-m", "newsearch", command, b"bad\xff", "--index", str(index)],
                              capture_output=True, text=True)
        assert (done.returncode, "damaged" in done.stderr) == (1, False), done.stderr
        assert "no document with id 'bad\\\\xff'" in done.stderr
        # A lone surrogate (only Python can pass one) is in no id: a bad id, exit 2.
        bad = CliRunner().invoke(cli, [command, "hold \ud800", "--index", str(index)])
        assert (bad.exit_code, "holds a character no file name has" in bad.output) == (2, True), bad.output
    with newsearch.open_index(index) as opened, pytest.raises(newsearch.QueryError, match="no file name has"):
        opened.document("hold \ud800")


def test_escaped_names_are_lossless_and_unique():
    import random

    from newsearch.controlchars import escape_name, unescape_name

    pieces = ["\\", "x", "e", "9", "E", "a", "\udce9", "\udc80", "/", "é", "#"]
    rng = random.Random(13)
    seen: dict[str, str] = {}
    for _ in range(20_000):
        name = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        text = escape_name(name)
        assert unescape_name(text) == name
        assert seen.setdefault(text, name) == name  # no two names share a text form
        text.encode("utf-8")  # storable: no lone surrogates left
    assert escape_name("news/a\\b é.txt") == "news/a\\b é.txt"  # ordinary names are their own id
