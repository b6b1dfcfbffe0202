"""The posting sidecar: every term's postings of a segment as plain arrays numpy reads in place.

Whoosh stores a term's postings in pickled blocks of 128, which take about 40 ms to decode
for a term in 30 % of 100,000 documents; the same postings as one slice of a memory-mapped
file, delta-coded in fixed widths, take well under a millisecond (one ``cumsum``;
``candidates`` reads them so). Whoosh stays the index of record (positions, stored fields, the
term dictionary); the sidecar holds only what BM25F needs.

One sidecar file per segment, ``<segment id>.npost``, written by the segment writer while it
writes the segment's postings (``segments.NewsSegmentWriter.flush_segment``: new documents and
merged segments both pass there), before Whoosh assembles the segment's files into its compound
``.seg`` file. So the sidecar lives and dies inside its segment: written before the commit that
lists the segment, never changed, removed with the segment when a merge replaces it. A killed
build leaves at most loose files of a segment no table of contents lists (Whoosh removes
them), and a sidecar names its segment and document count, so none is read for another.
Deleted documents stay in the sidecar as in Whoosh's postings: readers mask them.

Layout (little-endian)::

    header   8 bytes magic, u32 version, u32 0, u64 documents in the segment
    data     each term's postings in turn: its first document number (u32), the gaps to the
             next ones (u8, u16 or u32: the narrowest that holds the term's largest gap), then
             its weights: one f32 when they are all equal, else u8, u16 (whole numbers that
             fit) or f32 each (Whoosh's own type); padded to 8 bytes
    ends     uint64[T]          term i's postings are numbers [ends[i-1], ends[i])
    offsets  uint64[T]          term i's data is data[offsets[i-1]:offsets[i]]
    key_ends uint64[T]          term i's key is keys[key_ends[i-1]:key_ends[i]]
    codes    uint8[T]           term i's gap width in bytes (low 4 bits) and weight code (high 4 bits:
             0 one f32, 1 u8, 2 u16, 3 f32 each); padded to 8 bytes
    keys     bytes              field name, NUL, term bytes; sorted (padded to 8 bytes)
    footer   u64 data bytes, u64 T, u64 key bytes, u32 0, u32 CRC-32 of all before the footer,
             32 bytes segment id (NUL-padded), 8 bytes magic

The widths make the sidecar about a third of a plain uint32 + uint16 layout's size (most
gaps of a common term, and most term frequencies, fit in a byte) while a term still decodes
as whole arrays, exactly: weights are narrowed only when every one is a whole number that fits.
"""

from __future__ import annotations

import os
import struct
import threading
import weakref
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.filestore import OverlayStorage

from newsearch.schema import POSTINGS_VERSION

EXTENSION = ".npost"
MAGIC = b"NSPOST\x00\x01"
_HEADER = struct.Struct("<8sIIQ")
_FOOTER = struct.Struct("<QQQII32s8s")
_GAP_TYPES: dict[int, np.dtype[Any]] = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4")}
_ONE_WEIGHT = 0  # weight code: the term's weights are all equal, stored once as f32
# Weight code -> the type of each weight.
_WEIGHT_TYPES: dict[int, np.dtype[Any]] = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 3: np.dtype("<f4")}
_FIRST = np.dtype("<u4")
_CHUNK = 1 << 18  # postings buffered before they are encoded and written


def _pad(size: int) -> int:
    return -size % 8


def _put(out: np.ndarray, at: np.ndarray, values: np.ndarray, dtype: np.dtype[Any]) -> None:
    """Write ``values`` as ``dtype`` into ``out`` (bytes), value ``i`` at byte ``at[i]``."""
    if len(at):
        size = dtype.itemsize
        out[at[:, None] + np.arange(size)] = values.astype(dtype).view(np.uint8).reshape(-1, size)


def encode(counts: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Terms' postings in the sidecar's data layout: term ``i`` has the next ``counts[i]`` (at least
    one) of ``ids`` (ascending) and ``weights`` (float32). Returns the data, each term's data
    size and each term's code. ValueError when a term's ids do not ascend."""
    counts = counts.astype(np.int64, copy=False)
    ids = ids.astype(np.int64)
    firsts = np.cumsum(counts) - counts
    term_of = np.repeat(np.arange(len(counts)), counts)
    index = np.arange(len(ids)) - firsts[term_of]
    rest = index > 0
    gaps = np.diff(ids, prepend=0)
    if np.any(gaps[rest] <= 0):
        raise ValueError("postings out of order: a term's document numbers do not ascend")
    gaps[firsts] = 0
    widest = np.maximum.reduceat(gaps, firsts) if len(counts) else gaps
    gap_width = np.where(widest < 1 << 8, 1, np.where(widest < 1 << 16, 2, 4))
    low = np.minimum.reduceat(weights, firsts) if len(counts) else weights
    high = np.maximum.reduceat(weights, firsts) if len(counts) else weights
    whole = np.logical_and.reduceat((weights >= 0) & (weights == np.floor(weights)), firsts) if len(counts) else rest
    kind = np.where(low == high, _ONE_WEIGHT,
                    np.where(whole & (high < 1 << 8), 1, np.where(whole & (high < 1 << 16), 2, 3)))
    weight_width = np.array([4, 1, 2, 4])[kind]
    weights_at = 4 + (counts - 1) * gap_width
    sizes = weights_at + np.where(kind == _ONE_WEIGHT, 4, counts * weight_width)
    base = np.cumsum(sizes) - sizes
    weights_at += base
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    _put(out, base, ids[firsts], _FIRST)
    gap_at = base[term_of] + 4 + (index - 1) * gap_width[term_of]
    posting_width = gap_width[term_of]
    for width, dtype in _GAP_TYPES.items():
        chosen = rest & (posting_width == width)
        _put(out, gap_at[chosen], gaps[chosen], dtype)
    one = kind == _ONE_WEIGHT
    _put(out, weights_at[one], low[one], _WEIGHT_TYPES[3])
    posting_kind = kind[term_of]
    for code, dtype in _WEIGHT_TYPES.items():
        chosen = posting_kind == code
        _put(out, weights_at[term_of[chosen]] + index[chosen] * dtype.itemsize, weights[chosen], dtype)
    return out, sizes, (gap_width | kind << 4).astype(np.uint8)


class SidecarWriter:
    """Writes one segment's sidecar from its terms, given in sorted order (``add`` one term,
    ``add_terms`` many of a field), then ``finish``."""

    def __init__(self, segment: Any, storage: Any, doc_count: int) -> None:
        self.segment = segment
        self.doc_count = doc_count
        self.file = segment.create_file(storage, EXTENSION)
        self.crc = 0
        self.data_bytes = 0
        self.postings = 0
        self.ends = array("Q")
        self.offsets = array("Q")
        self.codes = bytearray()
        self.keys = bytearray()
        self.key_ends = array("Q")
        self.last = b""
        # What waits to be encoded: postings, their weights, each term's posting count.
        self.ids = array("I")
        self.weights = array("f")
        self.counts = array("Q")
        self._write(_HEADER.pack(MAGIC, POSTINGS_VERSION, 0, doc_count))

    def _write(self, data: Any) -> None:
        self.file.write(data)
        self.crc = zlib.crc32(data, self.crc)

    def _key(self, key: bytes) -> None:
        if key <= self.last:
            raise ValueError(f"postings out of order: term {key!r} after {self.last!r}")
        self.last = key
        self.keys += key
        self.key_ends.append(len(self.keys))

    def add(self, fieldname: str, btext: bytes, ids: Sequence[int], weights: Sequence[float]) -> None:
        """One term's postings (document numbers ascending)."""
        self._key(fieldname.encode("utf-8") + b"\x00" + btext)
        self.ids.extend(ids)
        self.weights.extend(weights)
        self.counts.append(len(ids))
        if len(self.ids) >= _CHUNK:
            self._flush()

    def add_terms(self, fieldname: str, terms: Sequence[bytes], starts: Sequence[int], ids: np.ndarray,
                  weights: np.ndarray) -> None:
        """Terms of one field (sorted), term ``i``'s postings being ``starts[i]:starts[i + 1]`` of ``ids``
        (ascending) and ``weights``."""
        prefix = fieldname.encode("utf-8") + b"\x00"
        for btext in terms:
            self._key(prefix + btext)
        self.ids.frombytes(ids.astype(np.uint32).tobytes())
        self.weights.frombytes(weights.astype(np.float32).tobytes())
        self.counts.frombytes(np.diff(np.asarray(starts, dtype=np.uint64)).tobytes())
        if len(self.ids) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        counts = np.frombuffer(self.counts, dtype=np.uint64).astype(np.int64)
        if np.any(counts == 0):
            raise ValueError("a term without postings")
        data, sizes, codes = encode(counts, np.frombuffer(self.ids, dtype=np.uint32),
                                    np.frombuffer(self.weights, dtype=np.float32))
        self._write(data)
        self.ends.frombytes((self.postings + np.cumsum(counts, dtype=np.uint64)).tobytes())
        self.offsets.frombytes((self.data_bytes + np.cumsum(sizes, dtype=np.uint64)).tobytes())
        self.codes += codes.tobytes()
        self.postings += len(self.ids)
        self.data_bytes += len(data)
        self.ids, self.weights, self.counts = array("I"), array("f"), array("Q")

    def finish(self) -> None:
        """Write the postings still waiting, the term table and the footer, and close the file."""
        self._flush()
        self._write(bytes(_pad(self.data_bytes)))
        self._write(self.ends.tobytes())
        self._write(self.offsets.tobytes())
        self._write(self.key_ends.tobytes())
        self._write(bytes(self.codes) + bytes(_pad(len(self.codes))))
        self._write(bytes(self.keys) + bytes(_pad(len(self.keys))))
        segment_id = self.segment.segment_id().encode("ascii")
        self.file.write(_FOOTER.pack(self.data_bytes, len(self.ends), len(self.keys), 0, self.crc, segment_id, MAGIC))
        self.file.close()

    def cancel(self) -> None:
        """Close the file after a failure (the segment is never committed)."""
        if not self.file.is_closed:
            self.file.close()


@dataclass
class Sidecar:
    """A segment's sidecar, mapped: ``postings(fieldname, btext)`` gives a term's arrays."""

    data: np.ndarray  # the whole file, bytes
    name: str
    postings_data: np.ndarray  # the data section
    ends: np.ndarray
    offsets: np.ndarray
    key_ends: np.ndarray
    codes: np.ndarray
    keys: np.ndarray
    crc: int
    body: int  # bytes before the footer

    @classmethod
    def parse(cls, data: np.ndarray, name: str, segment_id: str, doc_count: int) -> Sidecar:
        """Check the structure against the segment (not the CRC: ``verify``); ValueError names the file."""
        size = len(data)
        if size < _HEADER.size + _FOOTER.size:
            raise ValueError(f"posting sidecar {name} is truncated ({size} bytes)")
        magic, version, _, documents = _HEADER.unpack(data[:_HEADER.size].tobytes())
        data_bytes, terms, key_bytes, _, crc, owner, end_magic = _FOOTER.unpack(data[size - _FOOTER.size:].tobytes())
        if magic != MAGIC or end_magic != MAGIC:
            raise ValueError(f"posting sidecar {name} is not one (bad magic number)")
        if version != POSTINGS_VERSION:
            raise ValueError(f"posting sidecar {name} has version {version}, not {POSTINGS_VERSION}")
        if owner.rstrip(b"\x00").decode("ascii", "replace") != segment_id or documents != doc_count:
            raise ValueError(f"posting sidecar {name} belongs to another segment")
        at = _HEADER.size
        sections = []
        for length in (data_bytes + _pad(data_bytes), 8 * terms, 8 * terms, 8 * terms, terms + _pad(terms),
                       key_bytes + _pad(key_bytes)):
            sections.append((at, at + length))
            at += length
        if at + _FOOTER.size != size:
            raise ValueError(f"posting sidecar {name} is {size} bytes, its footer says {at + _FOOTER.size}")
        (d0, _), (e0, e1), (o0, o1), (k0, k1), (c0, _), (s0, _) = sections
        return cls(data, name, data[d0:d0 + data_bytes], data[e0:e1].view("<u8"), data[o0:o1].view("<u8"),
                   data[k0:k1].view("<u8"), data[c0:c0 + terms], data[s0:s0 + key_bytes], crc, size - _FOOTER.size)

    def _key(self, number: int) -> bytes:
        start = int(self.key_ends[number - 1]) if number else 0
        return self.keys[start:int(self.key_ends[number])].tobytes()

    def postings(self, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """The term's document numbers (uint32, ascending) and weights, or None when the segment lacks it."""
        key = fieldname.encode("utf-8") + b"\x00" + btext
        low, high = 0, len(self.ends)
        while low < high:  # the first key not below ``key``
            middle = (low + high) // 2
            if self._key(middle) < key:
                low = middle + 1
            else:
                high = middle
        if low == len(self.ends) or self._key(low) != key:
            return None
        return self._decode(low)

    def _decode(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        """Term ``number``'s document numbers and weights."""
        count = int(self.ends[number]) - (int(self.ends[number - 1]) if number else 0)
        start = int(self.offsets[number - 1]) if number else 0
        stop = int(self.offsets[number])
        code = int(self.codes[number])
        gap_type = _GAP_TYPES.get(code & 15)
        weight_code = code >> 4
        weight_type = _WEIGHT_TYPES.get(weight_code)
        weights_at = start + 4 + (count - 1) * (gap_type.itemsize if gap_type else 0)
        weight_bytes = 4 if weight_code == _ONE_WEIGHT else count * (weight_type.itemsize if weight_type else 0)
        if (count < 1 or gap_type is None or (weight_type is None and weight_code != _ONE_WEIGHT)
                or stop != weights_at + weight_bytes or not 0 <= start < stop <= len(self.postings_data)):
            raise ValueError(f"posting sidecar {self.name} has a damaged term table")
        data = self.postings_data
        ids = np.empty(count, dtype=np.uint32)
        ids[0] = data[start:start + 4].view(_FIRST)[0]
        ids[1:] = data[start + 4:weights_at].view(gap_type)
        np.cumsum(ids, dtype=np.uint32, out=ids)
        if weight_type is None:
            return ids, np.full(count, data[weights_at:stop].view("<f4")[0], dtype=np.float32)
        return ids, data[weights_at:stop].view(weight_type)

    def verify(self, doc_count: int) -> list[str]:
        """What is wrong with the sidecar's content (its CRC, its term table, its document numbers)."""
        problems = []
        crc = 0
        for start in range(0, self.body, 1 << 24):
            crc = zlib.crc32(self.data[start:min(start + (1 << 24), self.body)].tobytes(), crc)
        if crc != self.crc:
            return [f"posting sidecar {self.name} fails its checksum"]
        try:
            last = max((int(self._decode(number)[0][-1]) for number in range(len(self.ends))), default=-1)
        except ValueError as exc:
            return [str(exc)]
        if last >= doc_count:
            problems.append(f"posting sidecar {self.name} points past the last document")
        return problems


_OPENED: weakref.WeakKeyDictionary[Any, Sidecar | None] = weakref.WeakKeyDictionary()
_OPENING = threading.Lock()


def sidecar(reader: Any) -> Sidecar | None:
    """The sidecar of a segment reader, mapped on first use (None: the segment has none, e.g. it was
    written by Whoosh's own writer; then readers decode Whoosh's postings). ValueError when it is damaged."""
    try:
        return _OPENED[reader]
    except KeyError:
        pass
    with _OPENING:
        if reader not in _OPENED:
            _OPENED[reader] = _open(reader)
        return _OPENED[reader]


def verify(reader: Any) -> list[str]:
    """What is wrong with the sidecars of a reader's segments: missing, for another segment,
    truncated, failing their checksum (``check``)."""
    problems = []
    for leaf, _ in reader.leaf_readers():
        try:
            found = _open(leaf)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if found is None:
            problems.append(f"segment {leaf.segment().segment_id()} has no posting sidecar ({EXTENSION})")
        else:
            problems += found.verify(leaf.doc_count_all())
    return problems


def _open(reader: Any) -> Sidecar | None:
    segment = reader.segment() if hasattr(reader, "segment") else None
    if segment is None:
        return None
    name = segment.make_filename(EXTENSION)
    located = _locate(reader.storage(), segment, name)
    if located is None:
        return None
    path, offset, length = located
    if not length:
        raise ValueError(f"posting sidecar {name} is empty")
    # A plain array over the mapping (numpy's memmap subclass adds Python work to every slice).
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(length,)).view(np.ndarray)
    return Sidecar.parse(data, name, segment.segment_id(), reader.doc_count_all())


def _locate(storage: Any, segment: Any, name: str) -> tuple[str, int, int] | None:
    """Where the sidecar's bytes are: (file path, offset, length), inside the compound segment file
    or beside it; None when the segment has no sidecar or its files are not on disk."""
    if isinstance(storage, OverlayStorage):
        compound, files = storage.a, storage.b
        if isinstance(compound, CompoundStorage) and compound.file_exists(name):
            offset, length = compound.range(name)
            return os.path.join(files.folder, segment.make_filename(segment.COMPOUND_EXT)), offset, length
        storage = files
    folder = getattr(storage, "folder", None)
    if folder is None or not storage.file_exists(name):
        return None
    return os.path.join(folder, name), 0, storage.file_length(name)
