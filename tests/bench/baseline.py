"""The raw Whoosh peer, set up the way its documentation shows (see ``peers`` for the interface).

``StemmingAnalyzer`` on title and body (body stored), default BM25F, one writer with
``limitmb=256``; queries through ``MultifieldParser(["title", "body"], schema, group=OrGroup)``
(its default plugins include phrases in double quotes); snippets with ``hit.highlights("body")``;
facets with ``groupedby`` on sortable ``source``, ``year`` and ``month`` fields.
Incremental updates follow the recipe of Whoosh's "How to index documents" page: compare each
file's stored modification time, re-index what changed, delete what is gone.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

from whoosh import highlight, index, sorting
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.qparser import MultifieldParser, OrGroup

from tests.bench.corpora import corpus_files, read_article
from tests.bench.peers import FACETS, changes

LIMIT_MB = 256
VERSION = f"whoosh-peer-2-whoosh-{metadata.version('whoosh-reloaded')}"


def schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        mtime=STORED(),  # for the incremental recipe
        title=TEXT(analyzer=StemmingAnalyzer(), stored=True),
        body=TEXT(analyzer=StemmingAnalyzer(), stored=True),
        source=ID(sortable=True),
        year=ID(sortable=True),
        month=ID(sortable=True),
    )


def _document(doc_id: str, path: Path) -> dict[str, object]:
    fields = read_article(doc_id, path)
    published = str(fields.pop("published"))
    return {**fields, "year": published[:4], "month": published[:7]}


def build(corpus: Path, index_dir: Path) -> int:
    """A complete new index of ``corpus`` in ``index_dir``; returns the number of documents."""
    if index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True)
    ix = index.create_in(str(index_dir), schema())
    writer = ix.writer(limitmb=LIMIT_MB)
    count = 0
    for doc_id, path in corpus_files(corpus):
        writer.add_document(**_document(doc_id, path))
        count += 1
    writer.commit()
    return count


def update(corpus: Path, index_dir: Path) -> dict[str, int]:
    """Whoosh's documented incremental recipe (stored mtime per file)."""
    ix = index.open_dir(str(index_dir))
    with ix.searcher() as searcher:
        found = changes(corpus, {fields["id"]: fields["mtime"] for fields in searcher.all_stored_fields()})
    if found:  # no writer when nothing changed
        writer = ix.writer(limitmb=LIMIT_MB)
        for doc_id in found.gone:
            writer.delete_by_term("id", doc_id)
        for doc_id in found.stale + found.new:
            writer.update_document(**_document(doc_id, found.files[doc_id]))
        writer.commit()
    return found.summary()


class SpanFormatter(highlight.Formatter):
    """Returns the fragments' (start, end) offsets instead of marked-up text."""

    def format(self, fragments, replace=False):  # noqa: ARG002 - Whoosh's signature
        return [(fragment.startchar, fragment.endchar) for fragment in fragments]


class Engine:
    """One open index and searcher, as a long-running application would keep them."""

    def __init__(self, index_dir: Path) -> None:
        self.ix = index.open_dir(str(index_dir))
        self.searcher = self.ix.searcher()
        self.parser = MultifieldParser(["title", "body"], self.ix.schema, group=OrGroup)
        self.top_fragment = highlight.Highlighter(formatter=SpanFormatter(), order=highlight.SCORE)

    def close(self) -> None:
        self.searcher.close()

    def ids(self, query: str, limit: int = 10) -> list[str]:
        """Top ids, no snippets."""
        results = self.searcher.search(self.parser.parse(query), limit=limit)
        return [hit["id"] for hit in results]

    def with_snippets(self, query: str, limit: int = 10) -> list[tuple[str, object]]:
        """Top (id, highlighted snippets) as ``hit.highlights("body")`` makes them."""
        results = self.searcher.search(self.parser.parse(query), limit=limit)
        return [(hit["id"], hit.highlights("body")) for hit in results]

    def facets(self, word: str) -> dict[str, dict[str, int]]:
        results = self.searcher.search(self.parser.parse(word), limit=1,
                                       groupedby=[sorting.FieldFacet(name) for name in FACETS])
        return {name: {value: len(docs) for value, docs in results.groups(name).items() if value}
                for name in FACETS}

    def ranked_with_top_fragment(self, query: str, limit: int = 10) -> tuple[list[str], tuple[int, int] | None]:
        """Top ids, and the (start, end) in the body of the best-scoring fragment of the first hit."""
        results = self.searcher.search(self.parser.parse(query), limit=limit)
        ids = [hit["id"] for hit in results]
        span = None
        if ids:
            spans = self.top_fragment.highlight_hit(results[0], "body", top=1)
            span = spans[0] if spans else None
        return ids, span
