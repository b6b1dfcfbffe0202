"""Whoosh's segment writer with shortcuts for newsearch's fields: the same segment, written faster.

Profiles of a build show Whoosh's own bookkeeping, not our analysis, taking most
of the time: a Token object per word, a generator per field, one
``PostingPool.add`` call per posting with its size estimate, and, when the
segment is flushed, one column read per posting to find its document's field
length. ``NewsSegmentWriter`` keeps Whoosh's pool, codec and file layout and
changes only how postings reach them:

* a text field whose format is ``Positions`` and whose analyzer is the plain
  ``NewsAnalyzer`` gets its postings from ``NewsAnalyzer.term_positions`` (no
  Token objects), encoded as ``Positions.encode`` encodes them;
* a document's postings join the pool in one ``extend``, its size added once;
* the flush reads each field's length column once instead of once per posting.

Anything else (boosts, vectors, other formats) takes Whoosh's own path. The result
is the segment Whoosh's ``SegmentWriter`` writes: ``tests/test_segments.py`` compares
every posting, length and stored field. It uses writer internals (``pool``,
``perdocwriter``, and through ``newsearch.whoosh_internals`` the private ones: the
flush, the postings writer), hence the pin of whoosh-reloaded below 2.8.
"""

from __future__ import annotations

import heapq
import marshal
import os
from collections.abc import Iterator
from itertools import groupby
from pickle import dumps
from typing import Any

from whoosh import formats
from whoosh.system import pack_uint

from newsearch.analysis import NewsAnalyzer, StopGramAnalyzer
from newsearch.postings import SidecarWriter
from newsearch.whoosh_internals import SegmentWriterBase, install_postings_writer, write_term

# What a waiting posting costs in memory besides its value bytes, and what a term's first posting
# adds (its key, the tuple, three lists), generously: measured, a build's resident memory grows by
# about 100 bytes per posting (list slots, values, the analysis caches and counts that grow with it).
_PENDING_POSTING = 100
_PENDING_TERM = 300
_WEIGHTS = [float(count) for count in range(256)]  # shared float objects for the common weights


_ONE_POSITION: dict[int, bytes] = {}  # most postings have one position: their encodings, cached


def _encoded_positions(positions: list[int]) -> bytes:
    """``Positions.encode(positions)``: the count, then the pickled deltas."""
    if len(positions) == 1:
        encoded = _ONE_POSITION.get(positions[0])
        if encoded is None:
            encoded = pack_uint(1) + dumps(positions, 2)
            if positions[0] < 65536:
                _ONE_POSITION[positions[0]] = encoded
        return encoded
    deltas = [positions[0]]
    deltas += [b - a for a, b in zip(positions, positions[1:])]
    return pack_uint(len(deltas)) + dumps(deltas, 2)


def _fast_text_field(field: Any) -> bool:
    return ((type(field.format) is formats.Positions and type(field.analyzer) is NewsAnalyzer)
            or (type(field.format) is formats.Existence and type(field.analyzer) is StopGramAnalyzer))


class NewsSegmentWriter(SegmentWriterBase):
    """A ``SegmentWriter`` that writes the same segment with less per-posting work.

    Its documents' postings wait in ``_pending`` (field -> term -> docnums, weights,
    values, in document order), so a flush sorts terms, not postings. When they
    outgrow ``limitmb`` they are written to a sorted run file, one marshalled record
    per term (Whoosh's pool pickles every posting on its own), and the flush merges
    the runs term by term. Only when Whoosh's pool holds postings too (merged
    segments', a boosted document's) does everything go through the pool.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast_fields = {name for name, field in self.schema.items() if _fast_text_field(field)}
        # Spelling words and term vectors are written only by Whoosh's own add_document.
        self._plain = not any(field.separate_spelling() or field.vector for _, field in self.schema.items())
        self._pending: dict[str, dict[Any, tuple[list[int], list[float], list[Any]]]] = {}
        self._pending_size = 0
        self._spills: list[str] = []  # sorted runs of pending postings, in document order

    def add_document(self, **fields: Any) -> None:
        if not self._plain or any(name.startswith("_") for name in fields):  # boosts, custom stored values
            super().add_document(**fields)
            return
        self.check_state()
        schema = self.schema
        fieldnames = sorted(fields)
        self.check_fields(schema, fieldnames)
        perdocwriter = self.perdocwriter
        docnum = self.docnum
        fast_fields = self._fast_fields
        pending = self._pending
        size = 0
        # Postings go straight to _pending, as Whoosh's add_document puts them straight into its pool:
        # after a failure the writer is cancelled, never committed.
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    terms = pending.get(fieldname)
                    if terms is None:
                        terms = pending[fieldname] = {}
                    positions = None
                    if fieldname in fast_fields and isinstance(value, str):
                        positions = field.analyzer.term_positions(value)
                    if positions is not None:  # terms stay str until the flush (UTF-8 sorts as str does)
                        boost = field.format.field_boost
                        weights = _WEIGHTS if boost == 1.0 else [count * boost for count in range(256)]
                        exists = type(field.format) is formats.Existence  # a posting per term, without values
                        value_bytes = new_terms = 0
                        for term, where in positions.items():
                            count = 1 if exists else len(where)
                            weight = weights[count] if count < 256 else count * boost
                            vbytes = (b"" if exists else (_ONE_POSITION.get(where[0]) if count == 1 else None)
                                      or _encoded_positions(where))
                            value_bytes += len(vbytes)
                            length += count
                            entry = terms.get(term)
                            if entry is None:
                                terms[term] = ([docnum], [weight], [vbytes])
                                new_terms += 1
                            else:
                                entry[0].append(docnum)
                                entry[1].append(weight)
                                entry[2].append(vbytes)
                        if not field.scorable:
                            length = 0
                        size += _PENDING_POSTING * len(positions) + value_bytes + _PENDING_TERM * new_terms
                    else:
                        for tbytes, freq, weight, vbytes in field.index(value):
                            if field.scorable:
                                length += freq
                            entry = terms.get(tbytes)
                            if entry is None:
                                terms[tbytes] = ([docnum], [weight], [vbytes])
                                size += _PENDING_TERM
                            else:
                                entry[0].append(docnum)
                                entry[1].append(weight)
                                entry[2].append(vbytes)
                            size += _PENDING_POSTING + len(vbytes or "")
                perdocwriter.add_field(fieldname, field, value if field.stored else None, length)
                column = field.column_type
                if column:
                    perdocwriter.add_column_value(fieldname, column, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self.pool.fieldnames.update(fields)
        self._pending_size += size
        if self._pending_size > self.pool.limit:
            self._spill()
        self.added = True
        self.docnum += 1

    def _spill(self) -> None:
        """Write the waiting postings to a sorted run file, one marshalled record per term."""
        folder = self.temp_storage().folder
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"spill-{len(self._spills)}-{os.getpid()}.run")
        with open(path, "wb") as handle:
            for entry in _sorted_entries(self._pending):
                marshal.dump(entry, handle)
        self._spills.append(path)
        self._pending = {}
        self._pending_size = 0

    def _entries(self) -> Iterator[tuple[str, bytes, list[int], list[float], list[Any]]]:
        """Every waiting posting, spilled or not, as sorted (field, term, docnums, weights, values) records."""
        sources = [_read_spill(path) for path in self._spills] + [_sorted_entries(self._pending)]
        if len(sources) == 1:
            yield from sources[0]
            return
        # heapq.merge keeps the order of its inputs for equal keys: runs are in document order.
        for _key, group in groupby(heapq.merge(*sources, key=_entry_key), key=_entry_key):
            records = list(group)
            fieldname, tbytes = records[0][0], records[0][1]
            yield (fieldname, tbytes, [docnum for record in records for docnum in record[2]],
                   [weight for record in records for weight in record[3]],
                   [value for record in records for value in record[4]])

    def flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = _PreloadedLengths(self.per_document_reader()) if self.codec.length_stats else None
        sidecar = SidecarWriter(self.newsegment, self.storage, self.docnum)  # every term passes it on its way
        try:
            if self.pool.current or self.pool.runs:  # merged segments, boosted documents: Whoosh's pool
                add = self.pool.add
                for fieldname, tbytes, ids, weights, values in self._entries():
                    for posting in zip(ids, weights, values):
                        add((fieldname, tbytes, *posting))
                _write_postings(self.fieldwriter, self.schema, lengths, sidecar.postings_of(self.pool.iter_postings()))
            else:
                _write_entries(self.fieldwriter, self.schema, lengths, sidecar.entries(self._entries()))
            sidecar.finish()
            self._pending = {}
            self.fieldwriter.close()
        except BaseException:
            sidecar.cancel()
            raise
        finally:
            if lengths is not None:
                lengths.close()
            self._remove_spills()

    def _remove_spills(self) -> None:
        for path in self._spills:
            try:
                os.remove(path)
            except OSError:
                pass
        self._spills = []

    def close_segment(self) -> None:
        self._remove_spills()
        super().close_segment()


def _entry_key(entry: tuple[Any, ...]) -> tuple[str, bytes]:
    return entry[0], entry[1]


def _sorted_entries(pending: dict[str, dict[Any, tuple[list[int], list[float], list[Any]]]]
                    ) -> Iterator[tuple[str, bytes, list[int], list[float], list[Any]]]:
    for fieldname in sorted(pending):
        terms = pending[fieldname]
        for term in sorted(terms):
            ids, weights, values = terms[term]
            yield fieldname, term.encode("utf-8") if isinstance(term, str) else term, ids, weights, values


def _read_spill(path: str) -> Iterator[tuple[str, bytes, list[int], list[float], list[Any]]]:
    with open(path, "rb") as handle:
        while True:
            try:
                yield marshal.load(handle)
            except EOFError:
                return


class _PreloadedLengths:
    """``doc_field_length`` of a per-document reader, each field's column read once."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.count = reader.doc_count_all()
        self.fields: dict[str, list[Any]] = {}

    def of_field(self, fieldname: str) -> list[Any]:
        """The field's length in each document, by document number."""
        known = self.fields.get(fieldname)
        if known is None:
            length = self.reader.doc_field_length
            known = self.fields[fieldname] = [length(number, fieldname) for number in range(self.count)]
        return known

    def close(self) -> None:
        self.reader.close()


def _write_postings(fieldwriter: Any, schema: Any, lengths: _PreloadedLengths | None, items: Any) -> None:
    """What ``FieldWriter.add_postings`` writes for sorted ``(field, term, docnum, weight, value)`` postings,
    with each term's postings handed to the postings writer a block at a time instead of one by one."""
    lastfield = None
    lastterm = None
    field_lengths: list[Any] = []
    ids: list[int] = []
    weights: list[float] = []
    values: list[bytes | None] = []
    doc_lengths: list[Any] = []
    for fieldname, btext, docnum, weight, value in items:
        if fieldname != lastfield or btext != lastterm:
            if lastterm is not None:
                write_term(fieldwriter, lastterm, ids, weights, values, doc_lengths)
                ids, weights, values, doc_lengths = [], [], [], []
            if fieldname != lastfield:
                if lastfield is not None:
                    if fieldname < lastfield:
                        raise ValueError(f"postings out of order: field {fieldname!r} after {lastfield!r}")
                    fieldwriter.finish_field()
                fieldwriter.start_field(fieldname, schema[fieldname])
                install_postings_writer(fieldwriter)
                field_lengths = lengths.of_field(fieldname) if lengths is not None else []
                lastfield = fieldname
            elif btext < lastterm:
                raise ValueError(f"postings out of order: term {btext!r} after {lastterm!r}")
            lastterm = btext
        ids.append(docnum)
        weights.append(weight)
        values.append(value)
        doc_lengths.append(field_lengths[docnum] if lengths is not None else 0)
    if lastterm is not None:
        write_term(fieldwriter, lastterm, ids, weights, values, doc_lengths)
    if lastfield is not None:
        fieldwriter.finish_field()


def _write_entries(fieldwriter: Any, schema: Any, lengths: _PreloadedLengths | None,
                   entries: Iterator[tuple[str, bytes, list[int], list[float], list[Any]]]) -> None:
    """``_write_postings`` for sorted (field, term, docnums, weights, values) records."""
    lastfield = None
    field_lengths: list[Any] | None = None
    for fieldname, tbytes, ids, weights, values in entries:
        if fieldname != lastfield:
            if lastfield is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(fieldname, schema[fieldname])
            install_postings_writer(fieldwriter)
            field_lengths = lengths.of_field(fieldname) if lengths is not None else None
            lastfield = fieldname
        doc_lengths = [field_lengths[docnum] for docnum in ids] if field_lengths is not None else [0] * len(ids)
        write_term(fieldwriter, tbytes, ids, weights, values, doc_lengths)
    if lastfield is not None:
        fieldwriter.finish_field()
