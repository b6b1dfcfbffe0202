"""Reliability: what an `Index` and `build_index` keep open in the caller's process (issue #13, item 13).

A library call leaves nothing of its own mapped or open once it returns: an incremental update's
vocabulary (the stem lookup it installs for the run) is unmapped, a parallel build's table of every
word's stem is dropped. An idle `Index` holds the files of the one state it last opened, never more
however often the index is rebuilt, until its next call or ``release_if_replaced()`` lets them go.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

from support.corpora import write_article
from support.processes import held

from newsearch import Index, build_index
from newsearch.analysis import _Stemmer
from newsearch.storage import RETIRE_GRACE_S, RETIRED_MARKER, current_generation


def _corpus_and_index(tmp_path: Path) -> tuple[Path, Path]:
    corpus, path = tmp_path / "corpus", tmp_path / "index"
    write_article(corpus, "one.txt", "Bank profit", "The bank made a profit.")
    write_article(corpus, "two.txt", "Harbour cranes", "The harbour's new cranes are operated remotely.")
    build_index([corpus], path)
    return corpus, path


def test_an_update_leaves_no_vocabulary_mapped_and_no_stem_lookup_set(tmp_path):
    corpus, path = _corpus_and_index(tmp_path)
    write_article(corpus, "three.txt", "Bank loss", "Another bank made a loss.")
    report = build_index([corpus], path)
    assert (report.added, report.rebuilt) == (1, False)  # an incremental update, which set the lookup
    assert held(path) == set()
    assert _Stemmer.lookup is None


def test_an_update_under_an_open_index_leaves_it_working_and_closable(tmp_path):
    corpus, path = _corpus_and_index(tmp_path)
    with Index(path) as index:
        assert [hit.id for hit in index.search("banks").hits] == ["one.txt"]
        write_article(corpus, "three.txt", "Bank loss", "Another bank made a loss.")
        build_index([corpus], path)
        assert sorted(hit.id for hit in index.search("banks").hits) == ["one.txt", "three.txt"]
        assert index.search("cranes").not_found == ()  # its own vocabulary still answers
    assert held(path) == set()


def test_a_parallel_build_drops_its_table_of_stems(tmp_path):
    corpus = tmp_path / "corpus"
    for number in range(6):
        write_article(corpus, f"{number}.txt", f"Story {number}", f"Harbour cranes and bank profits, part {number}.")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # a partitioned build in this process
        report = build_index([corpus], tmp_path / "index", jobs=2, executor=pool)
    assert report.documents == 6
    assert _Stemmer.lookup is None


def _age_retired(path: Path) -> None:
    for marker in path.glob(f"*/{RETIRED_MARKER}"):
        marker.write_text(str(float(marker.read_text()) - RETIRE_GRACE_S - 1))


def test_an_idle_index_holds_one_state_however_often_the_index_is_rebuilt(tmp_path):
    """The documented contract: bounded, not growing; released by the next call or release_if_replaced()."""
    corpus, path = _corpus_and_index(tmp_path)
    first = current_generation(path)
    with Index(path) as index:
        assert index.search("bank").hits
        for _rebuild in range(3):
            build_index([corpus], path, rebuild=True)
            _age_retired(path)  # so the next rebuild deletes the generation this index holds
        assert not first.exists()
        assert held(path) and all(name.startswith(f"{first}/") for name in held(path))  # deleted, still held
        index.release_if_replaced()
        assert held(path) == set()
        assert index.search("bank").hits
        assert all(name.startswith(f"{current_generation(path)}/") for name in held(path))
    assert held(path) == set()
