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

from newsearch.version import __version__ as __version__

# The public names, each listed once here: the module that defines it -> its names.
# ``__all__`` is built from this table; a test checks that the imports for type
# checkers below name the same things.
_EXPORTS = {
    "newsearch.errors": (
        "CorpusError", "DocumentNotFound", "IndexCorrupt", "IndexIncompatible", "IndexLocked",
        "IndexNotFound", "IndexUnreadable", "IndexWriteError", "NewsearchError", "QueryError",
    ),
    "newsearch.models": (
        "BuildReport", "CheckReport", "Document", "FilterNote", "Hit", "IndexStats", "Passage", "Results",
        "SimilarCopy", "SkippedFile", "Timeline",
    ),
    "newsearch.indexer": ("build_index",),
    "newsearch.searcher": ("Index",),
    "newsearch.shards": ("ShardedIndex", "build_sharded", "check_index", "index_stats", "open_index"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted([*_MODULE_OF, "__version__"])


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'newsearch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers: the same names, re-exported explicitly (``X as X``)
    from newsearch.errors import CorpusError as CorpusError
    from newsearch.errors import DocumentNotFound as DocumentNotFound
    from newsearch.errors import IndexCorrupt as IndexCorrupt
    from newsearch.errors import IndexIncompatible as IndexIncompatible
    from newsearch.errors import IndexLocked as IndexLocked
    from newsearch.errors import IndexNotFound as IndexNotFound
    from newsearch.errors import IndexUnreadable as IndexUnreadable
    from newsearch.errors import IndexWriteError as IndexWriteError
    from newsearch.errors import NewsearchError as NewsearchError
    from newsearch.errors import QueryError as QueryError
    from newsearch.indexer import build_index as build_index
    from newsearch.models import BuildReport as BuildReport
    from newsearch.models import CheckReport as CheckReport
    from newsearch.models import Document as Document
    from newsearch.models import FilterNote as FilterNote
    from newsearch.models import Hit as Hit
    from newsearch.models import IndexStats as IndexStats
    from newsearch.models import Passage as Passage
    from newsearch.models import Results as Results
    from newsearch.models import SimilarCopy as SimilarCopy
    from newsearch.models import SkippedFile as SkippedFile
    from newsearch.models import Timeline as Timeline
    from newsearch.searcher import Index as Index
    from newsearch.shards import ShardedIndex as ShardedIndex
    from newsearch.shards import build_sharded as build_sharded
    from newsearch.shards import check_index as check_index
    from newsearch.shards import index_stats as index_stats
    from newsearch.shards import open_index as open_index
