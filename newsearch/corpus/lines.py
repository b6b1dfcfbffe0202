"""Files of one record per line (JSON Lines), read record by record in bounded memory.

A file within the size cap is read whole like any other and its lines parsed here (`parse`). A
larger one is streamed (`stream`): the cap then applies to each line, and a line over it is a
problem named by its line number, never held in memory. A build may `cut` a large file into
pieces at line starts so that several workers share it. Other formats of many articles (CSV,
web archives) stream their own records through `stream_items`; `quoted_records` splits a CSV
text at the line ends outside quotes.

Lines are those of the text as the other readers see it, split at '\\n', '\\r\\n' and a lone
'\\r'; blank lines hold no record. A record's number (its id is '<relpath>#<number>' when it has
none of its own) counts the records before it, so a piece carries the line and record numbers
it starts at, and its articles get the ids and messages of a whole read.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple, TypeVar

from .article import Article, ItemProblem, Refused, TooLarge
from .decode import FileVersion, Identity, clean, gunzip_chunks, open_regular, read_stable, same_file, sniff

T = TypeVar("T")
ParseLine = Callable[[str, int], Article | ItemProblem]
"""How one line's text (and its number, for messages) becomes an article."""

_CHUNK = 1024 * 1024
_SPACE = b" \t\x0b\x0c"
# A .gz record file decompressing to more than this many times its size (and over the cap) is a
# gzip bomb, not news: JSON text compresses 5 to 20 times.
GZIP_RATIO = 200
CHANGED = "changing: the file changed while it was read; it is read again next run"


class Span(NamedTuple):
    """Bytes `start` to `stop` of a file, both at line starts, and the numbers of the line at
    `start` and of the first record from there."""

    start: int
    stop: int
    line: int
    record: int


class _Record(NamedTuple):
    offset: int  # of the '\n'-terminated line holding it
    first_line: int  # the number of that line's first line (a lone '\r' splits it)
    line: int
    data: bytes | int  # the record's bytes, or its size when over the cap (never held)


def parse(data: bytes, parse_line: ParseLine) -> list[Article | ItemProblem]:
    """The records of a file read whole: UTF-8 text (a BOM'd UTF-16/32 file is decoded first)."""
    return [_item(record, parse_line, len(data)) for record in _records([data], len(data), 1, at_start=True)]


def stream(path: str | os.PathLike[str], version: FileVersion, parse_line: ParseLine, *, limit: int,
           gzipped: bool = False, start: int = 0, stop: int | None = None, line: int = 1,
           identity: Identity | None = None
           ) -> Iterator[Article | ItemProblem]:
    """The records of bytes `start` to `stop` of the file, if it is still `version`, one at a time.

    Holds at most about `limit` bytes; a line longer than `limit` is an ItemProblem ('too large').
    Raises Refused, possibly after some records: 'changing' when the file is not or no longer
    `version`, 'unreadable', 'binary' (at the start of the file), 'too large' (a gzip bomb),
    'replaced' (not the file `identity`).
    """
    def items(chunks: Iterator[bytes]) -> Iterator[Article | ItemProblem]:
        return (_item(record, parse_line, limit) for record in _records(chunks, limit, line, at_start=start == 0))

    return stream_items(path, version, items, limit=limit, gzipped=gzipped, start=start, stop=stop, identity=identity)


def stream_items(path: str | os.PathLike[str], version: FileVersion,
                 items_of: Callable[[Iterator[bytes]], Iterator[T]], *,
                 limit: int, gzipped: bool = False, start: int = 0, stop: int | None = None,
                 identity: Identity | None = None) -> Iterator[T]:
    """`items_of` the (decompressed) bytes `start` to `stop` of the file, if it is still `version`,
    read a chunk at a time. Raises Refused as `stream` does."""
    fd = open_regular(path, identity)
    try:
        before = os.fstat(fd)
        if (before.st_size, before.st_mtime_ns) != (version.size, version.mtime_ns):
            raise Refused(CHANGED)
        try:
            chunks = _inflated(fd, limit) if gzipped else _read_range(fd, start, version.size if stop is None else stop)
            yield from items_of(chunks)
            after = os.fstat(fd)
        except OSError as exc:
            raise Refused(f"unreadable: {exc.strerror}") from None
        if not same_file(before, after):
            raise Refused(CHANGED)
    finally:
        os.close(fd)


def cut(path: str | os.PathLike[str], pieces: int, limit: int, identity: Identity | None = None
        ) -> tuple[FileVersion, list[Span]]:
    """The file (not gzipped) cut into about `pieces` spans of similar size at line starts.

    One streamed pass finds the cuts, counting lines and records, and hashes the file: the
    version every piece checks before it is read. Raises Refused as `stream` does.
    """

    def starts(handle: Callable[[int], bytes], size: int) -> list[tuple[int, int, int]]:
        targets = [size * part // pieces for part in range(pieces - 1, 0, -1)]  # the next one last
        found = [(0, 1, 1)]  # (offset, line, record)
        number = 1
        for record in _records(_read_all(handle), limit, 1, at_start=True):
            if targets and record.offset >= targets[-1] and record.offset > found[-1][0]:
                found.append((record.offset, record.first_line, number))
                while targets and record.offset >= targets[-1]:
                    targets.pop()
            number += 1
        return found

    found, version = read_stable(path, lambda handle, before: starts(handle.read, before.st_size), identity)
    stops = [offset for offset, _, _ in found[1:]] + [version.size]
    return version, [Span(start, stop, line, record) for (start, line, record), stop in zip(found, stops)]


def _item(record: _Record, parse_line: ParseLine, limit: int) -> Article | ItemProblem:
    if isinstance(record.data, int):
        return ItemProblem(f"too large: line {record.line} is {record.data:,} bytes > cap {limit:,}")
    return parse_line(clean(record.data.decode("utf-8", "newsearch-cp1252")), record.line)


def _records(chunks: Iterable[bytes], limit: int, line: int, at_start: bool) -> Iterator[_Record]:
    """The non-blank lines of `chunks`, which begin at a line start (`at_start`: the file's)."""
    offset = 0
    if at_start:
        chunks, offset = text_start(chunks)
    for raw in physical_lines(chunks, limit):
        if isinstance(raw, int):
            yield _Record(offset, line, line, raw)
            line += 1
            offset += raw + 1
            continue
        first = line
        text = raw[:-1] if raw.endswith(b"\r") else raw
        for part in text.split(b"\r") if b"\r" in text else (text,):
            if not _blank(part):
                yield _Record(offset, first, line, part)
            line += 1
        offset += len(raw) + 1


def text_start(chunks: Iterable[bytes]) -> tuple[Iterator[bytes], int]:
    """The chunks of a file's start without its UTF-8 BOM, and the bytes dropped. Refuses, as
    reading the whole would, a file that is no text; one in UTF-16/32 is too large to stream."""
    pending = iter(chunks)
    head = next(pending, b"")
    encoding = sniff(head)
    if encoding not in (None, "utf-8"):
        raise TooLarge(f"too large: a {encoding.upper()} file over the cap cannot be read record by record; "
                       f"convert it to UTF-8")
    body = head
    while body.startswith(codecs.BOM_UTF8):  # as decode() drops a BOM and the U+FEFF after it
        body = body[len(codecs.BOM_UTF8):]
    return _then(body, pending), len(head) - len(body)


def _then(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """`first`, then `rest`; unlike `chain`, `first` is not held once given."""
    yield first
    del first
    yield from rest


def quoted_records(chunks: Iterable[bytes], limit: int) -> Iterator[tuple[int, bytes | int]]:
    """The records of a CSV text: its lines joined while a double quote is open (a quoted field
    over several lines), each with the number of its first line; a record longer than `limit`
    bytes is its size, counted, never held. A doubled quote inside a field opens and closes."""
    line = 1
    first = 1
    held: list[bytes] = []
    size = 0
    quoted = False
    for piece in physical_pieces(chunks):
        quoted ^= piece.count(b'"') % 2 == 1
        if piece.endswith(b"\n"):
            line += 1
        size += len(piece)
        if size <= limit:
            held.append(piece)
        else:
            held.clear()
        if not piece.endswith(b"\n") or quoted:
            continue
        yield first, b"".join(held) if size <= limit else size
        held.clear()
        size, first = 0, line
    if size:
        yield first, b"".join(held) if size <= limit else size


def physical_pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks cut after each '\n': pieces that end a line, or a part of a longer one."""
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            yield chunk[start:end + 1]
            start = end + 1
        if start < len(chunk):
            yield chunk[start:]


def _blank(raw: bytes) -> bool:
    """Whether the line's text is blank, as `str.strip` sees the decoded, cleaned text."""
    rest = raw.lstrip(_SPACE)
    if not rest:
        return True
    if 0x21 <= rest[0] <= 0x7E:  # printable ASCII: the usual case, decided without decoding
        return False
    return not clean(raw.decode("utf-8", "newsearch-cp1252")).strip()


def physical_lines(chunks: Iterable[bytes], limit: int) -> Iterator[bytes | int]:
    """Each '\\n'-terminated line of `chunks` without its '\\n' (the last one may lack it), or its
    size when it is longer than `limit` bytes: such a line is counted, never held."""
    pending: list[bytes] = []
    held = 0
    skipped = -1  # the size so far of a line over the limit, while skipping it
    for chunk in chunks:
        parts = chunk.split(b"\n")
        last = parts.pop()
        for part in parts:
            if skipped >= 0:
                yield skipped + len(part)
                skipped = -1
                continue
            if pending:
                pending.append(part)
                part = b"".join(pending)
                pending.clear()
                held = 0
            yield part if len(part) <= limit else len(part)
        if skipped >= 0:
            skipped += len(last)
        elif last:
            held += len(last)
            if held > limit:
                skipped, held = held, 0
                pending.clear()
            else:
                pending.append(last)
    if skipped >= 0:
        yield skipped
    elif pending:
        yield b"".join(pending)


def _read_all(read: Callable[[int], bytes]) -> Iterator[bytes]:
    while chunk := read(_CHUNK):
        yield chunk


def _read_range(fd: int, start: int, stop: int) -> Iterator[bytes]:
    os.lseek(fd, start, os.SEEK_SET)
    left = stop - start
    while left > 0:
        chunk = os.read(fd, min(_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def _inflated(fd: int, limit: int) -> Iterator[bytes]:
    """The decompressed bytes of a .gz file, refused ('too large') as a gzip bomb past `GZIP_RATIO`."""
    taken = 0

    def read(size: int) -> bytes:
        nonlocal taken
        chunk = os.read(fd, size)
        taken += len(chunk)
        return chunk

    given = 0
    for chunk in gunzip_chunks(read, _CHUNK):
        given += len(chunk)
        if given > limit and given > GZIP_RATIO * taken:
            raise TooLarge(f"too large: decompresses to over {GZIP_RATIO} times its size (a gzip bomb?)")
        yield chunk
