"""The baseline: raw Whoosh, set up the way its documentation shows.

``StemmingAnalyzer`` on title and body (body stored), default BM25F, one writer with
``limitmb=256``; queries through ``MultifieldParser(["title", "body"], schema, group=OrGroup)``
(its default plugins include phrases in double quotes); snippets with ``hit.highlights("body")``.
Incremental updates follow the recipe of Whoosh's "How to index documents" page: compare each
file's stored modification time, re-index what changed, delete what is gone.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from whoosh import highlight, index
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.qparser import MultifieldParser, OrGroup

from tests.bench.corpora import decode, split_article

LIMIT_MB = 256


def schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        mtime=STORED(),  # for the incremental recipe
        title=TEXT(analyzer=StemmingAnalyzer(), stored=True),
        body=TEXT(analyzer=StemmingAnalyzer(), stored=True),
    )


def corpus_files(root: Path) -> list[tuple[str, Path]]:
    """(id, path) of every .txt and .json article under root, sorted; ids are relative paths."""
    found = []
    for base, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            if name.endswith((".txt", ".json")) and not name.startswith("."):
                path = Path(base) / name
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    return found


def read_article(doc_id: str, path: Path) -> dict[str, object]:
    """The fields of one file: BBC-layout .txt, or a .json object with id/title/body."""
    text = decode(path.read_bytes())
    if path.suffix == ".json":
        value = json.loads(text)
        return {"id": value.get("id") or doc_id, "title": value.get("title", ""), "body": value.get("body", ""),
                "mtime": path.stat().st_mtime}
    title, body = split_article(text)
    return {"id": doc_id, "title": title, "body": body, "mtime": path.stat().st_mtime}


def build(corpus: Path, index_dir: Path) -> int:
    """A complete new index of ``corpus`` in ``index_dir``; returns the number of documents."""
    if index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True)
    ix = index.create_in(str(index_dir), schema())
    writer = ix.writer(limitmb=LIMIT_MB)
    count = 0
    for doc_id, path in corpus_files(corpus):
        writer.add_document(**read_article(doc_id, path))
        count += 1
    writer.commit()
    return count


def update(corpus: Path, index_dir: Path) -> dict[str, int]:
    """Whoosh's documented incremental recipe (stored mtime per file)."""
    ix = index.open_dir(str(index_dir))
    files = dict(corpus_files(corpus))
    stale, gone, indexed = [], [], {}
    with ix.searcher() as searcher:
        for fields in searcher.all_stored_fields():
            indexed[fields["id"]] = fields["mtime"]
    for doc_id, mtime in indexed.items():
        path = files.get(doc_id)
        if path is None:
            gone.append(doc_id)
        elif path.stat().st_mtime > mtime:
            stale.append(doc_id)
    new = [doc_id for doc_id in files if doc_id not in indexed]
    if stale or gone or new:
        writer = ix.writer(limitmb=LIMIT_MB)
        for doc_id in gone:
            writer.delete_by_term("id", doc_id)
        for doc_id in stale + new:
            writer.update_document(**read_article(doc_id, files[doc_id]))
        writer.commit()
    return {"updated": len(stale), "added": len(new), "deleted": len(gone)}


class SpanFormatter(highlight.Formatter):
    """Returns the fragments' (start, end) offsets instead of marked-up text."""

    def format(self, fragments, replace=False):  # noqa: ARG002 - Whoosh's signature
        return [(fragment.startchar, fragment.endchar) for fragment in fragments]


class Baseline:
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

    def with_highlights(self, query: str, limit: int = 10) -> list[tuple[str, str]]:
        """Top (id, highlighted snippets) as ``hit.highlights("body")`` makes them."""
        results = self.searcher.search(self.parser.parse(query), limit=limit)
        return [(hit["id"], hit.highlights("body")) for hit in results]

    def ranked_with_top_fragment(self, query: str, limit: int = 10) -> tuple[list[str], tuple[int, int] | None]:
        """Top ids, and the (start, end) in the body of the best-scoring fragment of the first hit."""
        results = self.searcher.search(self.parser.parse(query), limit=limit)
        ids = [hit["id"] for hit in results]
        span = None
        if ids:
            spans = self.top_fragment.highlight_hit(results[0], "body", top=1)
            span = spans[0] if spans else None
        return ids, span
