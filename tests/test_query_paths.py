"""Which path collects the candidates of each query shape the README documents, and that the
two paths score alike.

A query the compiler marks ``concepts_are_plain`` (words and phrases of which an article may
match any) is collected in one pass over its postings (``candidates.gather``); any other goes
through Whoosh's collectors. The path is chosen from that flag, never from the shape of the
Whoosh query, so each shape below is checked both ways: the flag, and which code actually ran
(the other path is made to fail). Both paths score with ``scoring.bm25f``, and
``scoring.BM25FModel`` gives exactly the scores of Whoosh's own BM25F with the same parameters.
"""

from __future__ import annotations

import json

import pytest
from whoosh import scoring
from whoosh.searching import Searcher

from newsearch import build_index, open_index
from newsearch.candidates import gather, plain_concepts
from newsearch.compiler import QueryCompiler
from newsearch.query import parse
from newsearch.scoring import RANKING, BM25FModel

ARTICLES = [
    ("North Korean soldiers captured in Kursk", ("Ukraine says its paratroopers captured two North Korean soldiers "
     "in the Kursk region. Zelensky offered to exchange them. The interrogation was filmed."), "2025-01-12",
     "Kyiv Post", "Anna Reed", ["war", "ukraine"]),
    ("Zelensky visits Kursk front", "President Zelensky met paratroopers near Kursk; Kyiv denied any talks.",
     "2025-02-03", "Reuters", "Tom Bell", ["ukraine"]),
    ("State of the union address", ("The president gave the state of the union address to Congress. "
     "The economy and inflation led the speech."), "2024-03-07", "AP", "Joan Hale", ["politics"]),
    ("A union for the state workers", ("Workers in the state of a union dispute marched on Monday. "
     "The union asked for higher pay and an e-mail policy."), "2024-05-01", "AP", "Joan Hale", ["labour"]),
    ("Markets rally as inflation cools", ("Shares rose and the bank raised its profit forecast; inflation eased "
     "and the economy grew."), "2024-11-20", "Reuters", "Sam Ortiz", ["economy"]),
    ("Bank profit falls", "The bank said profit fell as interest income dropped. Markets shrugged.",
     "2023-08-15", "Bloomberg", "Sam Ortiz", ["economy", "banks"]),
    ("Football coach resigns", ("The coach of the football club resigned after a run of defeats. "
     "Players praised his captaincy."), "2023-10-02", "BBC", "Lee Park", ["sport"]),
    ("Film award for a captured story", ("A film about captured soldiers won an award. The director thanked "
     "the captain of the crew and the North Korean defectors who advised."), "", "BBC", "Ria Das", ["film"]),
    ("E-mail interception ruled unlawful", ("A court ruled that e mail interception by the agency was unlawful; "
     "Pyongyang was not mentioned."), "2022-06-30", "Guardian", "Ada Kim", ["law"]),
    ("Economy grows again", ("The economy grew for the third quarter as shares and profit rose. Inflation stayed "
     "low, the bank said."), "2025-03-01", "Reuters", "Tom Bell", ["economy"]),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("query_paths")
    corpus = root / "corpus"
    corpus.mkdir()
    lines = [json.dumps({"id": f"a{number}", "title": title, "body": body, "date": date or None, "source": source,
                         "author": author, "tags": tags})
             for number, (title, body, date, source, author, tags) in enumerate(ARTICLES)]
    (corpus / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_index([corpus], root / "index")
    with open_index(root / "index") as opened:
        yield opened


# Every shape of the README's query-language table and its notes, and the path it takes.
FAST = [
    "economy",  # one word
    "north korean soldiers",  # plain words
    "the economy",  # a stopword left out of a plain list
    "economy shares profit bank inflation",  # a longer description
    '"north korean soldiers"',  # an exact phrase
    '"state of the union"',  # a phrase with stopwords: gaps, then the stored text
    '"the state of"',  # one word and stopwords: its positions and the stopword grams, then the text
    '"of the"',  # stopwords only: their grams, then the stored text
    '"bank profit"~2',  # a phrase with slop
    '"bank profit"~2 inflation',  # a phrase and a word
    "north-korean",  # a hyphenated word: its parts as a phrase
    "+kursk",  # one required word: the word itself
    "kursk OR pyongyang",  # alternatives
    "(kursk zelensky)",  # brackets around a plain list
    "title:kursk",  # one field
    "title:(kursk OR union)",  # a field applied to a group
    "body:kursk economy",
    "source:reuters",
    "author:hale",
    "tag:ukraine",
    "paratroop*",  # a prefix
    "capt* soldiers",
    "zelenksy~",  # fuzzy
    "interogation~2",
    "zelenksy",  # a typing error, corrected
    "goverment inflation",
]
SLOW = [
    "zelensky +kursk -pyongyang",  # required and excluded words
    "zelensky -kyiv",
    "NOT kyiv zelensky",
    "+kursk +zelensky",
    "kursk AND zelensky",  # AND binds tighter than OR
    "kursk AND zelensky OR economy",
    "kursk OR (zelensky economy)",  # brackets inside alternatives
    "(kursk zelensky) economy",
    "economy date:2024",  # a date restricts the words
    "date:2025-01",  # dates only
    "date:2024-01-01..2024-12-31",
    "date:2025..",
]


def _compiled(index, text):
    snapshot = index._fresh()
    compiler = QueryCompiler(snapshot.searcher.reader(), snapshot.vocabulary, snapshot.written)
    return snapshot.searcher, compiler.compile(parse(text))


@pytest.fixture
def paths(monkeypatch):
    """Counts the passes of each path: ``gather`` (one pass) and Whoosh's collectors."""
    taken = {"fast": 0, "slow": 0}
    real_gather = gather
    real_search = Searcher.search_with_collector

    def counted_gather(*args, **kwargs):
        taken["fast"] += 1
        return real_gather(*args, **kwargs)

    def counted_search(self, *args, **kwargs):
        taken["slow"] += 1
        return real_search(self, *args, **kwargs)

    monkeypatch.setattr("newsearch.searcher.gather", counted_gather)
    monkeypatch.setattr(Searcher, "search_with_collector", counted_search)
    return taken


@pytest.mark.parametrize("text", FAST)
def test_plain_shapes_take_the_one_pass_path(index, paths, text):
    _, compiled = _compiled(index, text)
    assert compiled.concepts_are_plain
    results = index.search(text)
    assert paths == {"fast": 1, "slow": 0}
    assert results.total > 0, "every plain shape here matches some article"


@pytest.mark.parametrize("text", SLOW)
def test_other_shapes_go_through_whoosh_collectors(index, paths, text):
    _, compiled = _compiled(index, text)
    assert not compiled.concepts_are_plain
    assert plain_concepts(compiled) is None
    index.search(text)
    assert paths["fast"] == 0 and paths["slow"] >= 1


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_sorting_by_date_orders_every_match_by_the_date_column(index, paths, sort):
    index.search("north korean soldiers", sort=sort)
    assert paths["fast"] == 0 and paths["slow"] == 0  # neither scores: listing.DateOrder orders the matches


def test_related_goes_through_whoosh_collectors(index, paths):
    index.related("a0")
    assert paths["fast"] == 0 and paths["slow"] >= 1


@pytest.mark.parametrize("text", FAST)
def test_every_plain_concept_says_what_it_is_made_of(index, text):
    _, compiled = _compiled(index, text)
    assert len(compiled.concept_parts) == len(compiled.concepts)
    for parts, concept in zip(compiled.concept_parts, compiled.concepts):
        assert parts.query is concept
        assert parts.kind in ("terms", "phrases")
        for phrase in parts.phrases:
            assert len(phrase.terms) == len(phrase.mindist) == len(phrase.maxdist) >= (0 if phrase.required else 2)
            assert len({term.fieldname for term in phrase.terms}) <= 1 and len(phrase.terms + phrase.required) > 0
            assert len({term.fieldname for term in phrase.required}) <= 1


@pytest.mark.parametrize("text", FAST)
def test_both_paths_give_the_same_page(index, monkeypatch, text):
    fast = index.search(text, limit=20)
    monkeypatch.setattr("newsearch.searcher.plain_concepts", lambda compiled: None)
    slow = index.search(text, limit=20)
    assert [hit.id for hit in fast.hits] == [hit.id for hit in slow.hits]
    assert [hit.score for hit in fast.hits] == pytest.approx([hit.score for hit in slow.hits], abs=1e-9)
    assert fast.total == slow.total


@pytest.mark.parametrize("text", FAST)
def test_one_pass_scores_are_whoosh_collector_scores(index, text):
    searcher, compiled = _compiled(index, text)
    found = gather(searcher, plain_concepts(compiled), 100, all_words=compiled.all_words_query is not None)
    top = searcher.collector(limit=100)
    searcher.search_with_collector(compiled.query, top)
    expected = {docnum: score for score, docnum in top.results().top_n}
    assert set(found.scores) == set(expected)
    for docnum, score in expected.items():
        assert found.scores[docnum] == pytest.approx(score, abs=1e-9)


@pytest.mark.parametrize("text", FAST + SLOW[:-3])
def test_the_weighting_model_scores_as_whoosh_bm25f(index, text):
    """BM25FModel (scoring.bm25f) and Whoosh's BM25F with the same parameters: the same scores."""
    _, compiled = _compiled(index, text)
    field_b = {f"{name}_B": b for name, b in RANKING.field_b}
    stock = scoring.BM25F(B=RANKING.b, K1=RANKING.k1, **field_b)
    scores = []
    for model in (BM25FModel(), stock):
        with index._fresh().ix.searcher(weighting=model) as other:
            scores.append(sorted((hit.docnum, hit.score) for hit in other.search(compiled.query, limit=None)))
    ours, whoosh_own = scores
    assert ours, "every query here matches some article"
    assert [docnum for docnum, _ in ours] == [docnum for docnum, _ in whoosh_own]
    for (_, one), (_, other) in zip(ours, whoosh_own):
        assert one == other  # to the last bit: the same expression, evaluated in the same order
