"""Where passages may begin and end: sentence and word boundaries.

``split_sentences(text)`` returns ``(start, end)`` spans, whitespace trimmed, in
order. A sentence ends

* after ``.``, ``!``, ``?`` or ``…`` (plus any closing quotes or brackets) and
  whitespace, unless the next word starts with a lowercase letter, or the period
  ends a known abbreviation: titles ("Mr.", "Dr.") never end a sentence; other
  abbreviations ("U.S.", "Jan.", "No.", "Inc.", initials "J.") end one only
  when a common sentence opener ("The", "He", "It") follows;
* at a line break, unless the next line starts with a lowercase letter (text
  wrapped by hand), so a headline without final punctuation is its own
  sentence. A blank line always ends a sentence.

Decimals ("15.8m") and dotted words never split: a period must be followed by
whitespace. Each candidate is decided from a few characters around it, so the
time is linear in the length of the text. NLTK's Punkt, even with these
abbreviations, was 11 times slower on the BBC articles (0.55 ms against 0.05 ms
per article) and joins headlines to the next line.

Passages need only the sentences that hold a match: ``sentence_around(text, i)``
finds the one holding ``text[i]`` from the few candidates either side of it, as
the whole split would (a candidate never holds a letter or digit, so a scan that
starts at one finds the candidates a scan from the start finds after it). A
search's matches sit in about 4 of a BBC article's 18 sentences.

Inside a sentence that is too long, ``word_start`` and ``word_end`` find where
a cut may fall: at whitespace, so that words stay whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from newsearch.analysis import forget_tokens

_TERMINALS = ".!?\u2026"
_CLOSERS = "\"'\u2019\u201d)]\u00bb"
_OPENERS = "\"'\u2018\u201c([{\u00ab"

_CANDIDATE = re.compile(
    r"""
    [.!?\u2026\n]                             # one class first: the regex engine skips to it fast
    (?: (?<=\n) \s*                           # a line break, and any blank lines and indentation
      | [.!?\u2026]* ["'\u2019\u201d)\]\u00bb]*  # end punctuation, closing quotes and brackets
    )
    """,
    re.VERBOSE,
)
_NON_SPACE = re.compile(r"\S")
_WORD_CHAR = re.compile(r"[^\W_]")
_SPACE = re.compile(r"\s+")
_THROUGH_LAST_SPACE = re.compile(r".*\s", re.DOTALL)
_NEXT_WORD = re.compile(r"\s*(\S{0,40})")
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # U.S, e.g, a.m (final period not included)
_INITIAL = re.compile(r"[^\W\d_]\.")

# Always followed by a name: never the end of a sentence.
_TITLES = frozenset(
    "Mr Mrs Ms Mx Dr Prof Rev Hon Sen Rep Gov Gen Col Maj Capt Lt Sgt Cpl Adm Cmdr "
    "Insp Det Supt Fr Messrs Mme Mlle Pres Amb".split()
)
# May end a sentence: only when a common sentence opener follows.
_ABBREVIATIONS = frozenset(
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Tue Tues Wed Thu Thur Thurs Fri "
    "No Nos Vol Vols Fig pp Inc Ltd Co Corp Bros Jr Sr Esq St Mt Ave Rd Blvd Ft Dept "
    "Univ Assn etc vs cf al approx est".split()
)
_OPENER_WORDS = frozenset(
    "a an and as at but by for from he her his how i if in it its many meanwhile most my "
    "no not now on once one our she so some such that the their there these they this "
    "those to until we what when where which while who why with yet you".split()
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of the sentences of ``text``, whitespace trimmed, in order."""
    return list(iter_sentences(text))


def forget_texts() -> None:
    """Empty the caches of rerank text (its tokens): the next search reads every article as new."""
    forget_tokens()


def iter_sentences(text: str) -> Iterator[tuple[int, int]]:
    """``split_sentences``, lazily: reading the first sentences costs only their length."""
    start = 0
    for match in _CANDIDATE.finditer(text):
        if _ends_sentence(text, match):
            yield from _trimmed(text, start, match.end())
            start = match.end()
    yield from _trimmed(text, start, len(text))


_LOOK_BACK = 200  # characters scanned at a time for the end of the sentence before


def sentence_around(text: str, position: int, after: int = 0) -> tuple[int, int]:
    """The span of the sentence of ``split_sentences(text)`` that holds ``text[position]``, a letter
    or digit (a token's first character: no candidate holds one, nor spans ``position``).

    ``after``, the end of an earlier sentence of that split (or 0), bounds the search back: passages
    ask for the sentences of a body's matches in order, each search starting where the last ended.
    """
    end = next((match.end() for match in _CANDIDATE.finditer(text, position) if _ends_sentence(text, match)),
               len(text))
    start = after  # the split's next sentence starts there, or at the end of a candidate right after it
    high = position  # the candidates before a letter or digit end at or before it
    while high > after:
        low = max(after, high - _LOOK_BACK)
        word, searched = None, high
        while low > after and (word := _WORD_CHAR.search(text, low, searched)) is None:
            low, searched = max(after, low - _LOOK_BACK), low  # each character searched once: linear time
        if word is not None:
            low = word.start()  # so the scan from there is in step with the whole split's
        before = reversed(list(_CANDIDATE.finditer(text, low, high)))
        found = next((match.end() for match in before if _ends_sentence(text, match)), None)
        if found is not None:
            start = found
            break
        high = low
    chunk = text[start:end]
    first = start + len(chunk) - len(chunk.lstrip())
    return first, first + len(chunk.strip())


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if match.group()[0] == "\n":
        after = match.end()
        if after == len(text) or "\n" in match.group()[1:]:
            return True  # a blank line, or the end
        if text[after].islower():
            return False  # a wrapped line goes on
        before = text[max(0, match.start() - 16) : match.start()].rstrip().rstrip(_CLOSERS)
        # A line ending in punctuation was decided by the punctuation itself.
        return not before or before[-1] not in _TERMINALS
    if match.end() == len(text) or not text[match.end()].isspace():
        return False  # 15.8m, U.S, "Yes."), or the end of the text
    following = _NEXT_WORD.match(text, match.end())
    next_word = following.group(1) if following else ""
    first = next_word.lstrip(_OPENERS)[:1]
    if first.islower():
        return False
    if match.group().rstrip(_CLOSERS) != ".":
        return True  # ! ? … ... and combinations
    word = _word_before(text, match.start())
    if word in _TITLES:
        return False
    if word in _ABBREVIATIONS or _DOTTED.fullmatch(word) or (len(word) == 1 and word.isalpha()):
        return _opens_sentence(next_word)
    return True


def _word_before(text: str, end: int) -> str:
    """The whitespace-delimited word ending at ``end`` (at most 24 characters), openers dropped."""
    chunk = text[max(0, end - 24) : end]
    parts = chunk.rsplit(None, 1)
    return parts[-1].lstrip(_OPENERS) if parts else ""


def _opens_sentence(word: str) -> bool:
    """Whether ``word`` (after an abbreviation) is a capitalised common sentence opener."""
    if _INITIAL.match(word):
        return False  # J. K. Rowling
    bare = word.lstrip(_OPENERS).rstrip(".,;:!?" + _CLOSERS)
    return bare[:1].isupper() and bare.casefold() in _OPENER_WORDS


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The span of ``text[start:end]`` without surrounding whitespace, if anything is left."""
    chunk = text[start:end]
    stripped = chunk.strip()
    if stripped:
        first = start + len(chunk) - len(chunk.lstrip())
        yield first, first + len(stripped)


def word_start(text: str, left: int, start: int) -> int:
    """The first word start in ``text[left:start + 1]``, else ``start`` (a token start)."""
    if left == 0 or text[left - 1].isspace():
        found = _NON_SPACE.search(text, left, start + 1)
        return found.start() if found else start
    space = _SPACE.search(text, left, start)
    return space.end() if space else start


def word_end(text: str, end: int, right: int) -> int | None:
    """The last word end in ``[end, right]``, or None; ``text[end - 1]`` is not a space."""
    if right == len(text) or text[right].isspace():
        return end + len(text[end:right].rstrip())
    through = _THROUGH_LAST_SPACE.match(text, end, right)
    return end + len(text[end : through.end()].rstrip()) if through else None
