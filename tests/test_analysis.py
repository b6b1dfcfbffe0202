"""The analyzer: terms, offsets, folding, stemming, stopwords, pickling."""

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import newsearch.analysis
from newsearch.analysis import MAX_TERM_LENGTH, STOPWORDS, analyze, news_analyzer, terms


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
    for term, start, end in analyze(text):
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


def _stemmer_sample() -> list[str]:
    """Words as the term filter hands them to the stemmer: folded tokens of varied text, and
    synthetic words built to reach every Snowball step (suffixes, y, apostrophes, non-ASCII)."""
    import random

    from newsearch.analysis import TOKEN_PATTERN, fold

    text = (Path(__file__).read_text("utf-8") + Path(newsearch.analysis.__file__).read_text("utf-8")
            + " ".join(SNOWBALL_SPECIAL_WORDS))
    words = {fold(match.group()) for match in TOKEN_PATTERN.finditer(text)}
    rng = random.Random(4)
    letters = "abcdefghijklmnopqrstuvwxyzyyeeiioouu" + "øæåéüñçłžšя"
    suffixes = ["ing", "ed", "ly", "ness", "ational", "ization", "ement", "ies", "sses", "eed", "edly", "ingly",
                "ousli", "fulness", "iveness", "ment", "ant", "ence", "able", "ible", "y", "eli", "alli", "ic",
                "ative", "ful", "ss", "us", "ied", "tional", "enci", "anci", "izer", "bli", "logi", "fulli",
                "entli", "iviti", "biliti", "alism", "ate", "iciti", "ical", "ize", "er", "ion", "ou", "ism",
                "iti", "ous", "ive", "e", "l"]
    for _ in range(40_000):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
        if rng.random() < 0.7:
            word += rng.choice(suffixes)
        if rng.random() < 0.15 and len(word) > 3:
            cut = rng.randint(1, len(word) - 2)
            word = word[:cut] + "'" + word[cut:]
        words.update(fold(match.group()) for match in TOKEN_PATTERN.finditer(word))
    return sorted(word for word in words if word)


SNOWBALL_SPECIAL_WORDS = ("skis skies dying lying tying idly gently ugly early only singly sky news howe atlas "
                          "cosmos bias andes inning outing canning herring earring proceed exceed succeed "
                          "generously communism arsenal commune")


def test_stems_are_nltks_snowball_stems(monkeypatch):
    """The stemmer is Whoosh's port of Snowball; the index's terms must be NLTK's ``SnowballStemmer("english")``'s."""
    from nltk.stem.snowball import SnowballStemmer

    from newsearch.analysis import _Stemmer

    monkeypatch.setattr(_Stemmer, "lookup", None)  # no index vocabulary: the stemmer itself
    nltk_stem = SnowballStemmer("english").stem
    words = _stemmer_sample()
    assert len(words) > 30_000
    different = [(word, _Stemmer.stem(word), nltk_stem(word)) for word in words if _Stemmer.stem(word) != nltk_stem(word)]
    assert different == []


def test_analysis_does_not_import_nltk():
    script = "import sys; from newsearch.analysis import terms; terms('Running runners ran'); print('nltk' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
