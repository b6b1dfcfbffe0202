"""The unstemmed vocabulary of an index generation: words as people type them, with counts and stems.

Typo correction ("zelenksy" -> zelensky), "did you mean" and prefix queries work
on these words rather than on stems ("substatnially" is one edit from
"substantially" but far from its stem "substanti"). It is a sorted text file
beside the Whoosh segments, written before each commit: it only grows, so it
is always a superset of the index's words. The searcher therefore checks that
a word's stem is really indexed before using it.

Each line is ``word<TAB>count<TAB>stem``, sorted by word, so ``StemLookup`` can
find a query word's stem in the mapped file, by a search among sampled lines: a
cold search then rarely needs to stem anything.
"""

from __future__ import annotations

import bisect
import mmap
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from whoosh.fields import Schema
from whoosh.support.levenshtein import distance as edit_distance

from newsearch.analysis import MAX_TERM_LENGTH, STOPWORDS, NewsTermFilter, fold, term_for
from newsearch.schema import SEARCH_FIELDS
from newsearch.storage import checked_file, numbered_lines, shown_line, write_atomically

VOCABULARY_FILE = "vocabulary.tsv"


@dataclass(frozen=True)
class Vocabulary:
    """Sorted words, how often each was seen (in tokens), and their stems."""

    words: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    stems: tuple[str, ...] = ()

    @classmethod
    def load(cls, generation: Path) -> Vocabulary:
        """The generation's vocabulary; empty when the file is missing or unreadable. A damaged line
        (``check`` reports it) is left out, not the whole file: an update saves what it loads."""
        try:
            data = (generation / VOCABULARY_FILE).read_bytes()
        except OSError:
            return cls()
        words, counts, stems = [], [], []
        for raw in data.split(b"\n"):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            word, count, stem = (line.split("\t") + ["", ""])[:3]
            if word and count.isdigit():
                words.append(word)
                counts.append(int(count))
                stems.append(stem or term_for(word))
        return cls(tuple(words), tuple(counts), tuple(stems))

    @classmethod
    def counted(cls, surface_counts: Counter[str], known_terms: dict[str, str] | None = None) -> Vocabulary:
        """The words of ``surface_counts`` (surface forms as found in text).

        ``known_terms`` (surface -> stem, as the analyzers cached them) saves stemming again.
        """
        totals: Counter[str] = Counter()
        stems: dict[str, str] = {}
        known_terms = known_terms or {}
        for surface, count in surface_counts.items():
            word = fold(surface)
            if word and len(word) <= MAX_TERM_LENGTH and not any(c.isdigit() for c in word):
                totals[word] += count
                if word not in stems and known_terms.get(surface):
                    stems[word] = known_terms[surface]
        words = tuple(sorted(totals))
        return cls(words, tuple(totals[word] for word in words),
                   tuple(stems.get(word) or term_for(word) for word in words))

    def combined(self, *others: Vocabulary) -> Vocabulary:
        """The words of this vocabulary and ``others``, their counts added."""
        parts = [part for part in (self, *others) if part.words]
        if len(parts) <= 1:
            return parts[0] if parts else self
        totals: Counter[str] = Counter()
        stems: dict[str, str] = {}
        for part in parts:
            for word, count, stem in zip(part.words, part.counts, part.stems):
                totals[word] += count
                stems.setdefault(word, stem)
        words = tuple(sorted(totals))
        return Vocabulary(words, tuple(totals[word] for word in words), tuple(stems[word] for word in words))

    def merged(self, surface_counts: Counter[str], known_terms: dict[str, str] | None = None) -> Vocabulary:
        """This vocabulary plus the words of ``surface_counts`` (see ``counted``)."""
        return self.combined(Vocabulary.counted(surface_counts, known_terms))

    def save(self, generation: Path) -> None:
        """Write atomically and durably."""
        write_atomically(generation / VOCABULARY_FILE, lambda handle: handle.writelines(
            f"{word}\t{count}\t{stem}\n" for word, count, stem in zip(self.words, self.counts, self.stems)))

    def with_prefix(self, prefix: str) -> list[tuple[str, int]]:
        """Words starting with ``prefix``, most frequent first."""
        start = bisect.bisect_left(self.words, prefix)
        end = bisect.bisect_left(self.words, prefix + "\U0010ffff")
        found = [(self.words[i], self.counts[i]) for i in range(start, end)]
        return sorted(found, key=lambda item: (-item[1], item[0]))

    def __contains__(self, word: object) -> bool:
        """Whether ``word`` (folded) was seen as written."""
        if not isinstance(word, str):
            return False
        at = bisect.bisect_left(self.words, word)
        return at < len(self.words) and self.words[at] == word

    def near(self, word: str, maxdist: int, deadline: float | None = None) -> list[tuple[int, str]]:
        """(distance, word) for words within ``maxdist`` edits, nearest then most frequent.

        The first letter is taken as typed (few typing errors are there), which keeps
        the scan to one slice of the vocabulary; ``deadline`` bounds it in time.
        """
        if not word:
            return []
        scored: list[tuple[int, int, str]] = []
        letters = set(word)
        for index, (candidate, count) in enumerate(self._slice(word[0])):
            if (candidate != word and abs(len(candidate) - len(word)) <= maxdist and candidate not in STOPWORDS
                    and _letters_allow(set(candidate), letters, maxdist)):
                found = edit_distance(candidate, word, limit=maxdist)
                if found <= maxdist:
                    scored.append((found, -count, candidate))
            if deadline is not None and index % 256 == 0 and time.monotonic() > deadline:
                break
        scored.sort()
        return [(found, candidate) for found, _, candidate in scored]

    def _slice(self, first: str) -> Iterable[tuple[str, int]]:
        start = bisect.bisect_left(self.words, first)
        end = bisect.bisect_left(self.words, chr(ord(first) + 1))
        return zip(self.words[start:end], self.counts[start:end])


def _letters_allow(one: set[str], other: set[str], maxdist: int) -> bool:
    """False when the words' letters alone prove them more than ``maxdist`` edits apart.

    A letter of one word missing from the other must be deleted or replaced, and each edit
    (a deletion, insertion, replacement or transposition) removes at most one such letter and
    adds at most one: a lower bound that is far cheaper than the edit distance itself.
    """
    return len(one - other) <= maxdist and len(other - one) <= maxdist


def _term_filters(schema: Schema) -> list[NewsTermFilter]:
    return [component for fieldname in SEARCH_FIELDS for component in schema[fieldname].analyzer.items
            if isinstance(component, NewsTermFilter)]


def count_surfaces(schema: Schema) -> Counter[str]:
    """Make the schema's text analyzers count every surface form they see, into the returned Counter."""
    counts: Counter[str] = Counter()
    for term_filter in _term_filters(schema):
        term_filter.surface_counts = counts
    return counts


def known_terms(schema: Schema) -> dict[str, str]:
    """surface -> index term, as the schema's text analyzers have cached them so far."""
    merged: dict[str, str] = {}
    for term_filter in _term_filters(schema):
        merged.update(term_filter.cached_terms())
    return merged


def verify(generation: Path, index_terms: Iterable[str]) -> list[str]:
    """What is wrong with the generation's vocabulary file, each problem naming the file and line
    (``newsearch check``); ``index_terms`` are the terms of the search fields, each of which must
    be the stem of some word in the file (it only grows, so it holds every word ever indexed)."""
    name = f"{generation.name}/{VOCABULARY_FILE}"
    data, unreadable = checked_file(generation, VOCABULARY_FILE)
    if data is None:
        return unreadable
    problems = []
    stems = set()
    previous = ""
    for number, line in numbered_lines(data):
        fields = line.split("\t") if line is not None else []
        if len(fields) != 3:
            problems.append(f"{name} line {number} is not word<TAB>count<TAB>stem: {shown_line(line)}")
            continue
        word, count, stem = fields
        if not word or len(word) > MAX_TERM_LENGTH or any(c.isdigit() for c in word):
            problems.append(f"{name} line {number} has no word (at most {MAX_TERM_LENGTH} characters, no digits): "
                            f"{shown_line(line)}")
        elif word <= previous:
            problems.append(f"{name} line {number} is out of order: {word!r} after {previous!r}")
        if not (count.isascii() and count.isdigit() and int(count) > 0):
            problems.append(f"{name} line {number} has no count: {shown_line(line)}")
        if not stem or len(stem) > MAX_TERM_LENGTH:
            problems.append(f"{name} line {number} has no stem: {shown_line(line)}")
        previous = max(previous, word)
        stems.add(stem)
    if data and not data.endswith(b"\n"):
        problems.append(f"{name} ends in the middle of its last line (it was cut short)")
    missing = sorted(term for term in set(index_terms) - stems
                     if len(term) <= MAX_TERM_LENGTH and not any(c.isdigit() for c in term))
    if missing:
        problems.append(f"{name} lacks {len(missing):,} of the index's words (such as {missing[0]!r})")
    return problems


class StemLookup:
    """word -> stem from a vocabulary file, searched in place (no full load).

    A cold search stems every word of the texts it ranks (a few thousand) through this lookup, so
    one is a C-speed search, not a binary search in Python: the first lookup samples the word of
    one line every ``_BLOCK`` bytes or so (at most ``_SAMPLES`` lines, however big the file);
    a lookup then bisects the samples and finds its line with one ``find`` in the block between two.
    """

    _BLOCK = 4096  # bytes between sampled lines, at least
    _SAMPLES = 4096  # sampled lines, at most: more bytes per block in a bigger file

    def __init__(self, path: Path) -> None:
        self.path = path
        self._samples: tuple[list[bytes], list[int]] | None = None
        try:
            with open(path, "rb") as handle:
                self._data: bytes | mmap.mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # missing, unreadable or empty
            self._data = b""

    def close(self) -> None:
        """Unmap the file (its descriptor with it); a closed lookup knows no word."""
        data, self._data = self._data, b""
        if isinstance(data, mmap.mmap):
            data.close()

    def __call__(self, word: str) -> str | None:
        try:
            return self._find(word)
        except ValueError:
            if self._data:
                raise
            return None  # closed by another thread meanwhile: the caller stems the word itself

    def _sampled(self, data: bytes | mmap.mmap) -> tuple[list[bytes], list[int]]:
        """The words and starts of the sampled lines, the first line first; made on first use
        (threads that race both make the same table)."""
        if self._samples is None:
            step = max(self._BLOCK, len(data) // self._SAMPLES)
            words, starts = [], []
            start = 0
            while start < len(data):
                end = data.find(b"\n", start)
                end = len(data) if end < 0 else end
                tab = data.find(b"\t", start, end)
                words.append(data[start:end if tab < 0 else tab])
                starts.append(start)
                newline = data.find(b"\n", max(end, start + step - 1))
                start = len(data) if newline < 0 else newline + 1
            self._samples = words, starts
        return self._samples

    def _find(self, word: str) -> str | None:
        data = self._data
        words, starts = self._sampled(data)
        key = word.encode("utf-8") + b"\t"
        block = bisect.bisect_right(words, key[:-1]) - 1  # the last sampled line at or before the word
        if block < 0:
            return None
        low, high = starts[block], starts[block + 1] if block + 1 < len(starts) else len(data)
        if data[low:low + len(key)] == key:
            start = low
        else:
            start = data.find(b"\n" + key, low, high) + 1
            if not start:
                return None
        end = data.find(b"\n", start)
        fields = data[start:len(data) if end < 0 else end].split(b"\t")
        try:
            return fields[2].decode("utf-8") if len(fields) == 3 and fields[2] else None
        except UnicodeDecodeError:  # damage (``check`` reports it): the word is stemmed afresh
            return None
