"""The posting sidecar's layout (``newsearch.postings``): every term written, one at a time or a
chunk at a time, reads back exactly (document numbers and float32 weights), whatever widths its
gaps and weights need; bad input is refused, a damaged term table reported."""

import numpy as np
import pytest
from whoosh.filedb.filestore import FileStorage

from newsearch import postings
from newsearch.postings import EXTENSION, Sidecar, SidecarWriter

SEGMENT_ID = "MAIN_testsegment"


class _Segment:
    def segment_id(self):
        return SEGMENT_ID

    def create_file(self, storage, ext):
        return storage.create_file(SEGMENT_ID + ext)


def _written(tmp_path, terms, doc_count, chunked=()):
    """Write ``terms`` ((field, term, ids, weights), sorted); those named in ``chunked`` through
    ``add_terms`` in one chunk per field, the others through ``add``. Returns the parsed sidecar."""
    tmp_path.mkdir(exist_ok=True)
    writer = SidecarWriter(_Segment(), FileStorage(str(tmp_path)), doc_count)
    index = 0
    while index < len(terms):
        fieldname, btext, ids, weights = terms[index]
        if btext not in chunked:
            writer.add(fieldname, btext, ids, weights)
            index += 1
            continue
        batch = []
        while index < len(terms) and terms[index][0] == fieldname and terms[index][1] in chunked:
            batch.append(terms[index])
            index += 1
        starts = np.cumsum([0] + [len(term[2]) for term in batch]).tolist()
        writer.add_terms(fieldname, [term[1] for term in batch], starts,
                         np.concatenate([np.asarray(term[2], dtype=np.int32) for term in batch]),
                         np.concatenate([np.asarray(term[3], dtype=np.float64) for term in batch]))
    writer.finish()
    data = np.fromfile(tmp_path / (SEGMENT_ID + EXTENSION), dtype=np.uint8)
    return Sidecar.parse(data, SEGMENT_ID + EXTENSION, SEGMENT_ID, doc_count)


def _terms():
    rng = np.random.default_rng(7)
    every = np.arange(100_000)
    cases = {
        b"a-once": ([99_999], [3.0]),
        b"b-dense-ones": (every[::3].tolist(), [1.0] * len(every[::3])),
        b"c-small-counts": (every[:500].tolist(), rng.integers(1, 200, 500).astype(float).tolist()),
        b"d-wide-gaps": ([0, 300, 70_000, 99_998], [2.0, 300.0, 65_535.0, 1.0]),
        b"e-huge-weight": ([5, 6], [65_536.0, 1.0]),
        b"f-fractions": ([1, 2, 3], [0.5, 1.25, 2.0]),
        b"g-float32": ([7, 9], [np.float32(0.1), 1e-3]),
        b"h-same-boost": ([4, 8, 12], [2.5, 2.5, 2.5]),
    }
    return [("body", key, ids, weights) for key, (ids, weights) in cases.items()] + [
        ("title", b"a-once", [0], [1.0]),
    ]


@pytest.mark.parametrize("chunked", [(), (b"b-dense-ones", b"c-small-counts", b"d-wide-gaps", b"f-fractions",
                                          b"g-float32", b"h-same-boost", b"a-once")])
@pytest.mark.parametrize("chunk", [3, 1 << 18])
def test_every_term_reads_back_exactly(tmp_path, monkeypatch, chunked, chunk):
    monkeypatch.setattr(postings, "_CHUNK", chunk)  # flushes between terms, or one at the end
    terms = _terms()
    sidecar = _written(tmp_path, terms, 100_000, chunked)
    assert len(sidecar.ends) == len(terms)
    for fieldname, btext, ids, weights in terms:
        found_ids, found_weights = sidecar.postings(fieldname, btext)
        assert found_ids.dtype == np.uint32
        assert found_ids.tolist() == ids
        assert found_weights.astype(np.float32).tolist() == np.asarray(weights, dtype=np.float32).tolist()
    assert sidecar.postings("body", b"zzz") is None
    assert sidecar.postings("other", b"a-once") is None
    assert sidecar.verify(100_000) == []
    assert sidecar.verify(99_999) == [f"posting sidecar {SEGMENT_ID}{EXTENSION} points past the last document"]


def test_a_common_term_costs_a_byte_a_posting(tmp_path):
    """The first id (4 bytes), 99 one-byte gaps, one f32 for weights all equal: 107 bytes; then
    a u8 per weight when they differ."""
    ids = list(range(0, 200, 2))
    assert len(_written(tmp_path / "equal", [("body", b"x", ids, [1.0] * 100)], 200).postings_data) == 107
    varied = [float(1 + number % 3) for number in range(100)]
    assert len(_written(tmp_path / "varied", [("body", b"x", ids, varied)], 200).postings_data) == 203


def test_out_of_order_terms_and_ids_are_refused(tmp_path):
    writer = SidecarWriter(_Segment(), FileStorage(str(tmp_path)), 10)
    writer.add("body", b"b", [1], [1.0])
    with pytest.raises(ValueError, match="postings out of order"):
        writer.add("body", b"a", [2], [1.0])
    writer.add("body", b"c", [3, 3], [1.0, 1.0])
    with pytest.raises(ValueError, match="document numbers do not ascend"):
        writer.finish()
    writer.cancel()


def test_a_damaged_term_table_is_reported(tmp_path):
    sidecar = _written(tmp_path, [("body", b"x", [1, 2, 3], [1.0, 2.0, 3.0])], 10)
    data = sidecar.data.copy()
    codes_at = len(data) - 8 - 32 - 8 - 8 - 8 - 8 - 8 - 8  # footer, keys (8 padded), codes (8 padded)
    assert data[codes_at] == 1 | 1 << 4  # one-byte gaps, one-byte weights
    data[codes_at] = 2 | 1 << 4  # two-byte gaps: the data no longer adds up
    damaged = Sidecar.parse(data, "x.npost", SEGMENT_ID, 10)
    with pytest.raises(ValueError, match="posting sidecar x.npost has a damaged term table"):
        damaged.postings("body", b"x")
