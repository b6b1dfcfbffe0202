"""Fixture corpora the tests write themselves, and one written file read back."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = (
    "government minister election economy market shares profit bank growth inflation football "
    "match player coach film award music album court police report company deal talks energy"
).split()


def write_article(folder: Path, name: str, title: str, body: str) -> Path:
    """A BBC-style article: headline, blank line, body."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    return path


def synthetic_corpus(folder: Path, count: int, seed: int = 7) -> list[Path]:
    """``count`` deterministic articles of a few hundred words in two topic folders."""
    rng = random.Random(seed)
    paths = []
    for number in range(count):
        topic = "alpha" if number % 2 else "beta"
        sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(20)]
        paths.append(write_article(folder / topic, f"{number:04d}.txt", f"Story number {number}",
                                   " ".join(sentences) + f" Marker{number}."))
    return paths


# -- Corpus reader tests -----------------------------------------------------------------------


def read_one(root: Path, relpath: str, content: str | bytes, **options):
    """Write one file under ``root``, scan ``root``, and read that file (a ReadResult)."""
    from newsearch.corpus import read_file, scan

    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    file = next(file for file in scan([root]).files if file.relpath == relpath)
    return read_file(file, **options)


def only(result):
    """The one Document of a ReadResult that has no problems."""
    assert result.problems == []
    [document] = result.documents
    return document


def utc(*parts: int):
    from datetime import datetime, timezone

    return datetime(*parts, tzinfo=timezone.utc)


def bbc_paragraphs(bbc_corpus: Path) -> list[str]:
    """The paragraphs of the first 600 BBC articles: real news text to build large articles from."""
    paragraphs = []
    for path in sorted(bbc_corpus.rglob("*.txt"))[:600]:
        paragraphs += [part.strip() for part in path.read_text("utf-8", "replace").split("\n\n") if part.strip()]
    return paragraphs


def large_article(paragraphs: list[str], size: int, separator: str, seed: int = 13) -> str:
    """About ``size`` bytes of ``paragraphs`` in a random order, joined by ``separator``."""
    rng = random.Random(seed)
    parts, total = [], 0
    while total < size:
        part = rng.choice(paragraphs)
        parts.append(part)
        total += len(part.encode("utf-8")) + len(separator)
    return separator.join(parts).encode("utf-8")[:size].decode("utf-8", "ignore")


def write_hidden_corpus(folder: Path, hidden: str, front_matter: str = "") -> None:
    """Three files whose folder, names, titles, authors and text hold ``hidden`` (invisible or reordering
    characters), ``front_matter`` added to the first one's: a Markdown article, a text article, an
    empty file (skipped, so a warning names it). The folder's name becomes the articles' source."""
    padding = "The quick brown fox jumps over the lazy dog near the river bank. " * 8
    folder.mkdir(parents=True)
    (folder / f"name{hidden}.md").write_text(
        f"---\ntitle: Heron {hidden} title\nauthor: Auth {hidden}\n{front_matter}---\n\n{padding}\n\n"
        f"Heron body {hidden} heron kingfisher end.\n", encoding="utf-8")
    (folder / "second.txt").write_text(f"Kingfisher {hidden}\n\nThe heron and the kingfisher {hidden} fish.\n",
                                       encoding="utf-8")
    (folder / f"empty{hidden}.txt").write_text("")
