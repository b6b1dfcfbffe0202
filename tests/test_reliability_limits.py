"""Limits that hold for any input: memory while indexing one large article, the query time limit.

The time limit is tested on a clock the tests move themselves (``time.monotonic`` replaced), so what
is asserted is what a search returns once its time is up, never how long anything took.

Memory is measured in a child process (``VmHWM``, the kernel's peak resident size of the process's
memory; not ``ru_maxrss``, which on Linux keeps the peak of the parent it was forked from) against
the baseline the same process had after importing and warming up the indexer on a tiny corpus,
so what is measured is what the large article costs, not Python's own start.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.corpora import bbc_paragraphs, large_article, write_article
from support.processes import held

ARTICLE_BYTES = 9_000_000  # under the 10 MB cap (corpus.DEFAULT_MAX_BYTES)
MEMORY_PER_ARTICLE_BYTE = 30  # the guarantee: peak <= baseline + 30 x the article's size

_MEASURE = """
import json, sys
from newsearch.indexer import build_index

def resident(field="VmRSS:"):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))

warm, big, index = sys.argv[1:4]
build_index([warm], index + "-warm")  # loads NLTK, numpy and the caches a build needs anyway
baseline = resident()
report = build_index([big], index)
peak = resident("VmHWM:")
print(json.dumps({"baseline": baseline, "peak": peak, "documents": report.documents,
                  "skipped": len(report.skipped)}))
"""


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


# -- the query time limit ------------------------------------------------------------------------


class FakeClock:
    """``time.monotonic`` standing still until a test moves it, or ``tick`` seconds later on each call."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.tick = 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(time, "monotonic", fake)
    return fake


def test_a_search_out_of_time_ends_its_page_early_with_the_first_hits(synthetic_index, clock, monkeypatch):
    """Time runs out while the page is built (passages, copies): the hits so far are the page's
    first ones, exactly as a search with time to spare gives them, and the results say so."""
    from newsearch import Index, searcher

    with Index(synthetic_index.path, time_limit=2.5) as index:
        full = index.search("bank profit", limit=20)
        real_hit = searcher._hit

        def slow_hit(*args, **kwargs):
            clock.now += 1.0  # each hit of the page takes a second
            return real_hit(*args, **kwargs)

        monkeypatch.setattr(searcher, "_hit", slow_hit)
        hurried = index.search("bank profit", limit=20)
    assert not full.timed_out and len(full.hits) == 20
    assert hurried.timed_out
    assert hurried.hits == full.hits[:3]  # at 0, 1 and 2 s; at 3 s the 2.5 s are up
    assert hurried.total == full.total


def test_related_out_of_time_ends_its_page_early_too(synthetic_index, clock, monkeypatch):
    from newsearch import Index, searcher

    with Index(synthetic_index.path, time_limit=1.5) as index:
        article = index.search("bank", limit=1).hits[0].id
        full = index.related(article, limit=10)
        real_hit = searcher._hit

        def slow_hit(*args, **kwargs):
            clock.now += 1.0
            return real_hit(*args, **kwargs)

        monkeypatch.setattr(searcher, "_hit", slow_hit)
        hurried = index.related(article, limit=10)
    assert not full.timed_out and len(full.hits) == 10
    assert hurried.timed_out and hurried.hits == full.hits[:2]


def test_a_search_whose_time_is_up_returns_no_hits_and_says_so(synthetic_index, clock):
    from newsearch import Index

    with Index(synthetic_index.path, time_limit=0.0) as index:
        clock.tick = 1e-6  # any time at all is too much
        results = index.search("ma* bank", limit=50)
    assert results.timed_out and results.hits == ()


def test_prefix_expansion_out_of_time_keeps_the_most_frequent_word_and_says_so(synthetic_index, clock):
    """A prefix expanded after the deadline gets its most frequent word only, and the compiled query is
    marked, so the search reports ``timed_out``."""
    from newsearch import Index
    from newsearch.analysis import term_for
    from newsearch.compiler import QueryCompiler
    from newsearch.query import parse

    with Index(synthetic_index.path) as index:
        snapshot = index._fresh()

        def compiled(deadline):
            compiler = QueryCompiler(snapshot.searcher.reader(), snapshot.vocabulary, snapshot.written,
                                     deadline=deadline)
            return compiler.compile(parse("ma*"))

        def words(result):
            return {term.text for term in result.concept_parts[0].terms}

        in_time = compiled(clock.now + 10)
        late = compiled(clock.now - 1)
        most_frequent = snapshot.vocabulary().with_prefix("ma")[0][0]
    assert not in_time.timed_out and words(in_time) == {"match", "market"}
    assert late.timed_out and words(late) == {term_for(most_frequent)}


@pytest.mark.slow
def test_sixty_four_prefixes_and_a_thousand_hits_stop_at_the_time_limit(bbc_index):
    """The query of the report (4-5 s, ``timed_out=False`` before): stopped, marked, and what it
    returns is the start of the ranking (the hits, in order, match the query)."""
    from newsearch import Index

    query = " ".join(a + b + "*" for a in "abc" for b in "abcdefghijklmnopqrstuvwxyz")[: 64 * 4 - 1]
    assert len(query.split()) == 64
    with Index(bbc_index.path, time_limit=0.5) as index:
        hurried = index.search(query, limit=1000)
    with Index(bbc_index.path, time_limit=120) as index:
        matches = {hit.id for hit in index.search(query, limit=1000, passages=0).hits}
    assert hurried.timed_out
    assert [hit.rank for hit in hurried.hits] == list(range(1, len(hurried.hits) + 1))
    assert len(hurried.hits) < 1000
    assert {hit.id for hit in hurried.hits} <= matches


# -- handles: a closed or idle Index holds no file it no longer needs ------------------------------


def test_a_closed_index_holds_no_file(tmp_path):
    from newsearch import Index, build_index

    corpus, path = tmp_path / "corpus", tmp_path / "index"  # its own: other tests keep theirs open
    write_article(corpus, "one.txt", "Bank profit", "The bank made a profit.")
    build_index([corpus], path)
    index = Index(path)
    assert index.search("bank").hits
    assert held(path)  # the segments and the vocabulary are mapped while open
    index.close()
    assert held(path) == set()


def test_an_idle_index_lets_go_of_a_generation_a_rebuild_retired(tmp_path):
    from newsearch import Index, build_index
    from newsearch.storage import current_generation

    corpus, path = tmp_path / "corpus", tmp_path / "index"
    write_article(corpus, "one.txt", "Bank profit", "The bank made a profit.")
    build_index([corpus], path)
    old = current_generation(path)
    with Index(path) as index:
        assert len(index.search("bank").hits) == 1
        assert any(name.startswith(str(old)) for name in held(path))
        write_article(corpus, "two.txt", "Bank loss", "Another bank made a loss.")
        build_index([corpus], path, rebuild=True)
        index.release_if_replaced()  # no search in between: what a long-lived embedder calls when idle
        assert not any(name.startswith(str(old)) for name in held(path))
        assert len(index.search("bank").hits) == 2  # the next call opens the new generation
    assert held(path) == set()
