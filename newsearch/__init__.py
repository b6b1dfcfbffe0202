"""newsearch: full-text search for news archives::

    import newsearch
    newsearch.build_index(["corpus"], "index")
    with newsearch.open_index("index") as index:
        results = index.search("north korean soldiers")

Names are imported on first use, so `import newsearch` stays cheap for a cold search.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "newsearch.errors": (
        "CorpusError", "DocumentNotFound", "IndexCorrupt", "IndexIncompatible", "IndexLocked",
        "IndexNotFound", "IndexUnreadable", "IndexWriteError", "NewsearchError", "QueryError",
    ),
    "newsearch.models": ("BuildReport", "Document", "Hit", "Passage", "Results", "SimilarCopy", "SkippedFile"),
    "newsearch.timeline": ("Timeline",),
    "newsearch.indexer": ("build_index",),
    "newsearch.searcher": ("Index", "open_index"),
    "newsearch.status": ("CheckReport", "IndexStats", "check_index", "index_stats"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "BuildReport", "CheckReport", "CorpusError", "Document", "DocumentNotFound", "Hit", "Index", "IndexCorrupt",
    "IndexIncompatible", "IndexLocked", "IndexNotFound", "IndexStats", "IndexUnreadable", "IndexWriteError",
    "NewsearchError", "Passage", "QueryError", "Results", "SimilarCopy", "SkippedFile", "Timeline", "__version__",
    "build_index",
    "check_index", "index_stats", "open_index",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'newsearch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from newsearch.errors import (
        CorpusError, DocumentNotFound, IndexCorrupt, IndexIncompatible, IndexLocked, IndexNotFound,
        IndexUnreadable, IndexWriteError, NewsearchError, QueryError,
    )
    from newsearch.indexer import build_index
    from newsearch.models import BuildReport, Document, Hit, Passage, Results, SimilarCopy, SkippedFile
    from newsearch.searcher import Index, open_index
    from newsearch.status import CheckReport, IndexStats, check_index, index_stats
    from newsearch.timeline import Timeline
