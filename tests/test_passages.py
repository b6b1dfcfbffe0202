"""Sentences, ranked passages and highlight spans: offsets checked character by character."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsearch.models import Passage
from newsearch.passages import PassageQuery, best_passages, highlight_spans, lead_passage, split_sentences


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


def marked(passage: Passage) -> str:
    """The passage text with its highlights in [brackets]."""
    out, last = [], 0
    for start, end in passage.highlights:
        out += [passage.text[last:start], "[", passage.text[start:end], "]"]
        last = end
    return "".join(out) + passage.text[last:]


def check_invariants(body: str, passages: list[Passage], max_chars: int) -> None:
    for p in passages:
        assert body[p.start : p.end] == p.text
        assert p.text == p.text.strip() and p.text
        assert len(p.text) <= max_chars or p.highlights == ((0, len(p.text)),)  # one long word
        assert p.start == 0 or body[p.start - 1].isspace() or p.highlights[0][0] == 0
        assert p.end == len(body) or body[p.end].isspace() or p.highlights[-1][1] == len(p.text)
        assert p.highlights and list(p.highlights) == sorted(p.highlights)
        for start, end in p.highlights:
            assert 0 <= start < end <= len(p.text)
    spans = sorted((p.start, p.end) for p in passages)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)


# -- sentences ---------------------------------------------------------------------------


def test_abbreviations_decimals_and_initials_do_not_end_sentences():
    text = (
        "Mr. Smith met Dr. Jones at No. 10 on Jan. 5. Profits rose to $15.8m. "
        "J. K. Rowling and J.K. Rowling wrote it. He lives in the U.S. The economy grew. "
        "U.S. President Bush spoke at 3 p.m. on Friday."
    )
    assert sentences(text) == [
        "Mr. Smith met Dr. Jones at No. 10 on Jan. 5.",
        "Profits rose to $15.8m.",
        "J. K. Rowling and J.K. Rowling wrote it.",
        "He lives in the U.S.",
        "The economy grew.",
        "U.S. President Bush spoke at 3 p.m. on Friday.",
    ]


def test_quotes_question_marks_and_ellipses():
    text = (
        '"It is over," he said. "Really?" she asked. He said: "I am leaving." '
        "Then he left... What? Yes! (See below.) Next."
    )
    assert sentences(text) == [
        '"It is over," he said.',
        '"Really?" she asked.',
        'He said: "I am leaving."',
        "Then he left...",
        "What?",
        "Yes!",
        "(See below.)",
        "Next.",
    ]


def test_lines_without_final_punctuation_are_sentences():
    text = (
        "Ad sales boost Time Warner profit\n\nQuarterly profits jumped 76%.\n"
        "Headline without a stop\nA line that wraps\nin the middle goes on.\r\n\r\nEnd"
    )
    assert split_sentences(text) == [(0, 33), (35, 64), (65, 88), (89, 129), (133, 136)]
    assert sentences(text) == [
        "Ad sales boost Time Warner profit",
        "Quarterly profits jumped 76%.",
        "Headline without a stop",
        "A line that wraps\nin the middle goes on.",
        "End",
    ]


def test_a_title_at_the_end_of_a_line_does_not_end_the_sentence():
    assert sentences("Plan B. The plan failed. Mr.\nSmith came.") == [
        "Plan B.",
        "The plan failed.",
        "Mr.\nSmith came.",
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n \t\n"])
def test_blank_text_has_no_sentences(text):
    assert split_sentences(text) == []


def test_sentence_spans_are_trimmed():
    assert split_sentences("  One.   Two!  \n") == [(2, 6), (9, 13)]


# -- highlighting ----------------------------------------------------------------------------


def test_every_surface_form_of_a_stem_is_highlighted_as_a_whole_word():
    text = "Captures, captured; capture. Capturing recaptured"
    spans = highlight_spans(text, PassageQuery({"captur": 1.0}))
    assert spans == [(0, 8), (10, 18), (20, 27), (29, 38)]
    assert [text[s:e] for s, e in spans] == ["Captures", "captured", "capture", "Capturing"]


def test_possessive_and_hyphenated_forms_are_highlighted():
    text = "Zelensky's forces met North-Korean troops and Korea’s envoy."
    spans = highlight_spans(text, PassageQuery({"zelenski": 2.0, "korean": 1.0, "korea": 1.0}))
    assert spans == [(0, 10), (28, 34), (46, 53)]
    assert [text[s:e] for s, e in spans] == ["Zelensky's", "Korean", "Korea’s"]


def test_phrase_words_are_highlighted_only_where_the_phrase_occurs():
    text = "The state of the union is strong, the union said of the state."
    query = PassageQuery(
        {"state": 2.0, "union": 2.0}, phrases=(("state", "of", "the", "union"),)
    )
    spans = highlight_spans(text, query)
    assert [text[s:e] for s, e in spans] == ["state of the union", "union", "state"]
    assert spans == [(4, 22), (38, 43), (56, 61)]


def test_phrase_slop_allows_words_between_neighbouring_terms():
    text = "North Korean troops; North and South Korean talks; North, South, East and West Korean."
    exact = PassageQuery({}, phrases=(("north", "korean"),))
    two = PassageQuery({}, phrases=(("north", "korean"),), phrase_slop=(2,))
    assert [text[s:e] for s, e in highlight_spans(text, exact)] == ["North Korean"]
    assert [text[s:e] for s, e in highlight_spans(text, two)] == [
        "North Korean", "North", "Korean",
    ]


def test_phrase_slop_finds_a_chain_that_the_nearest_word_would_miss():
    text = "North Korean Korean elite troops."
    query = PassageQuery({}, phrases=(("north", "korean", "troop"),), phrase_slop=(1,))
    assert highlight_spans(text, query) == [(0, 5), (13, 19), (26, 32)]


def test_phrase_terms_in_order_only():
    text = "union of the state"
    query = PassageQuery({}, phrases=(("state", "of", "the", "union"),), phrase_slop=(5,))
    assert highlight_spans(text, query) == []


def test_weighted_stopwords_are_highlighted_everywhere():
    text = "The cost of living and the cost of war."
    query = PassageQuery({"cost": 1.0, "of": 0.1})
    assert [text[s:e] for s, e in highlight_spans(text, query)] == ["cost", "of", "cost", "of"]


# -- passages --------------------------------------------------------------------------------

ARTICLE = (
    "Rebels captured the town on Monday. "
    "The army said it would capture it back, capture the bridge and capture the road. "
    "Officials in Kyiv said Zelensky's forces had captured two North-Korean soldiers. "
    "The weather was cold."
)


def test_passage_offsets_and_highlights_exactly():
    query = PassageQuery({"captur": 2.0, "zelenski": 3.0, "korean": 2.5})
    passages = best_passages(ARTICLE, query, count=3, max_chars=100)
    assert [(p.start, p.end) for p in passages] == [(117, 197), (36, 116), (0, 35)]
    assert [marked(p) for p in passages] == [
        "Officials in Kyiv said [Zelensky's] forces had [captured] two North-[Korean] soldiers.",
        "The army said it would [capture] it back, [capture] the bridge and [capture] the road.",
        "Rebels [captured] the town on Monday.",
    ]
    assert passages[0].highlights == ((23, 33), (45, 53), (64, 70))
    check_invariants(ARTICLE, passages, 100)
    # Room for two sentences: the first two join.
    passages = best_passages(ARTICLE, query, count=3, max_chars=120)
    assert [(p.start, p.end) for p in passages] == [(117, 197), (0, 116)]
    assert passages[1].highlights == ((7, 15), (59, 66), (76, 83), (99, 106))


def test_covering_all_query_words_beats_repeating_the_rarest():
    body = (
        "Inflation inflation inflation, inflation everywhere and inflation again. "
        "The weather was mild. "
        "Inflation hit wages this year."
    )
    query = PassageQuery({"inflat": 5.0, "wage": 1.0})
    passages = best_passages(body, query, count=2, max_chars=80)
    assert [marked(p) for p in passages] == [
        "[Inflation] hit [wages] this year.",
        "[Inflation] [inflation] [inflation], [inflation] everywhere and [inflation] again.",
    ]


def test_repeats_count_with_diminishing_returns():
    body = "Oil rose. Oil fell, oil rose. Oil, oil, oil."
    passages = best_passages(body, PassageQuery({"oil": 1.0}), count=3, max_chars=20)
    assert [p.text for p in passages] == ["Oil, oil, oil.", "Oil fell, oil rose.", "Oil rose."]
    three, two, one = (p.score for p in passages)
    assert 0 < three - two < two - one < 1.0


def test_phrase_match_outranks_scattered_words():
    body = (
        "The union said the state would pay. "
        "He gave the state of the union address. "
        "The state and the union agreed."
    )
    query = PassageQuery({"state": 2.0, "union": 2.0}, phrases=(("state", "of", "the", "union"),))
    passages = best_passages(body, query, count=3, max_chars=40)
    assert [marked(p) for p in passages] == [
        "He gave the [state of the union] address.",
        "The [union] said the [state] would pay.",  # as close as the next one, and earlier
        "The [state] and the [union] agreed.",
    ]


def test_close_words_beat_distant_words():
    body = (
        "Bank shares fell sharply in early trading after the rate decision was announced. "
        "The central bank raised its rate."
    )
    passages = best_passages(body, PassageQuery({"bank": 1.0, "rate": 1.0}), count=2, max_chars=90)
    assert [p.text for p in passages] == [
        "The central bank raised its rate.",
        "Bank shares fell sharply in early trading after the rate decision was announced.",
    ]


def test_equal_passages_rank_earlier_first():
    body = "Gold rose. Silver fell. Gold rose."
    passages = best_passages(body, PassageQuery({"gold": 1.0}), count=3, max_chars=12)
    assert [(p.start, p.end) for p in passages] == [(0, 10), (24, 34)]
    assert passages[0].score > passages[1].score


def test_consecutive_sentences_join_up_to_max_chars():
    body = "Oil rose. Gas fell. Coal was flat. Prices fell."
    query = PassageQuery({"oil": 1.0, "coal": 1.0})
    assert [p.text for p in best_passages(body, query, count=3, max_chars=34)] == [
        "Oil rose. Gas fell. Coal was flat.",
    ]
    assert [p.text for p in best_passages(body, query, count=3, max_chars=33)] == [
        "Oil rose.",
        "Coal was flat.",
    ]


def test_passages_stay_within_a_line_or_paragraph():
    body = "Oil rose.\nCoal fell. Oil fell.\n\nCoal rose."
    query = PassageQuery({"oil": 1.0, "coal": 1.0})
    assert [p.text for p in best_passages(body, query, count=4, max_chars=60)] == [
        "Coal fell. Oil fell.",
        "Oil rose.",
        "Coal rose.",
    ]


def test_nearer_words_make_the_better_window():
    body = "Oil rose. Gas fell. Coal was flat. Oil fell."
    query = PassageQuery({"oil": 1.0, "coal": 1.0})
    assert [p.text for p in best_passages(body, query, count=3, max_chars=34)] == [
        "Coal was flat. Oil fell.",
        "Oil rose.",
    ]


def test_a_long_sentence_is_cut_around_its_matches_at_word_boundaries():
    filler = " ".join(f"word{n}" for n in range(60))
    body = f"{filler} the minister resigned on Friday after the vote {filler}."
    query = PassageQuery({"resign": 2.0, "vote": 1.0})
    passages = best_passages(body, query, max_chars=80)
    assert [(p.start, p.end) for p in passages] == [(403, 480)]
    assert [marked(p) for p in passages] == [
        "word59 the minister [resigned] on Friday after the [vote] word0 word1 word2 word3"
    ]
    assert body[402] == " " and body[480] == " "
    # Too narrow for both words: two windows that do not overlap.
    passages = best_passages(body, query, max_chars=30)
    assert [marked(p) for p in passages] == [
        "minister [resigned] on Friday",
        "after the [vote] word0 word1",
    ]
    check_invariants(body, passages, 30)


def test_max_chars_is_honoured_at_word_boundaries_everywhere():
    body = " ".join(["alpha beta gamma delta epsilon"] * 100) + "."
    for max_chars in (5, 11, 17, 50, 299):
        passages = best_passages(body, PassageQuery({"gamma": 1.0}), count=5, max_chars=max_chars)
        assert len(passages) == 5
        check_invariants(body, passages, max_chars)


def test_a_match_at_the_end_of_a_200_kb_body_is_found():
    body = "Nothing to see here. " * 10_000 + "At last the treaty was signed in Geneva."
    assert len(body) > 200_000
    passages = best_passages(body, PassageQuery({"treati": 3.0, "geneva": 2.0}))
    assert [(p.start, p.end, marked(p)) for p in passages] == [
        (210_000, 210_040, "At last the [treaty] was signed in [Geneva]."),
    ]


def test_count_is_respected_and_passages_do_not_overlap():
    body = " ".join(f"Sentence {n} mentions the budget." for n in range(20))
    query = PassageQuery({"budget": 1.0})
    for count in (0, 1, 3, 7):
        passages = best_passages(body, query, count=count, max_chars=70)
        assert len(passages) == count
        check_invariants(body, passages, 70)
    # Two sentences fit in 70 characters; equal pairs come earlier first.
    assert [p.text for p in best_passages(body, query, count=100, max_chars=70)] == [
        f"Sentence {n} mentions the budget. Sentence {n + 1} mentions the budget."
        for n in range(0, 20, 2)
    ]


def test_nothing_matches():
    assert best_passages("The weather was mild.", PassageQuery({"inflat": 1.0})) == []
    assert best_passages("The weather was mild.", PassageQuery({})) == []
    assert best_passages("", PassageQuery({"inflat": 1.0})) == []
    assert highlight_spans("", PassageQuery({"inflat": 1.0})) == []


def test_a_stopword_only_in_a_phrase_is_not_a_match_alone():
    body = "The cat sat. The dog ran."
    query = PassageQuery({}, phrases=(("the", "cat"),))
    assert [marked(p) for p in best_passages(body, query)] == ["[The cat] sat."]


# -- lead passage ----------------------------------------------------------------------------


def test_lead_passage_is_the_opening_sentences_without_highlights():
    body = "  Markets were calm. Traders waited for the Fed. Then it spoke at length."
    assert lead_passage(body, max_chars=50) == Passage(
        "Markets were calm. Traders waited for the Fed.", 2, 48, 0.0, ()
    )
    assert lead_passage(body, max_chars=45) == Passage("Markets were calm.", 2, 20, 0.0, ())


def test_lead_passage_is_from_the_first_line():
    body = "Markets calm before the Fed\nTraders waited. Then it spoke."
    assert lead_passage(body) == Passage("Markets calm before the Fed", 0, 27, 0.0, ())


def test_lead_passage_cuts_a_long_first_sentence_at_a_word_boundary():
    body = "The quick brown fox jumps over the lazy dog."
    assert lead_passage(body, max_chars=20) == Passage("The quick brown fox", 0, 19, 0.0, ())
    assert lead_passage(body, max_chars=19) == Passage("The quick brown fox", 0, 19, 0.0, ())
    assert lead_passage(body, max_chars=18) == Passage("The quick brown", 0, 15, 0.0, ())


@pytest.mark.parametrize("body", ["", "   \n\n  "])
def test_lead_passage_of_a_blank_body_is_none(body):
    assert lead_passage(body) is None


# -- hostile input ---------------------------------------------------------------------------


def test_a_one_million_character_token_does_not_blow_up():
    body = "x" * 1_000_000
    started = time.perf_counter()
    assert best_passages(body, PassageQuery({"x": 1.0})) == []
    assert lead_passage(body, max_chars=300) == Passage("x" * 300, 0, 300, 0.0, ())
    assert time.perf_counter() - started < 5


def test_a_ten_megabyte_body_takes_linear_time():
    body = "Nothing to see here at all. " * 375_000 + "The treaty was signed."
    assert len(body) > 10_000_000
    started = time.perf_counter()
    passages = best_passages(body, PassageQuery({"treati": 1.0}))
    assert [p.text for p in passages] == ["The treaty was signed."]
    assert time.perf_counter() - started < 30


# -- invariants ------------------------------------------------------------------------------

WORDS = st.sampled_from(
    ["Mr.", "U.S.", "oil", "Oil", "prices", "rose", "fell", "15.8m", "the", "of", '"Yes."',
     "North-Korean", "Zelensky's", "\n", "\n\n", "...", "?", "said", "x" * 40]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, max_size=120), st.integers(1, 120), st.integers(0, 4))
def test_passages_always_point_into_the_body(words, max_chars, count):
    body = " ".join(words)
    query = PassageQuery({"oil": 2.0, "price": 1.0, "zelenski": 1.5, "korean": 1.0},
                         phrases=(("the", "oil"),), phrase_slop=(1,))
    passages = best_passages(body, query, count=count, max_chars=max_chars)
    assert len(passages) <= count
    check_invariants(body, passages, max_chars)
    assert (passages == []) == (highlight_spans(body, query) == [] or count == 0)
    spans = split_sentences(body)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    for start, end in spans:
        assert body[start:end] == body[start:end].strip() != ""
    assert [word for start, end in spans for word in body[start:end].split()] == body.split()


@pytest.mark.bbc
def test_bbc_articles(bbc_corpus):
    query = PassageQuery({"year": 1.0, "govern": 2.0, "profit": 3.0, "minist": 2.5})
    for path in sorted(bbc_corpus.glob("*/*.txt"))[::10]:
        _, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n\n")
        passages = best_passages(body, query, count=3, max_chars=300)
        check_invariants(body, passages, 300)


# -- the query -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weights": {"a": 0.0}},
        {"weights": {}, "phrases": (("a", "b"),), "phrase_slop": (1, 2)},
        {"weights": {}, "phrases": (("a", "b"),), "phrase_slop": (-1,)},
        {"weights": {}, "phrases": ((),)},
    ],
)
def test_invalid_queries_are_refused(kwargs):
    with pytest.raises(ValueError):
        PassageQuery(**kwargs)


def test_max_chars_must_be_positive():
    with pytest.raises(ValueError, match="max_chars must be at least 1"):
        best_passages("Oil rose.", PassageQuery({"oil": 1.0}), max_chars=0)
    with pytest.raises(ValueError, match="max_chars must be at least 1"):
        lead_passage("Oil rose.", max_chars=0)
