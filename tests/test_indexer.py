"""The indexer: incremental updates, rebuilds, skips, versions."""

from __future__ import annotations

import json
import os
import time

import pytest
from support.corpora import write_article

from newsearch import open_index
from newsearch.errors import CorpusError, IndexIncompatible, IndexWriteError
from newsearch.indexer import build_index
from newsearch.status import check_index, index_stats
from newsearch.storage import CURRENT, META_FILE, generations


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    write_article(folder, "politics/a.txt", "Budget vote delayed", "Ministers delayed the budget vote again.")
    write_article(folder, "politics/b.txt", "Election called", "The prime minister called an election for May.")
    write_article(folder, "sport/c.txt", "Cup final tonight", "The cup final kicks off tonight in Cardiff.")
    return folder


def ids(index_path) -> set[str]:
    with open_index(index_path) as index:
        return {index.document(doc_id).id for doc_id in _all_ids(index)}


def _all_ids(index) -> list[str]:
    searcher = index._fresh().searcher
    return [stored["id"] for stored in searcher.all_stored_fields()]


def test_first_build_indexes_every_file(corpus, tmp_path):
    report = build_index([corpus], tmp_path / "ix")
    assert (report.added, report.updated, report.deleted, report.unchanged) == (3, 0, 0, 0)
    assert report.rebuilt and report.documents == 3 and not report.skipped
    stats = index_stats(tmp_path / "ix")
    assert stats.documents == 3
    assert stats.sources == {"politics": 2, "sport": 1}
    assert ids(tmp_path / "ix") == {"politics/a.txt", "politics/b.txt", "sport/c.txt"}


def test_rerun_without_changes_changes_nothing(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    toc_before = sorted(os.listdir(tmp_path / "ix" / CURRENT))
    report = build_index([corpus], tmp_path / "ix")
    assert (report.added, report.updated, report.deleted, report.unchanged) == (0, 0, 0, 3)
    assert not report.rebuilt
    assert sorted(os.listdir(tmp_path / "ix" / CURRENT)) == toc_before  # no commit at all


def test_modify_add_delete_are_counted_exactly(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    (corpus / "politics/a.txt").write_text("Budget vote passed\n\nMinisters passed the budget.\n")
    write_article(corpus, "sport/d.txt", "Rugby news", "Wales beat England.")
    (corpus / "politics/b.txt").unlink()
    report = build_index([corpus], tmp_path / "ix", prune=True)  # 1 of 3 articles: over the 10 % a run may delete
    assert (report.added, report.updated, report.deleted, report.unchanged) == (1, 1, 1, 1)
    with open_index(tmp_path / "ix") as index:
        assert index.document("politics/a.txt").title == "Budget vote passed"
        assert [hit.id for hit in index.search("wales").hits] == ["sport/d.txt"]
        assert index.search("election").total == 0
    assert check_index(tmp_path / "ix").documents == 3


def test_touched_file_with_same_bytes_is_unchanged(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    later = time.time() + 10
    os.utime(corpus / "sport/c.txt", (later, later))
    report = build_index([corpus], tmp_path / "ix")
    assert (report.added, report.updated, report.deleted, report.unchanged) == (0, 0, 0, 3)


def test_bad_file_is_skipped_and_reported_the_rest_indexed(corpus, tmp_path):
    (corpus / "politics/broken.txt").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    report = build_index([corpus], tmp_path / "ix")
    assert report.added == 3
    assert [(s.path, s.reason.split(":")[0]) for s in report.skipped] == [("politics/broken.txt", "binary")]


def test_file_that_becomes_unreadable_keeps_its_indexed_version(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    (corpus / "sport/c.txt").write_bytes(b"\x00" * 50)
    report = build_index([corpus], tmp_path / "ix")
    assert report.deleted == 0 and report.unchanged == 3
    assert [s.path for s in report.skipped] == ["sport/c.txt"]
    with open_index(tmp_path / "ix") as index:
        assert index.document("sport/c.txt").title == "Cup final tonight"


def test_duplicate_explicit_ids_keep_the_first(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"id": "same", "title": "First", "body": "First body text."}))
    (folder / "b.json").write_text(json.dumps({"id": "same", "title": "Second", "body": "Second body text."}))
    report = build_index([folder], tmp_path / "ix")
    assert report.added == 1
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("b.json", "duplicate id: 'same' is already used by a.json")]


def test_rebuild_switches_generation_and_retires_the_old(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    first = os.readlink(tmp_path / "ix" / CURRENT)
    with open_index(tmp_path / "ix") as index:
        assert index.search("cardiff").total == 1
        write_article(corpus, "sport/e.txt", "Cardiff again", "Another match in Cardiff.")
        report = build_index([corpus], tmp_path / "ix", rebuild=True)
        assert report.rebuilt and report.added == 4
        assert os.readlink(tmp_path / "ix" / CURRENT) != first
        assert index.search("cardiff").total == 2  # a long-lived Index follows the switch
    names = [path.name for path in generations(tmp_path / "ix")]
    assert names == [first, os.readlink(tmp_path / "ix" / CURRENT)]  # the old one stays for the grace period
    assert (tmp_path / "ix" / first / ".retired").exists()


def test_abandoned_build_is_removed_by_the_next_run(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    abandoned = tmp_path / "ix" / "gen-000007"
    abandoned.mkdir()
    (abandoned / "junk.seg").write_bytes(b"x" * 1000)
    build_index([corpus], tmp_path / "ix")
    assert not abandoned.exists()


def test_an_index_built_from_an_empty_corpus_takes_articles_later(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    first = build_index([folder], tmp_path / "ix")
    assert first.documents == 0
    write_article(folder, "politics/a.txt", "Budget vote delayed", "Ministers delayed the budget vote again.")
    second = build_index([folder], tmp_path / "ix")  # an update of an index with no segment
    assert (second.rebuilt, second.added) == (False, 1)
    assert ids(tmp_path / "ix") == {"politics/a.txt"}


def test_missing_corpus_path_is_named(tmp_path):
    with pytest.raises(CorpusError, match="nope"):
        build_index([tmp_path / "nope"], tmp_path / "ix")


def test_incompatible_index_asks_for_rebuild(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    meta_path = tmp_path / "ix" / CURRENT / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["format"] = "newsearch-schema-0-analysis-0"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexIncompatible, match="newsearch index --rebuild"):
        open_index(tmp_path / "ix")
    with pytest.raises(IndexIncompatible, match="--rebuild"):
        build_index([corpus], tmp_path / "ix")
    assert build_index([corpus], tmp_path / "ix", rebuild=True).added == 3
    assert open_index(tmp_path / "ix").search("cup").total == 1


def test_refuses_a_folder_that_is_not_an_index(corpus, tmp_path):
    target = tmp_path / "documents"
    target.mkdir()
    (target / "thesis.docx").write_text("precious")
    with pytest.raises(IndexWriteError, match="not a newsearch index"):
        build_index([corpus], target)
    assert (target / "thesis.docx").read_text() == "precious"


def test_bbc_corpus_indexes_completely(bbc_corpus, bbc_index, tmp_path):
    report = bbc_index.report  # the session's BBC build (conftest.py), copied for the second run
    bbc_index.copy_to(tmp_path / "ix")
    assert report.added == 2225 and not report.skipped
    with open_index(tmp_path / "ix") as index:
        article = index.document("sports/199.txt")
        assert "£" in article.body
    again = build_index([bbc_corpus], tmp_path / "ix")
    assert (again.unchanged, again.added, again.updated, again.deleted) == (2225, 0, 0, 0)


def test_an_index_inside_its_corpus_is_not_read_as_articles(corpus):
    index_path = corpus / "index"
    build_index([corpus], index_path)
    again = build_index([corpus], index_path)
    assert (again.added, again.updated, again.deleted, again.skipped) == (0, 0, 0, [])
    assert ids(index_path) == {"politics/a.txt", "politics/b.txt", "sport/c.txt"}


def test_a_corpus_with_no_articles_left_does_not_empty_the_index(corpus, tmp_path):
    build_index([corpus], tmp_path / "ix")
    moved = tmp_path / "elsewhere"
    corpus.rename(moved)  # a drive that did not mount: the folder is there, empty
    corpus.mkdir()
    with pytest.raises(CorpusError, match=r"no articles found in .*corpus, but the index holds 3: .*--prune"):
        build_index([corpus], tmp_path / "ix")
    assert len(ids(tmp_path / "ix")) == 3
    with pytest.raises(CorpusError, match=r"would delete 3 of its 3 articles"):
        build_index([corpus], tmp_path / "ix", rebuild=True)  # a rebuild from the same paths loses them too
    emptied = build_index([corpus], tmp_path / "ix", prune=True)  # asked for explicitly
    assert emptied.documents == 0


def test_deleting_some_articles_still_deletes_them(corpus, tmp_path):
    for number in range(7):  # 10 articles: deleting one is within the 10 % a run may delete
        write_article(corpus, f"sport/more{number}.txt", f"Match {number}", f"Report {number} of a match.")
    build_index([corpus], tmp_path / "ix")
    (corpus / "politics" / "a.txt").unlink()
    assert build_index([corpus], tmp_path / "ix").deleted == 1


def test_an_index_is_updated_from_the_corpus_it_was_built_from(corpus, tmp_path, monkeypatch):
    # `newsearch index --index X` (no paths) used to index ./corpus into X, replacing X's articles.
    monkeypatch.delenv("NEWSEARCH_CORPUS", raising=False)
    elsewhere = tmp_path / "cwd"
    write_article(elsewhere / "corpus", "other.txt", "Bundled sample", "The bundled sample article.")
    monkeypatch.chdir(elsewhere)
    build_index([corpus], tmp_path / "ix")
    write_article(corpus, "sport/d.txt", "Late winner", "A late winner settled the match.")
    report = build_index(None, tmp_path / "ix")
    assert (report.added, report.deleted) == (1, 0)
    assert ids(tmp_path / "ix") == {"politics/a.txt", "politics/b.txt", "sport/c.txt", "sport/d.txt"}
    assert index_stats(tmp_path / "ix").corpus == (str(corpus),)
    monkeypatch.setenv("NEWSEARCH_CORPUS", str(elsewhere / "corpus"))  # the environment still comes first
    with pytest.raises(CorpusError, match=r"leaves out .*corpus.*\$NEWSEARCH_CORPUS"):
        build_index(None, tmp_path / "ix")  # but replaces the corpus only when told to
    assert build_index(None, tmp_path / "ix", prune=True).deleted == 4
    assert ids(tmp_path / "ix") == {"other.txt"}
