"""Fixture corpora the tests write themselves."""

from __future__ import annotations

import os
import random
import subprocess
import sys
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


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m newsearch ARGS`` in a real process (for locks, kills and exit codes)."""
    return subprocess.run([sys.executable, "-m", "newsearch", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def popen_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "newsearch", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
