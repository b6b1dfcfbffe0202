"""Limits that hold for any input: memory while indexing one large article, the query time limit.

Memory is measured in a child process (``ru_maxrss``, the kernel's peak resident size) against
the baseline the same process had after importing and warming up the indexer on a tiny corpus,
so what is measured is what the large article costs, not Python's own start.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from support.corpora import write_article

ARTICLE_BYTES = 9_000_000  # under the 10 MB cap (corpus.DEFAULT_MAX_BYTES)
MEMORY_PER_ARTICLE_BYTE = 30  # the guarantee: peak <= baseline + 30 x the article's size

_MEASURE = """
import json, resource, sys
from newsearch.indexer import build_index

def resident():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

warm, big, index = sys.argv[1:4]
build_index([warm], index + "-warm")  # loads NLTK, numpy and the caches a build needs anyway
baseline = resident()
report = build_index([big], index)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"baseline": baseline, "peak": peak, "documents": report.documents,
                  "skipped": len(report.skipped)}))
"""


def bbc_paragraphs(bbc_corpus: Path) -> list[str]:
    paragraphs = []
    for path in sorted(bbc_corpus.rglob("*.txt"))[:600]:
        paragraphs += [part.strip() for part in path.read_text("utf-8", "replace").split("\n\n") if part.strip()]
    return paragraphs


def large_article(paragraphs: list[str], size: int, separator: str) -> str:
    """About ``size`` bytes of real news paragraphs in a random order, joined by ``separator``."""
    rng = random.Random(13)
    parts, total = [], 0
    while total < size:
        part = rng.choice(paragraphs)
        parts.append(part)
        total += len(part.encode("utf-8")) + len(separator)
    return separator.join(parts).encode("utf-8")[:size].decode("utf-8", "ignore")


def peak_for_article(tmp_path: Path, body: str) -> tuple[int, int, int]:
    """(extra peak bytes, article bytes, documents indexed) for indexing one article alone."""
    warm = tmp_path / "warm"
    write_article(warm, "small.txt", "A small story", "The minister met the bank's chief about inflation.")
    big = tmp_path / "big"
    path = write_article(big, "long.txt", "A very long story", body)
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(warm), str(big), str(tmp_path / "index")],
                            capture_output=True, text=True, check=True)
    measured = json.loads(result.stdout)
    assert measured["skipped"] == 0
    return measured["peak"] - measured["baseline"], path.stat().st_size, measured["documents"]


def test_a_large_ordinary_article_is_indexed_in_bounded_memory(tmp_path, bbc_corpus):
    """Many paragraphs of varied text: before, 1.4 GB for 9 MB (all shingles x 96 permutations at once)."""
    body = large_article(bbc_paragraphs(bbc_corpus), ARTICLE_BYTES, "\n\n")
    extra, size, documents = peak_for_article(tmp_path, body)
    assert documents == 1
    assert size > 8_900_000
    assert extra <= MEMORY_PER_ARTICLE_BYTE * size, f"{extra / 1e6:.0f} MB for a {size / 1e6:.1f} MB article"


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["one paragraph", "no spaces"])
def test_a_pathological_large_article_is_indexed_in_bounded_memory(tmp_path, bbc_corpus, shape):
    """One 9 MB paragraph without a newline; 9 MB of words joined by punctuation only."""
    paragraphs = bbc_paragraphs(bbc_corpus)
    if shape == "one paragraph":
        body = large_article(paragraphs, ARTICLE_BYTES, " ")
    else:
        words = " ".join(paragraphs).split()
        body = large_article(words, ARTICLE_BYTES, ";")
    extra, size, documents = peak_for_article(tmp_path, body)
    assert documents == 1
    assert extra <= MEMORY_PER_ARTICLE_BYTE * size, f"{extra / 1e6:.0f} MB for a {size / 1e6:.1f} MB article"


def test_long_texts_are_split_into_the_same_words(bbc_corpus):
    """The shared-string split of long texts gives exactly ``TOKEN_PATTERN.findall``'s words."""
    from newsearch import analysis

    rng = random.Random(5)
    alphabet = "aZ9._,'\u2019 -\u00e9\u0301_\n\u0663x"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(2000)]
    texts.append(" ".join(bbc_paragraphs(bbc_corpus)[:300]))
    for text in texts:
        assert analysis._split_long(text) == analysis.TOKEN_PATTERN.findall(text)


def test_signatures_do_not_depend_on_the_block_size(monkeypatch, bbc_corpus):
    """The MinHash minima taken a block of shingles at a time equal those taken at once."""
    from newsearch import duplicates

    texts = bbc_paragraphs(bbc_corpus)[:40]
    whole = [duplicates.signature(text) for text in texts]
    monkeypatch.setattr(duplicates, "_SHINGLE_BLOCK", 7)
    assert [duplicates.signature(text) for text in texts] == whole
    assert all(whole)
