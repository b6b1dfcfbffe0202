"""Synthetic scale corpora for speed figures only (never for quality).

Article n of a corpus of N is made from real BBC text with a seeded RNG: a BBC article is
drawn as its template (topic, number of paragraphs, sentences per paragraph: so lengths
follow the BBC distribution), every sentence is drawn from all BBC body sentences, the
headline from all BBC headlines, and a publication day from 2004-2023 (uniform). Files are
written in the BBC layout after a ``Published: YYYY-MM-DD`` line as
``<topic>/<n // 1000>/<n>.txt`` under ``<bench dir>/synth-v<V>-seed<S>-n<N>/``
and reused while a ``.done`` file beside that folder records the same parameters. The topic
folder is every system's ``source``.

The incremental stage changes 1 % of the files in place and puts them back byte for byte
with their modification times (``changed_files``), so the corpus and the indexes cached for
it stay valid; a journal beside the folder lets the next run put them back after a crash.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from tests.bench.corpora import PUBLISHED, cache_root, read_bbc, sentence_spans

GENERATOR_VERSION = 2  # 2: a Published line
DEFAULT_SEED = 1234
FIRST_DAY, DAYS = date(2004, 1, 1), (date(2024, 1, 1) - date(2004, 1, 1)).days
COMMON_SHARE = 0.30  # the facet and timeline word is in about this share of the articles
_SAMPLE = 3000


def _articles(count: int, seed: int) -> Iterator[tuple[str, str]]:
    """(relative path, text) of articles 0 .. count-1."""
    templates, sentences, headlines = [], [], []
    articles = read_bbc()
    for article in articles:
        shape = []
        for paragraph in article.body.split("\n"):
            if paragraph.strip():
                spans = sentence_spans(paragraph)
                shape.append(len(spans))
                sentences.extend(paragraph[s:e] for s, e in spans)
        templates.append((article.topic, shape))
    headlines = [article.headline for article in articles if article.headline]
    rng = random.Random(seed)
    for number in range(count):
        topic, shape = rng.choice(templates)
        paragraphs = [" ".join(rng.choice(sentences) for _ in range(size)) for size in shape]
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        text = f"{PUBLISHED} {day.isoformat()}\n\n{rng.choice(headlines)}\n\n" + "\n\n".join(paragraphs) + "\n"
        yield f"{topic}/{number // 1000:03d}/{number:06d}.txt", text


def synthetic_corpus(count: int, seed: int = DEFAULT_SEED, root: Path | None = None) -> Path:
    """The folder of the ``count``-article corpus for ``seed``, generated unless already there."""
    root = root or cache_root()
    name = f"synth-v{GENERATOR_VERSION}-seed{seed}-n{count}"
    folder = root / name
    marker = root / f"{name}.done"
    params = {"version": GENERATOR_VERSION, "seed": seed, "count": count}
    if folder.is_dir() and marker.exists() and json.loads(marker.read_text()) == params:
        _restore(folder)
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    marker.unlink(missing_ok=True)
    made: set[str] = set()
    for relpath, text in _articles(count, seed):
        parent = relpath.rsplit("/", 1)[0]
        if parent not in made:  # one mkdir per folder of ~200 files, not one per file
            (folder / parent).mkdir(parents=True, exist_ok=True)
            made.add(parent)
        with open(folder / relpath, "w", encoding="utf-8") as handle:
            handle.write(text)
    marker.write_text(json.dumps(params))
    return folder


def common_word(seed: int = DEFAULT_SEED, share: float = COMMON_SHARE) -> str:
    """A word whose stem is in about ``share`` of the articles (measured on the first 3,000,
    which follow the same distribution as any number of them): the facet and timeline query."""
    from nltk.stem.porter import PorterStemmer

    stem = functools.lru_cache(maxsize=None)(PorterStemmer().stem)
    stems: Counter[str] = Counter()
    spelled: dict[str, Counter[str]] = {}
    for _, text in _articles(_SAMPLE, seed):
        seen = {}
        for word in re.findall(r"[a-z]{4,}", text.lower()):
            seen.setdefault(stem(word), word)
        for key, word in seen.items():
            stems[key] += 1
            spelled.setdefault(key, Counter())[word] += 1
    best = min(stems, key=lambda key: (abs(stems[key] / _SAMPLE - share), key))
    return spelled[best].most_common(1)[0][0]


def _journal(folder: Path) -> Path:
    return folder.with_name(folder.name + ".restore.json")


def _restore(folder: Path) -> None:
    """Put back files a changed_files block left changed (a crash in the middle of it)."""
    journal = _journal(folder)
    if not journal.exists():
        return
    for relpath, (text, times) in json.loads(journal.read_text(encoding="utf-8")).items():
        path = folder / relpath
        path.write_bytes(text.encode("utf-8"))
        os.utime(path, ns=tuple(times))
    journal.unlink()


@contextmanager
def changed_files(folder: Path, paths: list[Path]) -> Iterator[None]:
    """Inside the block, ``paths`` (files under ``folder``) may be changed; afterwards each has
    its bytes and times back, so the corpus is the generated one again."""
    saved = {}
    for path in paths:
        stat = path.stat()
        saved[path.relative_to(folder).as_posix()] = (path.read_bytes().decode("utf-8"),
                                                      [stat.st_atime_ns, stat.st_mtime_ns])
    _journal(folder).write_text(json.dumps(saved), encoding="utf-8")
    try:
        yield
    finally:
        _restore(folder)
