"""The unstemmed vocabulary of an index generation: words as people type them, with counts.

Typo correction ("zelenksy" -> zelensky), "did you mean" and prefix queries work
on these words rather than on stems ("substatnially" is one edit from
"substantially" but far from its stem "substanti"). It is a sorted text file
beside the Whoosh segments, written before each commit: it only grows, so it
is always a superset of the index's words. The searcher therefore checks that
a word's stem is really indexed before using it.
"""

from __future__ import annotations

import bisect
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from whoosh.support.levenshtein import distance as edit_distance

from newsearch.analysis import MAX_TERM_LENGTH, STOPWORDS, fold

VOCABULARY_FILE = "vocabulary.tsv"


@dataclass(frozen=True)
class Vocabulary:
    """Sorted words and how often each was seen (in tokens)."""

    words: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()

    @classmethod
    def load(cls, generation: Path) -> "Vocabulary":
        """The generation's vocabulary; empty when the file is missing or unreadable."""
        try:
            text = (generation / VOCABULARY_FILE).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return cls()
        words, counts = [], []
        for line in text.splitlines():
            word, _, count = line.partition("\t")
            if word and count.isdigit():
                words.append(word)
                counts.append(int(count))
        return cls(tuple(words), tuple(counts))

    def merged(self, surface_counts: Counter[str]) -> "Vocabulary":
        """This vocabulary plus the words of ``surface_counts`` (surface forms as found in text)."""
        totals: Counter[str] = Counter(dict(zip(self.words, self.counts)))
        for surface, count in surface_counts.items():
            word = fold(surface)
            if word and len(word) <= MAX_TERM_LENGTH and word not in STOPWORDS and word.isalpha():
                totals[word] += count
        words = tuple(sorted(totals))
        return Vocabulary(words, tuple(totals[word] for word in words))

    def save(self, generation: Path) -> None:
        """Write atomically and durably."""
        tmp = generation / (VOCABULARY_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(f"{word}\t{count}\n" for word, count in zip(self.words, self.counts))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, generation / VOCABULARY_FILE)

    def count(self, word: str) -> int:
        index = bisect.bisect_left(self.words, word)
        return self.counts[index] if index < len(self.words) and self.words[index] == word else 0

    def with_prefix(self, prefix: str) -> list[tuple[str, int]]:
        """Words starting with ``prefix``, most frequent first."""
        start = bisect.bisect_left(self.words, prefix)
        end = bisect.bisect_left(self.words, prefix + "\U0010ffff")
        found = [(self.words[i], self.counts[i]) for i in range(start, end)]
        return sorted(found, key=lambda item: (-item[1], item[0]))

    def near(self, word: str, maxdist: int, deadline: float | None = None) -> list[tuple[int, str]]:
        """(distance, word) for words within ``maxdist`` edits, nearest then most frequent.

        The first letter is taken as typed (few typing errors are there), which keeps
        the scan to one slice of the vocabulary; ``deadline`` bounds it in time.
        """
        if not word:
            return []
        scored: list[tuple[int, int, str]] = []
        for index, (candidate, count) in enumerate(self._slice(word[0])):
            if candidate != word and abs(len(candidate) - len(word)) <= maxdist:
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
