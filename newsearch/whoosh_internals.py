"""Every use of Whoosh's private internals, fenced in one module.

newsearch reads and writes Whoosh's index itself where Whoosh's public API is slow:
postings a block at a time and field lengths a segment at a time (``candidates``),
a segment writer that hands postings over in blocks and stores small blocks
uncompressed (``segments``), segments written by worker processes and committed by
the parent (``indexer``), the latest table of contents of a half-written index
(``storage``), and the table of contents read without running code from it
(``read_toc``, ``SafeFileIndex``). Each of these reaches into private names (``_data``, ``_postwriter``,
``_commit_toc``, ...); this module is the only one that does (a test walks the
package and fails on any other), and it offers them as small named functions.

Whoosh is checked when this module is imported: the installed version must be in the
range ``setup.cfg`` pins (``whoosh-reloaded>=2.7.5,<2.8``), and every private name used
here must still exist (``_METHODS``, ``_ATTRIBUTES``, ``_KEYWORDS``); otherwise
``UnsupportedWhoosh`` names the version found or the names missing, and what to
install. The range, not only the tested 2.7.5, is accepted because pip installs any
later 2.7.x under the pin: refusing it would break a fresh install for a release that
may change nothing we use, while the probe makes one that renames or drops a name fail
at import, saying which, rather than deep inside a build or a search (and the contract
tests below are what to run on it).

Contract: these tests compare what the code here produces with what Whoosh's own
writer and collectors produce, and must pass on any Whoosh version this module accepts:

* ``tests/test_segments.py``: ``SegmentWriterBase``, ``install_postings_writer`` and
  ``write_term`` (through ``NewsSegmentWriter``) write exactly the segment Whoosh's
  ``SegmentWriter`` writes: every posting, length, stored field and term statistic;
* ``tests/test_candidates.py`` (``test_gather_matches_whoosh_collectors``,
  ``test_search_gives_the_same_results_either_way``): ``posting_blocks`` and
  ``field_lengths_bytes`` (through ``candidates.gather``) give the scores, totals and
  coverage of Whoosh's collectors;
* ``tests/test_parallel.py`` (``test_two_jobs_write_two_segments_with_the_same_documents_and_scores``,
  ``test_an_id_repeated_across_partitions_is_kept_once_as_in_one_process``):
  ``unlocked_writer``, ``finish_segment`` and ``commit_segments`` give the index a
  single process gives;
* ``tests/test_columns.py``: ``numeric_column_bytes`` and ``var_bytes_column`` (through
  ``columns.doc_columns``) give every document's value Whoosh's column readers give;
* ``tests/test_whoosh_internals.py``: each function here against Whoosh's public
  API (``latest_generation`` through the tidy of a live generation, ``WrappingQueryBase``
  through ``compiler.VerifiedPhrase``), the version check, and the fence itself.
"""

from __future__ import annotations

import inspect
import io
import pickle
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from operator import sub
from pickle import dumps
from typing import Any

import whoosh
from whoosh import scoring
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3FieldWriter,
    W3LeafMatcher,
    W3PerDocReader,
    W3PerDocWriter,
    W3PostingsWriter,
)
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.filedb import compound
from whoosh.filedb.structfile import BufferFile
from whoosh.index import TOC, FileIndex, IndexVersionError
from whoosh.query import WrappingQuery
from whoosh.reading import SegmentReader
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter

from newsearch.errors import UnsupportedWhoosh

TESTED_VERSION = (2, 7, 5)
ACCEPTED = ((2, 7, 5), (2, 8))  # from (inclusive) .. to (exclusive): the pin in setup.cfg
INSTALL = "whoosh-reloaded==2.7.5"

# Every private name used below, by the Whoosh class that holds it. Methods and class attributes
# are looked up on the class; instance attributes in the code of the class's methods, which set them.
_METHODS: tuple[tuple[type, tuple[str, ...]], ...] = (
    (W3LeafMatcher, ("_read_data", "_read_weights", "_read_values", "_next_block")),
    (W3PerDocReader, ("_cached_reader",)),
    (W3PerDocWriter, ("_has_column", "_create_column", "_get_column")),
    (SegmentWriter, ("_check_state", "_check_fields", "_flush_segment", "_close_segment", "_finalize_segment",
                     "_merge_segments", "_commit_toc", "_finish")),
    (W3PostingsWriter, ("_write_block", "_mini_ids", "_mini_weights", "_mini_values", "_new_block")),
    (TOC, ("_latest_generation", "_filename")),
    (FileIndex, ("_read_toc",)),
    (WrappingQuery, ("_rewrap",)),
    (scoring.BM25FScorer, ("_score",)),
)
_ATTRIBUTES: tuple[tuple[type, tuple[str, ...]], ...] = (
    (W3LeafMatcher, ("_data", "_byteids", "_weights", "_values")),
    (SegmentReader, ("_perdoc",)),
    (NumericColumn.Reader, ("_count", "_dbfile", "_basepos", "_fixedlen")),
    (VarBytesColumn.Reader, ("_lengths", "_dbfile", "_basepos")),
    (SegmentWriter, ("_added",)),
    (W3FieldWriter, ("_postwriter",)),
    (scoring.BM25F, ("_field_B",)),
    (FileIndex, ("_schema",)),
    (BufferFile, ("_buf", "_name")),
    (W3PostingsWriter, ("_blocklimit", "_ids", "_weights", "_values", "_minlength", "_maxlength", "_maxweight",
                        "_blockcount", "_postfile", "_terminfo", "_compression")),
)
_KEYWORDS: tuple[tuple[Any, str], ...] = ((SegmentWriter.__init__, "_lk"),)


def _codes(code: Any) -> Iterator[Any]:
    yield code
    for const in code.co_consts:
        if inspect.iscode(const):
            yield from _codes(const)


def _uses(cls: type, name: str) -> bool:
    """Whether the code of a method of ``cls`` (or of its bases) uses attribute ``name``."""
    for klass in cls.__mro__:
        for value in vars(klass).values():
            code = getattr(getattr(value, "__func__", value), "__code__", None)
            if code is not None and any(name in nested.co_names for nested in _codes(code)):
                return True
    return False


def _describe(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def check_whoosh(version: tuple[int, ...], methods: Iterable[tuple[type, Iterable[str]]] = _METHODS,
                 attributes: Iterable[tuple[type, Iterable[str]]] = _ATTRIBUTES,
                 keywords: Iterable[tuple[Any, str]] = _KEYWORDS) -> None:
    """Raise ``UnsupportedWhoosh`` unless ``version`` is in the accepted series and every private name
    used here exists: ``methods`` on their class, ``attributes`` in their class's code, ``keywords``
    in the signature of their function."""
    tested = f"newsearch uses Whoosh internals tested with whoosh-reloaded {_describe(TESTED_VERSION)}"
    found = _describe(version)
    low, high = ACCEPTED
    if not low <= tuple(version) < high:
        raise UnsupportedWhoosh(f"{tested}; found Whoosh {found}. Install '{INSTALL}'.")
    missing = [f"{cls.__qualname__}.{name}" for cls, names in methods for name in names if not hasattr(cls, name)]
    missing += [f"{cls.__qualname__}.{name}" for cls, names in attributes for name in names if not _uses(cls, name)]
    missing += [f"{function.__qualname__}({name}=...)" for function, name in keywords
                if name not in inspect.signature(function).parameters]
    if missing:
        raise UnsupportedWhoosh(f"{tested}; Whoosh {found} lacks {', '.join(missing)}. Install '{INSTALL}'.")


check_whoosh(whoosh.__version__)


# Reading files of a segment without copying them


class _MappedView(io.RawIOBase):
    """A read-only file over a memoryview: seek, tell and read, nothing copied but what is read."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self.view = view
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = (0, self.position, len(self.view))[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        end = len(self.view) if size is None or size < 0 else self.position + size
        data = bytes(self.view[self.position:end])
        self.position += len(data)
        return data


class _UncopiedBufferFile(BufferFile):
    """Whoosh's file of a compound segment, reading the mapped segment in place: Whoosh's own
    ``BufferFile`` wraps it in a ``BytesIO``, which copies the whole file (the postings, every
    stored article) into the process's private memory the first time a reader opens it."""

    def __init__(self, buf: Any, name: str | None = None, onclose: Any = None) -> None:
        super().__init__(b"", name, onclose)
        self._buf = buf
        self.file = _MappedView(buf)


compound.BufferFile = _UncopiedBufferFile  # what CompoundStorage.open_file makes for each file of a segment


# Reading: postings and field lengths


def posting_blocks(matcher: Any, values: bool) -> Iterator[tuple[Sequence[int], Sequence[float], Sequence[Any]]]:
    """A leaf matcher's postings a block at a time, as ``(ids, weights, values)`` (values empty unless
    asked for); a matcher other than Whoosh 3's leaf matcher is walked posting by posting, in one block."""
    if type(matcher) is W3LeafMatcher:
        while matcher.is_active():
            if matcher._data is None:
                matcher._read_data()
            ids = matcher._data[0]  # as W3LeafMatcher._read_ids, with the deltas summed in C
            if not matcher._byteids:
                ids = list(accumulate(ids))
            matcher._read_weights()
            if values:
                matcher._read_values()
            yield ids, matcher._weights, matcher._values if values else ()
            matcher._next_block()
        return
    block: tuple[list[int], list[float], list[Any]] = ([], [], [])
    while matcher.is_active():
        block[0].append(matcher.id())
        block[1].append(matcher.weight())
        if values:
            block[2].append(matcher.value())
        matcher.next()
    yield block


def field_lengths_bytes(reader: Any, fieldname: str, size: int) -> bytes | None:
    """The one-byte field lengths of a whole segment in one read, or None when the reader
    is not Whoosh's usual segment reader (then the lengths are read one by one)."""
    try:
        column = reader._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if column is None:
            return None
        count = min(column._count, size)
        data = bytes(column._dbfile.get(column._basepos, count)) if count else b""
    except AttributeError:
        return None
    return data + bytes(size - len(data))


def numeric_column_bytes(column: Any) -> tuple[bytes, int] | None:
    """A numeric column reader's stored values in one read, big-endian, and how many documents
    they are (the documents after those hold the column's default); None for another reader."""
    if type(column) is not NumericColumn.Reader:
        return None
    size = column._count * column._fixedlen
    return (bytes(column._dbfile.get(column._basepos, size)) if size else b""), column._count


def var_bytes_column(column: Any) -> tuple[bytes, array] | None:
    """A variable-length bytes column reader's values in one read: all of them concatenated,
    and each document's length; None for another reader."""
    if type(column) is not VarBytesColumn.Reader:
        return None
    lengths = column._lengths
    size = sum(lengths)
    return (bytes(column._dbfile.get(column._basepos, size)) if size else b""), lengths


# Queries


class WrappingQueryBase(WrappingQuery):
    """Whoosh's ``WrappingQuery`` whose copy around a new child (made when the query is normalized
    or boosted; Whoosh calls it ``_rewrap``) a subclass overrides as ``rewrap``."""

    def _rewrap(self, child: Any) -> Any:
        return self.rewrap(child)

    def rewrap(self, child: Any) -> Any:
        return WrappingQuery._rewrap(self, child)


class BM25FScorerBase(scoring.BM25FScorer):
    """Whoosh's BM25F scorer (its IDF, average length and block-quality bounds) whose per-posting
    score (Whoosh's ``_score``) a subclass overrides as ``score_weight``."""

    def _score(self, weight: float, length: float) -> float:
        return self.score_weight(weight, length)

    def score_weight(self, weight: float, length: float) -> float:
        return float(scoring.BM25FScorer._score(self, weight, length))


def field_b(model: scoring.BM25F, fieldname: str) -> float:
    """The length normalisation ``b`` a BM25F model uses for ``fieldname`` (its per-field ``B``)."""
    return float(model._field_B.get(fieldname, model.B))


# Writing: segments


class SegmentWriterBase(SegmentWriter):
    """Whoosh's ``SegmentWriter`` with the private parts a subclass needs under public names.

    A subclass overrides ``flush_segment`` (write the postings and close the segment's
    files) and ``close_segment`` (close them without writing, e.g. nothing was added),
    which Whoosh calls as ``_flush_segment`` and ``_close_segment``.
    """

    check_state = SegmentWriter._check_state  # raises if the writer is closed
    check_fields = SegmentWriter._check_fields  # (schema, fieldnames): raises on an unknown field

    @property
    def added(self) -> bool:
        """Whether a document was added (the segment then is written on commit)."""
        return bool(self._added)

    @added.setter
    def added(self, value: bool) -> None:
        self._added = value

    def _flush_segment(self) -> None:
        self.flush_segment()

    def flush_segment(self) -> None:
        SegmentWriter._flush_segment(self)

    def _close_segment(self) -> None:
        self.close_segment()

    def close_segment(self) -> None:
        SegmentWriter._close_segment(self)


def unlocked_writer(writer_class: type, ix: Any, **kwargs: Any) -> Any:
    """A segment writer that takes no lock: a worker's, whose segment the lock holder commits."""
    return writer_class(ix, _lk=False, **kwargs)


def finish_segment(writer: Any) -> Any | None:
    """Write the writer's segment without committing it, and return it; None (the segment's files
    closed) when nothing was added."""
    segment = writer._finalize_segment() if writer._added else None
    if segment is None:
        writer._close_segment()
    return segment


def commit_segments(writer: Any, segments: list[Any]) -> None:
    """Commit, with ``writer`` (the lock holder), a table of contents listing the index's existing
    segments and ``segments`` (written by ``finish_segment``), and release the writer and its lock."""
    existing = writer._merge_segments(None, None, False)
    writer._close_segment()
    writer._commit_toc(existing + segments)
    writer._finish()


def add_column_value_at(perdocwriter: Any, fieldname: str, column: Any, docnum: int, value: Any) -> None:
    """Add document ``docnum``'s value of a column after later documents were added: what
    ``add_column_value`` does for the current document. A column's values must still come in
    document order (the documents skipped get its default)."""
    if not perdocwriter._has_column(fieldname):
        perdocwriter._create_column(fieldname, column)
    perdocwriter._get_column(fieldname).add(docnum, value)


def latest_generation(storage: Any, indexname: str) -> int:
    """The generation of the newest table of contents in ``storage`` (-1: none)."""
    return int(TOC._latest_generation(storage, indexname))


# Writing: postings, a block at a time


def install_postings_writer(fieldwriter: Any) -> None:
    """Make the field writer's postings writer, just made by ``start_field``, a ``SmallBlockPostingsWriter``."""
    fieldwriter._postwriter.__class__ = SmallBlockPostingsWriter


def write_term(fieldwriter: Any, btext: bytes, ids: list[int], weights: list[float], values: Sequence[bytes | None],
               doc_lengths: list[Any]) -> None:
    """One term's postings, in the blocks ``W3PostingsWriter.add_posting`` would have filled."""
    fieldwriter.start_term(btext)
    postwriter = fieldwriter._postwriter
    limit = postwriter._blocklimit
    for start in range(0, len(ids), limit):
        if start:
            postwriter._write_block()
        stop = start + limit
        block_weights = weights[start:stop]
        postwriter._ids = array("I", ids[start:stop])
        postwriter._weights = array("f", block_weights)
        postwriter._values = [value for value in values[start:stop] if value]
        known = [length for length in doc_lengths[start:stop] if length]
        postwriter._minlength = min(known) if known else None
        postwriter._maxlength = max(known) if known else 0
        heaviest = max(block_weights)
        postwriter._maxweight = heaviest if heaviest > 0 else 0
    fieldwriter.finish_term()


# A pickled block shorter than this is stored as it is: zlib would add more header than it saves.
SMALL_BLOCK_BYTES = 64


class SmallBlockPostingsWriter(W3PostingsWriter):
    """Whoosh 3's postings writer, except that a block is stored uncompressed when it is small or
    compression does not make it smaller (Whoosh compresses every block, even 25-byte ones; most
    terms have one short block, so that is about a tenth of the postings file). Each block's header
    records whether it is compressed, and every Whoosh 3 reader honours it."""

    def _write_block(self, last: bool = False) -> None:
        if not self._blockcount:
            self._postfile.write(WHOOSH3_HEADER_MAGIC)
        self._terminfo.add_block(self)
        databytes = dumps((self._mini_ids(), self._mini_weights(), self._mini_values()), 2)
        comp = 0
        if self._compression and len(databytes) >= SMALL_BLOCK_BYTES:
            packed = zlib.compress(databytes, self._compression)
            if len(packed) < len(databytes):
                databytes, comp = packed, self._compression
        ids = self._ids
        infobytes = dumps((len(ids), ids[-1], self._maxweight, comp, length_to_byte(self._minlength),
                           length_to_byte(self._maxlength)), 2)
        blocklength = len(infobytes) + len(databytes)
        self._postfile.write_int(-blocklength if last else blocklength)
        self._postfile.write(infobytes)
        self._postfile.write(databytes)
        self._blockcount += 1
        self._new_block()

    # Whoosh's minifiers with their per-posting generators replaced by C loops (``map``,
    # ``array.count``): the same tuples, a tenth of the time per block.

    def _mini_ids(self) -> tuple[int, ...]:
        ids = self._ids
        return tuple(map(sub, ids, (0, *ids)))  # each id minus the one before (the first minus 0)

    def _mini_weights(self) -> float | tuple[float, ...] | None:
        weights = self._weights
        if weights.count(1.0) == len(weights):
            return None
        if weights.count(weights[0]) == len(weights):
            return float(weights[0])
        return tuple(weights)


# Reading the table of contents without running code from it


# Whoosh's private constants of the table of contents (``whoosh.index``): its version and the sizes
# it records to detect another architecture; looked up once here, so that a Whoosh without them
# fails at import like a missing method.
def toc_constants() -> tuple[int, int, int, int]:
    from whoosh import index as whoosh_index

    names = ("_CURRENT_TOC_VERSION", "_INT_SIZE", "_LONG_SIZE", "_FLOAT_SIZE")
    missing = [f"whoosh.index.{name}" for name in names if not hasattr(whoosh_index, name)]
    if missing:
        raise UnsupportedWhoosh(f"Whoosh {whoosh.__version__} lacks {', '.join(missing)}. Install '{INSTALL}'.")
    version, int_size, long_size, float_size = (int(getattr(whoosh_index, name)) for name in names)
    return version, int_size, long_size, float_size


_TOC_VERSION, _TOC_INT_SIZE, _TOC_LONG_SIZE, _TOC_FLOAT_SIZE = toc_constants()

# What the list of segments of a Whoosh 3 table of contents is made of (besides plain data).
SEGMENT_CLASSES = frozenset({
    ("whoosh.codec.whoosh3", "W3Segment"),
    ("whoosh.codec.whoosh3", "W3Codec"),
    ("collections", "defaultdict"),  # a segment's field lengths
    ("builtins", "int"), ("__builtin__", "long"), ("__builtin__", "int"),  # the defaultdict's factory
    ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset"),
})


class ForbiddenClass(pickle.UnpicklingError):
    """A pickle names a class (or function) outside the allowlist; nothing of it was run."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class AllowlistUnpickler(pickle.Unpickler):
    """An unpickler that loads only the classes in ``allowed`` ((module, name) pairs, as the pickle
    names them); any other name raises ``ForbiddenClass`` before it is imported or called."""

    def __init__(self, file: Any, allowed: frozenset[tuple[str, str]]) -> None:
        super().__init__(file)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise ForbiddenClass(module, name)
        return super().find_class(module, name)


class _Recorder(pickle.Unpickler):
    """An unpickler that notes every class it loads."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.names: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str) -> Any:
        self.names.add((module, name))
        return super().find_class(module, name)


def pickled_classes(obj: Any) -> frozenset[tuple[str, str]]:
    """The (module, name) of every class or function a protocol-2 pickle of ``obj`` names, as Whoosh
    pickles a schema into the table of contents: the allowlist for reading that schema back."""
    recorder = _Recorder(io.BytesIO(pickle.dumps(obj, 2)))
    recorder.load()  # our own object's pickle, made just now
    return frozenset(recorder.names)


def read_toc(storage: Any, indexname: str, allowed: frozenset[tuple[str, str]], gen: int | None = None,
             schema: Any = None) -> TOC:
    """Whoosh's ``TOC.read`` (current format only), with every pickle in it read by an
    ``AllowlistUnpickler``: the schema's classes limited to ``allowed``, the segments' to
    ``SEGMENT_CLASSES``. Raises ``ForbiddenClass`` for a name outside them (a planted table of
    contents), Whoosh's ``EmptyIndexError`` when there is none and ``IndexVersionError`` for
    another format."""
    from whoosh.fields import ensure_schema
    from whoosh.index import EmptyIndexError

    if gen is None:
        gen = latest_generation(storage, indexname)
        if gen < 0:
            raise EmptyIndexError(f"Index {indexname!r} does not exist in {storage!r}")
    stream = storage.open_file(TOC._filename(indexname, gen))
    try:
        for name, expected in (("int", _TOC_INT_SIZE), ("long", _TOC_LONG_SIZE), ("float", _TOC_FLOAT_SIZE)):
            size = stream.read_varint()
            if size != expected:
                raise IndexError(f"Index was created on different architecture: saved {name} = {size}, "
                                 f"this computer = {expected}")
        if stream.read_int() != -12345:
            raise IndexError("Number misread: byte order problem")
        version = stream.read_int()
        release = (stream.read_varint(), stream.read_varint(), stream.read_varint())
        if version != _TOC_VERSION:
            raise IndexVersionError(f"Can't read format {version}", version)
        if schema:
            stream.skip_string()
        else:
            schema = AllowlistUnpickler(io.BytesIO(stream.read_string()), allowed).load()
        schema = ensure_schema(schema)
        if stream.read_int() != gen:
            raise ValueError(f"table of contents {gen} names another generation")
        stream.read_int()  # unused
        segments = AllowlistUnpickler(stream.file, SEGMENT_CLASSES).load()
    finally:
        stream.close()
    return TOC(schema, segments, gen, version=version, release=release)


class SafeFileIndex(FileIndex):
    """Whoosh's ``FileIndex`` that reads its table of contents with ``read_toc``, the schema's classes
    limited to ``allowed``: opening it, its readers, searchers and writers never run code named in
    the table of contents."""

    def __init__(self, storage: Any, schema: Any = None, indexname: str = "MAIN",
                 allowed: frozenset[tuple[str, str]] = frozenset()) -> None:
        from whoosh.fields import ensure_schema

        self.storage = storage
        self._schema = ensure_schema(schema) if schema else None
        self.indexname = indexname
        self.allowed = allowed
        self._read_toc()  # as Whoosh does: fail now if it cannot be read

    def _read_toc(self) -> TOC:
        return read_toc(self.storage, self.indexname, self.allowed, schema=self._schema)
