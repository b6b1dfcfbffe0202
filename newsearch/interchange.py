"""Whole articles in the formats other programs read: JSON Lines, CSV, OpenSearch/Elasticsearch
``_bulk`` NDJSON (with an index mapping), and Atom 1.0 feeds. No index access here.

Each export format is a ``Writer`` (one row of ``WRITERS``): it writes a header, one article at a
time, and a footer, so an export streams in constant memory whatever the number of articles.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, TextIO
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from newsearch.controlchars import C0_BUT_TAB_LF_CR, LONE_SURROGATES, character_class
from newsearch.models import Document, WatchReport

DEFAULT_BULK_INDEX = "news"
TAG_SEPARATOR = "; "  # tags in one CSV cell


class ExportFormat(str, Enum):
    """What `newsearch export` writes."""

    JSONL = "jsonl"
    CSV = "csv"
    OPENSEARCH = "opensearch"


def document_record(document: Document) -> dict[str, Any]:
    """An article as JSON values, under the names the corpus readers read back (``path``, where it
    came from, is ignored there): a JSON Lines export indexes into a new index as it was."""
    return {
        "id": document.id,
        "title": document.title,
        "published": document.published.isoformat() if document.published else None,
        "source": document.source,
        "author": document.author,
        "url": document.url,
        "tags": list(document.tags),
        "path": document.path,
        "body": document.body,
    }


def _json(value: object) -> str:
    # ASCII only: no control character or line separator of an article can reach a terminal or split a line.
    return json.dumps(value, ensure_ascii=True)


CSV_FIELDS = ("id", "published", "source", "title", "author", "url", "tags", "path", "body")


def csv_row(document: Document) -> list[str]:
    """One CSV row, in ``CSV_FIELDS`` order: tags joined by ``"; "``, no date as an empty cell."""
    record = document_record(document)
    record["tags"] = TAG_SEPARATOR.join(document.tags)
    record["published"] = record["published"] or ""
    return [record[name] for name in CSV_FIELDS]


def opensearch_mapping() -> dict[str, Any]:
    """The index mapping for the bulk export (``PUT /news`` with this body): English full text for
    title and body, exact keywords for id, source, author, tags, url and path, a date for published."""
    keyword = {"type": "keyword"}
    english = {"type": "text", "analyzer": "english"}
    return {"mappings": {"dynamic": "strict", "properties": {
        "id": keyword, "title": english, "body": english, "published": {"type": "date"},
        "source": keyword, "author": keyword, "tags": keyword, "url": keyword, "path": keyword,
    }}}


def bulk_lines(document: Document, index: str = DEFAULT_BULK_INDEX) -> str:
    """The two ``_bulk`` lines of one article (action, then source), each ending in a newline."""
    action = {"index": {"_index": index, "_id": document.id}}
    return f"{_json(action)}\n{_json(document_record(document))}\n"


class Writer:
    """Writes articles to ``out`` in one format: ``write`` each, then ``close`` (``out`` stays open)."""

    def __init__(self, out: TextIO, bulk_index: str = DEFAULT_BULK_INDEX) -> None:
        self.out = out
        self.bulk_index = bulk_index

    def write(self, document: Document) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.out.flush()


class JsonLinesWriter(Writer):
    def write(self, document: Document) -> None:
        self.out.write(_json(document_record(document)) + "\n")


class CsvWriter(Writer):
    """RFC 4180 CSV (CRLF line ends, fields with commas, quotes or line breaks quoted), a header first."""

    def __init__(self, out: TextIO, bulk_index: str = DEFAULT_BULK_INDEX) -> None:
        super().__init__(out, bulk_index)
        self.rows = csv.writer(out)
        self.rows.writerow(CSV_FIELDS)

    def write(self, document: Document) -> None:
        self.rows.writerow(csv_row(document))


class BulkWriter(Writer):
    def write(self, document: Document) -> None:
        self.out.write(bulk_lines(document, self.bulk_index))


WRITERS: dict[ExportFormat, Callable[[TextIO, str], Writer]] = {
    ExportFormat.JSONL: JsonLinesWriter,
    ExportFormat.CSV: CsvWriter,
    ExportFormat.OPENSEARCH: BulkWriter,
}


# -- Atom -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a watch's feed: an article as it was when reported, and when that was."""

    id: str
    title: str
    summary: str
    url: str
    source: str
    published: datetime | None
    reported: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "summary": self.summary, "url": self.url, "source": self.source,
                "published": self.published.isoformat() if self.published else None,
                "reported": self.reported.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedEntry:
        published = data.get("published")
        return cls(id=data["id"], title=data["title"], summary=data["summary"], url=data["url"],
                   source=data["source"], published=datetime.fromisoformat(published) if published else None,
                   reported=datetime.fromisoformat(data["reported"]))


def entry_id(article_id: str) -> str:
    """The Atom id of an article: the same in every run and every feed (RFC 4151 tag URI)."""
    return "tag:newsearch,2025:article/" + quote(article_id, safe="")


def _moment(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_NOT_XML = character_class(C0_BUT_TAB_LF_CR, LONE_SURROGATES, "\ufffe\uffff")  # what XML 1.0 cannot hold


def _xml_clean(text: str) -> str:
    """Text XML 1.0 can hold: the characters it cannot (most C0 controls, lone surrogates) dropped."""
    return _NOT_XML.sub("", text)


def _xml_text(text: str) -> str:
    return escape(_xml_clean(text))


def atom_feed(name: str, query: str, entries: Sequence[FeedEntry], updated: datetime) -> str:
    """A valid Atom 1.0 document for the watch ``name``: ``entries`` as given (newest first)."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"  <id>tag:newsearch,2025:watch/{quote(name, safe='')}</id>",
        f"  <title>{_xml_text(f'newsearch: {name}')}</title>",
        f"  <subtitle>{_xml_text(f'New articles matching {query}')}</subtitle>",
        f"  <updated>{_moment(updated)}</updated>",
        "  <author><name>newsearch</name></author>",
        "  <generator>newsearch</generator>",
    ]
    for entry in entries:
        lines += [
            "  <entry>",
            f"    <id>{entry_id(entry.id)}</id>",
            f"    <title>{_xml_text(entry.title or '(untitled)')}</title>",
            f"    <updated>{_moment(entry.reported)}</updated>",
            *([f"    <published>{_moment(entry.published)}</published>"] if entry.published else []),
            *([f"    <link rel=\"alternate\" href={quoteattr(_xml_clean(entry.url))}/>"] if entry.url else []),
            *([f"    <category term={quoteattr(_xml_clean(entry.source))}/>"] if entry.source else []),
            f"    <summary>{_xml_text(entry.summary)}</summary>",
            "  </entry>",
        ]
    lines.append("</feed>")
    return "\n".join(lines) + "\n"


def watch_jsonl(report: WatchReport) -> str:
    """One JSON object per article a watch run reports (``watch``, ``changed``, ``similar`` and the
    article as in the JSON Lines export), one per line; "" when there is none."""
    return "\n".join(_json({"watch": report.name, "changed": article.changed, "similar": list(article.similar),
                            **document_record(article.document)}) for article in report.new)
