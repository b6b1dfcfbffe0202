"""The numpy inversion behind NewsSegmentWriter: bulk-encoded positions equal Whoosh's, the stopword
grams equal the analyzer's, and runs merged a few terms at a time still give Whoosh's segment."""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_segments import _build, _contents, _documents
from whoosh.formats import Positions
from whoosh.writing import SegmentWriter

from newsearch import inverter
from newsearch.analysis import StopGramAnalyzer
from newsearch.inverter import StopGramBuffer, encode_positions
from newsearch.segments import NewsSegmentWriter


def test_bulk_encoded_positions_equal_positions_encode():
    rng = random.Random(3)
    lists = []
    for _ in range(2000):
        count = rng.choice([1, 2, 999, 1000, 1001, 2000, 2001]) if rng.random() < 0.03 else rng.choice([1, 1, 2, 3])
        span = max(count, rng.choice([300, 70_000, 5_000_000]))  # one-, two- and four-byte deltas
        lists.append(sorted(rng.sample(range(span), count)))
    deltas, starts = [], []
    for positions in lists:
        starts.append(len(deltas))
        deltas += [b - a for a, b in zip([0, *positions], positions)]
    blob, value_starts = encode_positions(np.array(deltas), np.array(starts), np.array([len(p) for p in lists]))
    data = blob.tobytes()
    assert [data[value_starts[i]:value_starts[i + 1]] for i in range(len(lists))] == \
        [Positions().encode(positions) for positions in lists]


def test_stop_gram_buffer_gives_the_analyzers_grams():
    rng = random.Random(5)
    words = ["the", "of", "and", "to", "be", "or", "not", "news", "Downs", "it's", "x" * 70, "3,800", "U.S."]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 40))) for _ in range(60)]
    buffer = StopGramBuffer(1.0)
    for docnum, text in enumerate(texts):
        buffer.add(docnum, text)
    run = buffer.run()
    assert run is not None
    found: dict[bytes, list[int]] = {}
    for index, term in enumerate(run.terms):
        found[term] = run.docs[run.term_starts[index]:run.term_starts[index + 1]].tolist()
    expected: dict[bytes, list[int]] = {}
    for docnum, text in enumerate(texts):
        for gram in StopGramAnalyzer().term_positions(text):
            expected.setdefault(gram.encode(), []).append(docnum)
    assert found == dict(sorted(expected.items()))


@pytest.mark.parametrize("pool_limit", [None, 200_000])
def test_runs_merged_a_few_terms_at_a_time_give_whoosh_segment(tmp_path, monkeypatch, pool_limit):
    monkeypatch.setattr(inverter, "MERGE_TERMS", 7)  # many chunks, terms split across runs and chunks
    monkeypatch.setattr(inverter, "MERGE_POSTINGS", 40)  # and chunks of one common term
    documents = _documents(80)
    ours = _build(tmp_path / "ours", NewsSegmentWriter, documents, pool_limit)
    assert _contents(ours) == _contents(_build(tmp_path / "whoosh", SegmentWriter, documents, pool_limit))
