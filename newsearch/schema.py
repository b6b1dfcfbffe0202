"""The one Whoosh schema, its version, and the Document <-> index record mapping.

Every value is validated and normalised here before it reaches Whoosh: Whoosh's
``add_document`` leaves half-written postings behind when it raises, so nothing
that could make it raise may get that far.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from whoosh import columns, formats
from whoosh.fields import COLUMN, DATETIME, ID, STORED, TEXT, FieldType, Schema

from newsearch.analysis import ANALYSIS_VERSION, StopGramAnalyzer, fold, news_analyzer
from newsearch.controlchars import FIELD_UNSAFE, escape_name
from newsearch.duplicates import DUPLICATES_VERSION
from newsearch.models import Document

# Bump when fields or their analysis change: an index built with another version
# must be rebuilt, not searched with wrong results. The format names the analysis
# and near-duplicate (band key) versions too: changing either asks for a rebuild.
SCHEMA_VERSION = 3  # 2: dup_bands; 3: title_stops, body_stops
POSTINGS_VERSION = 2  # the layout of the posting sidecar (``postings``) every segment holds
FORMAT = (f"newsearch-schema-{SCHEMA_VERSION}-analysis-{ANALYSIS_VERSION}-duplicates-{DUPLICATES_VERSION}"
          f"-postings-{POSTINGS_VERSION}")

MAX_FIELD_CHARS = 10_000_000

# The text fields searched by words (stemmed, stop words kept out): the one list the query
# compiler, the typo vocabulary, the lead score and the index check all read.
SEARCH_FIELDS = ("title", "body")
# Each search field's stopwords and pairs of consecutive stopwords, without positions (see
# ``StopGramAnalyzer``): what a quoted phrase of common words is looked up by.
STOP_FIELDS = {"title": "title_stops", "body": "body_stops"}


def build_schema() -> Schema:
    """The schema of every index this version writes."""
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        path=ID(stored=True, sortable=True),
        file=STORED(),
        stamp=COLUMN(columns.VarBytesColumn()),
        content_hash=COLUMN(columns.VarBytesColumn()),
        title=TEXT(analyzer=news_analyzer(stop=True), stored=True, phrase=True),
        body=TEXT(analyzer=news_analyzer(stop=True), stored=True, phrase=True),
        published=DATETIME(stored=True, sortable=True),
        source=TEXT(analyzer=news_analyzer(stem=False), stored=True, phrase=True),
        source_key=ID(sortable=True),
        author=TEXT(analyzer=news_analyzer(stem=False), stored=True, phrase=True),
        tag=TEXT(analyzer=news_analyzer(stem=False), phrase=True),
        tags=STORED(),
        url=STORED(),
        # Near-duplicate candidates are the documents sharing a band key (see duplicates.py).
        dup_bands=COLUMN(columns.VarBytesColumn()),
        title_stops=_stop_grams(),
        body_stops=_stop_grams(),
    )


def _stop_grams() -> FieldType:
    """A field of stopword grams: documents only (no frequencies, positions or lengths)."""
    return FieldType(formats.Existence(), StopGramAnalyzer(), scorable=False)


def clean_text(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """A str without control characters or lone surrogates, at most ``limit`` chars."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return FIELD_UNSAFE.sub("", text)[:limit]


def path_key(path: str) -> str:
    """A file path as the index keeps it: exactly as found, except that bytes which are not
    UTF-8 (decoded by Python as lone surrogates, which Whoosh cannot store) become ``\\xNN``
    (``controlchars.escape_name``: lossless, and the id of a document named by its path).

    The incremental indexer compares corpus paths with stored ones through this, so a file
    with an odd name is found unchanged instead of deleted and added on every run.
    """
    return escape_name(path)


def source_key(source: str) -> str:
    """The exact-match key of a source name: folded, spaces collapsed ("The  Telegraph" -> "the telegraph")."""
    return " ".join(fold(part) for part in source.split())


@dataclass(frozen=True)
class FileStamp:
    """What the indexer remembers of a corpus file to notice changes cheaply."""

    size: int
    mtime_ns: int
    sha256: str
    # The commit that wrote it (0: a full build). An update keeps a changed file's unchanged
    # articles with their older stamps; the newest stamp of a file is what the index holds of it.
    written: int = 0

    def encode(self) -> bytes:
        return f"{self.size}:{self.mtime_ns}:{self.sha256}{f':{self.written}' if self.written else ''}".encode("ascii")

    @classmethod
    def decode(cls, raw: bytes) -> FileStamp:
        size, mtime_ns, sha256, *written = raw.decode("ascii").split(":")
        if len(written) > 1:
            raise ValueError(f"not a file stamp: {raw!r}")
        return cls(int(size), int(mtime_ns), sha256, int(written[0]) if written else 0)


def to_record(document: Document, file_path: str, stamp: FileStamp) -> dict[str, object]:
    """The validated keyword arguments for ``writer.add_document``, all but ``dup_bands``: the
    indexer adds the near-duplicate band keys (``duplicates.band_bytes``) of the title and body
    returned here, so building a record needs no MinHash code in the schema."""
    published = document.published
    if published is not None:
        if published.tzinfo is None:
            published = published.replace(tzinfo=timezone.utc)
        # Whoosh's DATETIME wants naive datetimes; they are UTC by contract.
        published = published.astimezone(timezone.utc).replace(tzinfo=None)
    tags = tuple(clean_text(tag, 200) for tag in document.tags if clean_text(tag, 200).strip())
    source = clean_text(document.source, 500)
    title = clean_text(document.title, 2000)
    body = clean_text(document.body)
    record: dict[str, object] = {
        "id": clean_text(document.id, 1000),
        "path": path_key(document.path),
        "file": file_path,  # stored, not indexed: kept exactly, so the path names the real file
        "stamp": stamp.encode(),
        "content_hash": document.content_hash.encode("ascii"),
        "title": title,
        "body": body,
        "source": source,
        "source_key": source_key(source),
        "author": clean_text(document.author, 500),
        "tag": " ; ".join(tags),
        "tags": tags,
        "url": clean_text(document.url, 4000),
    }
    record[STOP_FIELDS["title"]] = title  # the same str objects: split into words once per field
    record[STOP_FIELDS["body"]] = body
    if published is not None:
        record["published"] = published
    if not record["id"] or not record["path"]:
        raise ValueError("document has no id or path")
    return record


def stored_published(value: object) -> datetime | None:
    """A stored ``published`` value back as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc)
    return None
