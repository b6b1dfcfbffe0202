"""One-pass candidate collection (`newsearch.candidates`) against Whoosh's own collectors.

The fixture index has two segments and deleted documents (an incremental update after
a build), so document numbers are offset and some postings belong to deleted articles.
Every figure the ranking uses must be what Whoosh's collectors give: the top documents
of the OR query and of the all-words query (ties: lower document number first), the
total, and per candidate the number of concepts matched.

``test_gather_matches_whoosh_collectors`` and ``test_search_gives_the_same_results_either_way``
are part of the contract of ``newsearch.whoosh_internals`` (``posting_blocks``,
``field_lengths_bytes``): they must pass on every Whoosh version that module accepts.
"""

from __future__ import annotations

import time

import pytest
from support.corpora import synthetic_corpus, write_article
from whoosh import collectors

from newsearch import build_index, open_index
from newsearch.candidates import gather, plain_concepts
from newsearch.compiler import QueryCompiler
from newsearch.query import parse

DEPTH = 7  # small, so that the cut falls inside runs of tied and close scores


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("candidates")
    corpus = root / "corpus"
    paths = synthetic_corpus(corpus, 160)
    write_article(corpus, "gamma/phrase-1.txt", "Market report",
                  "Shares of the bank fell. The profit of the bank grew as the market match went on.")
    write_article(corpus, "gamma/phrase-2.txt", "Bank profit", "Bank profit rose; profit bank talks failed.")
    build_index([corpus], root / "index")
    for path in paths[:5]:
        path.write_text(path.read_text(encoding="utf-8") + "Bank profit market shares again.\n", encoding="utf-8")
    for path in paths[5:9]:
        path.unlink()
    build_index([corpus], root / "index")
    with open_index(root / "index") as opened:
        yield opened


def _compiled(index, text):
    snapshot = index._fresh()
    return snapshot.searcher, QueryCompiler(snapshot.searcher.reader(), snapshot.vocabulary).compile(parse(text))


def _top(searcher, query, allowed=None):
    collector = searcher.collector(limit=DEPTH)
    chain = collectors.FilterCollector(collector, allow=allowed) if allowed is not None else collector
    searcher.search_with_collector(query, chain)
    return {docnum: score for score, docnum in chain.results().top_n}


def _matching(searcher, query, allowed=None):
    found = set(searcher.docs_for_query(query))
    return found & allowed if allowed is not None else found


def test_the_fixture_has_segments_and_deletions(index):
    searcher = index._fresh().searcher
    leaves = searcher.leaf_searchers()
    assert len(leaves) == 2
    assert any(leaf.reader().has_deletions() for leaf, _ in leaves)


@pytest.mark.parametrize("text", [
    "market shares",
    "bank profit market",
    "football coach film award music",
    "goverment inflation",  # a typo: expanded to indexed spellings
    '"profit bank"',
    '"the bank" market',
    '"profit of the bank"',  # stopwords: position gaps, then the stored text is checked
    '"shares of a bank"',  # the same gaps, other stopwords: no article
    '"bank profit"~3 market',
    '"bank grew" "market match"',
    "elect* market",
    "title:story market",
    "marker17",
])
@pytest.mark.parametrize("restricted", [False, True])
def test_gather_matches_whoosh_collectors(index, text, restricted):
    """Part of the contract of ``newsearch.whoosh_internals``: postings read a block at a time
    and field lengths a segment at a time give the figures of Whoosh's collectors."""
    searcher, compiled = _compiled(index, text)
    concepts = plain_concepts(compiled)
    assert concepts is not None
    allowed = set(range(0, searcher.doc_count_all(), 2)) if restricted else None
    found = gather(searcher, concepts, DEPTH, all_words=compiled.all_words_query is not None,
                   allowed=frozenset(allowed) if allowed is not None else None)

    expected = _top(searcher, compiled.query, allowed)
    if compiled.all_words_query is not None:
        expected.update(_top(searcher, compiled.all_words_query, allowed))
    assert expected or text == '"shares of a bank"', "every other query here matches something"
    assert set(found.scores) == set(expected)
    for docnum, score in expected.items():
        assert found.scores[docnum] == pytest.approx(score, rel=1e-12)
    assert found.total == len(_matching(searcher, compiled.query, allowed))
    for docnum in expected:
        assert found.covered[docnum] == sum(docnum in _matching(searcher, concept.query) for concept in concepts)
    assert not found.timed_out


def test_gather_past_its_deadline_stops_and_says_so(index):
    searcher, compiled = _compiled(index, "market shares bank")
    concepts = plain_concepts(compiled)
    found = gather(searcher, concepts, DEPTH, all_words=True, deadline=time.monotonic() - 1)
    assert found.timed_out


@pytest.mark.parametrize("text", ["market -shares", "+market shares", "market date:2024", "market OR (bank profit)",
                                  "(market shares) bank"])
def test_queries_beyond_a_plain_list_are_left_to_whoosh(index, text):
    _, compiled = _compiled(index, text)
    assert plain_concepts(compiled) is None


def test_search_gives_the_same_results_either_way(index, monkeypatch):
    """Part of the contract of ``newsearch.whoosh_internals``: the fast path ranks as Whoosh does."""
    queries = ["bank profit market", '"profit bank"', "goverment inflation", "market"]
    fast = [index.search(query, limit=10) for query in queries]
    monkeypatch.setattr("newsearch.searcher.plain_concepts", lambda *args: None)
    slow = [index.search(query, limit=10) for query in queries]
    for one, other in zip(fast, slow):
        assert [hit.id for hit in one.hits] == [hit.id for hit in other.hits]
        assert [hit.score for hit in one.hits] == [hit.score for hit in other.hits]
        assert [hit.passages for hit in one.hits] == [hit.passages for hit in other.hits]
        assert one.total == other.total


@pytest.mark.parametrize("text", ['"profit bank"', '"profit of the bank"', '"bank profit"~3'])
def test_phrases_are_read_from_postings_not_through_span_matchers(index, text):
    _, compiled = _compiled(index, text)
    (concept,) = compiled.concept_parts
    assert concept.kind == "phrases"


def test_the_time_limit_still_stops_a_plain_search(index):
    from newsearch import Index

    with Index(index.path, time_limit=0.0) as hurried:
        results = hurried.search("market shares bank")
    assert results.timed_out
    assert not index.search("market shares bank").timed_out
