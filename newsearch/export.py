"""Export every article a query matches (no page, no cap) as JSON Lines, CSV or OpenSearch bulk NDJSON.

``export`` writes the matches ``Index.matching`` lists (made a chunk at a time as they are read),
reading and writing one article at a time, so memory stays flat however many articles match. An
article deleted by an indexer running meanwhile is skipped; one changed meanwhile is written as
it is now.

    with Index(path) as index, open("ferry.csv", "w", newline="") as out:
        export(index, index.matching("ferry", since="7d"), out, format="csv")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from newsearch.errors import DocumentNotFound, QueryError
from newsearch.interchange import DEFAULT_BULK_INDEX, WRITERS, ExportFormat
from newsearch.listing import Matches
from newsearch.searcher import Index

Progress = Callable[[int, int], None]  # (articles written, articles matched)


def export(
    index: Index,
    matches: Matches,
    out: TextIO,
    *,
    format: ExportFormat | str = ExportFormat.JSONL,
    bulk_index: str = DEFAULT_BULK_INDEX,
    progress: Progress | None = None,
) -> int:
    """Write the articles of ``matches`` (``index.matching(...)``: the query, filters, order and
    folding are chosen there) to ``out`` in ``format``; return how many were written.

    ``bulk_index`` names the target index in OpenSearch bulk actions. ``progress`` is called as
    articles are written.
    """
    try:
        chosen = ExportFormat(format)
    except ValueError:
        raise QueryError(f"format must be one of {', '.join(f.value for f in ExportFormat)}, not {format!r}") from None
    writer = WRITERS[chosen](out, bulk_index)
    written, total = 0, len(matches)
    for match in matches:
        try:
            document = index.document(match.id)
        except DocumentNotFound:
            continue  # deleted since the matches were listed
        writer.write(document)
        written += 1
        if progress is not None:
            progress(written, total)
    writer.close()
    return written
