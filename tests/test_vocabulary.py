"""The unstemmed vocabulary behind typo correction and prefixes."""

from collections import Counter

from newsearch.vocabulary import VOCABULARY_FILE, StemLookup, Vocabulary


def test_merge_folds_counts_and_skips_numbers(tmp_path):
    vocabulary = Vocabulary().merged(Counter({"Zelensky's": 2, "zelensky": 1, "the": 9, "3,800": 4, "Café": 1}))
    assert vocabulary.words == ("cafe", "the", "zelensky")
    assert vocabulary.counts == (1, 9, 3)
    assert vocabulary.stems == ("cafe", "the", "zelenski")
    vocabulary.save(tmp_path)
    assert Vocabulary.load(tmp_path) == vocabulary
    grown = Vocabulary.load(tmp_path).merged(Counter({"zelensky": 1, "kyiv": 2}))
    assert dict(zip(grown.words, grown.counts)) == {"cafe": 1, "kyiv": 2, "the": 9, "zelensky": 4}


def test_parts_counted_apart_combine_into_the_whole():
    # A parallel build's workers each count their part; the parent adds the parts up.
    first = Counter({"Kyiv": 2, "talks": 1, "The": 4})
    second = Counter({"kyiv": 1, "Talks": 3, "ceasefire": 2})
    parts = Vocabulary.counted(first).combined(Vocabulary.counted(second))
    assert parts == Vocabulary().merged(first + second)
    assert dict(zip(parts.words, parts.counts)) == {"ceasefire": 2, "kyiv": 3, "talks": 4, "the": 4}
    assert dict(zip(parts.words, parts.stems))["ceasefire"] == "ceasefir"
    assert Vocabulary().combined() == Vocabulary() and parts.combined(Vocabulary()) == parts


def test_near_orders_by_distance_then_frequency():
    vocabulary = Vocabulary().merged(Counter({"substantially": 5, "substantialy": 9, "subsidy": 3, "zelensky": 1,
                                              "thee": 1, "the": 1}))
    assert vocabulary.near("substatnially", 2) == [(1, "substantially"), (2, "substantialy")]
    assert vocabulary.near("zelenksy", 1) == [(1, "zelensky")]
    assert vocabulary.near("xyz", 2) == []
    assert vocabulary.near("thx", 1) == []  # "the" is one edit away, but stopwords are never offered


def test_prefix_lists_most_frequent_first():
    vocabulary = Vocabulary().merged(Counter({"captain": 2, "capture": 5, "captured": 3, "cat": 9}))
    assert vocabulary.with_prefix("capt") == [("capture", 5), ("captured", 3), ("captain", 2)]


def test_missing_file_is_an_empty_vocabulary(tmp_path):
    assert Vocabulary.load(tmp_path) == Vocabulary()


def test_stem_lookup_finds_every_word_by_binary_search(tmp_path):
    words = Counter({f"{a}{b}word": 1 for a in "abcdefgh" for b in "xyz"})
    words.update({"captured": 3, "capture": 1, "zelensky": 2})
    vocabulary = Vocabulary().merged(words)
    vocabulary.save(tmp_path)
    lookup = StemLookup(tmp_path / VOCABULARY_FILE)
    for word, stem in zip(vocabulary.words, vocabulary.stems):
        assert lookup(word) == stem
    assert lookup("captured") == "captur"
    assert lookup("zelensky") == "zelenski"
    assert lookup("absent") is None and lookup("") is None and lookup("zzzz") is None
    assert StemLookup(tmp_path / "missing.tsv")("captured") is None


def test_near_finds_exactly_the_words_within_the_distance():
    """The letter check that skips most words never skips one within reach."""
    import random

    from whoosh.support.levenshtein import distance

    from newsearch.analysis import STOPWORDS

    rng = random.Random(5)
    words = sorted({"s" + "".join(rng.choice("aeinrst") for _ in range(rng.randint(2, 8))) for _ in range(3000)})
    vocabulary = Vocabulary(tuple(words), tuple(range(len(words))), tuple(words))
    for typed in ("sentir", "starin", "sniaret", "ssss", "sa", "strainer"):
        for maxdist in (1, 2):
            expected = sorted((distance(word, typed), -count, word) for word, count in zip(words, range(len(words)))
                              if word != typed and word not in STOPWORDS and distance(word, typed) <= maxdist)
            assert vocabulary.near(typed, maxdist) == [(found, word) for found, _, word in expected]
