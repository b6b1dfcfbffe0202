"""`newsearch stats` and `newsearch check`: what an index holds, and whether it is sound."""

from __future__ import annotations

import os
import platform
from collections import Counter
from datetime import datetime, timezone

from newsearch import duplicate_store
from newsearch.config import resolve_index_path
from newsearch.errors import IndexCorrupt, NewsearchError
from newsearch.models import CheckReport, IndexStats
from newsearch.schema import FORMAT, SEARCH_FIELDS, FileStamp, stored_published
from newsearch.storage import damaged, folder_size, open_current, read_meta
from newsearch.version import __version__


def index_stats(index: str | os.PathLike[str] | None = None) -> IndexStats:
    """Counts, sources, date range, size and versions of the index at ``index``."""
    index_root = resolve_index_path(index)
    generation, ix = open_current(index_root)
    meta = read_meta(generation)
    sources: Counter[str] = Counter()
    earliest = latest = None
    undated = 0
    with ix.searcher() as searcher:
        for stored in searcher.all_stored_fields():
            sources[stored.get("source") or "(none)"] += 1
            published = stored_published(stored.get("published"))
            if published is None:
                undated += 1
                continue
            earliest = published if earliest is None or published < earliest else earliest
            latest = published if latest is None or published > latest else latest
        documents = searcher.doc_count()
    clusters = duplicate_store.load(generation).members
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
    """Open the index, read every stored document and verify it; raise IndexCorrupt if anything is wrong."""
    index_root = resolve_index_path(index)
    generation, ix = open_current(index_root)
    problems: list[str] = []
    try:
        with ix.searcher() as searcher:
            reader = searcher.reader()
            if reader.doc_count_all() == 0:  # no segment at all: Whoosh's empty reader has no columns
                return CheckReport(str(index_root), generation.name, 0, 0, 0)
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
            if count != searcher.doc_count():
                problems.append(f"read {count} documents but the index counts {searcher.doc_count()}")
            limit = reader.doc_count_all()
            for fieldname in SEARCH_FIELDS:
                # Reading every posting list proves the postings decode and point at real documents.
                for term in reader.field_terms(fieldname):
                    if any(docnum >= limit for docnum in reader.postings(fieldname, term).all_ids()):
                        problems.append(f"postings of {term!r} in {fieldname} point past the last document")
            segments = len(reader.leaf_readers())
    except NewsearchError:
        raise
    except Exception as exc:  # any failure to read means damage; say what failed
        raise damaged(index_root, exc) from None
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise IndexCorrupt(
            f"the index at {index_root} is inconsistent: {shown}; "
            f"run `newsearch index --rebuild --index {index_root}`"
        )
    return CheckReport(str(index_root), generation.name, count, len(files), segments)


def _strings(value: object) -> tuple[str, ...]:
    """The strings of a list read from JSON (anything else: none)."""
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


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
