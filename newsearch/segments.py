"""Whoosh's segment writer with shortcuts for newsearch's fields: the same segment, written faster.

Profiles of a build show Whoosh's own bookkeeping, not our analysis, taking most
of the time: a Token object per word, a generator per field, one
``PostingPool.add`` call per posting with its size estimate, and, when the
segment is flushed, one column read per posting to find its document's field
length. ``NewsSegmentWriter`` keeps Whoosh's codec and file layout and changes
only how postings reach them:

* a text field whose format is ``Positions`` and whose analyzer is the plain
  ``NewsAnalyzer``, or a stopword-gram field (``StopGramAnalyzer``, ``Existence``),
  keeps one int32 per word until its batch of documents is inverted with numpy
  (``newsearch.inverter``): no Python work per posting, positions encoded in bulk
  exactly as ``Positions.encode`` encodes them;
* other fields' postings (ids, paths) are collected per term, a document at a time;
* the flush merges the batches a bounded chunk of terms at a time, reads each field's
  length column once, and writes each chunk to the segment's posting sidecar
  (``newsearch.postings``) in one numpy pass and to Whoosh's postings term by term
  (``write_term``); postings from Whoosh's pool (merged segments) reach both through
  ``write_term_postings``. Every term of a segment reaches the sidecar once, in order.

Anything else (boosts, vectors, other formats) takes Whoosh's own path. The result
is the segment Whoosh's ``SegmentWriter`` writes: ``tests/test_segments.py`` compares
every posting, length and stored field. It uses writer internals (``pool``,
``perdocwriter``, and through ``newsearch.whoosh_internals`` the private ones: the
flush, the postings writer), hence the pin of whoosh-reloaded below 2.8.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
from whoosh import formats
from whoosh.util.numeric import byte_to_length

from newsearch.analysis import NewsAnalyzer, StopGramAnalyzer
from newsearch.inverter import (
    INVERSION_BYTES_PER_WORD,
    AnyRun,
    PositionsBuffer,
    Run,
    StopGramBuffer,
    TermSpace,
    merged_chunks,
)
from newsearch.postings import SidecarWriter
from newsearch.whoosh_internals import (
    SegmentWriterBase,
    add_column_value_at,
    field_lengths_bytes,
    install_postings_writer,
    write_term,
)

# What a waiting posting of a field without a buffer costs in memory besides its value bytes, and
# what a term's first posting adds (its key, the tuple, three lists), generously.
_PENDING_POSTING = 100
_PENDING_TERM = 300


def _buffer_for(field: Any, spaces: dict[tuple[bool, bool], TermSpace]) -> PositionsBuffer | StopGramBuffer | None:
    """The word buffer of a field the writer inverts itself, or None (its postings are collected per term)."""
    if type(field.format) is formats.Positions and type(field.analyzer) is NewsAnalyzer:
        term_filter = field.analyzer.plain_term_filter()
        if term_filter is None:
            return None
        key = (term_filter.stem, term_filter.stop)
        space = spaces.get(key)
        if space is None:
            space = spaces[key] = TermSpace(term_filter.term)
        return PositionsBuffer(space, field.format.field_boost, field.scorable, lambda: term_filter.surface_counts)
    if type(field.format) is formats.Existence and type(field.analyzer) is StopGramAnalyzer and not field.scorable:
        return StopGramBuffer(field.format.field_boost)
    return None


class NewsSegmentWriter(SegmentWriterBase):
    """A ``SegmentWriter`` that writes the same segment with less per-posting work.

    Text fields' words wait in buffers (``newsearch.inverter``), other fields' postings in
    ``_pending`` (field -> term -> docnums, weights, values, in document order). When
    together they outgrow ``limitmb`` they are inverted into ``Run``s spilled to files,
    and the flush merges the runs term by term. Only when Whoosh's pool holds postings
    too (merged segments', a boosted document's) does everything go through the pool.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        spaces: dict[tuple[bool, bool], TermSpace] = {}
        self._buffers = {name: buffer for name, field in self.schema.items()
                         if (buffer := _buffer_for(field, spaces)) is not None}
        # Spelling words and term vectors are written only by Whoosh's own add_document.
        self._plain = not any(field.separate_spelling() or field.vector for _, field in self.schema.items())
        self._pending: dict[str, dict[Any, tuple[list[int], list[float], list[Any]]]] = {}
        self._pending_size = 0
        self._runs: list[dict[str, AnyRun]] = []  # spilled runs, in document order
        self._spill_folders: list[str] = []
        # Column values computed a batch of documents at a time (``_deferred``): field -> (docnum, value).
        self._pending_columns: dict[str, list[tuple[int, Any]]] = {}
        self._pending_cost = 0

    def add_document(self, **fields: Any) -> None:
        if not self._plain or any(name.startswith("_") for name in fields):  # boosts, custom stored values
            self.resolve_columns()
            super().add_document(**{name: type(value).compute_many([value])[0] if _deferred(value) else value
                                    for name, value in fields.items()})
            return
        self.check_state()
        schema = self.schema
        fieldnames = sorted(fields)
        self.check_fields(schema, fieldnames)
        perdocwriter = self.perdocwriter
        docnum = self.docnum
        buffers = self._buffers
        pending = self._pending
        size = 0
        # Postings go straight to the buffers, as Whoosh's add_document puts them straight into its pool:
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
                    buffer = buffers.get(fieldname)
                    if buffer is not None and isinstance(value, str):
                        length = buffer.add(docnum, value)
                    else:
                        terms = pending.get(fieldname)
                        if terms is None:
                            terms = pending[fieldname] = {}
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
                    if _deferred(value):
                        self._pending_columns.setdefault(fieldname, []).append((docnum, value))
                        self._pending_cost += value.cost
                    else:
                        perdocwriter.add_column_value(fieldname, column, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        if self._pending_cost > DEFERRED_COST or any(len(pending) >= DEFERRED_BATCH
                                                     for pending in self._pending_columns.values()):
            self.resolve_columns()
        self.pool.fieldnames.update(fields)
        self._pending_size += size
        if self._pending_size + INVERSION_BYTES_PER_WORD * sum(map(len, buffers.values())) > self.pool.limit:
            self._spill()
        self.added = True
        self.docnum += 1

    def resolve_columns(self) -> None:
        """Compute the column values waiting (``_deferred``), a batch per field, and add them in document order."""
        for fieldname, pending in self._pending_columns.items():
            field = self.schema[fieldname]
            values = type(pending[0][1]).compute_many([value for _, value in pending])
            for (docnum, _), value in zip(pending, values):
                add_column_value_at(self.perdocwriter, fieldname, field.column_type, docnum,
                                    field.to_column_value(value))
        self._pending_columns = {}
        self._pending_cost = 0

    def _inverted(self) -> dict[str, Run]:
        """The waiting postings as one run per field; the buffers and ``_pending`` are emptied."""
        runs = {name: run for name, buffer in self._buffers.items() if (run := buffer.run()) is not None}
        for name, terms in self._pending.items():
            if terms:
                runs[name] = Run.from_postings(terms)  # a field is buffered or pending, never both
        self._pending = {}
        self._pending_size = 0
        return runs

    def _spill(self) -> None:
        """Write the waiting postings to files, one run per field."""
        folder = os.path.join(self.temp_storage().folder, f"run-{len(self._spill_folders)}-{os.getpid()}")
        self._spill_folders.append(folder)
        self._runs.append({name: run.spill(os.path.join(folder, name)) for name, run in self._inverted().items()})

    def _field_runs(self) -> Iterator[tuple[str, list[AnyRun]]]:
        """Each field with postings, in order, and its runs in document order (the last ones in memory)."""
        runs: list[dict[str, AnyRun]] = [*self._runs, dict(self._inverted())]
        for fieldname in sorted({name for batch in runs for name in batch}):
            yield fieldname, [batch[fieldname] for batch in runs if fieldname in batch]

    def _entries(self) -> Iterator[tuple[str, bytes, list[int], list[float], list[bytes]]]:
        """Every waiting posting as sorted (field, term, docnums, weights, values) records."""
        for fieldname, runs in self._field_runs():
            for chunk in merged_chunks(runs):
                for tbytes, ids, weights, values, _ in _chunk_terms(*chunk, None):
                    yield fieldname, tbytes, ids, weights, values

    def flush_segment(self) -> None:
        self.resolve_columns()
        self.perdocwriter.close()
        lengths = _PreloadedLengths(self.per_document_reader()) if self.codec.length_stats else None
        sidecar = SidecarWriter(self.newsegment, self.storage, self.docnum)  # every term passes it on its way
        try:
            if self.pool.current or self.pool.runs:  # merged segments, boosted documents: Whoosh's pool
                add = self.pool.add
                for fieldname, tbytes, ids, weights, values in self._entries():
                    for posting in zip(ids, weights, values):
                        add((fieldname, tbytes, *posting))
                _write_postings(self.fieldwriter, sidecar, self.schema, lengths, self.pool.iter_postings())
            else:
                self._write_runs(lengths, sidecar)
            sidecar.finish()
            self.fieldwriter.close()
        except BaseException:
            sidecar.cancel()
            raise
        finally:
            if lengths is not None:
                lengths.close()
            self._remove_spills()

    def _write_runs(self, lengths: _PreloadedLengths | None, sidecar: SidecarWriter) -> None:
        fieldwriter = self.fieldwriter
        for fieldname, runs in self._field_runs():
            fieldwriter.start_field(fieldname, self.schema[fieldname])
            install_postings_writer(fieldwriter)
            field_lengths = lengths.of_field(fieldname) if lengths is not None else None
            for terms, starts, docs, weights, values in merged_chunks(runs):
                sidecar.add_terms(fieldname, terms, starts, docs, weights)  # a chunk of terms at once, in numpy
                for tbytes, ids, term_weights, term_values, doc_lengths in _chunk_terms(
                        terms, starts, docs, weights, values, field_lengths):
                    write_term(fieldwriter, tbytes, ids, term_weights, term_values, doc_lengths)
            fieldwriter.finish_field()

    def _remove_spills(self) -> None:
        for folder in self._spill_folders:
            shutil.rmtree(folder, ignore_errors=True)
        self._spill_folders = []
        self._runs = []

    def close_segment(self) -> None:
        self._pending_columns = {}
        self._remove_spills()
        super().close_segment()


# Documents whose deferred column values are computed together, at most (and at most this much
# of their ``cost``: words, for ``duplicates.PendingBands``).
DEFERRED_BATCH = 256
DEFERRED_COST = 1_000_000


def _deferred(value: Any) -> bool:
    """Whether a column value is to be computed later, with others: its type's ``compute_many(values)``
    gives them, and its ``cost`` says what it holds meanwhile (``duplicates.PendingBands``). A batch
    costs far less than each one alone."""
    return hasattr(type(value), "compute_many")


def write_term_postings(fieldwriter: Any, sidecar: SidecarWriter, fieldname: str, tbytes: bytes, ids: list[int],
                        weights: list[float], values: list[Any], doc_lengths: list[int]) -> None:
    """Write one term's postings (docnums ascending, their weights, values and field lengths) to the
    segment and its posting sidecar."""
    sidecar.add(fieldname, tbytes, ids, weights)
    write_term(fieldwriter, tbytes, ids, weights, values, doc_lengths)


def _chunk_terms(terms: list[bytes], starts: list[int], docs: np.ndarray, weights: np.ndarray, values: list[bytes],
                 field_lengths: np.ndarray | None
                 ) -> Iterator[tuple[bytes, list[int], list[float], list[bytes], list[int]]]:
    """A chunk of merged terms (``merged_chunks``) term by term: (term, docnums, weights, values, field lengths)."""
    ids, weight_list = docs.tolist(), weights.tolist()
    doc_lengths = field_lengths[docs].tolist() if field_lengths is not None else [0] * len(ids)
    for index, tbytes in enumerate(terms):
        start, stop = starts[index], starts[index + 1]
        yield tbytes, ids[start:stop], weight_list[start:stop], values[start:stop], doc_lengths[start:stop]


_BYTE_LENGTHS = np.array([byte_to_length(byte) for byte in range(256)], dtype=np.int64)


class _PreloadedLengths:
    """``doc_field_length`` of a per-document reader, each field's column read once."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.count = reader.doc_count_all()
        self.fields: dict[str, np.ndarray] = {}

    def of_field(self, fieldname: str) -> np.ndarray:
        """The field's length in each document (as the reader gives it: from its one-byte form), by document number."""
        known = self.fields.get(fieldname)
        if known is None:
            data = field_lengths_bytes(self.reader, fieldname, self.count)
            if data is not None:
                known = _BYTE_LENGTHS[np.frombuffer(data, dtype=np.uint8)]
            else:
                length = self.reader.doc_field_length
                known = np.array([length(number, fieldname) or 0 for number in range(self.count)], dtype=np.int64)
            self.fields[fieldname] = known
        return known

    def close(self) -> None:
        self.reader.close()


def _write_postings(fieldwriter: Any, sidecar: SidecarWriter, schema: Any, lengths: _PreloadedLengths | None,
                    items: Any) -> None:
    """What ``FieldWriter.add_postings`` writes for sorted ``(field, term, docnum, weight, value)`` postings,
    with each term's postings handed to the postings writer a block at a time instead of one by one."""
    lastfield = ""
    lastterm = None
    field_lengths: list[int] = []
    ids: list[int] = []
    weights: list[float] = []
    values: list[bytes | None] = []
    doc_lengths: list[Any] = []
    for fieldname, btext, docnum, weight, value in items:
        if fieldname != lastfield or btext != lastterm:
            if lastterm is not None:
                write_term_postings(fieldwriter, sidecar, lastfield, lastterm, ids, weights, values, doc_lengths)
                ids, weights, values, doc_lengths = [], [], [], []
            if fieldname != lastfield:
                if lastfield:
                    if fieldname < lastfield:
                        raise ValueError(f"postings out of order: field {fieldname!r} after {lastfield!r}")
                    fieldwriter.finish_field()
                fieldwriter.start_field(fieldname, schema[fieldname])
                install_postings_writer(fieldwriter)
                field_lengths = lengths.of_field(fieldname).tolist() if lengths is not None else []
                lastfield = fieldname
            elif btext < lastterm:
                raise ValueError(f"postings out of order: term {btext!r} after {lastterm!r}")
            lastterm = btext
        ids.append(docnum)
        weights.append(weight)
        values.append(value)
        doc_lengths.append(field_lengths[docnum] if lengths is not None else 0)
    if lastterm is not None:
        write_term_postings(fieldwriter, sidecar, lastfield, lastterm, ids, weights, values, doc_lengths)
    if lastfield:
        fieldwriter.finish_field()

