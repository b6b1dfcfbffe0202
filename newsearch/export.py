"""Export every article a query matches (no page, no cap) as JSON Lines, CSV or OpenSearch bulk NDJSON.

``export`` lists the matches (``Index.matching``: ids and dates only), then reads and writes one
article at a time, so memory stays flat however many articles match. An article deleted by an
indexer running meanwhile is skipped; one changed meanwhile is written as it is now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TextIO

from newsearch.errors import DocumentNotFound, QueryError
from newsearch.interchange import DEFAULT_BULK_INDEX, WRITERS, ExportFormat
from newsearch.models import Sort
from newsearch.searcher import Index

Progress = Callable[[int, int], None]  # (articles written, articles matched)


def export(
    index: Index,
    query: str,
    out: TextIO,
    *,
    format: ExportFormat | str = ExportFormat.JSONL,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    sources: Iterable[str] | None = None,
    sort: Sort = "newest",
    collapse: bool = False,
    correct: bool = True,
    bulk_index: str = DEFAULT_BULK_INDEX,
    progress: Progress | None = None,
) -> int:
    """Write every article ``query`` matches to ``out`` in ``format``; return how many were written.

    The query and filters are those of ``Index.matching`` (``""`` with filters, or ``"*"``,
    for every article they keep); newest first unless ``sort="oldest"``. ``bulk_index`` names
    the target index in OpenSearch bulk actions. ``progress`` is called as articles are written.
    """
    try:
        chosen = ExportFormat(format)
    except ValueError:
        raise QueryError(f"format must be one of {', '.join(f.value for f in ExportFormat)}, not {format!r}") from None
    matches = index.matching(query, since=since, until=until, sources=sources, sort=sort, collapse=collapse,
                             correct=correct)
    writer = WRITERS[chosen](out, bulk_index)
    written = 0
    for match in matches:
        try:
            document = index.document(match.id)
        except DocumentNotFound:
            continue  # deleted since the matches were listed
        writer.write(document)
        written += 1
        if progress is not None:
            progress(written, len(matches))
    writer.close()
    return written
