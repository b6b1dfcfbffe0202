"""NewsSegmentWriter writes exactly the segment Whoosh's SegmentWriter writes.

These tests are part of the contract of ``newsearch.whoosh_internals`` (its writer hooks,
``write_term`` and the small-block postings writer): they must pass on every Whoosh version
that module accepts.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timezone

import pytest
from support.corpora import WORDS
from whoosh import index as whoosh_index
from whoosh.writing import SegmentWriter

from newsearch.models import Document
from newsearch.schema import FileStamp, build_schema, to_record
from newsearch.segments import NewsSegmentWriter

EXTRA = "Zelensky's café U.S. 3,800 15.8m North-Korean the of and don't O'Brien naïve Straße".split()


def _documents(count: int) -> list[Document]:
    rng = random.Random(11)
    documents = []
    for number in range(count):
        body = " ".join(rng.choice(WORDS + EXTRA) for _ in range(rng.randint(0, 300)))
        documents.append(Document(
            id=f"doc-{number}", title=" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8))), body=body,
            path=f"topic/{number:04d}.txt", published=datetime(2020, 1, 1 + number % 28, tzinfo=timezone.utc),
            source=rng.choice(["BBC", "The Telegraph", ""]), author=rng.choice(["", "Jane Doe"]),
            tags=tuple(rng.sample(["Politics", "Economy", "Sport"], rng.randint(0, 2)))))
    return documents


def _build(folder, writer_class, documents, pool_limit=None, boosted=False):
    folder.mkdir()
    ix = whoosh_index.create_in(str(folder), build_schema())
    writer = writer_class(ix, limitmb=64)
    if pool_limit:
        writer.pool.limit = pool_limit  # many sorted runs on disk, merged at the end
    for number, document in enumerate(documents):
        writer.add_document(**to_record(document, f"/corpus/{document.path}", FileStamp(1, 2, "ab")))
        if boosted and number == len(documents) // 2:  # Whoosh's own path, through its pool
            writer.add_document(id="boosted", path="b", title="Election", body="election football", _boost=2.0)
    writer.commit()
    return whoosh_index.open_dir(str(folder))


def _contents(ix):
    with ix.reader() as reader:
        postings = list(reader.iter_postings())
        stored = list(reader.all_stored_fields())
        names = [name for name, field in ix.schema.items() if field.scorable]
        lengths = [[reader.doc_field_length(docnum, name) for name in names] for docnum in reader.all_doc_ids()]
        totals = {name: reader.field_length(name) for name in names}
        columns = {name: list(reader.column_reader(name, translate=False))
                   for name, field in ix.schema.items() if field.column_type}
        terms = [(fieldname, text, _term_info(reader.term_info(fieldname, text)))
                 for fieldname, text in reader.all_terms()]
    return postings, stored, lengths, totals, columns, terms


def _term_info(info):
    return (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(), info.max_weight(),
            info.min_id(), info.max_id())


@pytest.mark.parametrize("pool_limit, boosted", [(None, False), (50_000, False), (None, True), (50_000, True)])
def test_same_segment_as_whoosh_segment_writer(tmp_path, pool_limit, boosted):
    documents = _documents(150)
    ours = _build(tmp_path / "ours", NewsSegmentWriter, documents, pool_limit, boosted)
    whoosh = _build(tmp_path / "whoosh", SegmentWriter, documents, pool_limit, boosted)
    expected = _contents(whoosh)
    assert len(expected[0]) > 5000
    assert _contents(ours) == expected
    assert [name for name in os.listdir(tmp_path / "ours") if not name.endswith((".seg", ".toc", "WRITELOCK"))] == []


def test_spills_to_sorted_runs_past_the_memory_limit(tmp_path, monkeypatch):
    spilled = []
    real_spill = NewsSegmentWriter._spill
    monkeypatch.setattr(NewsSegmentWriter, "_spill", lambda self: spilled.append(1) or real_spill(self))
    documents = _documents(150)
    ours = _build(tmp_path / "ours", NewsSegmentWriter, documents, 50_000)
    assert len(spilled) > 5
    assert _contents(ours) == _contents(_build(tmp_path / "whoosh", SegmentWriter, documents))


def test_boosted_documents_take_whoosh_path(tmp_path):
    record = {"id": "a", "path": "a", "title": "Election", "body": "election day, election night", "_boost": 2.0}
    built = []
    for writer_class in (NewsSegmentWriter, SegmentWriter):
        (tmp_path / writer_class.__name__).mkdir()
        ix = whoosh_index.create_in(str(tmp_path / writer_class.__name__), build_schema())
        writer = writer_class(ix)
        writer.add_document(**record)
        writer.commit()
        built.append(_contents(ix))
    assert built[0] == built[1]
    assert ("body", b"elect", 0, 4.0) in [posting[:4] for posting in built[0][0]]
