"""The analyzer: terms, offsets, folding, stemming, stopwords, pickling."""

import pickle
import subprocess
import sys

import pytest

from newsearch.analysis import MAX_TERM_LENGTH, STOPWORDS, TOKEN_PATTERN, analyze, news_analyzer, terms


def test_offsets_point_at_the_surface_forms():
    text = "Zelensky's forces captured North-Korean troops."
    assert list(analyze(text)) == [
        ("zelenski", 0, 10),
        ("forc", 11, 17),
        ("captur", 18, 26),
        ("north", 27, 32),
        ("korean", 33, 39),
        ("troop", 40, 46),
    ]
    for _, start, end in analyze(text):
        assert text[start:end].strip() == text[start:end]


def test_stemming_conflates_inflections():
    assert terms("capture captured captures capturing") == ["captur"] * 4


@pytest.mark.parametrize(
    "text, expected",
    [
        ("café", ["cafe"]),
        ("CAFÉ", ["cafe"]),
        ("Zelensky's", ["zelenski"]),
        ("Korea’s", ["korea"]),
        ("North-Korean", ["north", "korean"]),
        ("north korean", ["north", "korean"]),
        ("U.S.", ["us"]),
        ("3,800", ["3,800"]),
        ("10,000", ["10,000"]),
        ("15.8m", ["15.8m"]),
        ("$1.13bn (£600m)", ["1.13bn", "600m"]),
        ("ﬁnance", ["financ"]),  # NFKC: the fi ligature
        ("e-mail", ["e", "mail"]),
    ],
)
def test_normalisation(text, expected):
    assert terms(text) == expected


def test_news_words_are_not_stopwords():
    for word in ("us", "may", "will", "can", "who", "it"):
        assert word not in STOPWORDS
        assert terms(word) == [word]
    assert "the" in STOPWORDS


def test_stopwords_are_indexed_so_phrases_stay_exact():
    assert terms("state of the union") == ["state", "of", "the", "union"]


def test_overlong_tokens_are_dropped():
    assert terms("a" * (MAX_TERM_LENGTH + 1) + " kept") == ["kept"]
    assert terms("x" * 1_000_000) == []


def test_whoosh_analyzer_gives_positions_and_chars():
    analyzer = news_analyzer()
    tokens = [(t.text, t.pos, t.startchar, t.endchar)
              for t in analyzer("The U.S. captured", positions=True, chars=True)]
    assert tokens == [("the", 0, 0, 3), ("us", 1, 4, 8), ("captur", 2, 9, 17)]


def test_analyzer_pickles_without_its_cache():
    analyzer = news_analyzer()
    list(analyzer("warming the cache"))
    restored = pickle.loads(pickle.dumps(analyzer))
    assert restored == analyzer
    assert [t.text for t in restored("Captures")] == ["captur"]
    unstemmed = pickle.loads(pickle.dumps(news_analyzer(stem=False)))
    assert [t.text for t in unstemmed("Captures")] == ["captures"]


def test_index_time_filter_drops_stopwords_but_keeps_position_gaps():
    analyzer = news_analyzer(stop=True)
    tokens = [(t.text, t.pos) for t in analyzer("The state of the Union", positions=True)]
    assert tokens == [("state", 1), ("union", 4)]


@pytest.mark.parametrize("stop", [True, False])
def test_fused_analyzer_matches_the_chained_components(stop):
    from newsearch.analysis import NewsTermFilter, NewsTokenizer

    text = "The U.S. state of the Union: Zelensky's 3,800 troops — North-Korean café " + "x" * 80 + " end"
    fused = news_analyzer(stop=stop)
    chained = NewsTokenizer() | NewsTermFilter(stop=stop)
    assert type(fused).__name__ == "NewsAnalyzer"
    expected = [(t.text, t.pos, t.startchar, t.endchar) for t in chained(text, positions=True, chars=True)]
    assert [(t.text, t.pos, t.startchar, t.endchar) for t in fused(text, positions=True, chars=True)] == expected
    assert [t.text for t in fused(text, start_pos=5, positions=True)] == [e[0] for e in expected]


def test_nltk_stemmer_loads_without_the_scientific_stack_and_leaves_it_importable():
    code = (
        "import sys; from newsearch.analysis import _nltk_snowball; stem = _nltk_snowball(); "
        "assert stem('captured') == 'captur'; "
        "assert 'scipy' not in sys.modules and 'numpy' not in sys.modules, 'loaded with NLTK'; "
        "import importlib.util, numpy; "
        "importlib.util.find_spec('scipy') and __import__('scipy.stats'); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == "ok\n", done.stderr


def test_indexing_splits_each_body_into_words_once(tmp_path, monkeypatch):
    # The near-duplicate signature and the index both need a body's words: one split serves both.
    import newsearch.analysis as analysis
    from newsearch.indexer import build_index

    body = "Ministers met in Brussels on Tuesday to agree the budget. " * 20
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Budget talks\n\n" + body, encoding="utf-8")
    splits: list[str] = []

    class CountingPattern:
        def findall(self, text: str) -> list[str]:
            splits.append(text)
            return TOKEN_PATTERN.findall(text)

    monkeypatch.setattr(analysis, "TOKEN_PATTERN", CountingPattern())
    build_index([tmp_path / "corpus"], tmp_path / "ix")
    assert sum(1 for text in splits if body.strip() in text) == 1
