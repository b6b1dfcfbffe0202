"""Text analysis shared by indexing, querying and highlighting.

The Whoosh analyzer is ``NewsTokenizer() | NewsTermFilter()``:

* the tokenizer finds words, numbers as written ("3,800", "15.8m") and dotted
  abbreviations ("U.S.") with their character offsets in the original text,
  splitting hyphenated words into their parts ("North-Korean" -> north, korean);
* the term filter turns each surface form into its index term: NFKC, case and
  accent folding, possessives dropped ("Zelensky's" -> zelensky) and English
  Snowball stemming from NLTK. The mapping surface -> term is cached, which is
  where most of the speed comes from: news text repeats its words.

Stopwords (a short list that keeps news words such as "US", "May", "Will")
are left out of the title and body fields (their scoring, lengths and
positions), but the positions of the words around them keep their gaps, so the
searcher can still match "state of the union" exactly and not "state union".
``StopGramAnalyzer`` puts them in fields of their own instead, without
positions: each stopword and each two consecutive ones, which is what a quoted
phrase of common words ("to be or not to be") is found by before its text is
checked. ``analyze`` (used for highlighting and query terms) keeps stopwords;
only the index-time filter drops them.

Whoosh pickles analyzers into the index, so everything here is module-level,
the caches are dropped from pickles, and ``ANALYSIS_VERSION`` must change
whenever a change would alter the terms of already indexed text.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import resources
from itertools import accumulate, compress, count, repeat
from operator import is_, not_
from typing import cast

from whoosh.analysis import Composable, CompositeAnalyzer, Filter, Token, Tokenizer

ANALYSIS_VERSION = 1

MAX_TERM_LENGTH = 64  # longer "words" are base64 blobs, URLs gone wrong, hostile input

# Every token starts with a letter or digit, consumed first: the regex engine then skips the text
# between tokens in C and tries only the alternatives that can start there (a quarter less time
# than the plain alternation (?:[^\W\d_]\.){2,10}(?![^\W_]) | \d+... | [^\W_]+..., which it matches
# exactly; tests/test_token_pattern.py compares the two). The split of every reranked body is
# most of a search's time.
TOKEN_PATTERN = re.compile(
    r"""
    [^\W_]
    (?: (?<=[^\W\d_])                          # from a letter:
        (?: \.(?:[^\W\d_]\.){1,9}(?![^\W_])     #   dotted abbreviations: U.S., e.g. (capped: linear time)
          | [^\W_]*(?:['\u2019][^\W_]+)*       #   words, with inner apostrophes: don't, o'brien
        )
      | \d*(?:[.,]\d+)*(?:[^\W\d_]+\d*)?      # from a digit: numbers as written: 3,800 15.8m 1.13bn 4g
    )
    """,
    re.VERBOSE,
)

_POSSESSIVE_SUFFIXES = ("'s", "\u2019s")


def _load_stopwords() -> frozenset[str]:
    text = resources.files("newsearch").joinpath("data/stopwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


STOPWORDS: frozenset[str] = _load_stopwords()

_recent_splits: list[tuple[str, list[str]]] = []  # (text, its surface forms), the most recent first
_RECENT_SPLITS = 4


def surface_forms(text: str) -> list[str]:
    """``TOKEN_PATTERN.findall(text)``, kept for the last few texts (compared by identity).

    Indexing splits each body twice, for its near-duplicate signature and for the
    index (a tenth of a build's time), with the document's other text fields
    analysed in between: the second split of the same string object is free.
    Callers must not change the list.
    """
    for seen, surfaces in _recent_splits:
        if seen is text:
            return surfaces
    surfaces = TOKEN_PATTERN.findall(text) if len(text) <= _LONG_TEXT else _split_long(text)
    _recent_splits.insert(0, (text, surfaces))
    del _recent_splits[_RECENT_SPLITS:]
    return surfaces


_LONG_TEXT = 1 << 16


def _split_long(text: str) -> list[str]:
    """``TOKEN_PATTERN.findall(text)`` with each distinct surface form kept once.

    A str per word costs about 50 bytes: a 9 MB article's 1.5 million words would take
    80 MB at once; shared, the list is 12 MB and its distinct words a few more.
    """
    distinct: dict[str, str] = {}
    return [distinct.setdefault(surface, surface) for surface in map(re.Match.group, TOKEN_PATTERN.finditer(text))]


def fold(surface: str) -> str:
    """Normalise a surface form: NFKC, case folding, accents and possessive removed."""
    text = unicodedata.normalize("NFKC", surface).casefold()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = unicodedata.normalize(
            "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
        )
    text = text.replace("\u2019", "'")
    if text.endswith("'s") and len(text) > 2:
        text = text[:-2]
    if "." in text and not text[0].isdigit():
        text = text.replace(".", "")  # u.s. -> us
    return text


class _Stemmer:
    """NLTK's English Snowball stemming, loaded on first use (see ``_nltk_snowball``).

    A lookup set with ``use_stem_lookup`` is asked first: a searcher can stem
    query words from its index's vocabulary without importing NLTK at all.
    """

    _stem: Callable[[str], str] | None = None
    lookup: Callable[[str], str | None] | None = None
    # Shared by every term filter of the process (the indexer's and near-duplicate detection's):
    # Snowball costs ~30 us a word, and each filter's own cache would stem every word again.
    _cache: dict[str, str] = {}
    CACHE_SIZE = 500_000

    @classmethod
    def stem(cls, word: str) -> str:
        stemmed = cls._cache.get(word)
        if stemmed is not None:
            return stemmed
        if cls.lookup is not None:
            stemmed = cls.lookup(word)
        if stemmed is None:
            if cls._stem is None:
                cls._stem = _nltk_snowball()
            stemmed = cls._stem(word)
        if len(cls._cache) >= cls.CACHE_SIZE:
            cls._cache.clear()
        cls._cache[word] = stemmed
        return stemmed


def _nltk_snowball() -> Callable[[str], str]:
    """NLTK's English Snowball stemmer, imported without NLTK's optional scientific stack.

    ``import nltk`` also imports scipy.stats (for collocation statistics) and numpy when
    they are installed (numpy is ours, for near-duplicates): measured here with both, 1.4 s
    of a 2 s import, paid by the first search with a word the index has never seen. The stemmer
    needs neither, so they are hidden from NLTK while it loads (only if nothing has
    loaded them yet) and importable again afterwards.
    """
    hidden = [name for name in ("scipy", "numpy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        from nltk.stem.snowball import SnowballStemmer
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    return SnowballStemmer("english").stem


def use_stem_lookup(lookup: Callable[[str], str | None] | None) -> None:
    """Set a source of known (word -> Snowball stem) pairs, asked before NLTK.

    Snowball stems do not depend on the index, so any index's vocabulary may serve
    every search in the process; the most recently opened one does.
    """
    _Stemmer.lookup = lookup


def drop_stem_lookup(lookup: Callable[[str], str | None]) -> None:
    """Stop asking ``lookup`` (its index is being closed), if it is the one in use."""
    if _Stemmer.lookup is lookup:
        _Stemmer.lookup = None


def term_for(surface: str, stem: bool = True) -> str:
    """The index term of one surface form (uncached; see ``NewsTermFilter``)."""
    folded = fold(surface)
    if not stem or not folded or len(folded) > MAX_TERM_LENGTH or any(c.isdigit() for c in folded):
        return folded
    return _Stemmer.stem(folded)


class NewsTokenizer(Tokenizer):
    """Yields surface tokens with positions and character offsets into the original text."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = value
            token.boost = 1.0
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar = start_char
                token.endchar = start_char + len(value)
            yield token
            return
        pos = start_pos
        for match in TOKEN_PATTERN.finditer(value):
            token.text = match.group()
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = token.text
            if positions:
                token.pos = pos
                pos += 1
            if chars:
                token.startchar = start_char + match.start()
                token.endchar = start_char + match.end()
            yield token


_TERM_CACHES: dict[tuple[bool, bool], dict[str, str]] = {}


def _term_cache(stem: bool, stop: bool) -> dict[str, str]:
    """The surface -> term cache that all filters with these settings share (title and body: one)."""
    return _TERM_CACHES.setdefault((stem, stop), {})


class NewsTermFilter(Filter):
    """Surface form -> index term (folded, and stemmed when ``stem``), cached (one cache per setting).

    With ``stop`` the filter drops stopwords (their positions stay unused).
    While ``surface_counts`` is a Counter, every surface form seen is counted in it:
    the indexer collects the vocabulary that typo correction and prefixes use.
    """

    def __init__(self, stem: bool = True, stop: bool = False, cache_size: int = 200_000) -> None:
        self.stem = stem
        self.stop = stop
        self.cache_size = cache_size
        self._cache: dict[str, str] = _term_cache(stem, stop)
        self.surface_counts: Counter[str] | None = None

    def __getstate__(self) -> dict[str, object]:
        return {"stem": self.stem, "stop": self.stop, "cache_size": self.cache_size}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._cache = _term_cache(self.stem, self.stop)
        self.surface_counts = None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, NewsTermFilter):  # a subclass is another filter
            return False
        return (other.stem, other.stop) == (self.stem, self.stop)

    def __hash__(self) -> int:
        return hash((type(self), self.stem, self.stop))

    def cached_terms(self) -> dict[str, str]:
        """The surface -> term pairs seen so far."""
        return dict(self._cache)

    def term(self, surface: str) -> str:
        """The cached index term for ``surface`` ("" when it is not indexed)."""
        cache = self._cache
        term = cache.get(surface)
        if term is None:
            if self.stop and fold(surface) in STOPWORDS:
                term = ""
            else:
                term = term_for(surface, self.stem)
                if len(term) > MAX_TERM_LENGTH:
                    term = ""
            if len(cache) >= self.cache_size:
                cache.clear()
            cache[surface] = term
        return term

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        cache = self._cache
        counts = self.surface_counts
        for token in tokens:
            text = token.text
            if counts is not None:
                counts[text] += 1
            term = cache.get(text)
            if term is None:
                term = self.term(text)
            if term:
                token.text = term
                yield token


class NewsAnalyzer(CompositeAnalyzer):
    """``NewsTokenizer() | NewsTermFilter()``, with the two run as one loop.

    Indexing spends a third of its time in analysis, and one generator per token
    instead of two is most of what can be saved there. Positions and offsets are
    exactly those of the chained form, which it falls back to for unusual calls.
    """

    def __call__(self, value: str, positions: bool = False, chars: bool = False, keeporiginal: bool = False,
                 removestops: bool = True, start_pos: int = 0, start_char: int = 0, tokenize: bool = True,
                 mode: str = "", **kwargs: object) -> Iterator[Token]:
        if not tokenize or keeporiginal or len(self.items) != 2:
            yield from super().__call__(value, positions=positions, chars=chars, keeporiginal=keeporiginal,
                                        removestops=removestops, start_pos=start_pos, start_char=start_char,
                                        tokenize=tokenize, mode=mode, **kwargs)
            return
        term_filter = self.items[1]
        cache, term_of, counts = term_filter._cache, term_filter.term, term_filter.surface_counts
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        token.boost = 1.0
        token.stopped = False
        pos = start_pos
        for match in TOKEN_PATTERN.finditer(value):
            surface = match.group()
            if counts is not None:
                counts[surface] += 1
            term = cache.get(surface)
            if term is None:
                term = term_of(surface)
            if term:
                token.text = term
                if positions:
                    token.pos = pos
                if chars:
                    token.startchar = start_char + match.start()
                    token.endchar = start_char + match.end()
                yield token
            pos += 1

    def plain_term_filter(self) -> NewsTermFilter | None:
        """The term filter when this analyzer is the plain ``NewsTokenizer() | NewsTermFilter()`` pair, else
        None: the segment writer then maps ``surface_forms(value)`` through it, which gives exactly the
        tokens ``self(value, positions=True)`` yields, numbered by position, without Token objects."""
        if len(self.items) != 2 or type(self.items[0]) is not NewsTokenizer \
                or type(self.items[1]) is not NewsTermFilter:
            return None
        return self.items[1]


def news_analyzer(stem: bool = True, stop: bool = False) -> Composable:
    """The analyzer for text fields: stemmed, stopwords dropped for title and body; as written for names."""
    return NewsAnalyzer(NewsTokenizer(), NewsTermFilter(stem=stem, stop=stop))


def is_stopword(surface: str) -> bool:
    return fold(surface) in STOPWORDS


_QUERY_FILTER = NewsTermFilter(stem=True)


def analyze(text: str, stem: bool = True) -> Iterator[tuple[str, int, int]]:
    """Yield ``(term, start, end)`` for each indexed token of ``text``; offsets index ``text``."""
    term_filter = _QUERY_FILTER if stem else NewsTermFilter(stem=False)
    for match in TOKEN_PATTERN.finditer(text):
        term = term_filter.term(match.group())
        if term:
            yield term, match.start(), match.end()


def find_terms(text: str, wanted: set[str] | frozenset[str],
               termless: list[int] | None = None) -> list[tuple[int, str, int, int]]:
    """``(position, term, start, end)`` of the tokens of ``text`` whose (stemmed) term is in ``wanted``.

    The same tokens and positions as ``analyze``, without building a tuple per token:
    passages call this on every candidate article of every search. Into ``termless``, if
    given, goes the position at which each token without a term stands (the index counts
    those too: a token's position in the index is its position here plus the number of
    ``termless`` entries not above it).
    """
    terms, ends, gaps = tokenized(text)
    hits = compress(count(), map(wanted.__contains__, terms))
    if not gaps:  # the usual case: every token has a term, its position is its number
        return [(index, terms[index], ends[2 * index], ends[2 * index + 1]) for index in hits]
    if termless is not None:
        termless.extend(number - before for before, number in enumerate(gaps))
    return [(index - bisect_left(gaps, index), terms[index], ends[2 * index], ends[2 * index + 1])
            for index in hits if terms[index]]


# The texts whose tokens are kept: a search reranks 15 bodies and titles, about 7 KB each for a
# news article; longer texts are read each time, so the memory stays bounded (under ~120 MB).
TOKENIZED_CACHE = 1024
CACHED_TEXT_CHARS = 16_384


def tokenized(text: str) -> tuple[tuple[str, ...], array[int], tuple[int, ...]]:
    """Every token of ``text`` as ``(terms, ends, gaps)``: its term ("" for none), its extent
    ``text[ends[2 * i]:ends[2 * i + 1]]``, and the numbers of the tokens without a term.

    Each pass over the tokens runs in C (the regex split, ``map``, ``accumulate``), and the
    regex is most of the time a search spends on the articles it reranks, so the last texts
    are kept, keyed by their content (never stale): the same article ranked again (the next
    page, the same query again, an overlapping one) costs a hash of its text.
    """
    return _tokenized(text) if len(text) <= CACHED_TEXT_CHARS else _tokenize(text)


def _tokenize(text: str) -> tuple[tuple[str, ...], array[int], tuple[int, ...]]:
    pieces = _TOKEN_SPLIT.split(text)  # separator, token, separator, ..., token, separator
    surfaces = pieces[1::2]
    terms = list(map(_QUERY_FILTER._cache.get, surfaces))
    if None in terms:  # surfaces not seen yet
        term_of = _QUERY_FILTER.term
        for index in list(compress(count(), map(is_, terms, repeat(None)))):
            terms[index] = term_of(surfaces[index])
    gaps = tuple(compress(count(), map(not_, terms))) if "" in terms else ()
    return tuple(cast(list[str], terms)), array("I", accumulate(map(len, pieces))), gaps


_tokenized = lru_cache(maxsize=TOKENIZED_CACHE)(_tokenize)


def forget_tokens() -> None:
    """Empty the tokens kept by ``tokenized`` (a benchmark measuring searches of articles not seen yet)."""
    _tokenized.cache_clear()
_TOKEN_SPLIT = re.compile(f"({TOKEN_PATTERN.pattern})", TOKEN_PATTERN.flags)  # TOKEN_PATTERN never matches ""


def terms(text: str, stem: bool = True) -> list[str]:
    """The index terms of ``text``, in order."""
    return [term for term, _, _ in analyze(text, stem)]


_STOP_TERMS: frozenset[str] | None = None


def stop_terms() -> frozenset[str]:
    """The index terms of the stopwords (their stems: "having" -> "have", "does" -> "doe").

    A word whose term is one of these may stand, in a phrase, for a stopword of the text
    ("downs" and "down" are both "down"): such words are found through the stopword field
    (``StopGramAnalyzer``), never through the positions of the title or body.
    """
    global _STOP_TERMS
    if _STOP_TERMS is None:
        _STOP_TERMS = frozenset(term_for(word) for word in STOPWORDS)
    return _STOP_TERMS


def stop_grams(sequence: list[str], stops: frozenset[str]) -> dict[str, int]:
    """gram -> count in ``sequence`` (index terms, in order): each term of ``stops`` alone,
    and each two consecutive ones joined by a space ("of the")."""
    found: dict[str, int] = {}
    previous = ""
    for term in sequence:
        if term in stops:
            found[term] = found.get(term, 0) + 1
            if previous:
                gram = previous + " " + term
                found[gram] = found.get(gram, 0) + 1
            previous = term
        else:
            previous = ""
    return found


_SEEN = [0]
_NO_TERM = " "  # a surface without an index term (no term holds a space)
_STOP_KINDS: dict[str, str] = {}  # surface -> its term if a stopword's term, "" if another word, or _NO_TERM
_STOP_KINDS_SIZE = 500_000


def _stop_kind(surface: str) -> str:
    """What ``surface`` is to the stopword fields (see ``_STOP_KINDS``), cached."""
    term = term_for(surface)
    kind = _NO_TERM if not term or len(term) > MAX_TERM_LENGTH else term if term in stop_terms() else ""
    if len(_STOP_KINDS) >= _STOP_KINDS_SIZE:
        _STOP_KINDS.clear()
    _STOP_KINDS[surface] = kind
    return kind


STOP_NO_TERM = -2  # a stop code: the word has no index term (skipped, as if not there)
STOP_OTHER_WORD = -1  # a stop code: a word that is not a stopword


def stop_term_list() -> tuple[str, ...]:
    """The stopwords' index terms, sorted: a stop code of 0 or more indexes this."""
    global _STOP_TERM_LIST
    if _STOP_TERM_LIST is None:
        _STOP_TERM_LIST = tuple(sorted(stop_terms()))
    return _STOP_TERM_LIST


_STOP_TERM_LIST: tuple[str, ...] | None = None
_STOP_CODES: dict[str, int] = {}  # surface -> its stop code


def _stop_code(surface: str) -> int:
    kind = _STOP_KINDS.get(surface)
    if kind is None:
        kind = _stop_kind(surface)
    code = STOP_NO_TERM if kind == _NO_TERM else STOP_OTHER_WORD if not kind else stop_term_list().index(kind)
    if len(_STOP_CODES) >= _STOP_KINDS_SIZE:
        _STOP_CODES.clear()
    _STOP_CODES[surface] = code
    return code


class StopGramAnalyzer(Composable):
    """The terms of the stopword fields: every stopword of a text (as its index term, stemmed as
    in phrases) and every two consecutive stopwords ("of the"), as terms without positions.

    A quoted phrase made only or mostly of stopwords is looked up here (every gram of the phrase
    must be in the article), then checked against the stored text: the index holds what narrows
    the candidates, the text decides. Words are counted as ``find_terms`` counts them, so two
    stopwords are consecutive here exactly when they are in a phrase.
    """

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def term_positions(self, value: str) -> dict[str, list[int]]:
        """gram -> ``[0]``: the terms ``self(value)`` gives, each once (one dict lookup a word, cached)."""
        kinds = _STOP_KINDS
        found: dict[str, list[int]] = {}
        previous = ""
        for surface in surface_forms(value):
            kind = kinds.get(surface)
            if kind is None:
                kind = _stop_kind(surface)
            if kind:
                if kind == _NO_TERM:
                    continue  # not a word of the index (too long): not between two words either
                found[kind] = _SEEN
                if previous:
                    found[previous + " " + kind] = _SEEN
            previous = kind
        return found

    @staticmethod
    def stop_codes(surfaces: list[str]) -> list[int]:
        """Each surface form's stop code: the index of its term in ``stop_term_list()`` for a stopword,
        ``STOP_OTHER_WORD`` or ``STOP_NO_TERM``; what the segment writer makes the grams from, for a
        batch of documents at once (the grams are those of ``term_positions``, a test checks)."""
        codes = list(map(_STOP_CODES.get, surfaces))
        if None in codes:
            codes = [_stop_code(surface) if code is None else code for surface, code in zip(surfaces, codes)]
        return cast(list[int], codes)

    def __call__(self, value: str, positions: bool = False, chars: bool = False, keeporiginal: bool = False,
                 removestops: bool = True, start_pos: int = 0, start_char: int = 0, tokenize: bool = True,
                 mode: str = "", **kwargs: object) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        token.boost = 1.0
        token.stopped = False
        if not tokenize:
            token.text = value
            yield token
            return
        for gram, where in self.term_positions(value).items():
            for _ in where:
                token.text = gram
                yield token
