"""A corpus file swapped, after the scan, for a link to a file outside the corpus (found by
tests/reliability_trials_safety.py; the race of issue #13 item 1 with a link instead of a FIFO).

The scan skips such a link ("symlink outside the corpus"); swapped in after the scan, the reader
follows it and indexes the outside file under the corpus file's id. Whoever can write the corpus
can so put any file the indexing user can read (root's cron: /etc/shadow) into the index.
"""

from __future__ import annotations

import os
from pathlib import Path

from support.corpora import write_article
from support.readers import stored_documents

import newsearch
from newsearch import corpus as corpus_module


def test_a_link_to_an_outside_file_swapped_in_after_the_scan_is_not_indexed(tmp_path, monkeypatch):
    corpus, index, outside = tmp_path / "corpus", tmp_path / "index", tmp_path / "outside.txt"
    write_article(corpus, "heron.txt", "Heron", "The heron waits by the river for fish.")
    write_article(corpus, "otter.txt", "Otter", "The otter swims in the cold river.")
    newsearch.build_index([corpus], index)
    write_article(corpus, "heron.txt", "Heron two", "The heron was rewritten, and will be swapped.")
    write_article(tmp_path, "outside.txt", "Outside secret", "Text that is no part of the corpus.")
    scan = corpus_module.scan

    def scan_then_swap(*args: object, **kwargs: object) -> object:
        found = scan(*args, **kwargs)
        (corpus / "heron.txt").unlink()
        os.symlink(outside, corpus / "heron.txt")
        return found

    monkeypatch.setattr(corpus_module, "scan", scan_then_swap)
    report = newsearch.build_index([corpus], index)
    monkeypatch.undo()
    titles = {title for _id, title in stored_documents(Path(index)) or ()}
    assert titles == {"Heron", "Otter"}  # the scanned file's indexed version kept, nothing from outside
    assert "heron.txt" in {skipped.path for skipped in report.skipped}
