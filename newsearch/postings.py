"""The posting sidecar: every term's postings of a segment as plain arrays numpy reads in place.

Whoosh stores a term's postings in pickled blocks of 128, which take about 40 ms to decode
for a term in 30 % of 100,000 documents; the same postings as one slice of a memory-mapped
array take about 0.2 ms (``candidates`` reads them so). Whoosh stays the index of record
(positions, stored fields, the term dictionary); the sidecar holds only what BM25F needs.

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
    ids      uint32[P]          every posting's document number, term by term, ascending per term
    weights  uint16[P] or float32[P] (padded to 8 bytes): uint16 when every weight is a whole number
             below 65536 (term frequencies), as Whoosh's float32 otherwise
    ends     uint64[T]          term i's postings are [ends[i-1], ends[i])
    key_ends uint64[T]          term i's key is keys[key_ends[i-1]:key_ends[i]]
    keys     bytes              field name, NUL, term bytes; sorted (padded to 8 bytes)
    footer   u64 P, u64 T, u64 key bytes, u32 weight code, u32 CRC-32 of all before the footer,
             32 bytes segment id (NUL-padded), 8 bytes magic
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import weakref
import zlib
from array import array
from collections.abc import Iterable
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
_WEIGHT_TYPES: dict[int, np.dtype[Any]] = {1: np.dtype("<u2"), 2: np.dtype("<f4")}
_CHUNK = 1 << 20  # postings buffered before they are written


def _pad(size: int) -> int:
    return -size % 8


class SidecarWriter:
    """Writes one segment's sidecar from its terms, given in sorted order (``add``), then ``finish``."""

    def __init__(self, segment: Any, storage: Any, doc_count: int) -> None:
        self.segment = segment
        self.storage = storage
        self.doc_count = doc_count
        self.file = segment.create_file(storage, EXTENSION)
        self.crc = 0
        self.ids = array("I")
        self.weights = array("f")
        self.postings = 0
        self.ends = array("Q")
        self.keys = bytearray()
        self.key_ends = array("Q")
        self.last = b""
        # Weights wait in a scratch file (unlinked at once): their type is known only at the end.
        self.scratch = tempfile.TemporaryFile(dir=getattr(storage, "folder", None))
        self._write(_HEADER.pack(MAGIC, POSTINGS_VERSION, 0, doc_count))

    def _write(self, data: Any) -> None:
        self.file.write(data)
        self.crc = zlib.crc32(data, self.crc)

    def add(self, fieldname: str, btext: bytes, ids: Iterable[int], weights: Iterable[float]) -> None:
        """One term's postings (document numbers ascending)."""
        key = fieldname.encode("utf-8") + b"\x00" + btext
        if key <= self.last and self.key_ends:
            raise ValueError(f"postings out of order: term {btext!r} of {fieldname!r} after another")
        self.last = key
        before = len(self.ids)
        self.ids.extend(ids)
        self.weights.extend(weights)
        self.postings += len(self.ids) - before
        self.ends.append(self.postings)
        self.keys += key
        self.key_ends.append(len(self.keys))
        if len(self.ids) >= _CHUNK:
            self._spill()

    def _spill(self) -> None:
        self._write(self.ids.tobytes())
        self.scratch.write(self.weights.tobytes())
        self.ids = array("I")
        self.weights = array("f")

    def finish(self) -> None:
        """Write the weights, the term table and the footer, and close the file."""
        self._spill()
        self._write(bytes(_pad(4 * self.postings)))
        self.scratch.seek(0)
        whole = True
        while whole and (chunk := self.scratch.read(4 * _CHUNK)):
            weights = np.frombuffer(chunk, dtype="<f4")
            whole = bool(np.all((weights >= 0) & (weights < 65536) & (weights == np.floor(weights))))
        code = 1 if whole else 2
        self.scratch.seek(0)
        while chunk := self.scratch.read(4 * _CHUNK):
            self._write(np.frombuffer(chunk, dtype="<f4").astype(_WEIGHT_TYPES[code]).tobytes())
        self.scratch.close()
        self._write(bytes(_pad(_WEIGHT_TYPES[code].itemsize * self.postings)))
        self._write(self.ends.tobytes())
        self._write(self.key_ends.tobytes())
        self._write(bytes(self.keys) + bytes(_pad(len(self.keys))))
        segment_id = self.segment.segment_id().encode("ascii")
        self.file.write(_FOOTER.pack(self.postings, len(self.ends), len(self.keys), code, self.crc,
                                     segment_id, MAGIC))
        self.file.close()

    def cancel(self) -> None:
        """Close the files after a failure (the segment is never committed)."""
        self.scratch.close()
        if not self.file.is_closed:
            self.file.close()


@dataclass
class Sidecar:
    """A segment's sidecar, mapped: ``postings(fieldname, btext)`` gives a term's arrays."""

    data: np.ndarray  # the whole file, bytes
    name: str
    ids: np.ndarray
    weights: np.ndarray
    ends: np.ndarray
    key_ends: np.ndarray
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
        postings, terms, key_bytes, code, crc, owner, end_magic = _FOOTER.unpack(data[size - _FOOTER.size:].tobytes())
        if magic != MAGIC or end_magic != MAGIC:
            raise ValueError(f"posting sidecar {name} is not one (bad magic number)")
        if version != POSTINGS_VERSION:
            raise ValueError(f"posting sidecar {name} has version {version}, not {POSTINGS_VERSION}")
        if owner.rstrip(b"\x00").decode("ascii", "replace") != segment_id or documents != doc_count:
            raise ValueError(f"posting sidecar {name} belongs to another segment")
        if code not in _WEIGHT_TYPES:
            raise ValueError(f"posting sidecar {name} has an unknown weight type {code}")
        wtype = _WEIGHT_TYPES[code]
        at = _HEADER.size
        sections = []
        for length in (4 * postings + _pad(4 * postings), wtype.itemsize * postings + _pad(wtype.itemsize * postings),
                       8 * terms, 8 * terms, key_bytes + _pad(key_bytes)):
            sections.append((at, at + length))
            at += length
        if at + _FOOTER.size != size:
            raise ValueError(f"posting sidecar {name} is {size} bytes, its footer says {at + _FOOTER.size}")
        (i0, _), (w0, _), (e0, e1), (k0, k1), (s0, _) = sections
        # Read unsigned: a damaged number is then out of range (an IndexError), never a negative
        # index that numpy would count from the end.
        ids = data[i0:i0 + 4 * postings].view("<u4")
        weights = data[w0:w0 + wtype.itemsize * postings].view(wtype)
        return cls(data, name, ids, weights, data[e0:e1].view("<u8"), data[k0:k1].view("<u8"), data[s0:s0 + key_bytes],
                   crc, size - _FOOTER.size)

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
        start = int(self.ends[low - 1]) if low else 0
        stop = int(self.ends[low])
        if not 0 <= start <= stop <= len(self.ids):
            raise ValueError(f"posting sidecar {self.name} has a damaged term table")
        return self.ids[start:stop], self.weights[start:stop]

    def verify(self, doc_count: int) -> list[str]:
        """What is wrong with the sidecar's content (its CRC, its document numbers)."""
        problems = []
        crc = 0
        for start in range(0, self.body, 1 << 24):
            crc = zlib.crc32(self.data[start:min(start + (1 << 24), self.body)].tobytes(), crc)
        if crc != self.crc:
            problems.append(f"posting sidecar {self.name} fails its checksum")
        elif len(self.ids) and int(self.ids.max()) >= doc_count:
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
