"""Read one corpus file into Documents: pick the reader (`formats.READERS`), then complete ids, titles and sources."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..config import DEFAULT_MAX_BYTES
from ..controlchars import escape_name
from ..errors import CorpusError
from ..models import Document, SkippedFile
from . import lines
from .article import Article, ItemProblem, Notice, Refused, TooLarge, one_line, title_from_text, unique
from .decode import FileVersion, LoadedFile, clean, hash_file, load, refuse_binary
from .formats import GZIP_SUFFIX, Reader, reader_for, suffix_of, unsupported
from .scan import CorpusFile


@dataclass
class ReadResult:
    """The articles of one file, and the articles in it that could not be used."""

    documents: list[Document] = field(default_factory=list)
    problems: list[SkippedFile] = field(default_factory=list)  # per article: path is "<relpath>#n"
    warnings: list[SkippedFile] = field(default_factory=list)  # indexed all the same (an unreadable date)
    version: FileVersion | None = None  # the file as read: its size, mtime and the SHA-256 of the bytes read


@dataclass(frozen=True)
class Warned:
    """Something said about a file or an article that is indexed all the same (an unreadable date),
    among the items of a read: path is "<relpath>" or "<relpath>#n"."""

    note: SkippedFile


@dataclass(frozen=True)
class FilePiece:
    """Bytes `start` to `stop` of a file of one article per line, both at line starts: one
    worker's share of it (`cut_file`)."""

    file: CorpusFile
    start: int
    stop: int
    line: int  # the number of the line at `start`
    record: int  # the number of the first record at or after `start`
    version: FileVersion  # of the whole file, from the pass that cut it: a piece reads only that

    @property
    def relpath(self) -> str:
        return self.file.relpath

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass
class Articles:
    """The articles of a file (or a piece of one) as they are read, and the version they are of,
    known before the first."""

    version: FileVersion
    # Documents, the articles that could not be used ("<relpath>#n") and what was noticed in those
    # used; a refusal of the whole file found only while streaming it is named by the file's relpath.
    items: Iterator[Document | SkippedFile | Warned]


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


def file_version(file: CorpusFile, *, max_bytes: int = DEFAULT_MAX_BYTES) -> FileVersion:
    """The version a read of the file would give (`read_articles`), without parsing it: a file
    of one article per line over the cap is hashed as a stream, never held. Raises CorpusError."""
    try:
        try:
            return _load(file, max_bytes).version
        except TooLarge:
            if not _streamable(_reader(file)):
                raise
            return hash_file(file.path, file.identity)
    except Refused as exc:
        raise CorpusError(f"{file.relpath}: {exc}") from None


def read_file(file: CorpusFile, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read the articles of one file found by `scan`.

    Never reads more than `max_bytes` + 1 bytes (after decompression for .gz files), except from
    a file of many articles (JSON Lines, CSV/TSV, web archives), where the cap applies to each
    article: such a file over the cap is read a record at a time (`read_articles` streams it).
    The result's `version` is the file as read (see `load_file`): its hash is of the bytes parsed.
    Raises CorpusError("<relpath>: <key>: <details>") when the whole file is unusable;
    the keys are listed in the package docstring.
    """
    try:
        return _read_whole(file, max_bytes)
    except TooLarge as exc:
        articles = _streamed(file, max_bytes, exc)
    except Refused as exc:
        raise CorpusError(f"{file.relpath}: {exc}") from None
    result = ReadResult(version=articles.version)
    for item in articles.items:
        if isinstance(item, Document):
            result.documents.append(item)
        elif isinstance(item, Warned):
            result.warnings.append(item.note)
        elif item.path == file.relpath:
            raise CorpusError(f"{file.relpath}: {item.reason}")
        else:
            result.problems.append(item)
    return result


def read_articles(target: CorpusFile | FilePiece, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Articles:
    """The articles of a file (or of a piece `cut_file` made) one at a time, for a build.

    A file within the cap is read whole (as `read_file` does); a file of one article per line over
    it, and a piece, are streamed line by line in bounded memory, the cap applying to each line.
    Raises CorpusError when the whole file is refused before its first article.
    """
    if isinstance(target, FilePiece):
        parse_line = _line_parser_of(target.file)
        assert parse_line is not None  # cut_file cuts only files of one article per line
        records = lines.stream(target.path, target.version, parse_line, limit=max_bytes,
                               start=target.start, stop=target.stop, line=target.line, identity=target.file.identity)
        return Articles(target.version, _completed(target.file, records, first=target.record, whole=False))
    try:
        result = _read_whole(target, max_bytes)
    except TooLarge as exc:
        return _streamed(target, max_bytes, exc)
    except Refused as exc:
        raise CorpusError(f"{target.relpath}: {exc}") from None
    assert result.version is not None
    return Articles(result.version, iter([*result.problems, *map(Warned, result.warnings), *result.documents]))


def cut_file(file: CorpusFile, pieces: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[CorpusFile | FilePiece]:
    """The file cut into about `pieces` pieces at line starts for workers to share, or `[file]`
    when it cannot be cut (not one article per line, gzipped, unreadable: its read says why)."""
    if pieces < 2 or _gzipped(file) or _line_parser_of(file) is None:
        return [file]
    try:
        version, spans = lines.cut(file.path, pieces, max_bytes, file.identity)
    except Refused:
        return [file]
    return [FilePiece(file, span.start, span.stop, span.line, span.record, version) for span in spans]


def _read_whole(file: CorpusFile, max_bytes: int) -> ReadResult:
    loaded = _load(file, max_bytes)
    reader = _reader(file)
    if not reader.binary:
        refuse_binary(loaded.data)
    items, multi = reader.read(loaded.data)
    result = _complete(file, items, multi)
    result.version = loaded.version
    return result


def _streamed(file: CorpusFile, max_bytes: int, too_large: TooLarge) -> Articles:
    """A file over the cap, if it holds many articles that can be read one at a time: hashed, then
    streamed. Raises CorpusError."""
    reader = _reader(file)
    try:
        if not _streamable(reader):
            raise too_large
        version = hash_file(file.path, file.identity)
    except Refused as exc:
        raise CorpusError(f"{file.relpath}: {exc}") from None
    records: Iterator[Article | ItemProblem | Notice]
    if reader.parse_line is not None:
        records = lines.stream(file.path, version, reader.parse_line, limit=max_bytes, gzipped=_gzipped(file),
                               identity=file.identity)
    else:
        assert reader.stream is not None
        stream = reader.stream
        records = lines.stream_items(file.path, version, lambda chunks: stream(chunks, max_bytes), limit=max_bytes,
                                     gzipped=_gzipped(file), identity=file.identity)
    return Articles(version, _completed(file, records, first=1, whole=True))


def _streamable(reader: Reader) -> bool:
    return reader.parse_line is not None or reader.stream is not None


def _line_parser_of(file: CorpusFile) -> lines.ParseLine | None:
    reader = reader_for(suffix_of(file.name))
    return reader.parse_line if reader else None


def _gzipped(file: CorpusFile) -> bool:
    return suffix_of(file.name).endswith(GZIP_SUFFIX)


def _reader(file: CorpusFile) -> Reader:
    suffix = suffix_of(file.name)
    reader = reader_for(suffix)
    if reader is None:
        raise Refused(unsupported(suffix))
    return reader


def _load(file: CorpusFile, max_bytes: int) -> LoadedFile:
    _reader(file)  # an unsupported suffix is refused before the file is opened
    return load(file.path, max_bytes, gzipped=_gzipped(file), identity=file.identity)


def _complete(file: CorpusFile, items: Sequence[Article | ItemProblem | Notice], multi: bool) -> ReadResult:
    """Documents with ids, titles and sources filled in; unusable articles become problems."""
    result = ReadResult()
    for item in _documents(file, items, multi):
        if isinstance(item, Document):
            result.documents.append(item)
        elif isinstance(item, Warned):
            result.warnings.append(item.note)
        else:
            result.problems.append(item)
    if not result.documents:
        raise Refused(_refusal(result.problems))
    return result


def _completed(file: CorpusFile, items: Iterator[Article | ItemProblem | Notice], first: int, whole: bool
               ) -> Iterator[Document | SkippedFile | Warned]:
    """`_documents` of a streamed file or piece. In a `whole` file the problems wait for the first
    document: a file with none is refused as one, as when it is read whole."""
    held: list[SkippedFile | Warned] = []
    found = not whole
    try:
        for item in _documents(file, items, multi=True, first=first):
            if not isinstance(item, Document) and not found:
                held.append(item)
                continue
            if not found:
                found = True
                yield from held
            yield item
    except Refused as exc:
        yield SkippedFile(file.relpath, str(exc))
        return
    if not found:
        yield SkippedFile(file.relpath, _refusal([item for item in held if isinstance(item, SkippedFile)]))


def _refusal(problems: list[SkippedFile]) -> str:
    """Why a file without a single usable article is refused: its first problem."""
    if not problems:
        return "empty: no articles"
    more = f" (and {len(problems) - 1:,} more)" if len(problems) > 1 else ""
    return problems[0].reason + more


def _documents(file: CorpusFile, items: Iterable[Article | ItemProblem | Notice], multi: bool, first: int = 1
               ) -> Iterator[Document | SkippedFile | Warned]:
    """Documents with ids, titles and sources filled in; unusable articles become problems.

    `first` is the number of the first item ('<relpath>#<number>' names an article of a file
    that holds several, and is its id when it has none of its own).
    """
    relpath = file.relpath
    folder_source = escape_name(relpath.split("/", 1)[0] if "/" in relpath else file.root.name)
    seen: set[str] = set()
    number = first - 1
    for item in items:
        if isinstance(item, Notice):  # about the file: not an article, not numbered
            yield Warned(SkippedFile(relpath, item.reason))
            continue
        number += 1
        where = f"{relpath}#{number}" if multi else relpath
        if isinstance(item, ItemProblem):
            yield SkippedFile(where, item.reason)
            continue
        body = clean(item.body).strip()
        if not body:
            yield SkippedFile(where, "no text: the article has no body text")
            continue
        doc_id = one_line(clean(item.id)) or escape_name(where)  # a name's bytes that are not UTF-8 as \xNN
        if doc_id in seen:
            yield SkippedFile(where, f"duplicate id: {doc_id}")
            continue
        seen.add(doc_id)
        yield from (Warned(SkippedFile(where, note)) for note in item.notes)
        yield Document(
            id=doc_id,
            title=one_line(clean(item.title)) or title_from_text(body),
            body=body,
            path=relpath,
            published=item.published,
            source=one_line(clean(item.source)) or folder_source,
            url=one_line(clean(item.url)),
            author=one_line(clean(item.author)),
            tags=unique(one_line(clean(tag)) for tag in item.tags),
        )
