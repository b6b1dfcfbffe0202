"""Grouping search results: copies of one story folded into one hit, stories counted over the
whole result set, facet counts, and why filters left no result."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, timezone, tzinfo

from whoosh import query as wq
from whoosh.searching import Searcher

from newsearch.config import as_utc
from newsearch.duplicate_store import DuplicatePairs
from newsearch.matches import NO_DATE, Candidate, column_values, matching, published_at
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


def facets_of(searcher: Searcher, matches: list[int],
              wanted: Collection[str]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Counts of ``matches`` (the whole result set) by source, year and/or month, in ``FACETS`` order."""
    counted: dict[str, tuple[tuple[str, int], ...]] = {}
    if "source" in wanted:
        keys = column_values(searcher, "source_key", matches, "")
        names: dict[str, str] = {}
        for docnum, key in keys.items():
            if key and key not in names:  # the name as the first article of that source writes it
                names[key] = searcher.stored_fields(docnum).get("source", key)
        counted["source"] = tuple(facet_counts(names.get(key) for key in keys.values()))
    if "year" in wanted or "month" in wanted:
        published = column_values(searcher, "published", matches, NO_DATE).values()
        periods = [year_month(published_at(raw)) for raw in published]
        if "year" in wanted:
            counted["year"] = tuple(facet_counts(period[0] if period else None for period in periods))
        if "month" in wanted:
            counted["month"] = tuple(facet_counts(period[1] if period else None for period in periods))
    return {name: counted[name] for name in FACETS if name in counted}


def facet_counts(values: Iterable[str | None]) -> list[tuple[str, int]]:
    """``(value, count)`` pairs, most frequent first, ties by value; None and "" are not counted."""
    counts = Counter(value for value in values if value)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def year_month(moment: datetime | None, tz: tzinfo = timezone.utc) -> tuple[str, str] | None:
    """The year and month facet values of a moment, ``("2025", "2025-01")``; None without a date."""
    if moment is None:
        return None
    local = as_utc(moment).astimezone(tz)
    return f"{local.year:04d}", f"{local.year:04d}-{local.month:02d}"


def filter_note(searcher: Searcher, query: str, matches: list[int], sources: Collection[str],
                since: datetime | None, until: datetime | None) -> FilterNote:
    """What each filter keeps of the ``matches`` of ``query`` (found without filters), for a search
    whose filters left nothing: the ``FilterNote`` of ``Results.filtered_out``."""
    from_sources = None
    match_sources: tuple[tuple[str, int], ...] = ()
    if sources:
        keys_wanted = [source_key(name) for name in sources]
        wanted: set[object] = {*keys_wanted, *(key.encode("utf-8") for key in keys_wanted)}  # the column holds bytes
        keys = column_values(searcher, "source_key", matches, "")
        from_sources = sum(1 for key in keys.values() if key in wanted)
        match_sources = facets_of(searcher, matches, ["source"])["source"]
    dates = [moment for moment in (published_at(raw) for raw in
                                   column_values(searcher, "published", matches, NO_DATE).values())
             if moment is not None]
    in_dates = None
    if since is not None or until is not None:
        in_dates = sum(1 for moment in dates
                       if (since is None or moment >= as_utc(since)) and (until is None or moment < as_utc(until)))
    return FilterNote(
        query=query, matches=len(matches), sources=tuple(sources), from_sources=from_sources,
        match_sources=match_sources, since=since, until=until, in_dates=in_dates, dated=len(dates),
        earliest=min(dates, default=None), latest=max(dates, default=None),
    )
