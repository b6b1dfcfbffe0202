"""newsearch: full-text search for news archives.

    >>> import newsearch
    >>> newsearch.build_index(["corpus"], "index")          # doctest: +SKIP
    >>> with newsearch.open_index("index") as index:        # doctest: +SKIP
    ...     results = index.search("north korean soldiers")
"""

__version__ = "0.1.0"  # before the imports: submodules read it

from newsearch.errors import (
    CorpusError,
    DocumentNotFound,
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexUnreadable,
    IndexWriteError,
    NewsearchError,
    QueryError,
)
from newsearch.indexer import build_index
from newsearch.models import BuildReport, Document, Hit, Passage, Results, SkippedFile
from newsearch.searcher import Index, open_index
from newsearch.status import CheckReport, IndexStats, check_index, index_stats

__all__ = [
    "BuildReport",
    "CheckReport",
    "CorpusError",
    "Document",
    "DocumentNotFound",
    "Hit",
    "Index",
    "IndexCorrupt",
    "IndexIncompatible",
    "IndexLocked",
    "IndexNotFound",
    "IndexStats",
    "IndexUnreadable",
    "IndexWriteError",
    "NewsearchError",
    "Passage",
    "QueryError",
    "Results",
    "SkippedFile",
    "__version__",
    "build_index",
    "check_index",
    "index_stats",
    "open_index",
]
