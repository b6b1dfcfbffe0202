"""Bytes in, clean text out: capped reads, streaming gunzip, binary sniffing, encodings."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ..controlchars import TEXT_UNSAFE
from .article import Refused, TooLarge

T = TypeVar("T")

_CHUNK = 256 * 1024
_SNIFF_CHARS = 65536  # the characters at the start of a file that decide whether it is text
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control characters text files do not hold; more than 1 in 10 of them means binary.
_BINARY = re.compile("[\x00-\x08\x0e-\x1f\x7f\x81\x8d\x8f\x90\x9d]")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _cp1252_bytes(error: UnicodeError) -> tuple[str, int]:
    """Decode the bytes UTF-8 rejected as cp1252, or Latin-1 where cp1252 has no character."""
    assert isinstance(error, UnicodeDecodeError)
    chunk = error.object[error.start:error.end]
    return chunk.decode("cp1252", errors="newsearch-latin1"), error.end


def _latin1_bytes(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start:error.end].decode("latin-1"), error.end


codecs.register_error("newsearch-cp1252", _cp1252_bytes)
codecs.register_error("newsearch-latin1", _latin1_bytes)


READ_ATTEMPTS = 3  # reads of a file that keeps changing under us before it is skipped
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class FileVersion:
    """What a file was when its bytes were read: size and mtime (from its open descriptor), and
    the SHA-256 of exactly the bytes read."""

    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class LoadedFile:
    """A file's bytes (decompressed for .gz), read in one pass, and the version they are of."""

    data: bytes
    version: FileVersion


Identity = tuple[int, int]
"""A file's device and inode numbers: which file the scan found at a path."""


def load(path: str | os.PathLike[str], max_bytes: int, gzipped: bool, identity: Identity | None = None) -> LoadedFile:
    """The file's bytes (decompressed when `gzipped`), never holding more than `max_bytes` + 1.

    The file is opened without blocking and checked on its open descriptor, never trusting an
    earlier stat: a FIFO, device or folder swapped in is refused, not waited on, and so is another
    file than `identity` (a link to a file outside the corpus swapped in after the scan). The hash is of
    the bytes returned; a file whose size, mtime, ctime or inode moved while it was read (a
    rewrite in place, a rename over it) is read again, up to `READ_ATTEMPTS` times.

    Raises Refused: 'unreadable', 'too large' (as TooLarge), 'broken gzip', 'changing', 'replaced'.
    """

    def capped(handle: _HashingReader, before: os.stat_result) -> bytes:
        if before.st_size > max_bytes:
            raise TooLarge(f"too large: {before.st_size:,} bytes > cap {max_bytes:,}")
        if gzipped:
            return _gunzip(handle, max_bytes)
        data = _read_capped(handle, max_bytes + 1, before.st_size + 1)
        if len(data) > max_bytes:
            raise TooLarge(f"too large: over cap {max_bytes:,} bytes")
        return data

    data, version = read_stable(path, capped, identity)
    return LoadedFile(data, version)


def hash_file(path: str | os.PathLike[str], identity: Identity | None = None) -> FileVersion:
    """The version of a file of any size, its bytes streamed through SHA-256 and never held;
    checked and read again as `load` does. Raises Refused: 'unreadable', 'changing'."""

    def drain(handle: _HashingReader, before: os.stat_result) -> None:
        while handle.read(_CHUNK):
            pass

    return read_stable(path, drain, identity)[1]


def read_stable(path: str | os.PathLike[str], consume: Callable[[_HashingReader, os.stat_result], T],
                identity: Identity | None = None) -> tuple[T, FileVersion]:
    """What `consume` makes of a read of the file during which it did not change (tried
    `READ_ATTEMPTS` times), and the version read."""
    for _ in range(READ_ATTEMPTS):
        done = _read_once(path, consume, identity)
        if done is not None:
            return done
    raise Refused(CHANGING)


CHANGING = f"changing: the file changed while it was read ({READ_ATTEMPTS} tries); it is read again next run"
REPLACED = "replaced: another file (or a link) took its name after the scan; it is looked at again next run"


def open_regular(path: str | os.PathLike[str], identity: Identity | None = None) -> int:
    """A descriptor of the file, opened without blocking; Refused('unreadable') for anything but a
    regular file, Refused('replaced') for another file than `identity` (when given)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)  # a FIFO swapped in must not block us
    except OSError as exc:
        raise Refused(f"unreadable: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Refused("unreadable: not a regular file")
    if identity is not None and (info.st_dev, info.st_ino) != identity:
        os.close(fd)
        raise Refused(REPLACED)
    return fd


def _read_once(path: str | os.PathLike[str], consume: Callable[[_HashingReader, os.stat_result], T],
               identity: Identity | None) -> tuple[T, FileVersion] | None:
    """One read of the file; None when it changed while being read."""
    fd = open_regular(path, identity)
    try:
        before = os.fstat(fd)
        handle = _HashingReader(fd)
        try:
            result = consume(handle, before)
        except OSError as exc:
            raise Refused(f"unreadable: {exc.strerror}") from None
        after = os.fstat(fd)
    finally:
        os.close(fd)
    try:
        now = os.stat(path)  # the path still names the file read
    except OSError:
        return None
    if not same_file(before, after) or not same_file(after, now) or handle.count != after.st_size:
        return None
    return result, FileVersion(after.st_size, after.st_mtime_ns, handle.digest.hexdigest())


def same_file(one: os.stat_result, other: os.stat_result) -> bool:
    """Whether two stats are of the same file, unchanged (size, mtime, ctime and identity)."""
    return ((one.st_dev, one.st_ino, one.st_size, one.st_mtime_ns, one.st_ctime_ns)
            == (other.st_dev, other.st_ino, other.st_size, other.st_mtime_ns, other.st_ctime_ns))


class _HashingReader:
    """Reads an open descriptor, hashing and counting every byte handed out."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size: int) -> bytes:
        chunk = os.read(self.fd, size)
        self.digest.update(chunk)
        self.count += len(chunk)
        return chunk


def _read_capped(handle: _HashingReader, limit: int, expected: int) -> bytes:
    """Read until EOF or `limit` bytes; `expected` sizes the first read (the file may grow)."""
    parts = []
    total = 0
    size = min(limit, max(expected, 1))
    while total < limit:
        chunk = handle.read(min(size, limit - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        size = _CHUNK
    return b"".join(parts)


def _gunzip(handle: _HashingReader, max_bytes: int) -> bytes:
    """Stream-decompress every gzip member, stopping as soon as the output passes the cap."""
    out = bytearray()
    for chunk in gunzip_chunks(handle.read, max_bytes + 1):
        out += chunk
        if len(out) > max_bytes:
            raise TooLarge(f"too large: over cap {max_bytes:,} bytes once decompressed")
    return bytes(out)


def gunzip_chunks(read: Callable[[int], bytes], size: int = _CHUNK) -> Iterator[bytes]:
    """The decompressed bytes of every gzip member `read` gives, at most `size` at a time.

    Raises Refused('broken gzip') for corrupt or truncated data.
    """
    inflater = None
    pending = b""
    while True:
        if not pending:
            pending = read(_CHUNK)
            if not pending:
                break
        if inflater is None:
            if not pending.strip(b"\x00"):  # zero padding after the last member
                pending = b""
                continue
            inflater = zlib.decompressobj(wbits=31)
        try:
            chunk = inflater.decompress(pending, size)
        except zlib.error as exc:
            raise Refused(f"broken gzip: {exc}") from None
        if chunk:
            yield chunk
        if inflater.eof:
            pending, inflater = inflater.unused_data, None
        else:
            pending = inflater.unconsumed_tail
    if inflater is not None:
        raise Refused("broken gzip: truncated")


def bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def refuse_binary(data: bytes) -> None:
    """Raise Refused for a file with no text ('empty') or with NUL bytes outside UTF-16/32 ('binary')."""
    if not data.strip():
        raise Refused("empty")
    if b"\x00" in data and bom_encoding(data) in (None, "utf-8"):
        raise Refused("binary: NUL bytes")


def decode(data: bytes, declared: str | None = None) -> str:
    """Bytes to clean text: a BOM, else a declared non-UTF/Latin charset, else UTF-8 with
    cp1252 (then Latin-1) for the bytes that are not UTF-8.

    Raises Refused('binary: ...') when the text is mostly control characters.
    """
    encoding = bom_encoding(data)
    if encoding:
        text = data.decode(encoding, "replace").lstrip("\ufeff")
    elif declared and _is_foreign(declared):
        text = data.decode(declared, "replace")
    else:
        text = data.decode("utf-8", "newsearch-cp1252")
    _refuse_controls(text)
    return clean(text)


def _refuse_controls(text: str) -> None:
    sample = text[:_SNIFF_CHARS]
    if _BINARY.search(sample):
        count = len(_BINARY.findall(sample))
        if count * 10 > len(sample):
            raise Refused(f"binary: {count:,} control characters in the first {len(sample):,}")


def sniff(head: bytes) -> str | None:
    """Refuse a file whose first bytes show it is no text, as `refuse_binary` and `decode` would
    refuse the whole (for a file too large to hold); return the encoding its BOM names, if any."""
    encoding = bom_encoding(head)
    if encoding in (None, "utf-8"):
        if b"\x00" in head:
            raise Refused("binary: NUL bytes")
        _refuse_controls(head[:4 * _SNIFF_CHARS].decode("utf-8", "newsearch-cp1252"))
    return encoding


def _is_foreign(charset: str) -> bool:
    """True for a known charset other than UTF-*, Latin-1, cp1252 and ASCII (the default covers those)."""
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return False
    return not name.startswith("utf") and name not in ("iso8859-1", "cp1252", "ascii")


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in a <meta> tag near its start, if any."""
    match = _CHARSET.search(data, 0, 4096)
    return match.group(1).decode("ascii") if match else None


def clean(text: str) -> str:
    """Normalise newlines to \\n and drop control characters (except \\t, \\n) and lone surrogates."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if TEXT_UNSAFE.search(text):
        text = TEXT_UNSAFE.sub("", text)
    return text
