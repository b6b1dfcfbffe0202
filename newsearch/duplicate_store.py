"""The index's near-duplicate pairs: found through the ``dup_bands`` column, verified, kept in a file.

Every document is indexed with its LSH band hashes (``duplicates.band_bytes``).
After each commit the indexer calls ``refresh``, which brings the generation's
``duplicates.tsv`` up to date:

* candidates are documents with an equal hash in some band, found by sorting
  each band's column of hashes (numpy; about a second for 100,000 documents);
* after a full build every candidate is verified (after a parallel one, by its
  workers: ``VerifyJob``s on the build's executor); after an incremental update,
  pairs naming a deleted document, or one in a segment the file's commit did
  not have (added, rewritten, or merged), are dropped, and only the candidates
  of the documents in those segments are verified.

Candidates are verified on the stored text (``duplicates.is_near_duplicate``'s
rule) before they become pairs. Clusters are the connected components of the
pairs, so they follow every update and deletion; the searcher reads them from
this file. The first line names the Whoosh commit the pairs belong to and its
segments::

    # newsearch-duplicates 1 toc=7 segments=MAIN_k2x9d0tqbq1m0wzs,MAIN_0a7e3ywtd6hxlvbp
    business/007.txt<TAB>business/253.txt<TAB>1.0000

A run killed between Whoosh's commit and this file leaves the file of the commit
before: a searcher then brings the pairs up to date in memory the same way
(``current``), so no stale pair folds a rewritten article, and the next run
writes them. Files without segments (earlier versions) are read too.
"""

from __future__ import annotations

import re
from array import array
from collections import OrderedDict
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

from whoosh.index import FileIndex
from whoosh.reading import IndexReader

from newsearch.duplicates import (
    BANDS,
    clusters,
    duplicate_text,
    pairs_in_buckets,
    shingle_similarity,
    shingles,
    shingles_near_duplicate,
)
from newsearch.parallel import Executor, report_progress
from newsearch.storage import checked_file, numbered_lines, open_generation, shown_line, write_atomically

DUPLICATES_FILE = "duplicates.tsv"
_FORMAT = 1
_HEADER = re.compile(r"^# newsearch-duplicates (\d+) toc=(\d+)(?: segments=([0-9A-Za-z_,]*))?$")
ALL_PAIRS_UP_TO = 8
"""A band key shared by more documents (many copies of one wire story) is checked as a chain
and a star around its first document, not every pair (``duplicates.pairs_in_buckets``): the
clusters come out the same for copies, at a cost linear in their number."""

Pair = tuple[str, str, float]
SHINGLE_SETS_KEPT = 2048
"""Shingle sets kept while verifying (about 25 KB each): measured on 100,000 synthetic articles
(sentences reused across articles), caching every candidate's set took 1 GB."""


@dataclass(frozen=True)
class DuplicatePairs:
    """The verified near-duplicate pairs of one commit (``toc`` None: no file yet) and the ids of
    its segments (None: not recorded)."""

    toc: int | None
    pairs: tuple[Pair, ...] = ()
    segments: tuple[str, ...] | None = None

    @cached_property
    def cluster_of(self) -> dict[str, str]:
        """Document id -> cluster key (the smallest id of its cluster), for documents that have copies."""
        return clusters((a, b) for a, b, _ in self.pairs)

    @cached_property
    def members(self) -> dict[str, tuple[str, ...]]:
        """Cluster key -> every document id of the cluster, sorted."""
        grouped: dict[str, list[str]] = {}
        for doc_id, key in self.cluster_of.items():
            grouped.setdefault(key, []).append(doc_id)
        return {key: tuple(sorted(ids)) for key, ids in grouped.items()}

    def copies(self, doc_id: str) -> tuple[str, ...]:
        """The other documents of ``doc_id``'s cluster (none for a document without copies)."""
        key = self.cluster_of.get(doc_id)
        return tuple(other for other in self.members[key] if other != doc_id) if key else ()


def load(generation: Path) -> DuplicatePairs:
    """The pairs saved in ``generation``; a missing or unreadable file gives none (toc None)."""
    try:
        with open(generation / DUPLICATES_FILE, encoding="utf-8") as handle:
            header = _HEADER.match(handle.readline().rstrip("\n"))
            if header is None or int(header.group(1)) != _FORMAT:
                return DuplicatePairs(None)
            pairs = []
            for line in handle:
                a, b, score = line.rstrip("\n").split("\t")
                pairs.append((a, b, float(score)))
    except (OSError, ValueError, UnicodeDecodeError):
        return DuplicatePairs(None)
    segments = header.group(3)
    return DuplicatePairs(int(header.group(2)), tuple(pairs), None if segments is None else _split(segments))


def _split(segments: str) -> tuple[str, ...]:
    return tuple(segments.split(",")) if segments else ()


def current(generation: Path, toc: int, reader: IndexReader) -> DuplicatePairs:
    """The pairs of ``reader``'s commit ``toc``: the file's when it belongs to that commit, else
    (a run killed before writing it) brought up to date in memory as the next run will."""
    saved = load(generation)
    return saved if saved.toc == toc else _brought_up_to_date(saved, toc, reader)


def verify(generation: Path, ids: Container[str], toc: int) -> list[str]:
    """What is wrong with the generation's pairs file, each problem naming the file and line
    (``newsearch check``): its header, each pair's shape (two ids in order, a similarity from 0
    to 1), repeated pairs, and, when the file belongs to ``toc`` (the index's latest commit),
    ids that are not among ``ids``. A file of an earlier commit is what a run killed after its
    commit leaves; its pairs may name deleted documents until the next run brings it up to date
    (searching does so in memory: ``current``). ``load`` takes a damaged file for no pairs, so it
    must be found here."""
    name = f"{generation.name}/{DUPLICATES_FILE}"
    data, unreadable = checked_file(generation, DUPLICATES_FILE)
    if data is None:
        return unreadable
    problems = []
    current = True
    seen: set[tuple[str, str]] = set()
    for number, line in numbered_lines(data):
        if number == 1:
            header = _HEADER.match(line or "")
            if header is None or int(header.group(1)) != _FORMAT:
                problems.append(f"{name} line 1 is not the header "
                                f"'# newsearch-duplicates {_FORMAT} toc=N segments=...': {shown_line(line)}")
            elif int(header.group(2)) > toc:
                problems.append(f"{name} line 1 names commit {header.group(2)}, but the index's latest is {toc}")
            else:
                current = int(header.group(2)) == toc
            continue
        fields = line.split("\t") if line is not None else []
        if len(fields) != 3 or not _is_similarity(fields[2]):
            problems.append(f"{name} line {number} is not id<TAB>id<TAB>similarity: {shown_line(line)}")
            continue
        a, b, _ = fields
        unknown = [doc_id for doc_id in (a, b) if doc_id not in ids] if current else []
        if unknown:
            problems.append(f"{name} line {number} names {unknown[0]!r}, which is not in the index")
        elif not a < b:
            problems.append(f"{name} line {number} is not a pair of two ids in order: {shown_line(line)}")
        elif (a, b) in seen:
            problems.append(f"{name} line {number} repeats the pair {a!r}, {b!r}")
        seen.add((a, b))
    if not data:
        problems.append(f"{name} is empty (it has no header)")
    elif not data.endswith(b"\n"):
        problems.append(f"{name} ends in the middle of its last line (it was cut short)")
    return problems


def _is_similarity(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0
    except ValueError:
        return False


def save(generation: Path, found: DuplicatePairs) -> None:
    """Write atomically and durably."""
    def write(handle: TextIO) -> None:
        segments = "" if found.segments is None else f" segments={','.join(found.segments)}"
        handle.write(f"# newsearch-duplicates {_FORMAT} toc={found.toc}{segments}\n")
        handle.writelines(f"{a}\t{b}\t{score:.4f}\n" for a, b, score in sorted(found.pairs))

    write_atomically(generation / DUPLICATES_FILE, write)


def refresh(generation: Path, ix: FileIndex, executor: Executor | None = None, jobs: int = 1) -> DuplicatePairs:
    """Bring ``duplicates.tsv`` up to date with the index's latest commit; return the pairs.

    When every candidate is verified (after a full build), ``executor`` (a build's, whose workers
    can read ``generation``) verifies them as ``jobs`` ``VerifyJob``s, else this process does."""
    saved = load(generation)
    toc = ix.latest_generation()
    if saved.toc == toc:
        return saved
    with ix.reader() as reader:
        found = _brought_up_to_date(saved, toc, reader, _Verifier(generation, toc, executor, jobs))
    save(generation, found)
    return found


@dataclass(frozen=True)
class VerifyJob:
    """Candidate pairs (document numbers in commit ``toc`` of ``generation``) for a worker to verify."""

    generation: str
    toc: int
    pairs: tuple[tuple[int, int], ...]


def verify_pairs(job: VerifyJob) -> dict[tuple[str, str], float]:
    """Run one ``VerifyJob`` (in a worker): the pairs that are near-duplicates, by id, with their similarity."""
    ix = open_generation(Path(job.generation), mmap=False)
    if ix.latest_generation() != job.toc:  # the caller holds the writer lock: only a bug gets here
        raise RuntimeError(f"{job.generation} moved on from commit {job.toc} while its pairs were verified")
    pairs: dict[tuple[str, str], float] = {}
    with ix.reader() as reader:
        finder = _PairFinder(reader)
        for start in range(0, len(job.pairs), _PAIRS_PER_REPORT):
            pairs.update(finder.verified(job.pairs[start:start + _PAIRS_PER_REPORT]))
            report_progress(0)  # where a worker whose build was abandoned stops
    return pairs


_PAIRS_PER_REPORT = 1000

# Fewer candidates than this are verified where they are found: a job's start costs more.
_PARALLEL_CANDIDATES = 2000


@dataclass(frozen=True)
class _Verifier:
    """Where a full verification runs: in this process, or as jobs on a build's executor."""

    generation: Path
    toc: int
    executor: Executor | None = None
    jobs: int = 1

    def __call__(self, finder: _PairFinder, candidates: set[tuple[int, int]]) -> dict[tuple[str, str], float]:
        if self.executor is None or self.jobs < 2 or len(candidates) < _PARALLEL_CANDIDATES:
            return finder.verified(candidates)
        ordered = sorted(candidates)  # contiguous slices: each worker meets each document in few places
        share = -(-len(ordered) // self.jobs)
        jobs = [VerifyJob(str(self.generation), self.toc, tuple(ordered[start:start + share]))
                for start in range(0, len(ordered), share)]
        pairs: dict[tuple[str, str], float] = {}
        for found in self.executor.map(verify_pairs, jobs):
            pairs.update(found)
        return pairs


def _brought_up_to_date(saved: DuplicatePairs, toc: int, reader: IndexReader,
                        verifier: _Verifier | None = None) -> DuplicatePairs:
    """The pairs of ``reader``'s commit ``toc`` from those ``saved`` for an earlier one. A live
    document of a segment the earlier commit had is the version that commit paired (segments
    never change but for deletions); the others are new, rewritten or merged, so their pairs
    are found again. Without the earlier commit's segments (a file of an earlier version, or
    of a later commit than the reader's) every pair is found afresh."""
    if not reader.doc_count_all():  # with no segment at all, Whoosh's empty reader has no columns
        return DuplicatePairs(toc, (), ())
    segments = tuple(subreader.segment().segment_id() for subreader, _ in reader.leaf_readers())
    finder = _PairFinder(reader)
    if saved.toc is None or saved.segments is None or saved.toc > toc:
        candidates = finder.candidates()
        pairs = verifier(finder, candidates) if verifier is not None else finder.verified(candidates)
    else:
        known = set(saved.segments)
        fresh = {offset + docnum for subreader, offset in reader.leaf_readers()
                 if subreader.segment().segment_id() not in known for docnum in subreader.all_doc_ids()}
        ids = reader.column_reader("id")
        live = {ids[docnum] for docnum in reader.all_doc_ids()}
        changed = {ids[docnum] for docnum in fresh}
        pairs = {(a, b): score for a, b, score in saved.pairs
                 if a in live and b in live and a not in changed and b not in changed}
        pairs.update(finder.pairs_of(fresh))
    return DuplicatePairs(toc, tuple((a, b, score) for (a, b), score in pairs.items()), segments)


class _PairFinder:
    """Candidate pairs from equal band hashes (the ``dup_bands`` column), verified on the stored text."""

    def __init__(self, reader: IndexReader) -> None:
        self.reader = reader
        self._shingles: OrderedDict[int, set[str]] = OrderedDict()  # the most recently used, bounded
        self._ids: dict[int, str] = {}

    def pairs_of(self, docnums: set[int]) -> dict[tuple[str, str], float]:
        return self.verified({pair for pair in self.candidates() if pair[0] in docnums or pair[1] in docnums})

    def candidates(self) -> set[tuple[int, int]]:
        """Pairs ``(a, b)``, ``a < b``, of live documents with an equal band hash."""
        import numpy  # as the signatures do; searching never gets here

        # Appended to one buffer, not kept as a bytes object each (a million documents: 128 MB, not 330)
        docnums, rows = array("q"), bytearray()
        for docnum, value in _band_values(self.reader):
            docnums.append(docnum)
            rows += value
        if len(docnums) < 2:
            return set()
        table = numpy.frombuffer(rows, dtype="<u4").reshape(len(docnums), BANDS)
        return pairs_in_buckets(_buckets(numpy, table, numpy.frombuffer(docnums, dtype=numpy.int64)), ALL_PAIRS_UP_TO)

    def verified(self, candidates: Iterable[tuple[int, int]]) -> dict[tuple[str, str], float]:
        pairs = {}
        for a, b in sorted(candidates):
            first, second = self._shingles_of(a), self._shingles_of(b)
            if shingles_near_duplicate(first, second):
                ids = sorted((self._ids[a], self._ids[b]))
                pairs[(ids[0], ids[1])] = shingle_similarity(first, second)
        return pairs

    def _shingles_of(self, docnum: int) -> set[str]:
        found = self._shingles.get(docnum)
        if found is not None:
            self._shingles.move_to_end(docnum)
            return found
        fields = self.reader.stored_fields(docnum)
        self._ids[docnum] = fields["id"]
        found = self._shingles[docnum] = shingles(duplicate_text(fields.get("title", ""), fields.get("body", "")))
        if len(self._shingles) > SHINGLE_SETS_KEPT:
            self._shingles.popitem(last=False)
        return found


def _band_values(reader: IndexReader) -> Iterable[tuple[int, bytes]]:
    """(docnum, band hashes) of every live document that has them, segment by segment
    (Whoosh's multi-segment column reader fails on segments without a value)."""
    for subreader, offset in reader.leaf_readers():
        if not subreader.has_column("dup_bands"):
            continue
        column = subreader.column_reader("dup_bands", translate=False)
        for docnum in subreader.all_doc_ids():
            value = column[docnum]
            if len(value) == BANDS * 4:
                yield docnum + offset, value


def _buckets(numpy: Any, table: Any, numbers: Any) -> Iterator[list[int]]:
    """The LSH buckets of a band-hash table (one row per document, ``numbers`` its docnums): per
    band, the docnums of each run of two or more equal hashes, found by sorting the band."""
    for band in range(BANDS):
        order = numpy.argsort(table[:, band], kind="stable")
        values = table[order, band]
        # Runs of equal hashes, each in one pass over the sorted band (not one pass per run).
        starts = numpy.flatnonzero(numpy.concatenate(([True], values[1:] != values[:-1])))
        sizes = numpy.diff(numpy.append(starts, len(values)))
        shared = sizes > 1
        for start, size in zip(starts[shared].tolist(), sizes[shared].tolist()):
            yield numbers[order[start:start + size]].tolist()
