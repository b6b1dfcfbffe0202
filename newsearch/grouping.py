"""Grouping search results: copies of one story folded into one hit, and facet counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, timezone, tzinfo

from whoosh import query as wq
from whoosh.searching import Searcher

from newsearch.config import as_utc
from newsearch.duplicate_store import DuplicatePairs
from newsearch.matches import NO_DATE, Candidate, column_values, matching, published_at
from newsearch.models import Ranked, SimilarCopy
from newsearch.schema import stored_published

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


def copies_matching(searcher: Searcher, hit: Candidate, query: wq.Query, filters: wq.Query | None,
                    duplicates: DuplicatePairs, collected: set[int]) -> tuple[SimilarCopy, ...]:
    """The near-duplicates of ``hit`` that the query (and filters) match too.

    Copies among the ``collected`` candidates matched already; only the others are checked
    (a matcher for the whole query costs several milliseconds).
    """
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
