"""The systems the bench compares, behind one interface.

A **peer** is a module (``baseline`` for raw Whoosh, ``fts5``, ``tantivy_peer``) with:

* ``VERSION``: what its index format depends on (its schema's version and the package's),
  part of the key under which its indexes are cached between runs;
* ``build(corpus, index_dir) -> int``: a complete new index, the number of articles;
* ``update(corpus, index_dir) -> dict``: the incremental recipe (stored modification time per
  file, ``changes`` below): re-index newer files, delete missing ones, add new ones;
* ``Engine(index_dir)``, one open index as a long-running application keeps it, with
  ``ids(query, limit)`` (top ids, no snippets), ``with_snippets(query, limit)`` (top ids with
  the peer's own snippets), ``facets(word)`` (counts by source, year and month of the articles
  matching ``word``: the month counts are the timeline) and ``close()``.

newsearch fits the same ``Engine`` (``NewsearchEngine``); it is built, updated and searched
cold through its command line instead. Every peer reads the same files with
``corpora.read_article`` and answers the same queries: the words of the query OR'ed, a quoted
span as a phrase (``clauses``), on title and body, ranked by the peer's BM25.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.bench.corpora import corpus_files

SYSTEMS = ("newsearch", "whoosh", "fts5", "tantivy")
PEER_MODULES = {"whoosh": "tests.bench.baseline", "fts5": "tests.bench.fts5", "tantivy": "tests.bench.tantivy_peer"}
LABELS = {"newsearch": "newsearch", "whoosh": "raw Whoosh", "fts5": "SQLite FTS5", "tantivy": "tantivy"}
INSTALL_HINT = {"tantivy": "pip install -e '.[bench]'"}
FACETS = ("source", "year", "month")


def peer(name: str) -> ModuleType:
    return importlib.import_module(PEER_MODULES[name])


def missing(name: str) -> str | None:
    """Why a system cannot run here (its package is not installed), or None."""
    if name == "newsearch":
        return None
    try:
        peer(name)
    except ImportError as exc:
        return f"{LABELS[name]} skipped: {exc} ({INSTALL_HINT.get(name, 'not installed')})"
    return None


def open_engine(name: str, index_dir: Path) -> Any:
    return NewsearchEngine(index_dir) if name == "newsearch" else peer(name).Engine(index_dir)


# --- what every peer shares ------------------------------------------------------------------

_PHRASE = re.compile(r'"([^"]*)"')


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def clauses(query: str) -> list[list[str]]:
    """The query as OR'ed clauses: each quoted span one phrase (its words), every other word one clause."""
    found = [words(span) for span in _PHRASE.findall(query)]
    found += [[word] for word in words(_PHRASE.sub(" ", query))]
    return [clause for clause in found if clause]


@dataclass
class Changes:
    """What the incremental recipe does for one corpus against an index's stored (id, mtime)."""

    files: dict[str, Path]
    stale: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.stale or self.gone or self.new)

    def summary(self) -> dict[str, int]:
        return {"updated": len(self.stale), "added": len(self.new), "deleted": len(self.gone)}


def changes(corpus: Path, indexed: dict[str, float]) -> Changes:
    """Whoosh's documented recipe: a file newer than its stored mtime is stale, an id without a file gone."""
    found = Changes(dict(corpus_files(corpus)))
    for doc_id, mtime in indexed.items():
        path = found.files.get(doc_id)
        if path is None:
            found.gone.append(doc_id)
        elif path.stat().st_mtime > mtime:
            found.stale.append(doc_id)
    found.new = [doc_id for doc_id in found.files if doc_id not in indexed]
    return found


class NewsearchEngine:
    """newsearch's ``Index`` as a peer engine: without passages, with 3, facets plus a monthly timeline."""

    def __init__(self, index_dir: Path) -> None:
        import newsearch

        self.index = newsearch.open_index(index_dir)

    def close(self) -> None:
        self.index.close()

    @staticmethod
    def before_query() -> None:
        """Forget the articles' text read so far (untimed): the variants of one query, and the passes
        over the same queries, would otherwise rerank from the text caches."""
        from newsearch.sentences import forget_texts

        forget_texts()

    def ids(self, query: str, limit: int = 10) -> list[str]:
        return [hit.id for hit in self.index.search(query, limit=limit, passages=0).hits]

    def with_snippets(self, query: str, limit: int = 10) -> list[tuple[str, object]]:
        return [(hit.id, hit.passages) for hit in self.index.search(query, limit=limit, passages=3).hits]

    def facets(self, word: str) -> dict[str, dict[str, int]]:
        results = self.index.search(word, limit=10, facets=FACETS)
        self.index.timeline(word, by="month")
        return {name: dict(counts) for name, counts in results.facets.items()}
