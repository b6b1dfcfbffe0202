"""The only writer: incremental updates, atomic full builds, locking.

``build_index`` mirrors the corpus paths into the index. Unchanged files cost a
stat: the index keeps, per document, the size, mtime and SHA-256 of the file it
came from (the ``stamp`` column) and the document's content hash.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import json
import os
import shlex
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from whoosh.index import FileIndex
from whoosh.writing import SegmentWriter

from newsearch import corpus, duplicate_store
from newsearch.analysis import drop_stem_lookup, use_stem_lookup
from newsearch.build_jobs import (  # the per-file steps are the same in every kind of build
    PartitionJob,
    claim_id,
    document_record,
    fewer_collections,
    file_stamp,
    index_partition,
    read_documents,
    work_units,
)
from newsearch.config import (
    CORPUS_ENV,
    DEFAULT_MAX_DELETE,
    corpus_paths_origin,
    max_delete_share,
    resolve_corpus_paths,
    resolve_index_path,
)
from newsearch.corpus import CorpusFile, CorpusSettings, DeletionGuard
from newsearch.errors import CorpusError, IndexCorrupt, IndexNotFound, IndexWriteError, NewsearchError
from newsearch.models import BuildReport, Document, SkippedFile
from newsearch.parallel import Executor, FuturesExecutor, LocalExecutor, WorkerFailed, partition, usable_cores
from newsearch.schema import FileStamp, build_schema, path_key
from newsearch.segments import NewsSegmentWriter
from newsearch.storage import (
    META_FILE,
    LockWaiting,
    check_trusted,
    checksums_set_aside,
    current_generation,
    ensure_checksums,
    ensure_index_root,
    folder_size,
    fsync_tree,
    generation_storage,
    is_index,
    is_live,
    keep_owner,
    missing_file,
    next_generation,
    open_generation,
    read_meta,
    reading,
    remembered_corpus,
    remove_stale_generations,
    switch_current,
    write_checksums,
    write_meta,
    writer_lock,
)
from newsearch.vocabulary import VOCABULARY_FILE, StemLookup, Vocabulary, count_surfaces, known_terms
from newsearch.whoosh_internals import commit_segments

WRITER_LIMIT_MB = 256
PARALLEL_MIN_FILES = 400
PARALLEL_MIN_BYTES = 8 * 1024 * 1024  # or this much text, in few large files (JSON Lines are cut in pieces)
# What indexing a file costs besides its bytes, in bytes of text: jobs are balanced by size plus
# this (measured on BBC: a 2 KB article costs about as much as 6 KB of text in a large file).
FILE_COST_BYTES = 4096
ProgressCallback = Callable[[int, int], None]


@dataclass
class _IndexedFile:
    """What the live index holds for one corpus file."""

    stamp: FileStamp
    raw: bytes  # the stamp as stored
    documents: dict[str, str] = field(default_factory=dict)  # id -> content hash


def build_index(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    index: str | os.PathLike[str] | None = None,
    *,
    rebuild: bool = False,
    wait: float = 0.0,
    max_bytes: int | None = None,
    follow_symlinks: bool | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    executor: Executor | concurrent.futures.Executor | None = None,
    scanned: corpus.CorpusScan | None = None,
    waiting: LockWaiting | None = None,
    prune: bool = False,
    max_delete: float = DEFAULT_MAX_DELETE,
    claimed: Mapping[str, str] | None = None,
) -> BuildReport:
    """Bring the index at ``index`` up to date with the corpus at ``paths``.

    Incremental unless ``rebuild`` (or no index exists yet), in which case a
    complete new generation is built beside the live one and switched to
    atomically; a full build of a large corpus can be written by ``jobs`` worker
    processes (at most one per usable core). The library default is 1: where forking
    is unsafe, workers are spawned processes, which re-import the caller's ``__main__``,
    so a script must guard its entry point (``if __name__ == "__main__":``) before
    asking for more. Raises IndexLocked when another writer holds the lock for longer
    than ``wait`` seconds (``waiting`` is told whom it waits for; the report's
    ``duration_s`` leaves the wait out, ``waited_s`` counts it), CorpusError for a missing corpus path, IndexWriteError
    when the index cannot be written (the previous state is then intact).

    ``executor`` runs a full build's jobs instead of local worker processes: a
    ``concurrent.futures.Executor`` (a process or thread pool, Dask's
    ``Client.get_executor()``) or a ``newsearch.parallel.Executor``, whose workers
    must be able to write the index folder. The build is then cut into ``jobs``
    jobs (not capped by this machine's cores), and the executor stays the caller's
    to shut down. Incremental updates do not use it.

    ``scanned``: the corpus as the caller scanned it under a lock it holds (a shard's share of one
    scan, ``shards``), used instead of scanning ``paths``: the index mirrors those files. ``claimed``:
    ids that files outside this index own (id -> their path key; for a shard, the ids its sharded
    index would hold twice): refused as an id another file owns is, and deleted where held.

    The index remembers its corpus: the paths, the prefix each gives its files' paths (and
    so their ids: a path added later gets its own, and no id changes) and ``follow_symlinks``
    and ``max_bytes`` (None: as remembered, else False and 10 MiB). A run that leaves out a
    path the index was built from, or that would delete more than ``max_delete`` (a share, 0.1
    is 10 %) of its articles, raises CorpusError naming them and changes nothing, unless
    ``prune``; a ``rebuild`` from ``paths`` other than the remembered ones replaces them.
    """
    started = time.monotonic()
    index_root = resolve_index_path(index)
    remembered = remembered_corpus(index_root)
    if not paths and not os.environ.get(CORPUS_ENV) and remembered is None and is_index(index_root):
        # ./corpus would be a guess: an update or rebuild from the wrong corpus replaces the archive.
        raise CorpusError(
            f"the index at {index_root} does not record which corpus it was built from: "
            f"name them: `newsearch index{' --rebuild' if rebuild else ''} --index {shlex.quote(str(index_root))} "
            f"CORPUS_PATH...`"
        )
    corpus_paths = resolve_corpus_paths(paths, remembered=remembered)
    max_delete = max_delete_share(max_delete)
    for path in corpus_paths:  # before anything is created; the scan itself waits for the lock
        if not os.path.lexists(path):
            raise CorpusError(f"corpus path not found: {path}")
    had_index = is_index(index_root)  # for a disk-full message: is there a previous index to keep?
    ensure_index_root(index_root)
    stems: StemLookup | None = None
    try:
        with writer_lock(index_root, wait, waiting) as waited, fewer_collections():
            broken = False
            try:
                live = current_generation(index_root)
            except IndexNotFound:
                live = None
            except IndexCorrupt:  # `current` leads nowhere or outside the folder: a rebuild replaces it
                if not rebuild:
                    raise
                live, broken = None, True
            if live is not None:
                check_trusted(index_root, live)
            if not broken:  # with `current` broken, no generation is known to be abandoned
                remove_stale_generations(index_root, live)
            known = _remembered_settings(live, remembered)
            settings = corpus.plan(corpus_paths, known, follow_symlinks=follow_symlinks, max_bytes=max_bytes)
            max_bytes = settings.max_bytes
            # Scanned under the lock: a run that waited must see the corpus as it is now,
            # or it would undo what the run before it added.
            scan = scanned if scanned is not None else corpus.scan(
                settings.roots, follow_symlinks=settings.follow_symlinks, exclude=[index_root])
            report = BuildReport(index_path=str(index_root), ignored=scan.ignored, skipped=list(scan.skipped),
                                 ignored_types=scan.ignored_types, waited_s=waited)
            guard = None
            # A rebuild from paths named other than the index's replaces its corpus: not guarded.
            if live is not None and not (rebuild and paths and set(corpus_paths) != set(known.paths if known else ())):
                guard = DeletionGuard(index_root, tuple(known.paths) if known else (), tuple(corpus_paths),
                                      prune, max_delete, corpus_paths_origin(paths))
            if live is None or rebuild:
                # One worker per usable core at most: more only share the cores, and each writes
                # a segment that every later search has to visit.
                workers = min(jobs, usable_cores())
                if len(scan.files) < PARALLEL_MIN_FILES and sum(file.size for file in scan.files) < PARALLEL_MIN_BYTES:
                    workers = 1  # starting workers costs more than they save
                if executor is not None:
                    workers = max(jobs, 1)  # the caller's workers: already started, and not necessarily here
                if guard is not None and live is not None:
                    _check_rebuild(guard, live, scan)
                _full_build(index_root, settings, scan.files, report, max_bytes, progress, workers, executor,
                            claimed or {})
            else:
                # Stems of words the index has seen come from its vocabulary: a small update
                # then rarely needs to stem at all.
                stems = StemLookup(live / VOCABULARY_FILE)
                use_stem_lookup(stems)
                ix = open_generation(live, mmap=False)
                if not scan.files and ix.doc_count() and not prune:
                    # An unmounted drive or a wrong path looks like a corpus whose articles were all
                    # deleted; emptying an index is what --rebuild is for.
                    raise CorpusError(
                        f"no articles found in {', '.join(str(path) for path in corpus_paths)}, but the index "
                        f"holds {ix.doc_count():,}: not deleting them all (is a folder or drive missing?); "
                        f"to empty the index, run with --prune"
                    )
                with reading(index_root):  # the live index's files are read: their damage is reported as such
                    _update(ix, live, settings, scan.files, report, max_bytes, progress,
                            unreadable=[skipped.path for skipped in scan.skipped], guard=guard, claimed=claimed or {})
    except _DiskFull as exc:
        # Reported now, after the failed run's files are gone, so the free space is right.
        raise _write_error(OSError(errno.ENOSPC, "No space left on device"), index_root, exc.corpus_bytes,
                           exc.room, had_index) from None
    except OSError as exc:  # folders, the lock, metadata: what the writer itself does not guard
        if isinstance(exc, FileNotFoundError) and exc.filename and _inside(exc.filename, index_root):
            raise missing_file(index_root, exc.filename) from None  # under the lock, nothing else removes it
        corpus_bytes = _corpus_bytes(corpus_paths)
        raise _write_error(exc, index_root, corpus_bytes, _Room(corpus_bytes * BUILD_BYTES_PER_CORPUS_BYTE, 0),
                           had_index) from None
    finally:
        keep_owner(index_root)  # root updating a user's index (trusted): the files stay the user's
        if stems is not None:  # the run's: an embedder's process must not keep the vocabulary mapped
            drop_stem_lookup(stems)
            stems.close()
    report.duration_s = time.monotonic() - started - report.waited_s
    return report


def _full_build(
    index_root: Path,
    settings: CorpusSettings,
    files: list[CorpusFile],
    report: BuildReport,
    max_bytes: int,
    progress: ProgressCallback | None,
    jobs: int,
    executor: Executor | concurrent.futures.Executor | None = None,
    claimed: Mapping[str, str] = MappingProxyType({}),
) -> None:
    generation = next_generation(index_root)
    parallel: _PartitionedBuild | None = None
    try:
        write_meta(generation, _meta(settings, created=time.time()))
        ix = generation_storage(generation, mmap=False).create_index(build_schema())
        if files and (jobs > 1 or executor is not None):
            parallel = _PartitionedBuild(ix, generation, files, jobs, executor, claimed)
            parallel.run(report, max_bytes, progress)
        else:
            writer = _DocumentWriter(ix, generation, sum(file.size for file in files))
            seen_ids = dict(claimed)
            for done, file in enumerate(files, 1):
                read = read_documents(file, report, max_bytes)
                if read is not None:
                    for document in read.documents:
                        if claim_id(document, seen_ids, report):
                            writer.add(document, file, read.stamp)
                            report.added += 1
                if progress:
                    progress(done, len(files))
            writer.commit()
        duplicate_store.refresh(generation, ix)
        report.documents = ix.doc_count()
        write_meta(generation, _meta(settings, created=time.time()))
        write_checksums(generation, ix.latest_generation())
        fsync_tree(generation)
        switch_current(index_root, generation)
    except BaseException:
        if not is_live(index_root, generation):  # once switched to, it is the index: keep it
            shutil.rmtree(generation, ignore_errors=True)
        raise
    finally:
        if parallel is not None and parallel.stems is not None:  # every word of the corpus: not kept after the build
            drop_stem_lookup(parallel.stems)
    report.rebuilt = True


class _PartitionedBuild:
    """A full build as ``PartitionJob``s run by an executor (a ``LocalExecutor`` unless the caller
    gives one); the parent commits their segments."""

    def __init__(self, ix: FileIndex, generation: Path, files: list[CorpusFile], jobs: int,
                 executor: Executor | concurrent.futures.Executor | None = None,
                 claimed: Mapping[str, str] = MappingProxyType({})) -> None:
        self.ix = ix
        self.claimed = claimed
        self.generation = generation
        self.files = files
        self.jobs = jobs
        self.corpus_bytes = sum(file.size for file in files)
        self.room = _room_needed(generation, self.corpus_bytes)  # before anything is written
        self.lock_holder: SegmentWriter | None = None
        self.given = executor  # the caller's: used, never shut down here
        self.executor: LocalExecutor | None = None  # ours: started and shut down here
        self.stems: Callable[[str], str | None] | None = None  # the stem lookup it sets, from the workers' vocabularies

    def run(self, report: BuildReport, max_bytes: int, progress: ProgressCallback | None) -> None:
        try:
            self._run(report, max_bytes, progress)
        except BaseException as exc:
            self.cancel()
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise _DiskFull(self.corpus_bytes, self.room) from None
            if isinstance(exc, WorkerFailed):
                raise IndexWriteError(f"building the index in {self.generation.parent} failed: {exc}") from None
            raise

    def _run(self, report: BuildReport, max_bytes: int, progress: ProgressCallback | None) -> None:
        units = work_units(self.files, self.jobs, max_bytes, FILE_COST_BYTES)
        slices = partition([unit.size + FILE_COST_BYTES for unit in units], self.jobs)
        limitmb = max(WRITER_LIMIT_MB // len(slices), 32)
        jobs = [PartitionJob(str(self.generation), tuple(units[part.start:part.stop]), max_bytes, limitmb)
                for part in slices]
        done = 0

        def files_done(count: int) -> None:
            nonlocal done
            done += count
            if progress:
                progress(done, len(units))

        executor: Executor
        verifier: Executor  # verifies the near-duplicate candidates after the commit
        if self.given is None:
            executor = verifier = self.executor = LocalExecutor(len(jobs))
        elif isinstance(self.given, concurrent.futures.Executor):
            executor = FuturesExecutor(self.given, units=lambda job: len(job.files))
            verifier = FuturesExecutor(self.given)
        else:
            executor = verifier = self.given
        # Whoosh's lock of the new generation, taken after the workers started (forked ones must not
        # hold a copy of it); the segment writer it comes with writes the table of contents.
        self.lock_holder = SegmentWriter(self.ix, limitmb=16)
        results = executor.map(index_partition, jobs, files_done)
        # Ids are claimed in corpus order across jobs too: a later job's document whose id an
        # earlier file owns is deleted from its segment (rare: explicit ids repeated across files).
        owners = dict(self.claimed)
        segments = []
        for result in results:
            report.skipped.extend(result.skipped)
            report.warnings.extend(result.warnings)
            for docnum, (doc_id, path) in enumerate(result.documents):
                owner = owners.get(doc_id)
                if owner is not None:  # another file's id, or one repeated in a later piece of the same file
                    report.skipped.append(SkippedFile(path, f"duplicate id: {doc_id!r} is already used by {owner}"))
                    result.segment.delete_document(docnum)
                else:
                    owners[doc_id] = path
                    report.added += 1
            if result.segment is not None:
                segments.append(result.segment)
        vocabulary = Vocabulary.load(self.generation).combined(*(result.vocabulary for result in results))
        vocabulary.save(self.generation)
        # The parent has stemmed nothing: the near-duplicate check after the commit takes
        # the stems of its words from the vocabulary rather than from NLTK.
        self.stems = dict(zip(vocabulary.words, vocabulary.stems)).get
        use_stem_lookup(self.stems)
        writer = self.lock_holder
        commit_segments(writer, segments)
        duplicate_store.refresh(self.generation, self.ix, verifier, len(jobs))
        if self.executor is not None:
            self.executor.shutdown()

    def cancel(self) -> None:
        """Stop the workers and release Whoosh's lock; the caller removes the generation."""
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
        if self.lock_holder is not None and not self.lock_holder.is_closed:
            try:
                self.lock_holder.cancel()
            except Exception:
                lock = getattr(self.lock_holder, "writelock", None)
                if lock is not None:
                    lock.release()


def _update(
    ix: FileIndex,
    generation: Path,
    settings: CorpusSettings,
    files: list[CorpusFile],
    report: BuildReport,
    max_bytes: int,
    progress: ProgressCallback | None,
    unreadable: Sequence[str] = (),
    guard: DeletionGuard | None = None,
    claimed: Mapping[str, str] = MappingProxyType({}),
) -> None:
    indexed = _indexed_files(ix)
    owners = {doc_id: path for path, entry in indexed.items() for doc_id in entry.documents}
    owners.update(claimed)
    # Files holding an id that another now owns are read again, to delete it (as a duplicate).
    contested = {path for path, entry in indexed.items() if not claimed.keys().isdisjoint(entry.documents)}
    present = {path_key(file.relpath) for file in files}
    # What the scan could not look at (no longer a regular file, an unreadable folder) still
    # exists: its indexed documents are kept, as for a file that cannot be read.
    still_there = _under(indexed, [path_key(path) for path in unreadable]) - present
    for path in still_there:
        report.unchanged += len(indexed[path].documents)
    gone = [path for path in indexed if path not in present and path not in still_there]
    documents_before = ix.doc_count()
    if guard is not None:  # before anything is read or written
        guard.check({path: len(indexed[path].documents) for path in gone}, documents_before)
    changed: list[CorpusFile] = []
    for file in files:
        entry = indexed.get(path_key(file.relpath))
        if path_key(file.relpath) in contested:
            changed.append(file)
            continue
        if entry and (entry.stamp.size, entry.stamp.mtime_ns) == (file.size, file.mtime_ns):
            report.unchanged += len(entry.documents)
            continue
        stamp = file_stamp(file, max_bytes)  # None: unreadable now, and read_documents says why
        if entry and stamp is not None and entry.stamp.sha256 == stamp.sha256:
            report.unchanged += len(entry.documents)  # touched, same bytes
            continue
        changed.append(file)
    # A file that failed to read last time has no entry and is retried every run,
    # so its skip is reported until it is fixed.
    if not changed and not gone:
        duplicate_store.refresh(generation, ix)  # only if a run died before writing it
        ensure_checksums(generation, ix.latest_generation())  # likewise
        if corpus.settings_from_meta(read_meta(generation)) != settings:  # a root or an option given anew
            with checksums_set_aside(generation, ix.latest_generation()):
                write_meta(generation, _meta(settings, created=_created(generation)))
            write_checksums(generation, ix.latest_generation())
        report.documents = ix.doc_count()
        return
    durable = set(os.listdir(generation))  # fsynced by the run that wrote them
    writer = _DocumentWriter(ix, generation, sum(file.size for file in changed))
    deleted: Counter[str] = Counter()  # per file, the articles this run deletes
    # The stamps this run writes carry its commit number: a file whose unchanged articles are kept
    # has articles of several stamps, and the newest says what the index holds of it.
    written = ix.latest_generation() + 1
    try:  # an interrupt between writes (reading a file, say) must not leave the writer's files behind either
        for path in gone:
            writer.delete_file(path)
            deleted[path] += len(indexed[path].documents)
            _release(owners, indexed[path].documents, path)
        for done, file in enumerate(changed, 1):
            key = path_key(file.relpath)
            entry = indexed.get(key)
            before = entry.documents if entry else {}
            read = read_documents(file, report, max_bytes)  # stamped with the bytes it read, not a separate read
            if read is None or (entry and entry.stamp.sha256 == read.stamp.sha256 and key not in contested):
                report.unchanged += len(before)  # unreadable now (keep what the index has), or changed back
                continue
            stamp = dataclasses.replace(read.stamp, written=written)
            _release(owners, before, key)
            # Only the articles that changed are written: a few edited records of a large dump
            # cost a few articles, not the whole file.
            kept: set[str] = set()
            first_kept: Document | None = None
            stamped = False
            for document in read.documents:
                if not claim_id(document, owners, report):
                    continue
                kept.add(document.id)
                old_hash = before.get(document.id)
                if old_hash == document.content_hash:
                    report.unchanged += 1
                    first_kept = first_kept or document
                    continue
                if old_hash is not None:
                    writer.delete_document(document.id)
                    report.updated += 1
                else:
                    report.added += 1
                writer.add(document, file, stamp)
                stamped = True
            removed = set(before) - kept
            for doc_id in removed:
                writer.delete_document(doc_id)
            deleted[key] += len(removed - claimed.keys())  # a duplicate's removal is its skip, not a deletion
            if not stamped and first_kept is not None:  # one article carries the file's new stamp
                writer.delete_document(first_kept.id)
                writer.add(first_kept, file, stamp)
            if progress:
                progress(done, len(changed))
        report.deleted += sum(deleted.values())
        if guard is not None:  # articles gone from files that changed count too
            guard.check(deleted, documents_before)
    except BaseException:
        writer.cancel()
        raise
    with checksums_set_aside(generation, ix.latest_generation()):  # the vocabulary is replaced first
        writer.commit()
    try:  # committed: a failure now must not say that the previous index is intact
        duplicate_store.refresh(generation, ix)
        report.documents = ix.doc_count()
        write_meta(generation, _meta(settings, created=_created(generation)))
        write_checksums(generation, ix.latest_generation())
        fsync_tree(generation, skip=durable)
    except OSError as exc:
        raise _unfinished(exc, generation.parent) from None


def _release(owners: dict[str, str], doc_ids: Iterable[str], path: str) -> None:
    """The ids ``path`` owned are free again (not those that files outside the index own)."""
    for doc_id in doc_ids:
        if owners.get(doc_id) == path:
            del owners[doc_id]


def _under(indexed: dict[str, _IndexedFile], paths: Sequence[str]) -> set[str]:
    """The indexed paths that are one of ``paths`` or lie in a folder among them."""
    if not paths:
        return set()
    exact = set(paths)
    folders = tuple(path + "/" for path in paths)
    return {path for path in indexed if path in exact or path.startswith(folders)}


def _meta(settings: CorpusSettings, created: float) -> dict[str, object]:
    """A generation's newsearch.json: when it was made and updated, and from which corpus (a later
    ``newsearch index`` without paths updates it from those paths, read the same way)."""
    return {"created": created, "updated": time.time(), **settings.to_meta()}


def _remembered_settings(live: Path | None, remembered: list[str] | None) -> CorpusSettings | None:
    """The corpus the live generation's newsearch.json names, of whatever format; else the
    paths an older generation remembers (``remembered_corpus``)."""
    meta: object = {}
    if live is not None:
        try:
            meta = json.loads((live / META_FILE).read_bytes()[:1 << 20])
        except (OSError, ValueError, RecursionError):
            pass
    known = corpus.settings_from_meta(meta) if isinstance(meta, dict) else None
    return known or corpus.settings_from_meta({"corpus": remembered or []})


def _check_rebuild(guard: DeletionGuard, live: Path, scan: corpus.CorpusScan) -> None:
    """Refuse a rebuild that would lose the articles of files not found, or not readable, now.
    Of an index that cannot be read (another format, damage: what a rebuild repairs) only the
    paths are checked."""
    try:
        ix = open_generation(live, mmap=False)
        try:
            indexed, documents = _indexed_files(ix), ix.doc_count()
        finally:
            ix.close()
    except (NewsearchError, OSError):  # another format, damage: what the rebuild replaces
        indexed, documents = {}, 0
    present = {path_key(file.relpath) for file in scan.files}
    guard.check({path: len(entry.documents) for path, entry in indexed.items() if path not in present}, documents)


def _created(generation: Path) -> float:
    value = read_meta(generation).get("created")
    return float(value) if isinstance(value, (int, float)) else time.time()


def _indexed_files(ix: FileIndex) -> dict[str, _IndexedFile]:
    """Per corpus file, its stamp and documents, from the index's columns (no stored-field reads)."""
    result: dict[str, _IndexedFile] = {}
    with ix.reader() as reader:
        if not reader.doc_count_all():
            return result  # an index with no segment has no columns to read
        paths = reader.column_reader("path")
        stamps = reader.column_reader("stamp")
        ids = reader.column_reader("id")
        hashes = reader.column_reader("content_hash")
        for docnum in reader.all_doc_ids():
            path = paths[docnum]
            entry = result.get(path)
            raw = stamps[docnum]
            if entry is None:
                entry = result[path] = _IndexedFile(FileStamp.decode(raw), raw)
            elif raw != entry.raw:  # an update kept some of the file's articles: the newest stamp counts
                stamp = FileStamp.decode(raw)
                if stamp.written > entry.stamp.written:
                    entry.stamp, entry.raw = stamp, raw
            entry.documents[ids[docnum]] = hashes[docnum].decode("ascii")
    return result


class _DocumentWriter:
    """The Whoosh writer, cancelled, never committed, after any failure.

    Whoosh leaves half-added postings behind when ``add_document`` raises, and they
    would attach to the next document; so one failure ends the writer.
    """

    def __init__(self, ix: FileIndex, generation: Path, corpus_bytes: int) -> None:
        self.generation = generation
        self.corpus_bytes = corpus_bytes  # what this writer is about to index, for a disk-full message
        self.room = _room_needed(generation, corpus_bytes)
        self.preexisting = set(os.listdir(generation))  # a cancelled writer removes everything else
        self.cancelled = False
        self.writer = NewsSegmentWriter(ix, limitmb=WRITER_LIMIT_MB)
        self.surface_counts = count_surfaces(self.writer.schema)

    def add(self, document: Document, file: CorpusFile, stamp: FileStamp) -> None:
        try:
            record = document_record(document, file, stamp)
        except IndexWriteError:
            self.cancel()
            raise
        self._guarded(lambda: self.writer.add_document(**record))

    def delete_file(self, relpath: str) -> None:
        self._guarded(lambda: self.writer.delete_by_term("path", relpath))

    def delete_document(self, doc_id: str) -> None:
        self._guarded(lambda: self.writer.delete_by_term("id", doc_id))

    def commit(self) -> None:
        """Save the vocabulary (a superset is harmless), then commit the table of contents."""
        terms = known_terms(self.writer.schema)
        self._guarded(lambda: Vocabulary.load(self.generation).merged(self.surface_counts, terms).save(self.generation))
        self._guarded(self.writer.commit)

    def _guarded(self, action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as exc:
            self.cancel()
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise _DiskFull(self.corpus_bytes, self.room) from None
            raise

    def cancel(self) -> None:
        """Stop writing, release Whoosh's lock and remove every file this writer made (once)."""
        if self.cancelled:
            return
        self.cancelled = True
        try:
            self.writer.cancel()
        except Exception:
            # A writer that failed mid-commit (e.g. ENOSPC) can fail again on cancel
            # and keep Whoosh's lock; release it ourselves.
            lock = getattr(self.writer, "writelock", None)
            if lock is not None:
                try:
                    lock.release()
                except Exception:
                    pass
        # Whoosh leaves a failed writer's segment files and temporary folder behind; on a
        # full disk they would keep it full. The table of contents never named them.
        for name in set(os.listdir(self.generation)) - self.preexisting:
            path = self.generation / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _inside(path: str | os.PathLike[str], folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(folder.absolute())


def _corpus_bytes(paths: list[Path]) -> int:
    return sum(folder_size(path) if path.is_dir() else path.stat().st_size for path in paths if path.exists())


class _DiskFull(Exception):
    """The disk filled up; build_index reports it once the failed run has cleaned up."""

    def __init__(self, corpus_bytes: int, room: _Room) -> None:
        super().__init__("disk full")
        self.corpus_bytes = corpus_bytes
        self.room = room


# What a build writes at its peak per byte of article text: the segment, Whoosh's sorted runs
# and our side files. Measured (the largest size the index folder reached while building): BBC
# (5 MB of articles) 5.8 in one process and 4.9 with two, a 9 MB article 2.4, 36 short
# articles 2.0; the finished index is about 3 (BBC).
BUILD_BYTES_PER_CORPUS_BYTE = 6
# Files a commit writes whatever its size (Whoosh's segment parts and runs, our sidecars, the
# table of contents, checksums): each takes at least a block of the file system, which for small
# builds outweighs their bytes (on a tmpfs, 12 short articles needed 147 KB, 18 KB over the
# estimate by bytes; an update rewriting a 395 KB vocabulary 64 KB over).
FILES_WRITTEN_PER_COMMIT = 32


@dataclass(frozen=True)
class _Room:
    """The free space indexing into a generation takes: ``needed``, and ``merged`` more when the
    commit merges segments."""

    needed: int
    merged: int


def _room_needed(generation: Path, corpus_bytes: int) -> _Room:
    """The room for indexing ``corpus_bytes`` of articles into ``generation``: the new segment at
    its peak and the side files written again whole; a commit may also merge the segments, all
    but the largest (Whoosh's policy merges the smaller ones) into one."""
    sides = segments = largest = files = 0
    for entry in os.scandir(generation):
        if entry.is_file(follow_symlinks=False):
            size = entry.stat().st_size
            files += 1
            if entry.name.endswith(".seg"):
                segments += size
                largest = max(largest, size)
            else:
                sides += size
    slack = (files + FILES_WRITTEN_PER_COMMIT) * os.statvfs(generation).f_bsize  # each file's last block
    return _Room(corpus_bytes * BUILD_BYTES_PER_CORPUS_BYTE + sides + slack, segments - largest)


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    return f"{count / 1e3:,.0f} KB" if count < 1e6 else f"{count / 1e6:,.1f} MB"


def _unfinished(exc: OSError, index_root: Path) -> IndexWriteError:
    """A failure after the commit: the new articles are indexed; what follows it is redone next run."""
    cause = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return IndexWriteError(
        f"the update of the index in {index_root} is committed (searches see the new articles), but finishing "
        f"it failed: {cause}; {'free some space and ' if exc.errno == errno.ENOSPC else ''}"
        f"run `newsearch index --index {shlex.quote(str(index_root))}` again to finish it"
    )


def _write_error(exc: OSError, index_root: Path, corpus_bytes: int, room: _Room, had_index: bool) -> IndexWriteError:
    if exc.errno == errno.ENOSPC:
        free = shutil.disk_usage(index_root if index_root.exists() else index_root.parent).free
        merged = f" (up to {_size(room.needed + room.merged)} if it merges segments)" if room.merged else ""
        kept = ("the previous index is intact" if had_index
                else "there was no index yet, and the failed build left nothing behind")
        return IndexWriteError(
            f"disk full while writing the index in {index_root}: {_size(free)} free; it needs about "
            f"{_size(room.needed)} for {_size(corpus_bytes)} of articles{merged}; free some space and run "
            f"again ({kept})"
        )
    if exc.errno == errno.EROFS:
        return IndexWriteError(f"cannot write the index in {index_root}: it is on a read-only file system")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return IndexWriteError(f"cannot write the index in {index_root}: permission denied")
    return IndexWriteError(f"writing the index in {index_root} failed: {exc.strerror or exc}")
