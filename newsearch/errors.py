"""The one error hierarchy; the CLI maps each class to its exit code."""


class NewsearchError(Exception):
    """Base class of every error newsearch raises on purpose."""

    exit_code = 1


class CorpusError(NewsearchError):
    """A corpus path or article cannot be read; the message names the file."""


class IndexNotFound(NewsearchError):
    """No index at the given location."""

    exit_code = 3


class IndexUnreadable(NewsearchError):
    """An index exists but cannot be opened (permissions, damage)."""

    exit_code = 3


class IndexIncompatible(NewsearchError):
    """The index was built by an incompatible version; it needs a rebuild."""

    exit_code = 4


class IndexCorrupt(NewsearchError):
    """`check` found the index inconsistent."""

    exit_code = 4


class IndexLocked(NewsearchError):
    """Another process holds the writer lock."""

    exit_code = 75


class IndexWriteError(NewsearchError):
    """Writing the index failed (disk full, read-only folder); the old index is intact."""


class QueryError(NewsearchError):
    """The query cannot be parsed or is refused; the message says why."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # A message quotes the query, which may hold line breaks: it stays one line.
        super().__init__(" ".join(message.splitlines()))


class DocumentNotFound(NewsearchError):
    """No document has the given id."""


class UnsupportedWhoosh(NewsearchError, ImportError):
    """The installed Whoosh is not a version whose internals newsearch was tested with; the message
    says what to install. Raised when ``newsearch.whoosh_internals`` is imported."""


class IndexUnsafe(IndexUnreadable):
    """The index folder could have been written by users other than its owner and the caller;
    opening it could run their code. ``NEWSEARCH_TRUST_INDEX=1`` opens it anyway."""
