"""Grouping search results: copies of one story folded into one hit, stories counted over the
whole result set, facet counts, and why filters left no result."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, timezone, tzinfo

import numpy as np
from whoosh import query as wq
from whoosh.searching import Searcher

from newsearch.columns import NO_DATE, doc_columns, epoch_micros, in_dates
from newsearch.config import as_utc
from newsearch.duplicate_store import DuplicatePairs
from newsearch.matches import Candidate, column_values, matching, published_at
from newsearch.models import FilterNote, Ranked, SimilarCopy
from newsearch.schema import source_key, stored_published
from newsearch.storage import reading

FACETS = ("source", "year", "month")


def collapsed(ranked: list[Ranked[Candidate]], duplicates: DuplicatePairs | None) -> list[Ranked[Candidate]]:
    """The ranking with each cluster of copies reduced to its best-ranked article."""
    if not duplicates or not duplicates.pairs:
        return ranked
    seen: set[str] = set()
    kept = []
    for item in ranked:
        cluster = duplicates.cluster_of.get(item.candidate.id)
        if cluster is not None:
            if cluster in seen:
                continue
            seen.add(cluster)
        kept.append(item)
    return kept


LOOKUP_COST = 50  # looking up one id costs about as much as reading this many values of the id column


def clustered_docnums(searcher: Searcher, duplicates: DuplicatePairs) -> dict[int, str]:
    """Document number -> cluster key, for every document that has copies (the same for a
    searcher's whole life: made once per opened index). Few copies are looked up by id; else
    the id column is read whole, which is then faster."""
    cluster_of = duplicates.cluster_of
    size = searcher.doc_count_all()
    found = {}
    if len(cluster_of) * LOOKUP_COST < size:
        for doc_id, key in cluster_of.items():
            docnum = searcher.document_number(id=doc_id)
            if docnum is not None:
                found[docnum] = key
        return found
    reader = searcher.reader()
    live: Iterable[int] = range(size)
    if reader.has_deletions():
        live = [docnum for docnum in live if not reader.is_deleted(docnum)]
    for docnum, raw in column_values(searcher, "id", live, b"").items():
        cluster = cluster_of.get(raw.decode("utf-8", "surrogateescape"))
        if cluster is not None:
            found[docnum] = cluster
    return found


def folded_copies(clustered: dict[int, str], matched: Iterable[int]) -> int:
    """How many of the ``matched`` documents folding hides: for each story, its matching copies but one.

    ``matched`` need only hold the matches among ``clustered`` (the others are never folded).
    """
    members = [clustered[docnum] for docnum in matched if docnum in clustered]
    return len(members) - len(set(members))


def copies_matching(searcher: Searcher, hit: Candidate, query: wq.Query, filters: wq.Query | None,
                    duplicates: DuplicatePairs, collected: set[int]) -> tuple[SimilarCopy, ...]:
    """The near-duplicates of ``hit`` that the query (and filters) match too.

    Copies among the ``collected`` candidates matched already; only the others are checked
    (a matcher for the whole query costs several milliseconds).
    """
    with reading(hit.index_path):  # called while a page is made, after the search itself
        docnums = [searcher.document_number(id=other) for other in duplicates.copies(hit.id)]
        wanted = [docnum for docnum in docnums if docnum is not None]
        if not wanted:
            return ()
        found = {docnum for docnum in wanted if docnum in collected}
        unknown = [docnum for docnum in wanted if docnum not in collected]
        if unknown:
            found |= matching(searcher, query if filters is None else wq.And([query, filters]), unknown)
        copies = []
        for docnum in sorted(found):
            stored = searcher.stored_fields(docnum)
            copies.append(SimilarCopy(id=stored["id"], source=stored.get("source", ""),
                                      published=stored_published(stored.get("published")),
                                      path=stored.get("file", "")))
    return tuple(sorted(copies, key=lambda copy: (copy.source.casefold(), copy.id)))


def facets_of(searcher: Searcher, matches: np.ndarray,
              wanted: Collection[str]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Counts of ``matches`` (the whole result set: sorted global document numbers) by source,
    year and/or month, in ``FACETS`` order."""
    counted: dict[str, tuple[tuple[str, int], ...]] = {}
    columns = doc_columns(searcher)
    if "source" in wanted:
        codes = columns.source[matches]
        present, first, counts = np.unique(codes, return_index=True, return_counts=True)
        named: dict[str, int] = {}
        for code, docnum, count in zip(present.tolist(), matches[first].tolist(), counts.tolist()):
            key = columns.source_keys[code] if code >= 0 else ""
            if key:  # the name as the first matching article of that source writes it
                name = searcher.stored_fields(docnum).get("source", key)
                named[name] = named.get(name, 0) + count
        counted["source"] = tuple(ranked_counts(named))
    if "year" in wanted or "month" in wanted:
        moments, _ = epoch_micros(columns.published[matches])
        months, counts = np.unique(moments.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64),
                                   return_counts=True)
        by_month = {(1970 + month // 12, month % 12 + 1): count
                    for month, count in zip(months.tolist(), counts.tolist())}
        if "year" in wanted:
            years: dict[str, int] = {}
            for (year, _), count in by_month.items():
                years[f"{year:04d}"] = years.get(f"{year:04d}", 0) + count
            counted["year"] = tuple(ranked_counts(years))
        if "month" in wanted:
            counted["month"] = tuple(ranked_counts({f"{year:04d}-{month:02d}": count
                                                    for (year, month), count in by_month.items()}))
    return {name: counted[name] for name in FACETS if name in counted}


def facet_counts(values: Iterable[str | None]) -> list[tuple[str, int]]:
    """``(value, count)`` pairs, most frequent first, ties by value; None and "" are not counted."""
    return ranked_counts(Counter(value for value in values if value))


def ranked_counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    """The ``(value, count)`` pairs of ``counts``, most frequent first, ties by value."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def year_month(moment: datetime | None, tz: tzinfo = timezone.utc) -> tuple[str, str] | None:
    """The year and month facet values of a moment, ``("2025", "2025-01")``; None without a date."""
    if moment is None:
        return None
    local = as_utc(moment).astimezone(tz)
    return f"{local.year:04d}", f"{local.year:04d}-{local.month:02d}"


def filter_note(searcher: Searcher, query: str, matches: np.ndarray, sources: Collection[str],
                since: datetime | None, until: datetime | None) -> FilterNote:
    """What each filter keeps of the ``matches`` of ``query`` (found without filters: sorted global
    document numbers), for a search whose filters left nothing: the ``FilterNote`` of
    ``Results.filtered_out``."""
    columns = doc_columns(searcher)
    from_sources = None
    match_sources: tuple[tuple[str, int], ...] = ()
    if sources:
        wanted = columns.source_codes(source_key(name) for name in sources)
        from_sources = int(np.isin(columns.source[matches], wanted).sum())
        match_sources = facets_of(searcher, matches, ["source"])["source"]
    published = columns.published[matches]
    dated = published[published < NO_DATE]
    within = None
    if since is not None or until is not None:
        within = int(in_dates(dated, since, until).sum())
    return FilterNote(
        query=query, matches=len(matches), sources=tuple(sources), from_sources=from_sources,
        match_sources=match_sources, since=since, until=until, in_dates=within, dated=len(dated),
        earliest=published_at(int(dated.min())) if len(dated) else None,
        latest=published_at(int(dated.max())) if len(dated) else None,
    )
