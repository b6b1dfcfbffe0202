"""Export every article a query matches (no page, no cap) as JSON Lines, CSV or OpenSearch bulk NDJSON.

``export`` writes the matches ``Index.matching`` lists, reading and writing one article at a time
(the matches themselves are made a chunk at a time), so memory stays flat however many articles
match. The export is the index as it was when the matches were listed: an indexer committing
meanwhile changes nothing in it.

    with Index(path) as index, index.matching("ferry", since="7d") as matches:
        export(matches, out, format="csv")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from newsearch.errors import QueryError
from newsearch.interchange import DEFAULT_BULK_INDEX, WRITERS, ExportFormat
from newsearch.listing import Matches

Progress = Callable[[int, int], None]  # (articles written, articles matched)


def export(
    matches: Matches,
    out: TextIO,
    *,
    format: ExportFormat | str = ExportFormat.JSONL,
    bulk_index: str = DEFAULT_BULK_INDEX,
    progress: Progress | None = None,
) -> int:
    """Write the articles of ``matches`` (``Index.matching(...)``: the query, filters, order and
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
    for _, document in matches.articles():
        writer.write(document)
        written += 1
        if progress is not None:
            progress(written, total)
    writer.close()
    return written
