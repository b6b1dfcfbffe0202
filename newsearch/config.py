"""Where the index and the corpus are: argument > NEWSEARCH_* environment variable > default
(for the corpus, the paths the index was built from come before the default)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

INDEX_ENV = "NEWSEARCH_INDEX"
CORPUS_ENV = "NEWSEARCH_CORPUS"
DEFAULT_INDEX = "index"
DEFAULT_CORPUS = "corpus"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # an article file larger than this (once decompressed) is skipped


def resolve_index_path(index: str | os.PathLike[str] | None = None) -> Path:
    """The index folder: ``index`` if given, else $NEWSEARCH_INDEX, else ./index."""
    chosen = index if index not in (None, "") else os.environ.get(INDEX_ENV) or DEFAULT_INDEX
    return Path(chosen).expanduser().absolute()


def resolve_corpus_paths(paths: Sequence[str | os.PathLike[str]] | None = None,
                         remembered: Sequence[str] | None = None) -> list[Path]:
    """The corpus paths: ``paths`` if given, else $NEWSEARCH_CORPUS (os.pathsep-separated), else
    ``remembered`` (those an existing index was built from), else ./corpus."""
    if paths:
        return [Path(p).expanduser().absolute() for p in paths]
    from_env = os.environ.get(CORPUS_ENV)
    if from_env:
        chosen = [p for p in from_env.split(os.pathsep) if p]
    else:
        chosen = list(remembered or ()) or [DEFAULT_CORPUS]
    return [Path(p).expanduser().absolute() for p in chosen]
