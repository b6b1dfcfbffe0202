"""The SQLite FTS5 peer (standard library ``sqlite3``; see ``peers`` for the interface).

One database file: a table ``docs`` (id, mtime, source, published) and an FTS5 table ``fts``
over title and body with the ``porter unicode61`` tokenizer, sharing rowids. A build loads
every article in one transaction, then runs FTS5's ``optimize`` (merge into one b-tree, as
its documentation advises after a bulk load). Queries: every clause of ``peers.clauses`` in
double quotes (a quoted run of words is an FTS5 phrase), joined with ``OR`` (FTS5's default
between terms is AND), ordered by ``rank`` (bm25); snippets from ``snippet()`` on the body.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.bench.corpora import corpus_files, read_article
from tests.bench.peers import FACETS, changes, clauses

VERSION = f"fts5-peer-1-sqlite-{sqlite3.sqlite_version}"
FILE = "fts.sqlite"
_INSERT_DOC = "INSERT INTO docs (id, mtime, source, published) VALUES (:id, :mtime, :source, :published)"
_INSERT_TEXT = "INSERT INTO fts (rowid, title, body) VALUES (?, ?, ?)"
_TOP = ("SELECT docs.id{snippet} FROM fts JOIN docs ON docs.rowid = fts.rowid WHERE fts MATCH ? "
        "ORDER BY rank LIMIT ?")


def match_expression(query: str) -> str:
    """The FTS5 query: each clause quoted (words only, so no escaping is needed), OR'ed."""
    return " OR ".join('"' + " ".join(clause) + '"' for clause in clauses(query))


def _add(connection: sqlite3.Connection, doc_id: str, path: Path) -> None:
    fields = read_article(doc_id, path)
    rowid = connection.execute(_INSERT_DOC, fields).lastrowid
    connection.execute(_INSERT_TEXT, (rowid, fields["title"], fields["body"]))


def build(corpus: Path, index_dir: Path) -> int:
    if index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True)
    connection = sqlite3.connect(index_dir / FILE)
    try:
        connection.executescript(
            "PRAGMA journal_mode = WAL;"
            "CREATE TABLE docs (rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, mtime REAL, source TEXT,"
            " published TEXT);"
            "CREATE VIRTUAL TABLE fts USING fts5(title, body, tokenize = 'porter unicode61');")
        count = 0
        with connection:
            for doc_id, path in corpus_files(corpus):
                _add(connection, doc_id, path)
                count += 1
        with connection:
            connection.execute("INSERT INTO fts (fts) VALUES ('optimize')")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return count


def update(corpus: Path, index_dir: Path) -> dict[str, int]:
    connection = sqlite3.connect(index_dir / FILE)
    try:
        found = changes(corpus, dict(connection.execute("SELECT id, mtime FROM docs")))
        if found:
            with connection:
                for doc_id in found.gone + found.stale:
                    rowid = connection.execute("SELECT rowid FROM docs WHERE id = ?", (doc_id,)).fetchone()[0]
                    connection.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
                    connection.execute("DELETE FROM docs WHERE rowid = ?", (rowid,))
                for doc_id in found.stale + found.new:
                    _add(connection, doc_id, found.files[doc_id])
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return found.summary()


class Engine:
    def __init__(self, index_dir: Path) -> None:
        self.connection = sqlite3.connect(index_dir / FILE)

    def close(self) -> None:
        self.connection.close()

    def ids(self, query: str, limit: int = 10) -> list[str]:
        rows = self.connection.execute(_TOP.format(snippet=""), (match_expression(query), limit))
        return [row[0] for row in rows]

    def with_snippets(self, query: str, limit: int = 10) -> list[tuple[str, object]]:
        snippet = ", snippet(fts, 1, '[', ']', '…', 32)"
        return [tuple(row) for row in self.connection.execute(_TOP.format(snippet=snippet),
                                                              (match_expression(query), limit))]

    def facets(self, word: str) -> dict[str, dict[str, int]]:
        found = {}
        for name, value in zip(FACETS, ("source", "substr(published, 1, 4)", "substr(published, 1, 7)")):
            rows = self.connection.execute(
                f"SELECT {value}, count(*) FROM fts JOIN docs ON docs.rowid = fts.rowid WHERE fts MATCH ? "
                f"AND docs.published >= ? GROUP BY 1", (match_expression(word), "" if name == "source" else "0"))
            found[name] = dict(rows)
        return found
