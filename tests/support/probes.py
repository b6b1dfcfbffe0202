"""What searching an index answers, as plain data to compare: the same probes on a damaged or
interrupted index and on a sound one must give equal answers, or the damage must be reported."""

from __future__ import annotations

from pathlib import Path


def answers(index_path: Path, queries: tuple[str, ...], ids: tuple[str, ...] = ()) -> list[object]:
    """Per query, the hits (id, title, folded copies) and counts; per id, the document's title and
    its related articles. Anything raised is part of the answer (its class name)."""
    from newsearch import open_index
    from newsearch.errors import NewsearchError

    found: list[object] = []
    with open_index(index_path) as index:
        for query in queries:
            results = index.search(query, limit=20)
            # getattr: the trial scripts also measure older checkouts, whose Results had no stories count
            found.append((query, results.total, getattr(results, "stories", None),
                          [(hit.id, hit.title, tuple(copy.id for copy in hit.similar)) for hit in results.hits]))
        for doc_id in ids:
            try:
                found.append((doc_id, index.document(doc_id).title,
                              [hit.id for hit in index.related(doc_id, limit=5).hits]))
            except NewsearchError as exc:
                found.append((doc_id, type(exc).__name__))
    return found
