"""The work of a build as plain data: the partition job an executor runs, and the per-file steps of every build.

A parallel full build (``indexer``) cuts the corpus into ``PartitionJob``s and maps
``index_partition`` over them with an ``parallel.Executor``: each job reads,
analyses and writes one slice of the corpus as one uncommitted Whoosh segment in
the new generation folder, and returns a ``PartitionResult``; the caller then
commits every segment in one table of contents. Jobs and results are plain,
picklable data and ``index_partition`` is module-level, so any executor whose
workers can reach the generation folder can run them: local processes, a
``concurrent.futures`` pool, a cluster.

The per-file steps (read a file with the stamp of the bytes read, stamp a file
without parsing it, claim its documents' ids, make their index records) are the
same for a job, a one-process build and an update; the indexer uses them from here.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from whoosh import index as whoosh_index

from newsearch import corpus
from newsearch.corpus import CorpusFile, FilePiece, FileVersion
from newsearch.duplicates import PendingBands
from newsearch.errors import CorpusError, IndexWriteError
from newsearch.models import BuildReport, Document, SkippedFile
from newsearch.parallel import report_progress
from newsearch.schema import FileStamp, path_key, to_record
from newsearch.segments import NewsSegmentWriter
from newsearch.vocabulary import Vocabulary, count_surfaces, known_terms
from newsearch.whoosh_internals import finish_segment, unlocked_writer


@dataclass(frozen=True)
class PartitionJob:
    """One job of a parallel full build: index ``files`` (a slice of the corpus) as one segment of ``generation``."""

    generation: str
    files: tuple[CorpusFile | FilePiece, ...]  # whole files, or pieces of one (``work_units``)
    max_bytes: int
    limitmb: int


@dataclass
class PartitionResult:
    """A job's segment (None when nothing was added), its documents and what it skipped."""

    segment: Any  # Whoosh's segment (untyped)
    documents: list[tuple[str, str]]  # (id, path key) of each added document, in segment order
    skipped: list[SkippedFile]
    vocabulary: Vocabulary  # made in the worker, which has stemmed its words already
    warnings: list[SkippedFile] = field(default_factory=list)


def index_partition(job: PartitionJob) -> PartitionResult:
    """Run one ``PartitionJob`` (in a worker): read, analyse and write its segment, uncommitted."""
    with fewer_collections():  # a forked worker inherits the parent's setting, a spawned one does not
        return _index_partition(job)


def _index_partition(job: PartitionJob) -> PartitionResult:
    ix = whoosh_index.open_dir(job.generation)
    writer = unlocked_writer(NewsSegmentWriter, ix, limitmb=job.limitmb)
    counts = count_surfaces(writer.schema)
    report = BuildReport(index_path=job.generation)
    seen_ids: dict[str, str] = {}
    added: list[tuple[str, str]] = []
    for file in job.files:
        read = read_documents(file, report, job.max_bytes)
        if read is not None:
            for document in read.documents:
                if claim_id(document, seen_ids, report):
                    writer.add_document(**document_record(document, file, read.stamp))
                    added.append((document.id, path_key(document.path)))
        report_progress(1)
    segment = finish_segment(writer)
    return PartitionResult(segment, added, report.skipped, Vocabulary.counted(counts, known_terms(writer.schema)),
                           report.warnings)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run Python's cyclic garbage collector less often while indexing.

    A build allocates millions of small lists (postings waiting for the segment)
    that are never garbage, and every full collection walks them all: at the
    default thresholds that is 3-5 % of a build. Collections still run, 100 times
    less often.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 100 * 700), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@dataclass(frozen=True)
class FileDocuments:
    """A file's documents, read as they are iterated (a large JSON Lines file is streamed), and
    the stamp of the bytes they are read from: known before the first, for every record."""

    documents: Iterable[Document]
    stamp: FileStamp


def read_documents(file: CorpusFile | FilePiece, report: BuildReport, max_bytes: int) -> FileDocuments | None:
    """The file's (or piece's) documents and stamp, or None (reported as skipped) when the file
    is unusable; the problems met while its documents are iterated are added to ``report``."""
    try:
        articles = corpus.read_articles(file, max_bytes=max_bytes)
    except CorpusError as exc:
        report.skipped.append(SkippedFile(file.relpath, _reason(exc, file)))
        return None
    return FileDocuments(_reported(articles.items, report), _stamp(articles.version))


def _reported(items: Iterable[Document | SkippedFile | corpus.Warned], report: BuildReport) -> Iterator[Document]:
    for item in items:
        if isinstance(item, Document):
            yield item
        elif isinstance(item, corpus.Warned):
            report.warnings.append(item.note)
        else:
            report.skipped.append(item)


# A JSON Lines file is cut into pieces for several workers only when each piece is at least this big.
MIN_PIECE_BYTES = 1024 * 1024


def work_units(files: Sequence[CorpusFile], jobs: int, max_bytes: int, cost: int = 0) -> list[CorpusFile | FilePiece]:
    """The corpus as a parallel build's jobs share it: whole files, except that a file of one
    article per line (JSON Lines) larger than a job's share is cut into pieces at line starts.

    ``cost`` is what indexing a file costs besides its bytes, as the jobs are balanced.
    """
    share = sum(file.size + cost for file in files) / max(jobs, 1)
    units: list[CorpusFile | FilePiece] = []
    for file in files:
        pieces = min(-(-file.size // max(int(share), 1)), file.size // MIN_PIECE_BYTES)
        units.extend(corpus.cut_file(file, pieces, max_bytes=max_bytes) if jobs > 1 and pieces > 1 else [file])
    return units


def _reason(exc: Exception, file: CorpusFile | FilePiece) -> str:
    message = str(exc)
    prefix = f"{file.relpath}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def claim_id(document: Document, owners: dict[str, str], report: BuildReport) -> bool:
    """Record that ``document.path`` owns its id; refuse an id another file owns."""
    owner = owners.get(document.id)
    if owner is not None and owner != path_key(document.path):
        report.skipped.append(SkippedFile(document.path, f"duplicate id: {document.id!r} is already used by {owner}"))
        return False
    owners[document.id] = path_key(document.path)
    return True


def file_stamp(file: CorpusFile, max_bytes: int) -> FileStamp | None:
    """The file's size, mtime and SHA-256 as it is now: what tells an update that it changed.

    None when it cannot be read (``read_documents`` then says why). Never blocks: a FIFO or
    folder swapped in after the scan is refused on its open descriptor.
    """
    try:
        return _stamp(corpus.file_version(file, max_bytes=max_bytes))
    except CorpusError:
        return None


def _stamp(version: FileVersion) -> FileStamp:
    return FileStamp(version.size, version.mtime_ns, version.sha256)


def document_record(document: Document, file: CorpusFile | FilePiece, stamp: FileStamp) -> dict[str, object]:
    """The document's index record; IndexWriteError when it cannot be indexed."""
    try:
        record = to_record(document, str(file.path), stamp)
    except ValueError as exc:
        raise IndexWriteError(f"{document.path}: invalid document {document.id!r}: {exc}") from None
    # The near-duplicate band keys, from the title and body as indexed (validated, cut to length),
    # computed by the segment writer for a batch of documents at once.
    record["dup_bands"] = PendingBands.of(cast(str, record["title"]), cast(str, record["body"]))
    return record
