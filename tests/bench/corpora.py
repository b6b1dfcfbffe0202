"""The benchmark's corpora: the BBC articles as read here, their sentences, and copies of them.

Reading is done here, independently of ``newsearch.corpus``, so that query sets and
relevance judgements do not move when the library's readers change. A BBC file is
"headline, blank line, body"; the body is everything after the first blank line,
stripped. Bytes that are not UTF-8 are decoded as cp1252 (sports/199.txt has one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BBC = REPO.parent / "shared" / "corpora" / "bbc-news"  # ../shared/corpora/bbc-news, never copied into the repo
BBC_RELATIVE = "../shared/corpora/bbc-news"
PUBLISHED = "Published:"


def cache_root() -> Path:
    """Where generated corpora and indexes go: $NEWSEARCH_BENCH_DIR, else ~/.cache/newsearch-bench
    (outside the repo). Not the temporary folder: the synthetic articles carry their publication
    dates as modification times, years old, and age-based cleaners of /tmp deleted them mid-corpus."""
    configured = os.environ.get("NEWSEARCH_BENCH_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "newsearch-bench"


@dataclass(frozen=True)
class Article:
    id: str  # path relative to the corpus folder, as newsearch and the baseline both name it
    topic: str
    headline: str
    body: str


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def split_article(text: str) -> tuple[str, str]:
    """(headline, body) of a BBC-layout text: a first line, a blank line, the body."""
    text = text.replace("\r\n", "\n").strip("\n")
    first, blank, rest = text.partition("\n\n")
    if blank and "\n" not in first:
        return first.strip(), rest.strip()
    return "", text.strip()


def split_published(text: str) -> tuple[str, str]:
    """(date, rest) of a text that starts with a ``Published: <date>`` line and a blank line
    (as synthetic articles do; newsearch reads it as a header block), else ("", text)."""
    first, blank, rest = text.partition("\n\n")
    if blank and first.startswith(PUBLISHED) and "\n" not in first:
        return first.removeprefix(PUBLISHED).strip(), rest
    return "", text


def corpus_files(root: Path) -> list[tuple[str, Path]]:
    """(id, path) of every .txt and .json article under root, sorted; ids are relative paths."""
    found = []
    for base, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            if name.endswith((".txt", ".json")) and not name.startswith("."):
                path = Path(base) / name
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    return found


def read_article(doc_id: str, path: Path) -> dict[str, object]:
    """The fields every peer indexes from one file: ``id``, ``title``, ``body``, ``mtime`` (for the
    incremental recipe), ``source`` (the top folder, as newsearch names it) and ``published``
    (``YYYY-MM-DD`` or ""). Files are BBC-layout .txt (after an optional ``Published:`` line) or
    .json objects with id/title/body."""
    text = decode(path.read_bytes())
    source = doc_id.split("/", 1)[0] if "/" in doc_id else path.parent.name
    fields: dict[str, object] = {"id": doc_id, "mtime": path.stat().st_mtime, "source": source, "published": ""}
    if path.suffix == ".json":
        value = json.loads(text)
        return {**fields, "id": value.get("id") or doc_id, "title": value.get("title", ""),
                "body": value.get("body", "")}
    published, text = split_published(text.replace("\r\n", "\n"))
    title, body = split_article(text)
    return {**fields, "title": title, "body": body, "published": published}


def read_bbc(root: Path = BBC) -> list[Article]:
    """Every BBC article, sorted by id."""
    if not root.is_dir():
        raise SystemExit(f"BBC corpus not found at {root} (expected {BBC_RELATIVE} beside the repo)")
    articles = []
    for path in sorted(root.rglob("*.txt")):
        relpath = path.relative_to(root).as_posix()
        headline, body = split_article(decode(path.read_bytes()))
        articles.append(Article(relpath, relpath.split("/", 1)[0], headline, body))
    return articles


def body_key(body: str) -> str:
    """Bodies equal under this key are duplicates: a hit on either is correct."""
    return " ".join(body.split())


def duplicate_groups(articles: list[Article]) -> dict[str, list[str]]:
    """id -> sorted ids of every article with an identical body (itself included)."""
    by_body: dict[str, list[str]] = {}
    for article in articles:
        by_body.setdefault(body_key(article.body), []).append(article.id)
    return {article.id: sorted(by_body[body_key(article.body)]) for article in articles}


# --- sentences -------------------------------------------------------------------------------

# A sentence ends at . ! ? (plus closing quotes) followed by whitespace and an upper-case
# letter, a digit or an opening quote; and always at a line break.
_SENTENCE_END = re.compile(r"""(?<=[.!?])["'\u2019\u201d)]*\s+(?=["'\u2018\u201c(]?[A-Z0-9\u00a3$])""")


def sentence_spans(body: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the body's sentences, whitespace trimmed."""
    spans = []
    for paragraph in re.finditer(r"[^\n]+", body):
        start = paragraph.start()
        for match in _SENTENCE_END.finditer(paragraph.group()):
            end = paragraph.start() + match.start()
            # keep closing quotes with the sentence they close
            end += len(match.group()) - len(match.group().lstrip("\"'\u2019\u201d)"))
            spans.append((start, end))
            start = paragraph.start() + match.end()
        spans.append((start, paragraph.end()))
    return [(s, e) for s, e in ((_trim(body, s, e)) for s, e in spans) if e > s]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# --- copies ----------------------------------------------------------------------------------


def write_body_only_copy(articles: list[Article], folder: Path) -> Path:
    """The corpus as JSON files without headlines: {"id": <original id>, "body": ...}.

    newsearch gives an article without a title the first sentence of its body as title
    (``newsearch/corpus/read.py``: ``title_from_text``), so no headline reaches the index.
    """
    if folder.exists():
        shutil.rmtree(folder)
    for article in articles:
        path = folder / (article.id.removesuffix(".txt") + ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"id": article.id, "body": article.body}, ensure_ascii=False), encoding="utf-8")
    return folder


def copy_tree(source: Path, target: Path) -> Path:
    """A writable copy of a corpus folder (modification times kept)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return target


def corpus_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def tree_bytes(folder: Path) -> int:
    """Apparent size of every file under ``folder`` (an index on disk)."""
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def count_files(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file() and not path.name.startswith("."))
