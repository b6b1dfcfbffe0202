"""``sentence_around`` finds, from the candidates near a token, the sentence the whole split gives.

Passages look up only the sentences that hold a match; each must be exactly the one of
``split_sentences`` (the brute-force reference), on the BBC articles and on random texts made of
what the splitter decides on (titles, abbreviations, initials, decimals, quotes, brackets, line
breaks, blank lines), with a tiny look-back so that the scan back runs in many steps.
"""

from __future__ import annotations

import random

import pytest

from newsearch import sentences
from newsearch.analysis import TOKEN_PATTERN
from newsearch.sentences import sentence_around, split_sentences

PIECES = ["Mr.", "Dr.", "U.S.", "Jan.", "No.", "The", "the", "It", "he", "a", "J.", "K.", "Rowling", "15.8m",
          "3,800", "word", "ok.", "e.g.", "Yes.\"", "end!)", ".", "!", "?", "\u2026", "...", '"', "'", "\u2019",
          "\u201d", ")", "]", "\u00bb", "(", "\u201c", "\u00ab", "\n", "\n\n", "\n  \n", "  ", " ", "\t", "x" * 30,
          "\u00e9t\u00e9", "\u2028"]


def _expected(text: str) -> list[tuple[int, tuple[int, int]]]:
    spans = split_sentences(text)
    return [(match.start(), next(span for span in spans if span[0] <= match.start() < span[1]))
            for match in TOKEN_PATTERN.finditer(text)]


def _assert_sentences_found(text: str) -> None:
    """Each token's sentence, asked alone and as passages ask: in order, from the last one's end."""
    previous_end = 0
    for position, span in _expected(text):
        assert sentence_around(text, position) == span, (text[:80], position)
        if position >= previous_end:
            assert sentence_around(text, position, previous_end) == span, (text[:80], position, previous_end)
            previous_end = span[1]


def test_the_sentence_of_every_token_of_bbc_articles_is_the_splits(bbc_corpus):
    for path in sorted(bbc_corpus.rglob("*.txt"))[::11]:
        text = path.read_text(encoding="utf-8", errors="replace")
        _assert_sentences_found(text)


@pytest.mark.parametrize("look_back", [3, 200])
def test_the_sentence_of_every_token_of_random_texts_is_the_splits(monkeypatch, look_back):
    monkeypatch.setattr(sentences, "_LOOK_BACK", look_back)
    generator = random.Random(look_back)
    for _ in range(4000):
        pieces = generator.choices(PIECES, k=generator.randint(1, 30))
        text = "".join(piece + " " * generator.randint(0, 1) for piece in pieces)
        _assert_sentences_found(text)


def test_a_long_stretch_without_letters_before_the_token_is_crossed():
    text = "Start here. " + "- " * 50_000 + "(word" + " ..." * 1000 + " end. Next one."
    _assert_sentences_found(text)
