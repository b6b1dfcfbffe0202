"""Read one corpus file into Documents: pick the reader (`formats.READERS`), then complete ids, titles and sources."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import DEFAULT_MAX_BYTES
from ..errors import CorpusError
from ..models import Document, SkippedFile
from .article import Article, ItemProblem, Refused, one_line, title_from_text, unique
from .decode import clean, load_bytes, refuse_binary
from .formats import GZIP_SUFFIX, reader_for, suffix_of, unsupported
from .scan import CorpusFile


@dataclass
class ReadResult:
    """The articles of one file, and the articles in it that could not be used."""

    documents: list[Document] = field(default_factory=list)
    problems: list[SkippedFile] = field(default_factory=list)  # per article: path is "<relpath>#n"


def read_file(file: CorpusFile, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read the articles of one file found by `scan`.

    Never reads more than `max_bytes` + 1 bytes (after decompression for .gz files).
    Raises CorpusError("<relpath>: <key>: <details>") when the whole file is unusable;
    the keys are listed in the package docstring.
    """
    try:
        items, multi = _parse(file, max_bytes)
        return _complete(file, items, multi)
    except Refused as exc:
        raise CorpusError(f"{file.relpath}: {exc}") from None


def _parse(file: CorpusFile, max_bytes: int) -> tuple[list[Article | ItemProblem], bool]:
    """(items, whether the format holds several articles) from the file's bytes."""
    suffix = suffix_of(file.path.name)
    reader = reader_for(suffix)
    if reader is None:
        raise Refused(unsupported(suffix))
    data = load_bytes(file.path, max_bytes, gzipped=suffix.endswith(GZIP_SUFFIX))
    refuse_binary(data)
    return reader.read(data)


def _complete(file: CorpusFile, items: list[Article | ItemProblem], multi: bool) -> ReadResult:
    """Documents with ids, titles and sources filled in; unusable articles become problems."""
    relpath = file.relpath
    folder_source = relpath.split("/", 1)[0] if "/" in relpath else file.root.name
    result = ReadResult()
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        where = f"{relpath}#{number}" if multi else relpath
        if isinstance(item, ItemProblem):
            result.problems.append(SkippedFile(where, item.reason))
            continue
        body = clean(item.body).strip()
        if not body:
            result.problems.append(SkippedFile(where, "no text: the article has no body text"))
            continue
        doc_id = one_line(clean(item.id)) or where
        if doc_id in seen:
            result.problems.append(SkippedFile(where, f"duplicate id: {doc_id}"))
            continue
        seen.add(doc_id)
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
