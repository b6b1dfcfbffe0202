"""Damage is reported as damage (issue #12, item 6).

A damaged index makes every command exit 4 with the rebuild command, and every API entry
point raise IndexCorrupt: never "Interrupted." (click takes an EOFError for Ctrl-D), never a
traceback. `check` verifies every file the index relies on, the vocabulary and the
near-duplicate pairs included. A long-lived Index notices an index deleted and built afresh.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from newsearch import build_index, open_index
from newsearch.storage import CURRENT, GENERATION_PATTERN, generations

from helpers import synthetic_corpus, write_article


def live_generation(index_path: Path) -> Path:
    return index_path / os.readlink(index_path / CURRENT)


# -- generations are unique: an open Index follows a deleted and rebuilt index ----------------


def test_an_open_index_serves_a_fresh_build_after_the_folder_was_deleted(tmp_path):
    old, new, index_path = tmp_path / "old", tmp_path / "new", tmp_path / "ix"
    write_article(old, "a.txt", "Walrus sighting", "A walrus was seen on the beach.")
    write_article(new, "b.txt", "Narwhal sighting", "A narwhal was seen in the fjord.")
    build_index([old], index_path)
    with open_index(index_path) as index:
        assert [hit.id for hit in index.search("walrus").hits] == ["a.txt"]
        shutil.rmtree(index_path)
        build_index([new], index_path)
        assert index.search("walrus").total == 0
        assert [hit.id for hit in index.search("narwhal").hits] == ["b.txt"]
        assert index.document("b.txt").title == "Narwhal sighting"


def test_generation_names_are_numbered_and_never_repeat_after_a_fresh_build(tmp_path):
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    write_article(corpus, "a.txt", "Walrus sighting", "A walrus was seen on the beach.")
    build_index([corpus], index_path)
    first = live_generation(index_path).name
    build_index([corpus], index_path, rebuild=True)
    second = live_generation(index_path).name
    assert [path.name for path in generations(index_path)] == [first, second]
    assert [GENERATION_PATTERN.match(name).group(1) for name in (first, second)] == ["000001", "000002"]
    shutil.rmtree(index_path)
    build_index([corpus], index_path)
    third = live_generation(index_path).name
    assert third.startswith("gen-000001-") and third not in (first, second)


def test_an_index_with_old_style_generation_names_still_opens_and_updates(tmp_path):
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    write_article(corpus, "a.txt", "Walrus sighting", "A walrus was seen on the beach.")
    build_index([corpus], index_path)
    live_generation(index_path).rename(index_path / "gen-000001")  # as versions before the token named it
    (index_path / CURRENT).unlink()
    os.symlink("gen-000001", index_path / CURRENT)
    with open_index(index_path) as index:
        assert index.search("walrus").total == 1
    write_article(corpus, "b.txt", "Walrus again", "Another walrus on the beach.")
    assert build_index([corpus], index_path).added == 1
    assert os.readlink(index_path / CURRENT) == "gen-000001"
    build_index([corpus], index_path, rebuild=True)
    assert os.readlink(index_path / CURRENT).startswith("gen-000002-")
    assert [path.name for path in generations(index_path)][0] == "gen-000001"  # retired, kept for the grace period
    with open_index(index_path) as index:
        assert index.search("walrus").total == 2

