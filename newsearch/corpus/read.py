"""Read one corpus file into Documents: pick the reader (`formats.READERS`), then complete ids, titles and sources."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import DEFAULT_MAX_BYTES
from ..controlchars import escape_name
from ..errors import CorpusError
from ..models import Document, SkippedFile
from .article import Article, ItemProblem, Notice, Refused, one_line, title_from_text, unique
from .decode import FileVersion, LoadedFile, clean, load, refuse_binary
from .formats import GZIP_SUFFIX, Reader, reader_for, suffix_of, unsupported
from .scan import CorpusFile


@dataclass
class ReadResult:
    """The articles of one file, and the articles in it that could not be used."""

    documents: list[Document] = field(default_factory=list)
    problems: list[SkippedFile] = field(default_factory=list)  # per article: path is "<relpath>#n"
    warnings: list[SkippedFile] = field(default_factory=list)  # indexed all the same (an unreadable date)
    version: FileVersion | None = None  # the file as read: its size, mtime and the SHA-256 of the bytes read


def load_file(file: CorpusFile, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedFile:
    """The bytes of one file found by `scan` (decompressed for .gz), read once, and their version.

    Never blocks and never trusts the scan: the file is checked on its open descriptor (a FIFO or
    folder swapped in is refused) and read again if it changed while being read. Raises
    CorpusError("<relpath>: <key>: <details>") as `read_file` does.
    """
    try:
        return _load(file, max_bytes)
    except Refused as exc:
        raise CorpusError(f"{file.relpath}: {exc}") from None


def read_file(file: CorpusFile, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read the articles of one file found by `scan`.

    Never reads more than `max_bytes` + 1 bytes (after decompression for .gz files); the
    result's `version` is the file as read (see `load_file`): its hash is of the bytes parsed.
    Raises CorpusError("<relpath>: <key>: <details>") when the whole file is unusable;
    the keys are listed in the package docstring.
    """
    try:
        loaded = _load(file, max_bytes)
        reader = _reader(file)
        if not reader.binary:
            refuse_binary(loaded.data)
        items, multi = reader.read(loaded.data)
        result = _complete(file, items, multi)
    except Refused as exc:
        raise CorpusError(f"{file.relpath}: {exc}") from None
    result.version = loaded.version
    return result


def _reader(file: CorpusFile) -> Reader:
    suffix = suffix_of(file.path.name)
    reader = reader_for(suffix)
    if reader is None:
        raise Refused(unsupported(suffix))
    return reader


def _load(file: CorpusFile, max_bytes: int) -> LoadedFile:
    _reader(file)  # an unsupported suffix is refused before the file is opened
    return load(file.path, max_bytes, gzipped=suffix_of(file.path.name).endswith(GZIP_SUFFIX))


def _complete(file: CorpusFile, items: Sequence[Article | ItemProblem | Notice], multi: bool) -> ReadResult:
    """Documents with ids, titles and sources filled in; unusable articles become problems."""
    relpath = file.relpath
    folder_source = escape_name(relpath.split("/", 1)[0] if "/" in relpath else file.root.name)
    result = ReadResult()
    seen: set[str] = set()
    articles = [item for item in items if not isinstance(item, Notice)]
    result.warnings.extend(SkippedFile(relpath, item.reason) for item in items if isinstance(item, Notice))
    for number, item in enumerate(articles, start=1):
        where = f"{relpath}#{number}" if multi else relpath
        if isinstance(item, ItemProblem):
            result.problems.append(SkippedFile(where, item.reason))
            continue
        body = clean(item.body).strip()
        if not body:
            result.problems.append(SkippedFile(where, "no text: the article has no body text"))
            continue
        doc_id = one_line(clean(item.id)) or escape_name(where)  # a name's bytes that are not UTF-8 as \xNN
        if doc_id in seen:
            result.problems.append(SkippedFile(where, f"duplicate id: {doc_id}"))
            continue
        seen.add(doc_id)
        result.warnings.extend(SkippedFile(where, note) for note in item.notes)
        result.documents.append(Document(
            id=doc_id,
            title=one_line(clean(item.title)) or title_from_text(body),
            body=body,
            path=relpath,
            published=item.published,
            source=one_line(clean(item.source)) or folder_source,
            url=one_line(clean(item.url)),
            author=one_line(clean(item.author)),
            tags=unique(one_line(clean(tag)) for tag in item.tags),
        ))
    if not result.documents:
        if not result.problems:
            raise Refused("empty: no articles")
        reasons = [problem.reason for problem in result.problems]
        more = f" (and {len(reasons) - 1:,} more)" if len(reasons) > 1 else ""
        raise Refused(reasons[0] + more)
    return result
