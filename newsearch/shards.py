"""Sharded indexes: one folder of N shards, each a complete newsearch index, searched as one.

The folder holds ``shards.json`` (the manifest: the shards' names, the routing rule, the corpus
and a version), one folder per shard (``shard-000``, ...: an index with its own generations,
lock and checks), and ``duplicates.tsv``, the near-duplicate pairs across every shard (the band
hashes each article's MinHash signature leaves are global, so copies in two shards pair up).

Routing: a corpus file goes to the shard that a hash of its path (relative to its corpus folder)
names. For one article per file that is the article's id; a file of many articles stays on one
shard, because an update re-reads, stamps and deletes whole files. Period routing would let a
date-filtered query skip shards, but every query still needs every shard's statistics (exact
scores), and news arrives by period: the newest shard would take every update and most searches.

Building (``build_sharded``): under the one writer lock of the folder, the corpus is scanned once
and each shard brought up to date by ``build_index`` (its share of the scan, ``routed``) as one job of an ``Executor``
(local processes by default, or a Dask cluster), so an update rewrites only the shards whose
files changed; then the pairs across shards are brought up to date and the manifest written.
An article id in files of two shards is kept where one index keeps it (``_Claims``): the manifest
records the owner, and the other shard refuses the copy (built again, or updated, without it).
A killed build leaves every shard at its previous state or its new one, each searchable; a shard
job that outlives its build (a cluster runs a job on after its client died) stops within a file
once the next build takes the index's lock, and that build waits for the job's shard lock.

Searching (``ShardedIndex``, an ``Index``): the shards' segments are read as one collection
(Whoosh's ``MultiReader``), so compiling a query (corrections, expansions), the statistics of
BM25F, the rerank, facets, timelines, passages and the folding of copies are those of one index
over the same articles. With an executor, the one pass that scores a plain query's postings
(``candidates.gather``, the work that grows with the archive) runs on the workers, one job per
shard, each scored with the statistics of all the shards (``scoring.CollectionStatistics``, the
dfs_query_then_fetch of Elasticsearch); the coordinator merges the shards' best candidates and
keeps the same ones one index would. A worker keeps its shards open between queries.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import heapq
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from whoosh.index import FileIndex
from whoosh.reading import MultiReader
from whoosh.searching import Searcher

from newsearch import duplicate_store, status
from newsearch.analysis import drop_stem_lookup, use_stem_lookup
from newsearch.candidates import Gathered, gather
from newsearch.compiler import ConceptParts
from newsearch.config import (
    DEFAULT_MAX_DELETE,
    corpus_paths_origin,
    max_delete_share,
    resolve_corpus_paths,
    resolve_index_path,
)
from newsearch.duplicate_store import DuplicatePairs
from newsearch.errors import CorpusError, IndexCorrupt, IndexNotFound, IndexWriteError, NewsearchError
from newsearch.models import BuildReport, CheckReport, IndexStats
from newsearch.parallel import (
    Executor,
    FuturesExecutor,
    LocalExecutor,
    Residents,
    WorkerFailed,
    dask_client,
    report_progress,
    roomy_heap,
    usable_cores,
)
from newsearch.schema import FileStamp, path_key
from newsearch.scoring import RANKING, BM25FModel, CollectionStatistics, RankingConfig
from newsearch.searcher import DEFAULT_TIME_LIMIT_S, Index, _Snapshot
from newsearch.storage import (
    LOCK_FILE,
    ensure_index_root,
    is_index,
    is_live,
    open_current,
    open_generation,
    reading,
    write_atomically,
    writer_lock,
)
from newsearch.vocabulary import VOCABULARY_FILE, StemLookup, Vocabulary

if TYPE_CHECKING:  # building imports the corpus readers and the writer; searching needs neither
    from newsearch.corpus import CorpusScan, DeletionGuard

MANIFEST = "shards.json"
FORMAT = 1
ROUTING = "path-hash"
UNRECORDED = 2**40  # the pairs' "commit" for shard states the manifest does not record (see ``_pairs_toc``)


# -- the manifest and the routing ------------------------------------------------------------

def shard_of(relpath: str, count: int) -> int:
    """The shard (0 .. count-1) of the corpus file at ``relpath``: a hash, the same on every machine."""
    digest = hashlib.sha256(relpath.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def routed(scan: CorpusScan, count: int) -> list[CorpusScan]:
    """One scan of the corpus cut into each shard's share: its files; what could not be looked at
    goes to every shard (an update keeps what a shard holds from there)."""
    from newsearch.corpus import CorpusScan

    shares = [CorpusScan(skipped=list(scan.skipped), ignored=scan.ignored, ignored_types=dict(scan.ignored_types))
              for _ in range(count)]
    for file in scan.files:
        shares[shard_of(file.relpath, count)].files.append(file)
    return shares


def is_sharded(path: str | os.PathLike[str] | None) -> bool:
    """Whether the index folder at ``path`` (resolved as ``open_index`` resolves it) is a sharded index."""
    try:
        return (resolve_index_path(path) / MANIFEST).is_file()
    except OSError:  # an unreadable folder: opening it as one index says what is wrong
        return False


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the sharded index at ``root``; IndexNotFound or IndexCorrupt naming the file."""
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexNotFound(f"no sharded index at {root}: build one with `newsearch index --shards N "
                            f"--index {root} CORPUS_PATH...`") from None
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"the manifest {path} cannot be read ({exc}): rebuild the index") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("routing") != ROUTING \
            or not isinstance(manifest.get("shards"), list) or not manifest["shards"]:
        raise IndexCorrupt(f"the manifest {path} is not a sharded index of format {FORMAT} routed by {ROUTING}: "
                           f"rebuild the index with this version of newsearch")
    return manifest


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    write_atomically(root / MANIFEST, lambda handle: json.dump(manifest, handle, indent=1, sort_keys=True))


def _shard_states(root: Path, names: Sequence[str]) -> dict[str, list[object]]:
    """Each shard's live generation and commit: what one version of the sharded index is."""
    states: dict[str, list[object]] = {}
    for name in names:
        generation, ix = open_current(root / name)
        states[name] = [generation.name, ix.latest_generation()]
    return states


# -- building ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShardJob:
    """One shard's build: plain data for any executor's workers, which must reach the folder."""

    paths: tuple[str, ...]
    shard_root: str
    scan: CorpusScan  # this shard's files, of the one scan its build made (``routed``)
    rebuild: bool
    max_bytes: int | None  # None: as the shard remembers (``build_index``)
    follow_symlinks: bool | None
    prune: bool
    max_delete: float
    holder: bytes  # the index's lock file as the build that made this job wrote it (``_Abandoned``)
    claimed: Mapping[str, str] = field(default_factory=dict)  # ids other shards' files own (``_Claims``)


# How long a shard job waits for its shard's lock: a job of a killed build may hold it still, and
# stops within a file (``_Abandoned``) once the next build has taken the index's lock.
ABANDONED_JOB_GRACE_S = 30.0


class _Abandoned:
    """A shard job's progress callback that stops the job once its build is gone: in a local worker
    whose client died (``report_progress`` exits), or on a cluster, where a running job outlives its
    client, once another build has taken the index's lock (the lock file names a new holder). The
    job then leaves its shard as it was (``build_index`` cancels a stopped build)."""

    def __init__(self, job: ShardJob) -> None:
        self.shard_root = job.shard_root
        self.lock = Path(job.shard_root).parent / LOCK_FILE
        self.holder = job.holder
        self.next_look = 0.0

    def __call__(self, done: int, total: int) -> None:
        report_progress()
        now = time.monotonic()
        if now < self.next_look and done < total:  # the last call comes before the commit: never skipped
            return
        self.next_look = now + 1.0
        try:
            holder = self.lock.read_bytes()
        except OSError:
            holder = b""
        if holder != self.holder:
            raise IndexWriteError(f"the build of {self.lock.parent} that started this job on {self.shard_root} "
                                  f"is gone (another holds its lock): the job stopped, the shard is as it was")


def build_shard(job: ShardJob) -> BuildReport:
    """Bring one shard up to date with its share of the corpus (an executor's job)."""
    from newsearch.indexer import build_index

    with roomy_heap():
        return build_index(list(job.paths), job.shard_root, rebuild=job.rebuild, max_bytes=job.max_bytes,
                           follow_symlinks=job.follow_symlinks, scanned=job.scan, wait=ABANDONED_JOB_GRACE_S,
                           progress=_Abandoned(job), prune=job.prune, max_delete=job.max_delete, claimed=job.claimed)


def build_sharded(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    index: str | os.PathLike[str] | None = None,
    *,
    shards: int | None = None,
    rebuild: bool = False,
    wait: float = 0.0,
    max_bytes: int | None = None,
    follow_symlinks: bool | None = None,
    prune: bool = False,
    max_delete: float = DEFAULT_MAX_DELETE,
    executor: Executor | concurrent.futures.Executor | None = None,
) -> BuildReport:
    """Create or update the sharded index at ``index`` from the corpus at ``paths``.

    ``shards``: how many, for a new index (an existing one keeps its count; a different count
    raises IndexWriteError). Each shard is one job of ``executor`` (default: local worker
    processes, one per shard up to the usable cores); its workers must reach the index folder
    and the corpus at the same paths. ``max_bytes``, ``follow_symlinks``, ``prune`` and
    ``max_delete`` as in ``build_index``, which applies them to each shard. Raises as it does.
    """
    from newsearch import corpus

    started = time.monotonic()
    root = resolve_index_path(index)
    manifest = read_manifest(root) if (root / MANIFEST).exists() else None
    if manifest is None:
        if is_index(root):
            raise IndexWriteError(f"{root} holds an index of one shard; build the sharded index in a new folder")
        if not shards or shards < 1:
            raise IndexWriteError(f"no sharded index at {root}: say how many shards to create (--shards N)")
    elif shards is not None and shards != len(manifest["shards"]):
        raise IndexWriteError(f"the index at {root} has {len(manifest['shards'])} shards, not {shards}: build "
                              f"{shards} shards in a new folder")
    names = manifest["shards"] if manifest else [f"shard-{number:03d}" for number in range(shards or 1)]
    corpus_paths = [str(path) for path in resolve_corpus_paths(
        paths, remembered=manifest.get("corpus") if manifest else None)]
    for path in corpus_paths:  # before anything is created
        if not os.path.lexists(path):
            raise CorpusError(f"corpus path not found: {path}")
    remembered = list(manifest.get("corpus") or []) if manifest else []
    if remembered and set(corpus_paths) != set(remembered) and not prune and not (rebuild and paths):
        # The shards' own checks cannot see this: each is handed the paths as if named.
        origin = corpus_paths_origin(paths)
        raise CorpusError(
            f"refusing to update the sharded index at {root}: it was built from {', '.join(remembered)}, and this "
            f"run's paths{f' (from {origin})' if origin else ''} are {', '.join(corpus_paths)}. Nothing was changed: "
            f"to replace its corpus, run with --rebuild and the new paths; to let the run delete what the paths "
            f"leave out, run with --prune")
    if manifest is None:
        ensure_index_root(root)  # an empty or new folder
    with writer_lock(root, wait):
        version = int(manifest["version"]) if manifest else 0
        if manifest is None:  # the shards' names first: a killed first build leaves a sharded index to finish
            manifest = {"format": FORMAT, "routing": ROUTING, "shards": names, "corpus": corpus_paths,
                        "version": 0, "states": {}}
            _write_manifest(root, manifest)
        holder = (root / LOCK_FILE).read_bytes()
        # Scanned once, here, under the lock (a run that waited must see the corpus as it is now).
        scan = corpus.scan(corpus_paths, follow_symlinks=bool(follow_symlinks), exclude=[root])
        claims = _Claims(manifest.get("claims") or {}, scan)
        guarded = [(prune, max_delete)] * len(names)
        if remembered and not prune and not (rebuild and paths and set(corpus_paths) != set(remembered)):
            guard = corpus.DeletionGuard(root, tuple(map(Path, remembered)), tuple(map(Path, corpus_paths)), prune,
                                  max_delete_share(max_delete), corpus_paths_origin(paths))
            guarded = _guarded_once(root, names, scan, guard)
        jobs = [ShardJob(tuple(corpus_paths), str(root / name), share, rebuild, max_bytes, follow_symlinks,
                         shard_prune, shard_max_delete, holder, claims.of_others(name))
                for name, share, (shard_prune, shard_max_delete) in zip(names, routed(scan, len(names)), guarded)]
        reports = _run(jobs, executor)
        # An id in files of two shards is kept where one index keeps it; the other shard then
        # refuses it from then on: built again if this run built it (its statistics are then those
        # of one index, which never held the copy), else updated (only its files that hold the id
        # are read; the copy stays counted as a deleted article, as a replaced one does).
        losers = claims.settle(root, names, manifest.get("states") or {}) if any(
            report.changed or report.rebuilt for report in reports) else {}
        if losers:
            again = _run([replace(jobs[number], rebuild=reports[number].rebuilt,
                                  claimed=claims.of_others(names[number])) for number in losers], executor)
            for number, report in zip(losers, again):
                reports[number] = report if report.rebuilt else _settled(reports[number], report, losers[number])
        states = _shard_states(root, names)
        saved = duplicate_store.load(root)
        if states != manifest.get("states") or saved.toc is None or saved.toc > version:
            version = max(version, saved.toc or 0) + 1  # never the commit of a killed run's pairs
            with _opened(root, names) as (_, searcher):
                duplicate_store.save(root, duplicate_store.current(root, version, searcher.reader()))
        _write_manifest(root, {**manifest, "corpus": corpus_paths, "version": version, "states": states,
                               "claims": claims.owners})
    report = _combined(str(root), reports)
    report.duration_s = time.monotonic() - started
    return report


class _Claims:
    """The ids held in files of two shards, and the file that keeps each (as one index would): the
    manifest's ``claims``, id -> [owner's path key, owner's shard]. A claim lasts while its owner
    holds the id, so a refused copy stays refused; once the owner is gone the copy may take it."""

    def __init__(self, recorded: dict[str, list[str]], scan: CorpusScan) -> None:
        self.order = {path_key(file.relpath): number for number, file in enumerate(scan.files)}
        there = self.order.keys() | {path_key(item.path) for item in scan.skipped}
        self.owners = {doc_id: owner for doc_id, owner in recorded.items() if owner[0] in there}

    def of_others(self, shard: str) -> dict[str, str]:
        """The claims a shard must honour: those of other shards' files."""
        return {doc_id: path for doc_id, (path, owner) in self.owners.items() if owner != shard}

    def settle(self, root: Path, names: Sequence[str], before: dict[str, Any]) -> dict[int, int]:
        """Claim each id that live documents of two shards hold for the file one index keeps (the
        claim's owner, else the one indexed before this run, else the first in scan order), and drop
        the claims whose owner no longer holds its id. Returns the shards that must delete a copy,
        each with how many of those this run added."""
        shards: list[_Holdings] = []
        try:
            for name in names:
                generation, ix = open_current(root / name)
                previous = before.get(name)
                toc = int(previous[1]) if previous and previous[0] == generation.name else -1
                shards.append(_Holdings(ix.reader(), toc))
            losers: dict[int, int] = {}
            for term in _in_two(shard.reader.lexicon("id") for shard in shards):
                doc_id = term.decode("utf-8")
                held = [(new, path, number) for number, shard in enumerate(shards) for new, path in shard.holding(term)]
                if len(held) < 2:  # a term of deleted documents
                    continue
                recorded = self.owners.get(doc_id)
                _, path, keeper = min(held, key=lambda item: (
                    recorded != [item[1], names[item[2]]], item[0], self.order.get(item[1], len(self.order))))
                self.owners[doc_id] = [path, names[keeper]]
                for new, _, number in held:
                    if number != keeper:
                        losers[number] = losers.get(number, 0) + new
            for doc_id, (path, owner) in list(self.owners.items()):
                if path not in {held for _, held in shards[names.index(owner)].holding(doc_id.encode("utf-8"))}:
                    del self.owners[doc_id]
            return losers
        finally:
            for shard in shards:
                shard.reader.close()


class _Holdings:
    """A shard's live documents of an id (for ``_Claims.settle``)."""

    def __init__(self, reader: Any, toc: int) -> None:
        self.reader, self.toc = reader, toc  # toc -1: rebuilt by this run
        self.columns = (reader.column_reader("path"), reader.column_reader("stamp")) if reader.doc_count_all() else None

    def holding(self, term: bytes) -> list[tuple[bool, str]]:
        """(written by this run, path key) of each live document of the id ``term``."""
        if self.columns is None or ("id", term) not in self.reader:
            return []
        paths, stamps = self.columns
        return [(self.toc < 0 or FileStamp.decode(stamps[docnum]).written > self.toc, paths[docnum])
                for docnum in self.reader.postings("id", term).all_ids()]


def _guarded_once(root: Path, names: Sequence[str], scan: CorpusScan, guard: DeletionGuard) -> list[tuple[bool, float]]:
    """Decide the deletion guard once for the whole index, before any shard job runs: the articles
    of files gone from the corpus, of every shard, against all its articles (CorpusError naming them
    when refused). Returns each shard's (prune, max_delete), which let it delete its share of those,
    so that no shard refuses what the index allows while the others commit; its own guard still
    weighs the articles that files it reads again have lost."""
    present = {path_key(file.relpath) for file in scan.files}
    unreadable = tuple(path_key(item.path) for item in scan.skipped)  # still there: kept, as one index keeps them
    gone: list[dict[str, int]] = []
    held: list[int] = []
    for name in names:
        try:
            _, ix = open_current(root / name)
        except IndexNotFound:  # a shard a killed first build did not make yet
            gone.append({})
            held.append(0)
            continue
        with ix.reader() as reader:
            paths = reader.column_reader("path") if reader.doc_count_all() else None
            counts = Counter(paths[docnum] for docnum in reader.all_doc_ids()) if paths is not None else Counter()
        gone.append({path: count for path, count in counts.items() if path not in present
                     and not any(path == top or path.startswith(top + "/") for top in unreadable)})
        held.append(sum(counts.values()))
    guard.check({path: count for part in gone for path, count in part.items()}, sum(held))
    decided = []
    for part, documents in zip(gone, held):
        count = sum(part.values())
        # Deleting every article of a shard is refused even within the share: the index allows it.
        decided.append((count > 0 and count == documents, max(guard.max_share, min(1.0, count / documents + 1e-9))
                        if documents else guard.max_share))
    return decided


def _in_two(lexicons: Iterable[Iterable[bytes]]) -> Iterator[bytes]:
    """The terms that two or more of the sorted ``lexicons`` hold."""
    previous, count = None, 0
    for term in heapq.merge(*lexicons):
        if term == previous:
            count += 1
            if count == 2:
                yield term
        else:
            previous, count = term, 1


def _settled(first: BuildReport, second: BuildReport, added_twice: int) -> BuildReport:
    """A shard's report of a build and of the update that deleted the copies it must not hold:
    the copies that build added were refused, as one index refuses them."""
    first.added -= added_twice
    first.documents = second.documents
    first.skipped.extend(item for item in second.skipped if item not in first.skipped)
    first.warnings.extend(item for item in second.warnings if item not in first.warnings)
    return first


def _run(jobs: list[ShardJob], executor: Executor | concurrent.futures.Executor | None) -> list[BuildReport]:
    if isinstance(executor, concurrent.futures.Executor):
        executor = FuturesExecutor(executor)
    if executor is not None:
        return executor.map(build_shard, jobs)
    workers = min(len(jobs), usable_cores())
    if workers <= 1:
        return [build_shard(job) for job in jobs]
    with LocalExecutor(workers) as local:
        return local.map(build_shard, jobs)


def _combined(index_path: str, reports: list[BuildReport]) -> BuildReport:
    """One report for the shards' reports: counts added, lists joined."""
    total = BuildReport(index_path=index_path, rebuilt=bool(reports) and all(report.rebuilt for report in reports))
    for report in reports:
        for name in ("added", "updated", "deleted", "unchanged", "ignored", "documents"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.skipped.extend(report.skipped)
        total.warnings.extend(report.warnings)
        for suffix, count in report.ignored_types.items():
            total.ignored_types[suffix] = total.ignored_types.get(suffix, 0) + count
    # every shard is given what the one scan ignored or could not look at
    total.ignored = reports[0].ignored if reports else 0
    total.ignored_types = dict(reports[0].ignored_types) if reports else {}
    total.skipped = list({(item.path, item.reason): item for item in total.skipped}.values())
    return total


# -- searching ---------------------------------------------------------------------------------

@dataclass
class _Shard:
    name: str
    generation: Path
    ix: FileIndex
    toc: int
    stems: StemLookup
    documents: int  # ``ix.doc_count_all()``, which opens a reader each time it is asked


class _Collection(MultiReader):
    """The shards' segments read as one collection (Whoosh's ``MultiReader``), which remembers the
    document frequencies it was asked: each is a lookup in every segment of every shard, and a
    query asks its terms' twice (the compiler, then the statistics sent to the shards), and a
    snapshot's collection never changes. At most ``REMEMBERED`` terms, then it starts again."""

    REMEMBERED = 1 << 16

    def __init__(self, readers: list[Any]) -> None:
        super().__init__(readers)
        self.frequencies: dict[tuple[str, str | bytes], int] = {}

    def doc_frequency(self, fieldname: str, text: str | bytes) -> int:
        key = (fieldname, text)
        found = self.frequencies.get(key)
        if found is None:
            found = super().doc_frequency(fieldname, text)
            if len(self.frequencies) >= self.REMEMBERED:
                self.frequencies.clear()
            self.frequencies[key] = found
        return found


class _opened:
    """Every shard's live generation, read as one collection (a context manager for builders)."""

    def __init__(self, root: Path, names: Sequence[str], ranking: RankingConfig = RANKING) -> None:
        self.shards: list[_Shard] = []
        leaves: list[Any] = []
        try:
            for name in names:
                generation, ix = open_current(root / name)
                toc = ix.latest_generation()
                opened = ix.reader()  # one reader per shard: its count and its segments agree
                self.shards.append(_Shard(name, generation, ix, toc, StemLookup(generation / VOCABULARY_FILE),
                                          opened.doc_count_all()))
                if self.shards[-1].documents:
                    leaves.extend(leaf for leaf, _ in opened.leaf_readers())
                else:  # an empty shard has no segment to read
                    opened.close()
            reader = _Collection(leaves) if leaves else self.shards[0].ix.reader()
            self.searcher = Searcher(reader, weighting=BM25FModel(ranking))
        except BaseException:
            self.close_lookups()
            raise

    def __enter__(self) -> tuple[list[_Shard], Searcher]:
        return self.shards, self.searcher

    def __exit__(self, *exc_info: object) -> None:
        self.searcher.close()
        self.close_lookups()

    def close_lookups(self) -> None:
        for shard in self.shards:
            drop_stem_lookup(shard.stems)
            shard.stems.close()


@dataclass
class _ShardedSnapshot(_Snapshot):
    """One opened state of every shard (``_Snapshot``'s roles, over the shards' union)."""

    root: Path = Path()
    shards: list[_Shard] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # each shard's first global document number
    pairs_toc: int = 0
    manifest: str = ""

    def vocabulary(self) -> Vocabulary:
        with self.whoosh:
            if self._vocabulary is None:
                loaded = [Vocabulary.load(shard.generation) for shard in self.shards]
                self._vocabulary = loaded[0].combined(*loaded[1:])
        return self._vocabulary

    def written(self, word: str) -> bool:
        return any(shard.stems(word) is not None for shard in self.shards)

    def duplicates(self) -> DuplicatePairs:
        with self.whoosh:
            if self._duplicates is None:
                self._duplicates = duplicate_store.current(self.root, self.pairs_toc, self.searcher.reader())
        return self._duplicates

    def is_current(self, index_root: Path) -> bool:
        try:
            if (index_root / MANIFEST).read_text(encoding="utf-8") != self.manifest:
                return False
            return all(is_live(index_root / shard.name, shard.generation)
                       and shard.ix.latest_generation() == shard.toc for shard in self.shards)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self.searcher.close()
        for shard in self.shards:
            drop_stem_lookup(shard.stems)
            shard.stems.close()


def _pairs_toc(manifest: dict[str, Any], shards: list[_Shard]) -> int:
    """The commit the pairs file must belong to: the manifest's version when the shards are as it
    records them, else (a build killed before its manifest) none that a file has."""
    states = {shard.name: [shard.generation.name, shard.toc] for shard in shards}
    return int(manifest["version"]) if states == manifest.get("states") else UNRECORDED


class ShardedIndex(Index):
    """A sharded index, searched with the API of ``Index`` and the same results as one index over the
    same articles. ``executor``: where plain queries' postings are scored (see the module
    docstring); None scores them in this process. The executor stays the caller's to shut down."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, time_limit: float = DEFAULT_TIME_LIMIT_S,
                 ranking: RankingConfig = RANKING,
                 executor: Executor | concurrent.futures.Executor | None = None) -> None:
        self.executor: Executor | None = (FuturesExecutor(executor) if isinstance(executor, concurrent.futures.Executor)
                                          else executor)
        self._residents: Residents | None = None  # on a Dask cluster: one shard searcher per worker
        super().__init__(path, time_limit=time_limit, ranking=ranking)

    def close(self) -> None:
        """Release the index files (and, on a Dask cluster, the workers' shard searchers)."""
        super().close()
        self._residents = None

    def _fresh(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and snapshot.is_current(self.path):
            return snapshot
        text = _manifest_text(self.path)
        manifest = read_manifest(self.path)
        opened = _opened(self.path, manifest["shards"], self.ranking)
        shards, searcher = opened.shards, opened.searcher
        use_stem_lookup(shards[0].stems)
        offsets, base = [], 0
        for shard in shards:
            offsets.append(base)
            base += shard.documents
        fresh = _ShardedSnapshot(self.path, int(manifest["version"]), shards[0].ix, searcher, shards[0].stems,
                                 root=self.path, shards=shards, offsets=offsets,
                                 pairs_toc=_pairs_toc(manifest, shards), manifest=text)
        if snapshot is not None:
            snapshot.retire()
        self._snapshot = fresh
        return fresh

    def _gather(self, snapshot: _Snapshot, concepts: Sequence[ConceptParts], depth: int, *, all_words: bool,
                allowed: np.ndarray | None, deadline: float, watch: Sequence[int]) -> Gathered:
        if self.executor is None or not isinstance(snapshot, _ShardedSnapshot):
            return gather(snapshot.searcher, concepts, depth, all_words=all_words, allowed=allowed,
                          deadline=deadline, watch=watch, whoosh=snapshot.whoosh)
        statistics = _statistics(snapshot.searcher, concepts)
        jobs = []
        watched = np.asarray(watch, dtype=np.int64)
        for shard, start in zip(snapshot.shards, snapshot.offsets):
            stop = start + shard.documents
            mine = watched[(watched >= start) & (watched < stop)] - start
            jobs.append(GatherJob(str(shard.generation), shard.toc, tuple(concepts), depth, all_words,
                                  None if allowed is None else allowed[start:stop], max(deadline - time.monotonic(), 0),
                                  tuple(mine.tolist()), statistics, self.ranking))
        try:
            found = self._gathered(jobs)
        except WorkerFailed as exc:
            raise NewsearchError(f"searching the shards of {self.path} failed: {exc}; search again (a worker "
                                 f"that died is replaced by the executor, or restart it)") from None
        return _merged(found, snapshot.offsets, depth, all_words, len(concepts))

    def _gathered(self, jobs: list[GatherJob]) -> list[Gathered]:
        """Each shard's ``gather_shard``: on a Dask cluster, one call per worker to its resident
        searcher for all the shards it holds (tried again once on fresh residents if a worker
        died); on another executor, one job per shard."""
        client = dask_client(self.executor)
        if client is None:
            assert self.executor is not None
            return self.executor.map(gather_shard, jobs)
        try:
            return self._on_residents(client, jobs)
        except WorkerFailed:  # fresh residents, on the workers there are now
            return self._on_residents(client, jobs)

    def _on_residents(self, client: Any, jobs: list[GatherJob]) -> list[Gathered]:
        if self._residents is None:
            self._residents = Residents(client, ShardSearcher)
        count = len(self._residents)
        try:
            batches = self._residents.call("gather", [jobs[number::count] for number in range(count)])
        except WorkerFailed:
            self._residents = None
            raise
        found: list[Gathered] = []
        for number in range(len(jobs)):  # shard n went to resident n % count, as its (n // count)th job
            found.append(batches[number % count][number // count])
        return found


def _manifest_text(root: Path) -> str:
    try:
        return (root / MANIFEST).read_text(encoding="utf-8")
    except OSError:
        return ""


def _statistics(searcher: Searcher, concepts: Sequence[ConceptParts]) -> CollectionStatistics:
    """The figures BM25F reads for ``concepts``, of the whole collection (every shard)."""
    reader = searcher.reader()
    terms = {(fieldname, text) for concept in concepts
             for fieldname, text in concept.query.iter_all_terms(phrases=True)}
    encoded = set()
    for fieldname, text in terms:
        if fieldname in searcher.schema:
            try:
                encoded.add((fieldname, searcher.schema[fieldname].to_bytes(text)))
            except ValueError:
                continue
    scorable = [name for name, fieldtype in searcher.schema.items() if fieldtype.scorable]
    return CollectionStatistics(
        doc_count_all=searcher.doc_count_all(),
        field_lengths=tuple((name, reader.field_length(name)) for name in scorable),
        doc_frequencies=tuple((name, text, reader.doc_frequency(name, text)) for name, text in sorted(encoded)),
    )


@dataclass(frozen=True)
class GatherJob:
    """One shard's share of a plain query's pass over the postings (``candidates.gather``)."""

    generation: str
    toc: int
    concepts: tuple[ConceptParts, ...]
    depth: int
    all_words: bool
    allowed: np.ndarray | None  # this shard's slice of the filter mask
    seconds: float  # what is left of the time limit (clocks differ between machines)
    watch: tuple[int, ...]  # this shard's numbers
    statistics: CollectionStatistics
    ranking: RankingConfig


_OPEN_SHARDS: dict[str, tuple[int, FileIndex, Any]] = {}  # a worker's open shards: generation -> (toc, ix, reader)


def gather_shard(job: GatherJob) -> Gathered:
    """Score one shard's postings with the collection's statistics (an executor's job; the shard stays
    open in the worker for the next query)."""
    opened = _OPEN_SHARDS.get(job.generation)
    if opened is None or opened[0] != job.toc:
        if opened is not None:
            opened[2].close()
        ix = open_generation(Path(job.generation))
        if ix.latest_generation() != job.toc:
            raise NewsearchError(f"the shard {job.generation} changed while it was searched: search again")
        opened = _OPEN_SHARDS[job.generation] = (job.toc, ix, ix.reader())
    with reading(Path(job.generation).parent):
        searcher = Searcher(opened[2], weighting=BM25FModel(job.ranking, job.statistics), closereader=False)
        return gather(searcher, job.concepts, job.depth, all_words=job.all_words, allowed=job.allowed,
                      deadline=time.monotonic() + job.seconds, watch=job.watch)


class ShardSearcher:
    """A Dask worker's resident (``parallel.Residents``): gathers the shards it is handed, which
    stay open in its worker between queries."""

    def gather(self, jobs: list[GatherJob]) -> list[Gathered]:
        return [gather_shard(job) for job in jobs]


def _merged(found: list[Gathered], offsets: list[int], depth: int, all_words: bool, concepts: int) -> Gathered:
    """The shards' candidates as one pass over every shard would choose them: the best ``depth`` by
    score, the lower (global) number first on ties, and with ``all_words`` the best ``depth`` of
    those covering every concept. Each shard's own best are a superset of its share of those."""
    scores: dict[int, float] = {}
    covered: dict[int, int] = {}
    watched: set[int] = set()
    for part, offset in zip(found, offsets):
        scores.update((offset + docnum, score) for docnum, score in part.scores.items())
        covered.update((offset + docnum, count) for docnum, count in part.covered.items())
        watched.update(offset + docnum for docnum in part.watched)
    order = sorted(scores, key=lambda docnum: (-scores[docnum], docnum))
    chosen = set(order[:depth])
    if all_words:
        chosen.update([docnum for docnum in order if covered[docnum] == concepts][:depth])
    ascending = sorted(chosen)
    return Gathered(scores={docnum: scores[docnum] for docnum in ascending},
                    covered={docnum: covered[docnum] for docnum in ascending},
                    total=sum(part.total for part in found), timed_out=any(part.timed_out for part in found),
                    watched=watched)


# -- the entry points that accept either kind of index -------------------------------------------

def open_index(path: str | os.PathLike[str] | None = None, *, ranking: RankingConfig = RANKING,
               executor: Executor | concurrent.futures.Executor | None = None) -> Index:
    """Open the index at ``path`` (else $NEWSEARCH_INDEX, else ./index) for searching: an ``Index``,
    or a ``ShardedIndex`` (the same API) when the folder holds shards.

    ``ranking`` replaces the documented ranking (``scoring.RankingConfig``; e.g.
    ``RANKING.without("lead share")``), for experiments such as the bench's ablation.
    Raises IndexNotFound, IndexUnreadable or IndexIncompatible with the command that fixes it.
    ``executor`` (a sharded index only): where each
    shard's postings are scored: a ``newsearch.parallel.Executor`` or a
    ``concurrent.futures.Executor`` such as Dask's ``Client.get_executor()``; None: this process.
    """
    if is_sharded(path):
        return ShardedIndex(path, ranking=ranking, executor=executor)
    return Index(path, ranking=ranking)


def index_stats(index: str | os.PathLike[str] | None = None) -> IndexStats:
    """``status.index_stats`` of an index, or of all the shards of a sharded one together."""
    root = resolve_index_path(index)
    if not is_sharded(root):
        return status.index_stats(root)
    manifest = read_manifest(root)
    parts = [status.index_stats(root / name) for name in manifest["shards"]]
    sources: dict[str, int] = {}
    for part in parts:
        for source, count in part.sources.items():
            sources[source] = sources.get(source, 0) + count
    with _opened(root, manifest["shards"]) as (shards, searcher):
        pairs = duplicate_store.current(root, _pairs_toc(manifest, shards), searcher.reader())
    dated = [part for part in parts if part.earliest is not None]
    return IndexStats(
        index_path=str(root), generation=f"{len(parts)} shards, version {manifest['version']}",
        documents=sum(part.documents for part in parts), sources=dict(sorted(sources.items())),
        earliest=min((part.earliest for part in dated if part.earliest), default=None),
        latest=max((part.latest for part in dated if part.latest), default=None),
        undated=sum(part.undated for part in parts), size_bytes=sum(part.size_bytes for part in parts),
        created=min((part.created for part in parts if part.created), default=None),
        updated=max((part.updated for part in parts if part.updated), default=None),
        format=parts[0].format, versions=parts[0].versions, duplicate_clusters=len(pairs.members),
        duplicates=sum(len(ids) - 1 for ids in pairs.members.values()), corpus=tuple(manifest["corpus"]),
    )


def check_index(index: str | os.PathLike[str] | None = None) -> CheckReport:
    """``status.check_index`` of an index, or of every shard of a sharded one (the first damage found
    is raised, naming its shard's folder)."""
    root = resolve_index_path(index)
    if not is_sharded(root):
        return status.check_index(root)
    manifest = read_manifest(root)
    parts = [status.check_index(root / name) for name in manifest["shards"]]
    counts = {name.name: sum(getattr(part, name.name) for part in parts) for name in fields(CheckReport)
              if name.name in ("documents", "files", "segments")}
    return CheckReport(index_path=str(root), generation=f"{len(parts)} shards, version {manifest['version']}",
                       **counts)
