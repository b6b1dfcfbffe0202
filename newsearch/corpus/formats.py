"""The corpus formats in one table: suffix -> Reader.

`scan` keeps the files whose suffix is in `READERS` (also gzipped), `read_file` hands their
bytes to the entry's reader, and the hint `newsearch index` prints when it found no articles
lists the entries. Adding a format is one entry in `READERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from . import lines
from .article import Article, ItemProblem, Notice, Refused
from .csvfmt import read_csv, stream_csv
from .decode import bom_encoding, decode
from .feeds import read_feed
from .jsonfmt import json_line, read_json
from .text import read_text
from .warc import read_warc, stream_warc
from .webpage import page_charset, read_page

GZIP_SUFFIX = ".gz"

Parsed = tuple[Sequence[Article | ItemProblem | Notice], bool]
"""A file's items, and whether the format holds several articles (their ids then get '#n')."""

Stream = Callable[[Iterator[bytes], int], Iterator[Article | ItemProblem | Notice]]
"""How a file's (decompressed) bytes, given a chunk at a time, become articles when each may be
at most so many bytes: raises Refused as a whole read would."""


@dataclass(frozen=True)
class Reader:
    """One corpus format: its name, its suffixes, and how a file's bytes become articles."""

    name: str
    suffixes: tuple[str, ...]  # lower-case with the dot, as messages list them
    read: Callable[[bytes], Parsed]  # bytes already decompressed (and found not binary); raises Refused
    aliases: tuple[str, ...] = ()  # also read, not listed in messages
    # For a format of one article per line: how a line becomes one. A file over the size cap is
    # then streamed line by line (the cap applies to each line) and a build may cut it in pieces.
    parse_line: lines.ParseLine | None = None
    # For another format of many articles: how its records are read a chunk at a time. A file over
    # the size cap is then streamed (the cap applies to each article), not cut in pieces.
    stream: Stream | None = None
    binary: bool = False  # records that may hold any bytes (images in a web archive): not refused as binary


def _text_of(data: bytes) -> str:
    text = decode(data)
    if not text.strip():
        raise Refused("empty")
    return text


def _plain_text(data: bytes) -> Parsed:
    return [read_text(_text_of(data), markdown=False)], False


def _markdown(data: bytes) -> Parsed:
    return [read_text(_text_of(data), markdown=True)], False


def _json(data: bytes) -> Parsed:
    return read_json(_text_of(data))


def _json_lines(data: bytes) -> Parsed:
    if bom_encoding(data) not in (None, "utf-8"):
        data = decode(data).encode("utf-8")  # UTF-16/32 is split into lines once decoded
    return lines.parse(data, json_line), True


def _html(data: bytes) -> Parsed:
    return [read_page(decode(data, page_charset(data)))], False


def _csv(data: bytes) -> Parsed:
    return [*read_csv(_text_of(data))], True


def _tsv(data: bytes) -> Parsed:
    return [*read_csv(_text_of(data), delimiter="\t")], True


def _warc(data: bytes) -> Parsed:
    return [*read_warc(data)], True


def _tsv_stream(chunks: Iterator[bytes], limit: int) -> Iterator[Article | ItemProblem | Notice]:
    return stream_csv(chunks, limit, delimiter="\t")


def _feed(data: bytes) -> Parsed:
    return read_feed(data), True


def _by_suffix(*readers: Reader) -> dict[str, Reader]:
    return {suffix: reader for reader in readers for suffix in (*reader.suffixes, *reader.aliases)}


READERS: dict[str, Reader] = _by_suffix(
    Reader("plain text", (".txt",), _plain_text),
    Reader("Markdown", (".md",), _markdown, aliases=(".markdown",)),
    Reader("JSON", (".json",), _json),
    Reader("JSON Lines", (".jsonl",), _json_lines, aliases=(".ndjson",), parse_line=json_line),
    Reader("HTML", (".html",), _html, aliases=(".htm",)),
    Reader("RSS/Atom feed", (".rss", ".atom", ".xml"), _feed),
    Reader("CSV", (".csv",), _csv, stream=stream_csv),
    Reader("TSV", (".tsv",), _tsv, aliases=(".tab",), stream=_tsv_stream),
    Reader("web archive", (".warc",), _warc, stream=stream_warc, binary=True),
)


def suffix_of(name: str) -> str:
    """The format suffix of a file name, lower-cased, with a trailing `.gz` kept: 'a.TXT.gz' -> '.txt.gz'."""
    lowered = name.lower()
    inner = lowered[:-3] if lowered.endswith(GZIP_SUFFIX) else lowered
    dot = inner.rfind(".")
    if dot <= 0:
        return ""
    return lowered[dot:]


def reader_for(suffix: str) -> Reader | None:
    """The reader of a suffix given by `suffix_of` (gzipped or not), or None when unsupported."""
    return READERS.get(suffix.removesuffix(GZIP_SUFFIX))


def supported_suffixes() -> frozenset[str]:
    """Every suffix `scan` keeps: each of `READERS`, plain and gzipped."""
    return frozenset(READERS) | frozenset(suffix + GZIP_SUFFIX for suffix in READERS)


def unsupported(suffix: str) -> str:
    """The reason a file with this suffix is not read."""
    return f"unsupported file type: {suffix or 'no extension'}"


def formats_hint() -> str:
    """What files are read, for a user whose corpus gave no articles.

    >>> formats_hint()
    'newsearch reads .txt, .md, .json, .jsonl, .html, .rss/.atom/.xml, .csv, .tsv, .warc files (also gzipped); \
hidden files are ignored.'
    """
    listed = ", ".join("/".join(reader.suffixes) for reader in dict.fromkeys(READERS.values()))
    return f"newsearch reads {listed} files (also gzipped); hidden files are ignored."
