"""The per-text cache of the rerank (``analysis.tokenized``) never changes an answer: a text read
from the cache gives what reading it token by token gives, and searches give the same pages,
scores, passages and highlights with the cache cold and warm.
"""

from __future__ import annotations

import random

from test_rerank_text import _reference_find_terms

from newsearch import open_index
from newsearch.analysis import _QUERY_FILTER, CACHED_TEXT_CHARS, _tokenized, find_terms, is_stopword
from newsearch.sentences import forget_texts

LONG_WORD = "y" * 80  # over MAX_TERM_LENGTH: a token without a term


def _bbc_texts(bbc_corpus, step=9):
    paths = sorted(bbc_corpus.rglob("*.txt"))[::step]
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in paths]
    # Tokens without a term among the words, where positions shift; texts too long to be kept.
    return (texts + [text.replace(" the ", f" {LONG_WORD} ", 3) for text in texts[:20]]
            + ["\n\n".join(texts[:12]) + f" {LONG_WORD}" * 3])


def test_find_terms_from_the_cache_equals_reading_token_by_token(bbc_corpus):
    rng = random.Random(8)
    _tokenized.cache_clear()
    texts = _bbc_texts(bbc_corpus)
    assert len(texts[-1]) > CACHED_TEXT_CHARS
    for text in texts:
        words = text.split()
        for reading in ("cold", "cached", "cached for other terms"):
            if reading != "cached":
                wanted = {term for word in rng.sample(words, min(len(words), 6))
                          for term in [_QUERY_FILTER.term(word.strip(".,\"'"))] if term} | {"the", "said"}
            termless: list[int] = []
            expected_termless: list[int] = []
            assert (find_terms(text, wanted, termless)
                    == _reference_find_terms(text, wanted, expected_termless)), (reading, text[:60])
            assert termless == expected_termless
    assert _tokenized.cache_info().hits


def _pages(index, queries):
    pages = []
    for number, query in enumerate(queries):
        options = {"limit": 10, "passages": 3} if number % 3 else {"limit": 5, "offset": 5, "passage_chars": 120}
        results = index.search(query, **options)
        pages.append((query, results.total, results.timed_out,
                      [(hit.id, hit.score, hit.passages, hit.similar) for hit in results.hits]))
    return pages


def test_searches_are_the_same_with_the_caches_cold_and_warm(bbc_index, bbc_corpus):
    rng = random.Random(21)
    texts = _bbc_texts(bbc_corpus, step=50)
    words = [word for text in texts for word in text.split() if word.isalpha() and not is_stopword(word)]
    queries = [" ".join(rng.sample(words, rng.randint(1, 6))) for _ in range(24)]
    queries += [text.split("\n", 1)[0] for text in texts[:6]]  # headlines
    queries += ['"prime minister" election', '"the way" research']
    with open_index(bbc_index.path) as index:
        forget_texts()
        assert _tokenized.cache_info().currsize == 0
        cold = _pages(index, queries)
        assert _tokenized.cache_info().misses
        warm = _pages(index, queries)
        assert _tokenized.cache_info().hits
    # A page cut short by the time limit (a loaded machine) is no answer to compare.
    compared = [(before, after) for before, after in zip(cold, warm) if not before[2] and not after[2]]
    assert len(compared) > len(queries) // 2
    for before, after in compared:
        assert before == after
    assert sum(bool(page[3]) for page in cold) > len(queries) // 2
