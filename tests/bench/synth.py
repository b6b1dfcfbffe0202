"""Synthetic scale corpora for speed figures only (never for quality).

Article n of a corpus of N is made from real BBC text with a seeded RNG: a BBC article is
drawn as its template (topic, number of paragraphs, sentences per paragraph: so lengths
follow the BBC distribution), every sentence is drawn from all BBC body sentences, and the
headline from all BBC headlines. Files are written in the BBC layout as
``<topic>/<n // 1000>/<n>.txt`` under ``$TMPDIR/newsearch-bench/synth-v<V>-seed<S>-n<N>/``
and reused while a ``.done`` file beside that folder records the same parameters.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from tests.bench.corpora import Article, cache_root, read_bbc, sentence_spans

GENERATOR_VERSION = 1
DEFAULT_SEED = 1234


def _templates(articles: list[Article]) -> tuple[list[tuple[str, list[int]]], list[str], list[str]]:
    templates, sentences = [], []
    for article in articles:
        shape = []
        for paragraph in article.body.split("\n"):
            if paragraph.strip():
                spans = sentence_spans(paragraph)
                shape.append(len(spans))
                sentences.extend(paragraph[s:e] for s, e in spans)
        templates.append((article.topic, shape))
    headlines = [article.headline for article in articles if article.headline]
    return templates, sentences, headlines


def synthetic_corpus(count: int, seed: int = DEFAULT_SEED, root: Path | None = None) -> Path:
    """The folder of the ``count``-article corpus for ``seed``, generated unless already there."""
    root = root or cache_root()
    name = f"synth-v{GENERATOR_VERSION}-seed{seed}-n{count}"
    folder = root / name
    marker = root / f"{name}.done"
    params = {"version": GENERATOR_VERSION, "seed": seed, "count": count}
    if folder.is_dir() and marker.exists() and json.loads(marker.read_text()) == params:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    marker.unlink(missing_ok=True)
    templates, sentences, headlines = _templates(read_bbc())
    rng = random.Random(seed)
    for number in range(count):
        topic, shape = rng.choice(templates)
        paragraphs = [" ".join(rng.choice(sentences) for _ in range(size)) for size in shape]
        text = rng.choice(headlines) + "\n\n" + "\n\n".join(paragraphs) + "\n"
        path = folder / topic / f"{number // 1000:03d}" / f"{number:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    marker.write_text(json.dumps(params))
    return folder
