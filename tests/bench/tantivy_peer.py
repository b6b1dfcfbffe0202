"""The tantivy peer (pip ``tantivy``, the optional ``[bench]`` extra; see ``peers`` for the interface).

Schema: ``id`` (raw, stored: the delete term), ``title`` and ``body`` (``en_stem``, stored),
``mtime`` (stored, for the incremental recipe), ``source``, ``year``, ``month`` (raw, fast: the
facets). One writer with a 256 MB heap and tantivy's own choice of indexing threads; the build
waits for its merges. Queries: every clause of ``peers.clauses`` in double quotes, parsed on
title and body as a disjunction (tantivy's default), BM25; snippets from ``SnippetGenerator`` on
the body; facets from one terms aggregation per field.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import tantivy

from tests.bench.corpora import corpus_files, read_article
from tests.bench.peers import FACETS, changes, clauses

VERSION = f"tantivy-peer-1-tantivy-{metadata.version('tantivy')}"
HEAP_BYTES = 256_000_000


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    builder.add_float_field("mtime", stored=True)
    for name in FACETS:
        builder.add_text_field(name, fast=True, tokenizer_name="raw")
    return builder.build()


def _document(doc_id: str, path: Path) -> tantivy.Document:
    fields = read_article(doc_id, path)
    published = str(fields["published"])
    return tantivy.Document(id=fields["id"], title=fields["title"], body=fields["body"], mtime=fields["mtime"],
                            source=fields["source"], year=published[:4], month=published[:7])


def _commit(writer: tantivy.IndexWriter) -> None:
    writer.commit()
    writer.wait_merging_threads()


def build(corpus: Path, index_dir: Path) -> int:
    if index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True)
    writer = tantivy.Index(schema(), path=str(index_dir)).writer(HEAP_BYTES)
    count = 0
    for doc_id, path in corpus_files(corpus):
        writer.add_document(_document(doc_id, path))
        count += 1
    _commit(writer)
    return count


def update(corpus: Path, index_dir: Path) -> dict[str, int]:
    index = tantivy.Index.open(str(index_dir))
    searcher = index.searcher()
    everything = searcher.search(tantivy.Query.all_query(), limit=max(1, searcher.num_docs)).hits
    indexed = {}
    for _, address in everything:
        stored = searcher.doc(address)
        indexed[stored.get_first("id")] = stored.get_first("mtime")
    found = changes(corpus, indexed)
    if found:
        writer = index.writer(HEAP_BYTES)
        for doc_id in found.gone + found.stale:
            writer.delete_documents_by_term("id", doc_id)
        for doc_id in found.stale + found.new:
            writer.add_document(_document(doc_id, found.files[doc_id]))
        _commit(writer)
    return found.summary()


class Engine:
    def __init__(self, index_dir: Path) -> None:
        self.index = tantivy.Index.open(str(index_dir))
        self.searcher = self.index.searcher()

    def close(self) -> None:
        self.searcher = None

    def _query(self, query: str) -> tantivy.Query:
        text = " ".join('"' + " ".join(clause) + '"' for clause in clauses(query))
        return self.index.parse_query(text, ["title", "body"])

    def ids(self, query: str, limit: int = 10) -> list[str]:
        hits = self.searcher.search(self._query(query), limit).hits
        return [self.searcher.doc(address).get_first("id") for _, address in hits]

    def with_snippets(self, query: str, limit: int = 10) -> list[tuple[str, object]]:
        parsed = self._query(query)
        snippets = tantivy.SnippetGenerator.create(self.searcher, parsed, self.index.schema, "body")
        found = []
        for _, address in self.searcher.search(parsed, limit).hits:
            stored = self.searcher.doc(address)
            found.append((stored.get_first("id"), snippets.snippet_from_doc(stored).to_html()))
        return found

    def facets(self, word: str) -> dict[str, dict[str, int]]:
        aggregation = {name: {"terms": {"field": name, "size": 10_000}} for name in FACETS}
        found = self.searcher.aggregate(self._query(word), aggregation)
        return {name: {bucket["key"]: bucket["doc_count"] for bucket in found[name]["buckets"] if bucket["key"]}
                for name in FACETS}
