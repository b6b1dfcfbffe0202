"""An index's state read directly, behind the API's back: what the live generation stores, and
how much room the index folder takes."""

from __future__ import annotations

import os
from pathlib import Path


def stored_documents(index_path: Path) -> frozenset[tuple[str, str]] | None:
    """Every (id, title) the live generation holds, read directly; None when there is no index."""
    from newsearch.errors import IndexNotFound
    from newsearch.storage import open_current

    try:
        _generation, ix = open_current(Path(index_path))
    except IndexNotFound:
        return None
    try:
        with ix.searcher() as searcher:
            return frozenset((fields["id"], fields.get("title", "")) for fields in searcher.all_stored_fields())
    finally:
        ix.close()


def folder_footprint(folder: Path) -> tuple[int, int]:
    """(number of files, total bytes) under ``folder``, symlinks counted as files."""
    files = size = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            files += 1
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return files, size
