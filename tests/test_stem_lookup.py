"""StemLookup answers exactly as the vocabulary file's lines say, whatever block a word falls in."""

import random
from collections import Counter

import pytest

from newsearch.vocabulary import VOCABULARY_FILE, StemLookup, Vocabulary


@pytest.mark.parametrize("block", [1, 64, 4096])
def test_stem_lookup_equals_the_loaded_vocabulary(tmp_path, monkeypatch, block):
    """Every word found with its stem, every other word (before the first, after the last, between
    two, a prefix or an extension of a word, accented) not found, with blocks of any size."""
    monkeypatch.setattr(StemLookup, "_BLOCK", block)
    rng = random.Random(block)
    letters = "abcdeéz'-ж中"
    words = Counter({"".join(rng.choice(letters) for _ in range(rng.randint(1, 9))): rng.randint(1, 9)
                     for _ in range(3000)})
    words.update({"captured": 3, "capture": 1, "zelensky": 2, "über": 1})
    vocabulary = Vocabulary().merged(words)
    vocabulary.save(tmp_path)
    expected = dict(zip(vocabulary.words, vocabulary.stems))
    lookup = StemLookup(tmp_path / VOCABULARY_FILE)
    probes = [*expected, "", "0", "a0", "zzzzzzzzzz", "captur", "capturedx", "ü", "überall", "\U0001f600"]
    probes += ["".join(rng.choice(letters) for _ in range(rng.randint(1, 10))) for _ in range(3000)]
    assert {word: lookup(word) for word in probes} == {word: expected.get(word) for word in probes}
    assert lookup("capture") == "captur" and len(expected) > 2000


def test_stem_lookup_of_a_closed_or_empty_file_knows_no_word(tmp_path):
    Vocabulary().merged(Counter({"captured": 1})).save(tmp_path)
    lookup = StemLookup(tmp_path / VOCABULARY_FILE)
    assert lookup("captured") == "captur"
    lookup.close()
    assert lookup("captured") is None
    (tmp_path / "empty.tsv").write_bytes(b"")
    assert StemLookup(tmp_path / "empty.tsv")("captured") is None
