"""Postings inverted a batch of documents at a time with numpy, for ``segments.NewsSegmentWriter``.

While documents are added, a text field keeps only one int32 per word (``PositionsBuffer``:
its term's number, or -1; ``StopGramBuffer``: its stop code) and the number of words of
each document. When the batch is big enough (or the segment is written) it is inverted in a
few array operations: sorted by term (stably, so by document and position within a term),
cut into postings, the positions delta-coded and encoded as Whoosh's ``Positions`` format
encodes them (``encode_positions``). The result is a ``Run``: one field's postings sorted by
term, as arrays, kept in memory or spilled to files and read back a slice at a time
(``FileRun``). ``merged_chunks`` merges a field's runs, in document order, a bounded number
of terms at a time, so writing a segment never holds all of its postings at once.
"""

from __future__ import annotations

import marshal
import os
import pickle
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from newsearch.analysis import STOP_NO_TERM, StopGramAnalyzer, stop_term_list, surface_forms

# What a pending word costs when its batch is inverted (the sort's int64 order and the int32
# copies made on the way), so that a batch inverted at the writer's memory limit stays under it.
INVERSION_BYTES_PER_WORD = 64
# Terms and postings merged and written at once (at least one term): bounds what a flush holds,
# each posting then being a Python int, float and bytes for the postings writer.
MERGE_TERMS = 16_384
MERGE_POSTINGS = 262_144
_SURFACE_CACHE = 500_000


class TermSpace:
    """Term numbers for the terms a ``NewsTermFilter`` gives: numbered in order of first sight, and a
    cache surface form -> number (-1: no term), so that a document's words are numbered in one ``map``."""

    def __init__(self, term_of: Callable[[str], str]) -> None:
        self.term_of = term_of
        self.by_surface: dict[str, int] = {}
        self.by_term: dict[str, int] = {}
        self.terms: list[str] = []
        self._ranks: np.ndarray | None = None

    def numbers(self, surfaces: list[str]) -> list[int]:
        found = list(map(self.by_surface.get, surfaces))
        if None in found:
            found = [self._number(surface) if number is None else number for surface, number in zip(surfaces, found)]
        return found  # type: ignore[return-value]  # no None left

    def _number(self, surface: str) -> int:
        term = self.term_of(surface)
        number = -1
        if term:
            known = self.by_term.get(term)
            if known is None:
                known = self.by_term[term] = len(self.terms)
                self.terms.append(term)
            number = known
        if len(self.by_surface) >= _SURFACE_CACHE:
            self.by_surface.clear()
        self.by_surface[surface] = number
        return number

    def ranks(self) -> tuple[np.ndarray, list[str]]:
        """Each term number's rank in the sorted terms, and the sorted terms."""
        if self._ranks is None or len(self._ranks) != len(self.terms):
            order = sorted(range(len(self.terms)), key=self.terms.__getitem__)
            ranks = np.empty(len(self.terms), dtype=np.int32)
            ranks[order] = np.arange(len(order), dtype=np.int32)
            self._ranks, self._sorted = ranks, [self.terms[number] for number in order]
        return self._ranks, self._sorted


class Run:
    """One field's postings, sorted by term then document: ``terms[i]``'s postings are
    ``term_starts[i]:term_starts[i + 1]`` of ``docs``, ``weights`` and the values, value ``j`` being
    ``blob[value_starts[j]:value_starts[j + 1]]`` (empty: no value)."""

    def __init__(self, terms: list[bytes], term_starts: np.ndarray, docs: np.ndarray, weights: np.ndarray,
                 value_starts: np.ndarray, blob: np.ndarray) -> None:
        self.terms = terms
        self.term_starts = term_starts.astype(np.int64, copy=False)
        self.docs = docs.astype(np.int32, copy=False)
        self.weights = weights.astype(np.float64, copy=False)
        self.value_starts = value_starts.astype(np.int64, copy=False)
        self.blob = blob.astype(np.uint8, copy=False)

    def postings(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Postings ``start:stop``: docs, weights, value starts (``stop - start + 1``, from 0) and the values' bytes."""
        starts = self.value_starts[start:stop + 1]
        return (self.docs[start:stop], self.weights[start:stop], starts - starts[0],
                self.blob[starts[0]:starts[-1]])

    def spill(self, folder: str) -> FileRun:
        """Write this run to ``folder`` (made here) and return it as read from there."""
        os.makedirs(folder)
        with open(os.path.join(folder, "terms"), "wb") as handle:
            marshal.dump(self.terms, handle)
        np.save(os.path.join(folder, "term_starts.npy"), self.term_starts)
        for name in FileRun.ARRAYS:
            getattr(self, name).tofile(os.path.join(folder, name))
        return FileRun(folder)

    @classmethod
    def from_postings(cls, terms: dict[Any, tuple[list[int], list[float], list[Any]]]) -> Run:
        """A run of postings collected one by one (term -> docnums, weights, values, in document order)."""
        keys = sorted(terms)
        docs: list[int] = []
        weights: list[float] = []
        values: list[bytes] = []
        starts = [0]
        for key in keys:
            ids, term_weights, term_values = terms[key]
            docs += ids
            weights += term_weights
            values += [value or b"" for value in term_values]
            starts.append(len(docs))
        value_starts = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum([len(value) for value in values], out=value_starts[1:])
        return cls([key.encode("utf-8") if isinstance(key, str) else key for key in keys], np.array(starts),
                   np.array(docs, dtype=np.int32), np.array(weights, dtype=np.float64), value_starts,
                   np.frombuffer(b"".join(values), dtype=np.uint8))


class FileRun:
    """A spilled ``Run``: its term starts in memory, its terms and postings read from its files when
    asked (a segment of a million articles spills hundreds of runs: their terms held all along took
    about 500 bytes an article)."""

    ARRAYS = {"docs": np.int32, "weights": np.float64, "value_starts": np.int64, "blob": np.uint8}

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.term_starts: np.ndarray = np.load(os.path.join(folder, "term_starts.npy"))

    @property
    def terms(self) -> list[bytes]:
        """The run's terms, sorted, read anew from its file at each call."""
        with open(os.path.join(self.folder, "terms"), "rb") as handle:
            terms: list[bytes] = marshal.load(handle)
        return terms

    def _read(self, name: str, start: int, stop: int) -> np.ndarray:
        dtype = np.dtype(self.ARRAYS[name])
        return np.fromfile(os.path.join(self.folder, name), dtype=dtype, count=stop - start,
                           offset=start * dtype.itemsize)

    def postings(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        starts = self._read("value_starts", start, stop + 1)
        blob = self._read("blob", int(starts[0]), int(starts[-1])) if starts[-1] > starts[0] else np.zeros(0, np.uint8)
        return self._read("docs", start, stop), self._read("weights", start, stop), starts - starts[0], blob


AnyRun = Run | FileRun


class _WordBuffer:
    """A field's pending words: one int32 each (``numbers``), and each document's number and word count."""

    def __init__(self, boost: float) -> None:
        self.boost = boost
        self.clear()

    def clear(self) -> None:
        self.numbers = array("i")
        self.docnums = array("i")
        self.sizes = array("i")

    def __len__(self) -> int:
        return len(self.numbers)

    def _append(self, docnum: int, numbers: list[int]) -> None:
        self.numbers.extend(numbers)
        self.docnums.append(docnum)
        self.sizes.append(len(numbers))


class PositionsBuffer(_WordBuffer):
    """A ``Positions`` field's pending words: each one's term number (-1: none), per document."""

    def __init__(self, space: TermSpace, boost: float, scorable: bool, counts_of: Callable[[], Any]) -> None:
        super().__init__(boost)
        self.space = space
        self.scorable = scorable
        self.counts_of = counts_of  # the term filter's surface counts (the vocabulary's), when counting

    def add(self, docnum: int, value: str) -> int:
        """Take the document's words; its field length."""
        surfaces = surface_forms(value)
        counts = self.counts_of()
        if counts is not None:
            counts.update(surfaces)
        numbers = self.space.numbers(surfaces)
        self._append(docnum, numbers)
        return len(numbers) - numbers.count(-1) if self.scorable else 0

    def run(self) -> Run | None:
        """The pending words inverted (None if there are none); the buffer is emptied."""
        numbers = np.frombuffer(self.numbers, dtype=np.int32)
        sizes = np.frombuffer(self.sizes, dtype=np.int32)
        docs = np.repeat(np.frombuffer(self.docnums, dtype=np.int32), sizes)
        firsts = np.cumsum(sizes) - sizes
        positions = np.arange(len(numbers), dtype=np.int32) - np.repeat(firsts.astype(np.int32), sizes)
        keep = numbers >= 0
        ranks, terms = self.space.ranks()
        word_ranks = ranks[numbers[keep]]
        docs, positions = docs[keep], positions[keep]
        del keep
        order = np.argsort(word_ranks, kind="stable")
        word_ranks, docs, positions = word_ranks[order], docs[order], positions[order]
        del order
        self.clear()
        if not len(word_ranks):
            return None
        new = np.ones(len(word_ranks), dtype=bool)
        np.not_equal(word_ranks[1:], word_ranks[:-1], out=new[1:])
        new[1:] |= docs[1:] != docs[:-1]
        posting_starts = np.flatnonzero(new)
        del new
        counts = np.diff(np.append(posting_starts, len(word_ranks)))
        deltas = positions.copy()
        deltas[1:] -= positions[:-1]
        deltas[posting_starts] = positions[posting_starts]
        del positions
        blob, value_starts = encode_positions(deltas, posting_starts, counts)
        return _run(word_ranks[posting_starts], terms, docs[posting_starts], counts * self.boost, value_starts, blob)


class StopGramBuffer(_WordBuffer):
    """A field of stopword grams (``StopGramAnalyzer``, ``Existence`` format): each word's stop code."""

    def add(self, docnum: int, value: str) -> int:
        self._append(docnum, StopGramAnalyzer.stop_codes(surface_forms(value)))
        return 0  # not scorable

    def run(self) -> Run | None:
        codes = np.frombuffer(self.numbers, dtype=np.int32)
        sizes = np.frombuffer(self.sizes, dtype=np.int32)
        docs = np.repeat(np.frombuffer(self.docnums, dtype=np.int32), sizes)
        keep = codes != STOP_NO_TERM  # a word without a term is skipped: it separates no two stopwords
        codes, docs = codes[keep], docs[keep]
        stops = len(stop_term_list())
        is_stop = codes >= 0
        pairs = is_stop[1:] & is_stop[:-1] & (docs[1:] == docs[:-1])
        grams = np.concatenate([codes[is_stop], stops + codes[:-1][pairs] * stops + codes[1:][pairs]])
        gram_docs = np.concatenate([docs[is_stop], docs[1:][pairs]]).astype(np.int64)
        self.clear()
        if not len(grams):
            return None
        ranks, terms = _gram_ranks()
        span = int(gram_docs.max()) + 1
        keys = np.unique(ranks[grams].astype(np.int64) * span + gram_docs)
        weights = np.full(len(keys), self.boost, dtype=np.float64)
        return _run(keys // span, terms, keys % span, weights, np.zeros(len(keys) + 1, dtype=np.int64),
                    np.zeros(0, dtype=np.uint8))


_GRAM_RANKS: tuple[np.ndarray, list[str]] | None = None


def _gram_ranks() -> tuple[np.ndarray, list[str]]:
    """Stop code -> rank of its gram among all grams sorted, and the sorted grams: code ``c`` below
    the number ``S`` of stop terms is that term, ``S + a * S + b`` the pair "a b"."""
    global _GRAM_RANKS
    if _GRAM_RANKS is None:
        stops = stop_term_list()
        grams = list(stops) + [f"{a} {b}" for a in stops for b in stops]
        order = sorted(range(len(grams)), key=grams.__getitem__)
        ranks = np.empty(len(grams), dtype=np.int32)
        ranks[order] = np.arange(len(grams), dtype=np.int32)
        _GRAM_RANKS = ranks, [grams[code] for code in order]
    return _GRAM_RANKS


def _run(posting_ranks: np.ndarray, sorted_terms: Sequence[str], docs: np.ndarray, weights: np.ndarray,
         value_starts: np.ndarray, blob: np.ndarray) -> Run:
    """A ``Run`` of postings sorted by term rank (``sorted_terms[rank]``) then document."""
    new = np.ones(len(posting_ranks), dtype=bool)
    np.not_equal(posting_ranks[1:], posting_ranks[:-1], out=new[1:])
    term_starts = np.append(np.flatnonzero(new), len(posting_ranks))
    terms = [sorted_terms[rank].encode("utf-8") for rank in posting_ranks[term_starts[:-1]].tolist()]
    return Run(terms, term_starts, docs, weights, value_starts, blob)


_PICKLE_HEAD = pickle.dumps([], 2)[:-2]  # b"\x80\x02]q\x00": protocol 2, an empty list, memoised
_APPENDS_BATCH = 1000  # pickle appends list items in batches of this many


def encode_positions(deltas: np.ndarray, posting_starts: np.ndarray, counts: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``Positions.encode`` of every posting at once: ``pack_uint(count) + pickle.dumps(deltas, 2)``.

    ``deltas`` holds every posting's position deltas in turn (the first one the position itself),
    posting ``i`` starting at ``posting_starts[i]`` with ``counts[i]`` of them. Returns the
    encodings end to end and where each starts (one more: the end). The pickle is written as
    pickle writes a list of ints: one ``K`` (< 256), ``M`` (< 65536) or ``J`` item each, a single
    item followed by ``a``, more in ``(`` ... ``e`` batches of 1000; a test compares with pickle.
    """
    if len(deltas) and int(deltas.max()) >= 1 << 31:
        raise ValueError("a word position beyond 2**31 cannot be encoded")
    deltas = deltas.astype(np.int32, copy=False)  # int32 throughout: a batch's temporaries stay small
    counts = counts.astype(np.int32, copy=False)
    sizes = np.where(deltas < 256, 2, np.where(deltas < 65536, 3, 5)).astype(np.int32)
    item_counts = np.repeat(counts, counts)
    index = np.arange(len(deltas), dtype=np.int32) - np.repeat(posting_starts.astype(np.int32), counts)
    multi = item_counts > 1
    # Posting sizes: the 9-byte head, the items, then "a" (one item) or "(" and "e" around each batch; ".".
    batches = (counts - 1) // _APPENDS_BATCH + 1
    item_bytes = np.add.reduceat(sizes, posting_starts) if len(counts) else np.zeros(0, dtype=np.int32)
    value_starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(9 + item_bytes + np.where(counts > 1, 2 * batches, 1) + 1, out=value_starts[1:])
    starts, ends = value_starts[:-1], value_starts[1:]
    out = np.zeros(int(value_starts[-1]), dtype=np.uint8)
    head = np.frombuffer(counts.astype(">u4").tobytes(), dtype=np.uint8).reshape(-1, 4)
    for offset in range(4):
        out[starts + offset] = head[:, offset]
    for offset, byte in enumerate(_PICKLE_HEAD):
        out[starts + 4 + offset] = byte
    # Each item's place: the posting's start, its head, the posting's earlier items and batch marks.
    place = np.cumsum(sizes, dtype=np.int64)
    place -= sizes
    place -= np.repeat(place[posting_starts], counts)
    place += np.repeat(starts + 9, counts)
    place += np.where(multi, 2 * (index // _APPENDS_BATCH) + 1, 0)
    out[place[multi & (index % _APPENDS_BATCH == 0)] - 1] = ord("(")
    last = multi & ((index % _APPENDS_BATCH == _APPENDS_BATCH - 1) | (index == item_counts - 1))
    del index, item_counts, multi
    out[place[last] + sizes[last]] = ord("e")
    del last
    for size, opcode in ((2, b"K"), (3, b"M"), (5, b"J")):
        chosen = sizes == size
        where = place[chosen]
        out[where] = opcode[0]
        values = deltas[chosen]
        for byte in range(size - 1):
            out[where + 1 + byte] = (values >> (8 * byte)) & 0xFF
    out[ends[counts == 1] - 2] = ord("a")
    out[ends - 1] = ord(".")
    return out, value_starts


def merged_chunks(runs: Sequence[AnyRun]
                  ) -> Iterator[tuple[list[bytes], list[int], np.ndarray, np.ndarray, list[bytes]]]:
    """One field's runs merged, up to ``MERGE_TERMS`` terms at a time, as ``(terms, term starts,
    docs, weights, values)``: each term's postings from every run, in run (document) order."""
    if len(runs) == 1:
        run = runs[0]
        starts, run_terms = run.term_starts, run.terms
        for first, last in _chunks(starts):
            docs, weights, value_starts, blob = run.postings(int(starts[first]), int(starts[last]))
            yield (run_terms[first:last], (starts[first:last + 1] - starts[first]).tolist(), docs, weights,
                   _values(value_starts, blob))
        return
    every_term: set[bytes] = set()
    for run in runs:  # one spilled run's terms in memory at a time
        every_term.update(run.terms)
    terms = sorted(every_term)
    del every_term
    number = {term: index for index, term in enumerate(terms)}
    numbers = [np.array([number[term] for term in run.terms], dtype=np.int64) for run in runs]
    del number
    counts = np.zeros(len(terms), dtype=np.int64)
    for run, run_numbers in zip(runs, numbers):
        counts[run_numbers] += np.diff(run.term_starts)  # a run's terms are distinct
    for first, last in _chunks(np.append(0, np.cumsum(counts))):
        parts_terms, parts_docs, parts_weights, parts_sizes, parts_blobs = [], [], [], [], []
        for run, run_numbers in zip(runs, numbers):
            low, high = np.searchsorted(run_numbers, [first, last])
            if low == high:
                continue
            starts = run.term_starts[low:high + 1]
            docs, weights, value_starts, blob = run.postings(int(starts[0]), int(starts[-1]))
            parts_terms.append(np.repeat(run_numbers[low:high], np.diff(starts)))
            parts_docs.append(docs)
            parts_weights.append(weights)
            parts_sizes.append(np.diff(value_starts))
            parts_blobs.append(blob)
        posting_terms = np.concatenate(parts_terms)
        order = np.argsort(posting_terms, kind="stable")  # the runs are in document order
        sizes = np.concatenate(parts_sizes)
        value_ends = np.cumsum(sizes)
        value_starts = (value_ends - sizes)[order]
        data = np.concatenate(parts_blobs).tobytes()
        values = _shared([data[start:end] for start, end in zip(value_starts.tolist(), value_ends[order].tolist())])
        posting_terms = posting_terms[order]
        present = np.unique(posting_terms)
        term_starts = np.searchsorted(posting_terms, present).tolist() + [len(posting_terms)]
        yield ([terms[index] for index in present.tolist()], term_starts, np.concatenate(parts_docs)[order],
               np.concatenate(parts_weights)[order], values)


def _chunks(term_starts: np.ndarray) -> Iterator[tuple[int, int]]:
    """``(first, last)`` term ranges of at most ``MERGE_TERMS`` terms and ``MERGE_POSTINGS`` postings
    (or one term), given where each term's postings start (and, last, where they end)."""
    first, count = 0, len(term_starts) - 1
    while first < count:
        last = int(np.searchsorted(term_starts, term_starts[first] + MERGE_POSTINGS, side="right")) - 1
        last = min(max(last, first + 1), first + MERGE_TERMS, count)
        yield first, last
        first = last


_SHARED_VALUES: dict[bytes, bytes] = {}  # one object per short value: a block's pickle refers back to repeats
_SHARED_LIMIT = 100_000
_SHORT_VALUE = 14  # a single position below 65536


def _shared(values: list[bytes]) -> list[bytes]:
    """``values`` with equal short ones as one object: pickle then writes a repeat within a block as a
    memo reference (without this the postings file grows by 3 %)."""
    if len(_SHARED_VALUES) > _SHARED_LIMIT:
        _SHARED_VALUES.clear()
    share = _SHARED_VALUES.setdefault
    return [share(value, value) if len(value) <= _SHORT_VALUE else value for value in values]


def _values(value_starts: np.ndarray, blob: np.ndarray) -> list[bytes]:
    data = blob.tobytes()
    bounds = value_starts.tolist()
    return _shared([data[start:end] for start, end in zip(bounds, bounds[1:])])
