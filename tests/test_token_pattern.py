"""The tokenizer's regex finds exactly the tokens of its plain form.

``TOKEN_PATTERN`` is written for speed (its first character consumed before the alternatives); the
plain alternation below is what it must match, token for token, on any text: the indexed terms and
every position and highlight depend on it. Compared on the BBC articles and on random texts made of
the characters where the alternatives differ (dots, commas, apostrophes, digits of other scripts,
numeric letters such as "²", underscores, combining marks).
"""

from __future__ import annotations

import random
import re

from newsearch.analysis import _TOKEN_SPLIT, TOKEN_PATTERN

PLAIN = re.compile(
    r"""
      (?:[^\W\d_]\.){2,10}(?![^\W_])        # dotted abbreviations: U.S., e.g. (capped: linear time)
    | \d+(?:[.,]\d+)*(?:[^\W\d_]+\d*)?      # numbers as written: 3,800 15.8m 1.13bn 4g
    | [^\W_]+(?:['\u2019][^\W_]+)*          # words, with inner apostrophes: don't, o'brien
    """,
    re.VERBOSE,
)
ALPHABET = "aZé5٣²½ΩK.,.'\u2019_ -\u0301\n"


def test_the_tokens_of_the_bbc_articles_are_the_plain_patterns(bbc_corpus):
    for path in sorted(bbc_corpus.rglob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        assert TOKEN_PATTERN.findall(text) == PLAIN.findall(text), path


def test_the_tokens_of_random_texts_are_the_plain_patterns():
    generator = random.Random(14)
    plain_split = re.compile(f"({PLAIN.pattern})", PLAIN.flags)
    for _ in range(20_000):
        text = "".join(generator.choice(ALPHABET) for _ in range(generator.randint(1, 24)))
        assert TOKEN_PATTERN.findall(text) == PLAIN.findall(text), repr(text)
        assert _TOKEN_SPLIT.split(text) == plain_split.split(text), repr(text)


def test_dotted_abbreviations_longer_than_ten_letters_fall_back_as_the_plain_pattern_does():
    for text in ["U.S.", "U.S.A", "e.g.x", "a.b.c.d.e.f.g.h.i.j.", "a.b.c.d.e.f.g.h.i.j.k.", "a.b.c.d.e.f.g.h.i.j.k",
                 "4.5.6", "3,800.5m2x", "1a'b", "don't'", "o\u2019brien's"]:
        assert TOKEN_PATTERN.findall(text) == PLAIN.findall(text), text
