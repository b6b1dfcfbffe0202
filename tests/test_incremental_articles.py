"""An update over a large file of many articles (a JSON Lines or CSV dump) writes only the
articles whose content changed (per-article content hashes), and the index then equals a fresh
build of the same corpus."""

from __future__ import annotations

import json
import os

import pytest

from newsearch import indexer
from newsearch.indexer import build_index
from newsearch.storage import open_current


def _records(count: int, changed: dict[int, str] | None = None) -> list[dict]:
    changed = changed or {}
    return [{"id": f"r{number}", "title": f"Story {number}", "text": changed.get(number, f"Body of story {number}.")}
            for number in range(count)]


def _write(path, records) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def _state(index_path) -> dict[str, tuple]:
    """Every article's id -> (title, body, path, content hash), read from the index."""
    _generation, ix = open_current(index_path)
    try:
        with ix.reader() as reader:
            hashes = reader.column_reader("content_hash")
            return {fields["id"]: (fields["title"], fields["body"], fields["path"], hashes[docnum])
                    for docnum, fields in reader.iter_docs()}
    finally:
        ix.close()


@pytest.fixture
def written(monkeypatch):
    """The ids of the articles each run writes to the index."""
    ids: list[str] = []
    add = indexer._DocumentWriter.add

    def counting(self, document, file, stamp):
        ids.append(document.id)
        return add(self, document, file, stamp)

    monkeypatch.setattr(indexer._DocumentWriter, "add", counting)
    return ids


def _fresh(corpus, tmp_path, name="fresh"):
    build_index([corpus], tmp_path / name)
    return _state(tmp_path / name)


def _indexed_dump(tmp_path, records):
    """A corpus folder with one news.jsonl of ``records``, indexed into tmp_path/ix."""
    corpus = tmp_path / "dump"
    corpus.mkdir()
    _write(corpus / "news.jsonl", records)
    build_index([corpus], tmp_path / "ix")
    return corpus


def test_a_dump_with_a_few_changed_and_appended_records_rewrites_only_those(tmp_path, written):
    corpus = _indexed_dump(tmp_path, _records(60))
    written.clear()
    records = _records(63, changed={7: "An edited body.", 42: "Another edit."})
    _write(corpus / "news.jsonl", records)
    report = build_index([corpus], tmp_path / "ix")
    assert (report.added, report.updated, report.deleted, report.unchanged) == (3, 2, 0, 58)
    assert sorted(written) == ["r42", "r60", "r61", "r62", "r7"]
    assert _state(tmp_path / "ix") == _fresh(corpus, tmp_path)
    written.clear()
    again = build_index([corpus], tmp_path / "ix")  # the file's newest stamp is its current one
    assert (again.added, again.updated, again.unchanged, written) == (0, 0, 63, [])


def test_removed_records_are_deleted_and_the_rest_kept(tmp_path, written):
    corpus = _indexed_dump(tmp_path, _records(40))
    written.clear()
    _write(corpus / "news.jsonl", [record for record in _records(40) if record["id"] not in ("r3", "r30")])
    report = build_index([corpus], tmp_path / "ix")
    assert (report.added, report.updated, report.deleted, report.unchanged) == (0, 0, 2, 38)
    assert len(written) == 1  # no article changed: one carries the file's new stamp
    assert _state(tmp_path / "ix") == _fresh(corpus, tmp_path)
    written.clear()
    assert build_index([corpus], tmp_path / "ix").unchanged == 38 and written == []


def test_bytes_changed_without_an_article_changing_are_read_once(tmp_path, written):
    corpus = _indexed_dump(tmp_path, _records(20))
    with open(corpus / "news.jsonl", "a", encoding="utf-8") as handle:
        handle.write("\n\n")  # blank lines: other bytes, the same articles
    written.clear()
    first = build_index([corpus], tmp_path / "ix")
    assert (first.added, first.updated, first.unchanged, len(written)) == (0, 0, 20, 1)
    written.clear()
    calls = []
    read_documents = indexer.read_documents
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(indexer, "read_documents", lambda *args: calls.append(args) or read_documents(*args))
        second = build_index([corpus], tmp_path / "ix")
    assert (second.unchanged, written, calls) == (20, [], [])


def test_a_file_restored_to_an_older_version_is_read_again(tmp_path):
    """Articles of several stamps: the newest tells what the index holds, so a file put back to
    the bytes of an older stamp (not those of the newest) is read again."""
    corpus = tmp_path / "dump"
    corpus.mkdir()
    path = corpus / "news.jsonl"
    _write(path, _records(10))
    original = path.read_bytes()
    build_index([corpus], tmp_path / "ix")
    _write(path, _records(10, changed={4: "Edited."}))
    assert build_index([corpus], tmp_path / "ix").updated == 1
    path.write_bytes(original)
    later = os.stat(path).st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))
    report = build_index([corpus], tmp_path / "ix")
    assert (report.updated, report.unchanged) == (1, 9)
    assert _state(tmp_path / "ix") == _fresh(corpus, tmp_path)


def test_a_csv_dump_updates_per_row(tmp_path, written):
    corpus = tmp_path / "csv"
    corpus.mkdir()
    rows = [f'r{number},Story {number},"Body of story {number},\nover two lines."' for number in range(30)]
    (corpus / "news.csv").write_text("id,title,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    build_index([corpus], tmp_path / "ix")
    written.clear()
    rows[11] = 'r11,Story 11,"A corrected body."'
    (corpus / "news.csv").write_text("id,title,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = build_index([corpus], tmp_path / "ix")
    assert (report.updated, report.unchanged, written) == (1, 29, ["r11"])
    assert _state(tmp_path / "ix") == _fresh(corpus, tmp_path)
