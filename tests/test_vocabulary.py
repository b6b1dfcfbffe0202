"""The unstemmed vocabulary behind typo correction and prefixes."""

from collections import Counter

from newsearch.vocabulary import Vocabulary


def test_merge_folds_counts_and_skips_stopwords_and_numbers(tmp_path):
    vocabulary = Vocabulary().merged(Counter({"Zelensky's": 2, "zelensky": 1, "the": 9, "3,800": 4, "Café": 1}))
    assert vocabulary.words == ("cafe", "zelensky")
    assert vocabulary.counts == (1, 3)
    vocabulary.save(tmp_path)
    assert Vocabulary.load(tmp_path) == vocabulary
    grown = Vocabulary.load(tmp_path).merged(Counter({"zelensky": 1, "kyiv": 2}))
    assert dict(zip(grown.words, grown.counts)) == {"cafe": 1, "kyiv": 2, "zelensky": 4}


def test_near_orders_by_distance_then_frequency():
    vocabulary = Vocabulary().merged(Counter({"substantially": 5, "substantialy": 9, "subsidy": 3, "zelensky": 1}))
    assert vocabulary.near("substatnially", 2) == [(1, "substantially"), (2, "substantialy")]
    assert vocabulary.near("zelenksy", 1) == [(1, "zelensky")]
    assert vocabulary.near("xyz", 2) == []


def test_prefix_lists_most_frequent_first():
    vocabulary = Vocabulary().merged(Counter({"captain": 2, "capture": 5, "captured": 3, "cat": 9}))
    assert vocabulary.with_prefix("capt") == [("capture", 5), ("captured", 3), ("captain", 2)]


def test_missing_file_is_an_empty_vocabulary(tmp_path):
    assert Vocabulary.load(tmp_path) == Vocabulary()
