"""Corpus readers: find article files (`scan`) and read them into Documents (`read_file`);
the corpus an index remembers and the check against deleting much of it (`roots`).

Formats: .txt, .md/.markdown, .json, .jsonl/.ndjson, .html/.htm, RSS/Atom (.xml, .rss, .atom),
.csv, .tsv/.tab, web archives (.warc), each optionally gzip-compressed (.gz): one table, `READERS`
(suffix -> Reader, in `formats`), from which scanning, reading and the messages that list the
formats all derive. Nothing here imports
Whoosh or NLTK; trafilatura and warcio are imported on the first web page or archive read.

`read_file` raises CorpusError("<relpath>: <reason>") when a whole file is unusable; each reason
(and each per-article problem reason) starts with a stable key, the text before the first ':':

- ``unreadable``: the file cannot be opened or read (permissions, vanished, not a regular file:
  checked on the open descriptor, so a FIFO or folder swapped in after the scan never blocks)
- ``changing``: the file changed while it was read, every time it was read (a rewrite in place)
- ``too large``: over `max_bytes`, on disk or once decompressed (gzip bombs stop here); in a file
  of many articles (JSON Lines, CSV/TSV, web archives) the cap applies to each article: such a file
  over the cap is streamed (`read_articles`; JSON Lines also cut in pieces, `cut_file`) and an
  article over it is a problem naming its line (its address, in an archive)
- ``broken gzip``: corrupt or truncated .gz data
- ``binary``: NUL bytes, or mostly control characters
- ``empty``: no text at all, or a list/feed with no articles
- ``no text``: an article (or the only article) without body text
- ``malformed JSON``: a .json file, or one JSON Lines line, that does not parse
- ``malformed CSV``: a CSV/TSV row that does not parse, or has more or fewer fields than the header
- ``no header`` / ``no text column``: a CSV/TSV file whose first row names no known column, or no text column
- ``broken WARC``: a web archive that is not one, or a record of it cut short or unreadable
- ``not an article``: JSON that is not an object (or a list of objects)
- ``broken XML``: a feed no item could be read from
- ``not a feed``: well-formed XML that is not RSS or Atom
- ``entity expansion refused``: XML that declares entities (billion laughs, external entities)
- ``unsupported file type``: a suffix outside `READERS` (SUPPORTED_SUFFIXES)
- ``duplicate id``: (problem only) an article repeating an earlier id in the same file

    >>> found = scan(["corpus"])
    >>> [doc.title for doc in read_file(found.files[0]).documents]
    ['In a striking turn of events, Ukrainian forces have detained two North Korean military personnel…']
"""

from .decode import FileVersion, LoadedFile
from .formats import READERS, Reader, formats_hint
from .read import (
    DEFAULT_MAX_BYTES,
    Articles,
    FilePiece,
    ReadResult,
    Warned,
    cut_file,
    file_version,
    load_file,
    read_articles,
    read_file,
)
from .roots import CorpusSettings, DeletionGuard, Root, plan, settings_from_meta
from .scan import SUPPORTED_SUFFIXES, CorpusFile, CorpusScan, scan

__all__ = [
    "DEFAULT_MAX_BYTES",
    "READERS",
    "Articles",
    "SUPPORTED_SUFFIXES",
    "CorpusFile",
    "CorpusScan",
    "CorpusSettings",
    "DeletionGuard",
    "FilePiece",
    "FileVersion",
    "LoadedFile",
    "ReadResult",
    "Reader",
    "Root",
    "Warned",
    "cut_file",
    "file_version",
    "formats_hint",
    "load_file",
    "plan",
    "read_articles",
    "read_file",
    "scan",
    "settings_from_meta",
]
