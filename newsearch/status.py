"""`newsearch stats` and `newsearch check`: what an index holds, and whether it is sound."""

from __future__ import annotations

import os
import platform
from collections import Counter, deque
from datetime import datetime, timezone

from whoosh.searching import Searcher

from newsearch import duplicate_store, postings, vocabulary
from newsearch.config import resolve_index_path
from newsearch.errors import IndexCorrupt, NewsearchError
from newsearch.models import CheckReport, IndexStats
from newsearch.schema import FORMAT, SEARCH_FIELDS, FileStamp, stored_published
from newsearch.storage import (
    checksum_damage,
    damaged,
    folder_size,
    open_current,
    read_meta,
    reading,
    rebuild_hint,
    verify_checksums,
)
from newsearch.version import __version__


def index_stats(index: str | os.PathLike[str] | None = None) -> IndexStats:
    """Counts, sources, date range, size and versions of the index at ``index``."""
    index_root = resolve_index_path(index)
    generation, ix = open_current(index_root)
    meta = read_meta(generation)
    sources: Counter[str] = Counter()
    earliest = latest = None
    undated = 0
    with reading(index_root), ix.searcher() as searcher:
        clusters = duplicate_store.current(generation, ix.latest_generation(), searcher.reader()).members
        for stored in searcher.all_stored_fields():
            sources[stored.get("source") or "(none)"] += 1
            published = stored_published(stored.get("published"))
            if published is None:
                undated += 1
                continue
            earliest = published if earliest is None or published < earliest else earliest
            latest = published if latest is None or published > latest else latest
        documents = searcher.doc_count()
    return IndexStats(
        index_path=str(index_root),
        generation=generation.name,
        documents=documents,
        sources=dict(sorted(sources.items(), key=lambda item: (-item[1], item[0]))),
        earliest=earliest,
        latest=latest,
        undated=undated,
        size_bytes=folder_size(generation),
        created=_timestamp(meta.get("created")),
        updated=_timestamp(meta.get("updated")),
        format=FORMAT,
        versions=_versions(),
        duplicate_clusters=len(clusters),
        duplicates=sum(len(members) - 1 for members in clusters.values()),
        corpus=_strings(meta.get("corpus")),
    )


def check_index(index: str | os.PathLike[str] | None = None) -> CheckReport:
    """Read every file the index relies on and verify it; raise IndexCorrupt if anything is wrong.

    Every file against the checksums its commit recorded (when the latest commit has them: a run
    killed before writing them leaves it unverified until the next run); then the Whoosh segments
    (every stored document, posting list, column value and field length) and their posting sidecars
    (``postings``), the vocabulary (typo
    correction, stems) and the near-duplicate pairs (copies folded); ``newsearch.json`` is read on
    opening. Each problem names the document, or the file and line.
    """
    index_root = resolve_index_path(index)
    generation, ix = open_current(index_root)
    toc = ix.latest_generation()
    changed = verify_checksums(generation, toc, full=True)
    if changed:
        raise checksum_damage(index_root, changed)
    problems: list[str] = []
    try:
        with ix.searcher() as searcher:
            count, segments = 0, 0
            ids: set[str] = set()
            files: set[str] = set()
            terms: set[str] = set()
            if searcher.reader().doc_count_all():  # with no segment at all, Whoosh's empty reader has no columns
                count, ids, files, terms = _check_documents(searcher, problems)
                problems += postings.verify(searcher.reader())
                segments = len(searcher.reader().leaf_readers())
    except NewsearchError:
        raise
    except Exception as exc:  # any failure to read means damage; say what failed
        raise damaged(index_root, exc) from None
    problems += vocabulary.verify(generation, terms)
    problems += duplicate_store.verify(generation, ids, toc)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise IndexCorrupt(
            f"the index at {index_root} is inconsistent: {shown}; {rebuild_hint(index_root)}"
        )
    return CheckReport(str(index_root), generation.name, count, len(files), segments)


def _strings(value: object) -> tuple[str, ...]:
    """The strings of a list read from JSON (anything else: none)."""
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _check_documents(searcher: Searcher, problems: list[str]) -> tuple[int, set[str], set[str], set[str]]:
    """Read every stored document, column value, field length and posting list of the segments;
    add what is wrong to ``problems``. Returns the number of documents, their ids, their files,
    and the terms of the search fields."""
    reader = searcher.reader()
    ids = reader.column_reader("id")
    stamps = reader.column_reader("stamp")
    seen: set[str] = set()
    files: set[str] = set()
    count = 0
    for docnum, stored in searcher.iter_docs():
        count += 1
        doc_id = stored.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            problems.append(f"document #{docnum} has no id")
            continue
        if ids[docnum] != doc_id:
            problems.append(f"document {doc_id!r}: id column says {ids[docnum]!r}")
        if doc_id in seen:
            problems.append(f"document id {doc_id!r} appears twice")
        seen.add(doc_id)
        files.add(stored.get("path", ""))
        if not isinstance(stored.get("body"), str) or not isinstance(stored.get("title"), str):
            problems.append(f"document {doc_id!r} lacks its stored title or body")
        try:
            FileStamp.decode(stamps[docnum])
        except (ValueError, UnicodeDecodeError):
            problems.append(f"document {doc_id!r} has a damaged file stamp")
        for fieldname in SEARCH_FIELDS:
            reader.doc_field_length(docnum, fieldname)
    if count != searcher.doc_count():
        problems.append(f"read {count} documents but the index counts {searcher.doc_count()}")
    for subreader, _offset in reader.leaf_readers():  # every value of every column, segment by segment
        for fieldname in searcher.schema.names():
            if subreader.has_column(fieldname):
                deque(subreader.column_reader(fieldname, translate=False), maxlen=0)
    limit = reader.doc_count_all()
    terms: set[str] = set()
    for fieldname in reader.indexed_field_names():
        # Reading every posting list proves the postings decode and point at real documents.
        for btext in reader.lexicon(fieldname):
            term = btext.decode("utf-8", "backslashreplace")
            if any(docnum >= limit for docnum in reader.postings(fieldname, btext).all_ids()):
                problems.append(f"postings of {term!r} in {fieldname} point past the last document")
            if fieldname in SEARCH_FIELDS:
                terms.add(term)
    return count, seen, files, terms


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"newsearch": __version__, "python": platform.python_version()}
    for package in ("whoosh-reloaded", "nltk", "click"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found
