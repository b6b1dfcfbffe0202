"""Near-duplicate detection: MinHash signatures, LSH band keys, verification, clusters.

The roles, in the order a document meets them:

* **shingles** -- the set of word 3-grams of a text's index terms (folded and
  stemmed by ``analysis``, stopwords kept), so case, accents, punctuation and
  inflection do not tell two copies apart;
* **signature** -- a MinHash of the shingles (datasketch's "affine32" scheme with
  a fixed seed, computed here with numpy): ``NUM_PERM`` small integers whose agreement estimates the
  Jaccard similarity of two shingle sets;
* **band hashes** -- the signature cut into ``BANDS`` bands of ``ROWS`` rows, each
  band hashed to 32 bits (``band_keys`` writes them as tokens such as ``b07x3f9a2c1d``,
  band 07). Two documents sharing a band hash are *candidates*. The index keeps
  them in a column, 128 bytes a document (as indexed terms they cost 185 bytes
  each, 6 KB a document), and ``duplicate_store`` groups equal hashes with numpy;
* **verification** -- ``is_near_duplicate``: the exact Jaccard similarity of the
  two shingle sets (``similarity``) reaches ``DUPLICATE_THRESHOLD``, or the shorter
  text lies almost wholly inside the longer (``containment``: a story with
  paragraphs or reader comments added, or a copy cut short);
* **clusters** -- the connected components of the verified pairs, each named by
  its smallest document id.

Which text to give it: the article **body** (``duplicate_text`` picks it, and the
title only for an article without a body). A republished story often gets a new
headline; the body is what stays the same.

Parameters. With ``b`` bands of ``r`` rows, two texts of Jaccard similarity ``s``
become candidates with probability ``1 - (1 - s**r)**b``. For 32 bands of 3 rows
(96 permutations) that S-curve is::

    s     0.05    0.1    0.2    0.3    0.4    0.5    0.6    0.7
    P     0.004   0.032  0.23   0.58   0.88   0.986  0.9992 1 - 1e-6

Its midpoint ``(1/b)**(1/r)`` is 0.31, well below ``DUPLICATE_THRESHOLD`` (0.5):
near-duplicates are almost never missed (the brief's cases, small edits, a new
headline or byline, a paragraph more or less, are at 0.6--1.0), while different
articles on one subject (0.00--0.10, rarely up to 0.45 when a follow-up story
reuses background paragraphs) seldom become candidates, and verification drops
those that do. Two rows per band would also catch most pairs at 0.2--0.3 (copies
cut to a third of the story, found by the containment rule), but would make about
eight times as many false candidates as three rows; 16 bands of 4 rows (0.64 at
0.5) miss too many.

Everything here is deterministic across processes, runs and platforms: the
MinHash permutations come from a fixed seed (numpy's ``RandomState``, whose
stream is frozen), words are hashed with BLAKE2b and combined into shingle hashes
with fixed 64-bit arithmetic, band keys are BLAKE2b over little-endian bytes;
Python's ``hash()`` is never used, and a test pins the keys of a sample text.
``DUPLICATES_VERSION`` must change whenever a change would alter the band keys
of a text already indexed: it is part of the index format (``schema.FORMAT``),
so an index written with another version asks for a rebuild.

numpy is imported on first use: searching never needs it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from newsearch.analysis import TOKEN_PATTERN, NewsTermFilter, surface_forms

__all__ = [
    "BANDS",
    "CONTAINMENT_THRESHOLD",
    "DUPLICATES_VERSION",
    "DUPLICATE_THRESHOLD",
    "MIN_CONTAINED_SHINGLES",
    "NUM_PERM",
    "ROWS",
    "SHINGLE_SIZE",
    "Signature",
    "band_keys",
    "band_bytes",
    "PendingBands",
    "band_hashes",
    "candidate_pairs",
    "candidate_probability",
    "pairs_in_buckets",
    "clusters",
    "containment",
    "duplicate_text",
    "find_duplicates",
    "is_near_duplicate",
    "shingle_similarity",
    "shingles",
    "shingles_near_duplicate",
    "signature",
    "similarity",
]

DUPLICATES_VERSION = 2

SHINGLE_SIZE = 3
NUM_PERM = 96
BANDS = 32
ROWS = NUM_PERM // BANDS
SEED = 20250101

DUPLICATE_THRESHOLD = 0.5
"""Exact Jaccard similarity of the shingle sets from which two texts are near-duplicates."""
CONTAINMENT_THRESHOLD = 0.8
"""... or the share of the shorter text's shingles found in the longer one,"""
MIN_CONTAINED_SHINGLES = 50
"""... when the shorter text has at least this many shingles (about 50 words)."""

assert ROWS * BANDS == NUM_PERM


@dataclass(frozen=True)
class Signature:
    """A MinHash signature: ``NUM_PERM`` unsigned 32-bit values (plain data, picklable).

    An empty text has an empty signature (``values == ()``): it has no band keys
    and is nobody's duplicate.
    """

    values: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.values)

    def estimate(self, other: Signature) -> float:
        """The MinHash estimate of the Jaccard similarity (0.0 if either is empty)."""
        if not self.values or len(self.values) != len(other.values):
            return 0.0
        same = sum(1 for a, b in zip(self.values, other.values) if a == b)
        return same / len(self.values)

    def to_bytes(self) -> bytes:
        """Little-endian uint32s: 4 * NUM_PERM bytes, or b"" for an empty signature."""
        return struct.pack(f"<{len(self.values)}I", *self.values)

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        if len(data) % 4:
            raise ValueError(f"a signature is a whole number of 4-byte values, not {len(data)} bytes")
        return cls(struct.unpack(f"<{len(data) // 4}I", data))


# Words as index terms, the fast way: ``analysis.terms`` is this same tokenizer and
# term filter (a test checks they agree), minus a generator and a match object per word.
_TERM_FILTER = NewsTermFilter(stem=True)
_find_words = TOKEN_PATTERN.findall

class _TermHashes:
    """Surface form -> a small number (cached, bounded like the filter's cache), and by number the
    64-bit hash of the surface's index term and whether it has one: a text's hashes are then one
    ``map`` and one numpy gather, with no Python int per word."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.hashes: Any = None  # numpy uint64, by number
        self.valid: Any = None  # numpy bool, by number

    def of(self, surfaces: list[str]) -> Any:
        """The hashes of the index terms of ``surfaces``, in order, as a numpy uint64 array."""
        numpy = _minhash_setup()[0]
        if self.hashes is None or len(self.numbers) + len(surfaces) > self.LIMIT:
            self.numbers = {}  # started afresh between texts: numbers handed out stay valid within one
            self.hashes = numpy.zeros(max(1024, len(surfaces)), dtype=numpy.uint64)
            self.valid = numpy.zeros(len(self.hashes), dtype=bool)
        numbers = list(map(self.numbers.get, surfaces))
        if None in numbers:
            numbers = [self._number(surface) if number is None else number
                       for surface, number in zip(surfaces, numbers)]
        chosen = numpy.array(numbers, dtype=numpy.intp)
        return self.hashes[chosen][self.valid[chosen]]

    def _number(self, surface: str) -> int:
        known = self.numbers.get(surface)  # a new word repeated within the text
        if known is not None:
            return known
        number = self.numbers[surface] = len(self.numbers)
        if number >= len(self.hashes):
            numpy = _minhash_setup()[0]
            self.hashes = numpy.concatenate([self.hashes, numpy.zeros(len(self.hashes), dtype=numpy.uint64)])
            self.valid = numpy.concatenate([self.valid, numpy.zeros(len(self.valid), dtype=bool)])
        term = _TERM_FILTER.term(surface)
        if term:
            self.hashes[number] = int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(),
                                                 "little")
            self.valid[number] = True
        return number


_term_hashes = _TermHashes()


def _words(text: str) -> list[str]:
    term = _TERM_FILTER.term
    return [word for word in map(term, _find_words(text)) if word]


def duplicate_text(title: str, body: str) -> str:
    """The text to compare for an article: its body, or its title when the body is empty."""
    return body if body.strip() else title


def shingles(text: str, size: int = SHINGLE_SIZE) -> set[str]:
    """Word ``size``-grams of the index terms of ``text`` (stemmed, folded, stopwords kept).

    A text of fewer than ``size`` words gives its words themselves; an empty one, the empty set.

    >>> sorted(shingles("The cats sat. The cats SAT!"))
    ['cat sat the', 'sat the cat', 'the cat sat']
    """
    if size < 1:
        raise ValueError(f"shingle size must be at least 1, not {size}")
    words = _words(text)
    if len(words) < size:
        return set(words)
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


# Odd 64-bit multipliers that combine the term hashes of a shingle, by position
# (the last word's is 1): (h1 * K0 + h2 * K1 + h3) mod 2**64.
_POSITION_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)


_minhash_parts: tuple[Any, Any, Any] | None = None
_SHINGLE_BLOCK = 8192  # shingles permuted at once: 3 MB of table


def _minhash_setup() -> tuple[Any, Any, Any]:
    """numpy and the permutations' multipliers and offsets (made once per process).

    They are drawn as ``datasketch`` (2.x, scheme "affine32") draws them, from
    numpy's frozen ``RandomState`` stream: odd 32-bit multipliers, then 32-bit
    offsets. The signatures equal datasketch's bit for bit (compared on 300 BBC
    articles when this replaced it; a test pins the band keys of a sample text).
    Owning these lines saves importing datasketch, and scipy with it, in every
    indexing process (0.4-0.6 s).
    """
    global _minhash_parts
    if _minhash_parts is None:
        import numpy

        generator = numpy.random.RandomState(SEED)
        multipliers = generator.randint(0, 1 << 31, NUM_PERM, dtype=numpy.uint32) * numpy.uint32(2) + numpy.uint32(1)
        offsets = generator.randint(0, 1 << 32, NUM_PERM, dtype=numpy.uint32)
        _minhash_parts = (numpy, multipliers, offsets)
    return _minhash_parts


def _fmix32(numpy: Any, values: Any) -> Any:
    """MurmurHash3's 32-bit finalizer, elementwise (the pre-mix of the "affine32" scheme)."""
    values = values ^ (values >> numpy.uint32(16))
    values = values * numpy.uint32(0x85EBCA6B)
    values = values ^ (values >> numpy.uint32(13))
    values = values * numpy.uint32(0xC2B2AE35)
    return values ^ (values >> numpy.uint32(16))


def signature(text: str) -> Signature:
    """The MinHash signature of ``text``'s shingles; the same in every process and on every platform.

    Each shingle is hashed to 32 bits by combining its words' 64-bit hashes (cached
    per word); each of the ``NUM_PERM`` permutations maps a pre-mixed shingle hash
    ``h`` to ``a * h + b`` modulo 2**32 (``a`` odd: a bijection), and the signature
    keeps each permutation's minimum. All of it is a few numpy operations per batch of texts.
    """
    minima, has_words = _minima([surface_forms(text)])
    return Signature(tuple(minima[0].tolist()) if has_words[0] else ())


def _minima(texts: list[list[str]]) -> tuple[Any, Any]:
    """``signature``'s values of each text (given as its ``surface_forms``), a numpy uint32 row
    each, and whether each text has words (a row without is all ones). Computed for all the texts
    at once: per text, numpy's call overhead was most of the cost."""
    numpy, multipliers, offsets = _minhash_setup()
    parts = [_term_hashes.of(surfaces) for surfaces in texts]
    counts = numpy.array([len(part) for part in parts], dtype=numpy.int64)
    minima = numpy.full((len(texts), NUM_PERM), numpy.iinfo(numpy.uint32).max, dtype=numpy.uint32)
    if not counts.any():
        return minima, counts > 0
    hashes = numpy.concatenate(parts)
    size = SHINGLE_SIZE
    firsts = numpy.cumsum(counts) - counts
    # A text of ``size`` words or more gives its word ``size``-grams, a shorter one its words.
    shingle_counts = numpy.where(counts >= size, counts - size + 1, counts)
    owner = numpy.repeat(numpy.arange(len(texts)), shingle_counts)
    at = numpy.arange(len(owner)) - numpy.repeat(numpy.cumsum(shingle_counts) - shingle_counts, shingle_counts)
    at += firsts[owner]
    grams = counts[owner] >= size
    combined = hashes[numpy.where(grams, at + size - 1, at)]
    for position in range(size - 1):
        multiplier = numpy.uint64(_POSITION_MULTIPLIERS[position % len(_POSITION_MULTIPLIERS)])
        combined += numpy.where(grams, hashes[numpy.minimum(at + position, len(hashes) - 1)] * multiplier,
                                numpy.uint64(0))
    # The top 32 bits of a 64-bit avalanche (MurmurHash3's fmix64) of each shingle.
    combined ^= combined >> numpy.uint64(33)
    combined *= numpy.uint64(0xFF51AFD7ED558CCD)
    combined ^= combined >> numpy.uint64(33)
    combined *= numpy.uint64(0xC4CEB9FE1A85EC53)
    combined ^= combined >> numpy.uint64(33)
    shingle_hashes = _fmix32(numpy, (combined >> numpy.uint64(32)).astype(numpy.uint32))
    # A repeated shingle gives the same values again: the minima need no de-duplication.
    # A block of shingles at a time (a 9 MB article's whole table would be 600 MB), each
    # text's part of a block reduced in one call.
    for start in range(0, len(shingle_hashes), _SHINGLE_BLOCK):
        piece = shingle_hashes[start:start + _SHINGLE_BLOCK]
        piece_owner = owner[start:start + _SHINGLE_BLOCK]
        cuts = numpy.flatnonzero(numpy.concatenate([[True], piece_owner[1:] != piece_owner[:-1]]))
        block = numpy.multiply.outer(multipliers, piece)
        block += offsets[:, None]
        rows = piece_owner[cuts]
        minima[rows] = numpy.minimum(minima[rows], numpy.minimum.reduceat(block, cuts, axis=1).T)
    return minima, counts > 0


def band_hashes(sig: Signature) -> tuple[int, ...]:
    """The ``BANDS`` LSH band hashes of a signature: 32 bits of BLAKE2b over each band's rows.

    Documents that share the hash of any one band are candidate near-duplicates (a
    chance collision only costs a verification). An empty signature has none.
    """
    values = sig.values
    if not values:
        return ()
    if len(values) != NUM_PERM:
        raise ValueError(f"expected a signature of {NUM_PERM} values, got {len(values)}")
    return tuple(
        int.from_bytes(hashlib.blake2b(struct.pack(f"<{ROWS}I", *values[band * ROWS : (band + 1) * ROWS]),
                                       digest_size=4).digest(), "little")
        for band in range(BANDS)
    )


def band_keys(sig: Signature) -> list[str]:
    """The band hashes as short ASCII tokens, ``"b" + band (2 digits) + "x" + 8 hex digits``."""
    return [f"b{band:02d}x{value:08x}" for band, value in enumerate(band_hashes(sig))]


def band_bytes(title: str, body: str) -> bytes:
    """An article's band hashes as ``BANDS`` little-endian uint32s (b"" when it has no words):
    the value of its ``dup_bands`` column."""
    return _band_bytes([PendingBands.of(title, body).surfaces])[0]


def _band_bytes(texts: list[list[str]]) -> list[bytes]:
    """``band_bytes`` of many texts (each an article's ``duplicate_text`` as its ``surface_forms``)."""
    minima, has_words = _minima(texts)
    # ``band_hashes`` packed, made straight from the rows' bytes: each band's hash, written
    # little-endian, is its BLAKE2b digest itself.
    step = 4 * ROWS
    found = []
    for row, words in zip(minima.astype("<u4"), has_words.tolist()):
        data = row.tobytes()
        found.append(b"".join([hashlib.blake2b(data[start:start + step], digest_size=4).digest()
                               for start in range(0, len(data), step)]) if words else b"")
    return found


@dataclass(frozen=True)
class PendingBands:
    """An article's ``dup_bands`` value (``band_bytes``) not computed yet: the words of its text. The
    segment writer computes a batch of them at once (``compute_many``), a few hundred articles a call.
    The words are split when this is made, as the article's record is: the index's own split of the
    same body is then free (``surface_forms`` keeps the last few)."""

    surfaces: list[str]

    @classmethod
    def of(cls, title: str, body: str) -> PendingBands:
        return cls(surface_forms(duplicate_text(title, body)))

    @property
    def cost(self) -> int:
        """What waiting costs: the number of words held."""
        return len(self.surfaces)

    @staticmethod
    def compute_many(pending: list[PendingBands]) -> list[bytes]:
        return _band_bytes([item.surfaces for item in pending])


def candidate_probability(similarity: float, bands: int = BANDS, rows: int = ROWS) -> float:
    """The chance that two texts of this Jaccard similarity share at least one band key."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def shingle_similarity(a: set[str], b: set[str]) -> float:
    """The Jaccard similarity of two shingle sets (0.0 when either is empty)."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def _containment(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def shingles_near_duplicate(a: set[str], b: set[str]) -> bool:
    """``is_near_duplicate`` for texts already cut into shingles."""
    if shingle_similarity(a, b) >= DUPLICATE_THRESHOLD:
        return True
    return min(len(a), len(b)) >= MIN_CONTAINED_SHINGLES and _containment(a, b) >= CONTAINMENT_THRESHOLD


def similarity(a_text: str, b_text: str) -> float:
    """The exact Jaccard similarity of the two texts' shingle sets (0.0 when either is empty)."""
    return shingle_similarity(shingles(a_text), shingles(b_text))


def containment(a_text: str, b_text: str) -> float:
    """The share of the smaller shingle set found in the other one (0.0 when either is empty)."""
    return _containment(shingles(a_text), shingles(b_text))


def is_near_duplicate(a_text: str, b_text: str) -> bool:
    """Whether two texts are near-duplicates: the check that verifies LSH candidates.

    True when their shingle similarity reaches ``DUPLICATE_THRESHOLD``, or when the
    shorter text (of at least ``MIN_CONTAINED_SHINGLES`` shingles) is almost wholly
    (``CONTAINMENT_THRESHOLD``) inside the longer: the same story with updates or
    reader comments appended.
    """
    return shingles_near_duplicate(shingles(a_text), shingles(b_text))


Member = TypeVar("Member", str, int)


def pairs_in_buckets(buckets: Iterable[Iterable[Member]], all_pairs_up_to: int | None = None,
                     ) -> set[tuple[Member, Member]]:
    """The LSH candidates: pairs ``(a, b)``, ``a < b``, of members of one bucket (documents with
    an equal band hash). Members of a bucket are distinct.

    A bucket gives every pair of its members; one of more than ``all_pairs_up_to`` members (many
    copies of one wire story) gives a star around its smallest member and a chain through all of
    them in order instead: the clusters come out the same for copies, at a cost linear in their
    number.
    """
    pairs: set[tuple[Member, Member]] = set()
    for bucket in buckets:
        members = sorted(bucket)
        if len(members) < 2:
            continue
        if all_pairs_up_to is None or len(members) <= all_pairs_up_to:
            pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
        else:
            pairs.update((members[0], other) for other in members[1:])
            pairs.update(zip(members, members[1:]))
    return pairs


def candidate_pairs(keys: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
    """Pairs ``(a, b)``, ``a < b``, of documents sharing a band key (an in-memory LSH table).

    ``keys`` maps document id -> its band keys. The index finds the same buckets in its
    ``dup_bands`` column (``duplicate_store``); both make pairs with ``pairs_in_buckets``.
    This serves batch jobs and tests.
    """
    buckets: dict[str, list[str]] = {}
    for doc_id, doc_keys in keys.items():
        for key in set(doc_keys):
            buckets.setdefault(key, []).append(doc_id)
    return pairs_in_buckets(buckets.values())


def clusters(edges: Iterable[tuple[str, str]], nodes: Iterable[str] = ()) -> dict[str, str]:
    """Union-find: document id -> cluster key, the smallest id of its connected component.

    Every id in ``nodes`` or in an edge gets a key; one without edges is its own
    cluster. Near-duplication is not transitive, so a chain a~b~c is one cluster
    even when a and c differ more than the threshold allows.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = parent.setdefault(x, x)
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for node in nodes:
        parent.setdefault(node, node)
    for a, b in edges:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            # The smaller id is the root, so each root is its component's minimum.
            if root_b < root_a:
                root_a, root_b = root_b, root_a
            parent[root_b] = root_a
    return {node: find(node) for node in parent}


def find_duplicates(texts: Mapping[str, str]) -> tuple[dict[str, str], list[tuple[str, str, float]]]:
    """The whole pipeline in memory: ``(id -> cluster key, verified pairs with their similarity)``.

    ``texts`` maps document id -> the text to compare (see ``duplicate_text``).
    """
    shingle_sets = {doc_id: shingles(text) for doc_id, text in texts.items()}
    keys = {doc_id: band_keys(signature(text)) for doc_id, text in texts.items()}
    verified = []
    for a, b in sorted(candidate_pairs(keys)):
        if shingles_near_duplicate(shingle_sets[a], shingle_sets[b]):
            verified.append((a, b, shingle_similarity(shingle_sets[a], shingle_sets[b])))
    return clusters(((a, b) for a, b, _ in verified), texts), verified
