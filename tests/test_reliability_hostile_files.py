"""Hostile and changing corpus files, end to end: a file swapped for a FIFO or a folder after the
scan, a file rewritten while it is read, file names that are not UTF-8, and text that hides or
reorders what a terminal shows (issue #13, items 1, 7, 8 and 12).

Every run that could hang runs in a child process with a timeout, so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from support.readers import stored_documents

# -- 12. invisible and reordering characters never reach the terminal raw --------------------------

# LRM, RLM, ALM; zero-width space, non-joiner, joiner, word joiner, BOM; soft hyphen; tag
# characters (invisible ASCII: "EVIL"); line and paragraph separators
HIDDEN = ("\u200e\u200f\u061c \u200b\u200c\u200d\u2060\ufeff \u00ad "
          "\U000e0045\U000e0056\U000e0049\U000e004c \u2028\u2029")
HIDDEN_CHARS = re.compile("[\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff\u00ad\U000e0000-\U000e007f\u2028\u2029]")


def hidden_in(data: bytes) -> list[str]:
    return HIDDEN_CHARS.findall(data.decode("utf-8", "surrogateescape"))


@pytest.fixture(scope="module")
def hidden_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("hidden")
    folder = root / "corpus" / f"src{HIDDEN}"  # the folder name becomes the source
    folder.mkdir(parents=True)
    padding = "The quick brown fox jumps over the lazy dog near the river bank. " * 8
    (folder / f"name{HIDDEN}.md").write_text(
        f"---\ntitle: Heron {HIDDEN} title\nauthor: Auth {HIDDEN}\ntags: tag{HIDDEN}\nurl: http://x/{HIDDEN}\n---\n\n"
        f"{padding}\n\nHeron body {HIDDEN} heron kingfisher end.\n", encoding="utf-8")
    (folder / "second.txt").write_text(f"Kingfisher {HIDDEN}\n\nThe heron and the kingfisher {HIDDEN} fish.\n",
                                       encoding="utf-8")
    (folder / f"empty{HIDDEN}.txt").write_text("")  # skipped: a warning names it
    index = root / "index"
    built = subprocess.run([sys.executable, "-m", "newsearch", "index", str(root / "corpus"), "--index", str(index)],
                           capture_output=True)
    return index, built


def test_index_warnings_hide_no_invisible_characters(hidden_index):
    _index, built = hidden_index
    assert built.returncode == 0, built
    assert b"warning: skipped" in built.stderr
    assert hidden_in(built.stdout) == [] and hidden_in(built.stderr) == []


def test_search_show_related_stats_hide_no_invisible_characters(hidden_index):
    index, _built = hidden_index
    ids = sorted(doc_id for doc_id, _title in stored_documents(index))
    assert len(ids) == 2
    runs = [["search", "heron"], ["search", "heron", "--color", "always"], ["stats"], ["check"]]
    runs += [["show", doc_id] for doc_id in ids] + [["show", doc_id, "--query", "heron"] for doc_id in ids]
    runs += [["related", doc_id] for doc_id in ids]
    for args in runs:
        result = subprocess.run([sys.executable, "-m", "newsearch", *args, "--index", str(index)], capture_output=True)
        assert result.returncode in (0, 1), (args, result)
        assert b"Traceback" not in result.stderr
        assert hidden_in(result.stdout) == [] and hidden_in(result.stderr) == [], (args, result.stdout)
    shown = subprocess.run([sys.executable, "-m", "newsearch", "search", "heron", "--index", str(index)],
                           capture_output=True).stdout.decode("utf-8")
    assert "\\u200e\\u200f\\u061c" in shown  # direction marks: escaped, so they are seen
    assert "\\U000e0045\\U000e0056" in shown  # tag characters: escaped, the smuggled text shown


def test_json_keeps_invisible_characters_escaped(hidden_index):
    index, _built = hidden_index
    result = subprocess.run([sys.executable, "-m", "newsearch", "search", "heron", "--format", "json",
                             "--index", str(index)], capture_output=True)
    assert result.returncode == 0
    result.stdout.decode("ascii")  # ensure_ascii: nothing but escapes
    titles = [hit["title"] for hit in json.loads(result.stdout)["hits"]]
    assert any(HIDDEN.strip() in title for title in titles), titles  # kept as stored
