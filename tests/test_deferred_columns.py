"""Column values the segment writer computes a batch of documents at a time (``segments``,
``duplicates.PendingBands``): every document's ``dup_bands`` is what ``band_bytes`` gives for its
stored title and body, in builds of one and of two processes, across batches, and when a document
in the middle takes Whoosh's own ``add_document``."""

import pytest
from whoosh import index as whoosh_index

from newsearch.duplicates import PendingBands, band_bytes
from newsearch.schema import build_schema
from newsearch.segments import DEFERRED_BATCH, NewsSegmentWriter


def _bands_by_id(index_dir):
    """Each document's (id, stored title and body, dup_bands column value), by segment."""
    found = []
    ix = whoosh_index.open_dir(str(index_dir))
    with ix.reader() as reader:
        for leaf, _ in reader.leaf_readers():
            column = leaf.column_reader("dup_bands", translate=False)
            for docnum, stored in leaf.iter_docs():
                found.append((stored["id"], stored.get("title", ""), stored.get("body", ""), column[docnum]))
    return found


@pytest.mark.parametrize("which", ["synthetic_index", "bbc_index"])
def test_every_document_has_the_band_bytes_of_its_text(request, which):
    built = request.getfixturevalue(which)
    found = _bands_by_id(next(built.path.glob("gen-*")))
    assert len(found) == built.report.documents
    assert all(bands == band_bytes(title, body) for _, title, body, bands in found)
    assert sum(1 for *_, bands in found if bands) == len(found)  # every article has words


def test_a_document_on_whooshs_own_path_keeps_the_order(tmp_path):
    """A boosted document goes through Whoosh's add_document: the batch waiting before it is
    resolved first, its own value computed alone; documents without words get b""."""
    ix = whoosh_index.create_in(str(tmp_path), build_schema())
    writer = NewsSegmentWriter(ix)
    texts = {}
    for number in range(DEFERRED_BATCH + 40):
        title = f"Title {number}"
        body = "" if number % 50 == 7 else f"story number {number} about rivers and {number % 13} bridges"
        texts[f"a{number}"] = (title, body)
        record = {"id": f"a{number}", "title": title, "body": body, "dup_bands": PendingBands.of(title, body)}
        if number == 100:
            record["_boost"] = 2.0
        writer.add_document(**record)
    writer.commit()
    found = _bands_by_id(tmp_path)
    assert sorted(doc_id for doc_id, *_ in found) == sorted(texts)
    for doc_id, _, _, bands in found:
        assert bands == band_bytes(*texts[doc_id])
    assert band_bytes("", "") == b""
