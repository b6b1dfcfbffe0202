"""The rerank reads positions from the stored text, not through Whoosh: equal to the index's.

The lead share of a document (``ranking._LeadTerms``) is computed from the tokens ``find_terms``
finds in its stored title and body; a brute-force reference reads the same positions from the
index's postings, segment by segment. Texts hold what makes the two differ if done carelessly:
stopwords (no term in the index), a word of more than 64 letters (no term at all, but a
position), possessives, repeated words, words typed only in the title. And passages found from
a scan for more terms than the query's are the passages found from the query's own.
"""

from __future__ import annotations

import random

import pytest
from support.corpora import write_article

from newsearch import build_index, open_index
from newsearch.analysis import _QUERY_FILTER, TOKEN_PATTERN, find_terms
from newsearch.compiler import QueryCompiler
from newsearch.passages import PassageQuery, best_passages, query_terms
from newsearch.query import parse
from newsearch.ranking import _LeadTerms, passage_query_for
from newsearch.scoring import RANKING, lead_term

LONG_WORD = "x" * 70  # over MAX_TERM_LENGTH: a token without a term, which still takes a position

ARTICLES = [
    ("a", "Bank profits rise", f"The bank's profits rose. {LONG_WORD} and the bank said profits would rise again."),
    ("b", "Having the last word", f"It was the {LONG_WORD} {LONG_WORD} of them all: haves and have-nots, the bank."),
    ("c", "Nothing here", "A story about rain and wind in the hills, then more rain."),
    ("d", "Rain, rain and bank", "Rain fell. The bank of the river broke; banks downstream flooded in the rain."),
    ("e", "The Prime Minister's plan", "The prime minister said the plan for the bank was the plan he had."),
]
MORE = [
    ("f", "Profits", f"{LONG_WORD}. Profits at the bank. Profit warnings, rising profits, a rise."),
    ("g", "Wind farms", "Wind and rain: the minister's wind farm plan for the hills."),
]
QUERIES = ["bank profits", "rain wind hills", '"prime minister" plan', "have haves", "bank river flood rain",
           "profit rise warning", "the bank", "profit* rain", "minister wind plan bank"]


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    """Two segments: the second added by an update."""
    root = tmp_path_factory.mktemp("rerank_text")
    corpus, index = root / "corpus", root / "index"
    for name, title, body in ARTICLES:
        write_article(corpus, f"{name}.txt", title, body)
    build_index([corpus], index)
    for name, title, body in MORE:
        write_article(corpus, f"{name}.txt", title, body)
    build_index([corpus], index)
    return index


def _reference_share(searcher, concepts, weights, docnum) -> float:
    """The lead share from the index's postings: every segment's matchers, walked to the end."""
    concept_weights = [max((weights.get(text, 0.0) for _, text in concept.iter_all_terms()), default=0.0)
                       for concept in concepts]
    total = sum(concept_weights)
    if total <= 0:
        return 0.0
    best = 0.0
    for fieldname in RANKING.lead_fields:
        share = 0.0
        for concept, weight in zip(concepts, concept_weights):
            if weight <= 0:
                continue
            spots: set[int] = set()
            for name, text in concept.iter_all_terms():
                if name != fieldname:
                    continue
                for subsearcher, offset in searcher.leaf_searchers():
                    reader = subsearcher.reader()
                    if (fieldname, text) not in reader:
                        continue
                    matcher = reader.postings(fieldname, text)
                    while matcher.is_active():
                        if matcher.id() + offset == docnum:
                            spots.update(matcher.value_as("positions"))
                        matcher.next()
            if spots:
                share += lead_term(weight, sorted(spots), RANKING)
        best = max(best, share / total)
    return best


@pytest.mark.parametrize("query", QUERIES)
def test_lead_shares_from_the_text_equal_the_index_positions(index_path, query):
    with open_index(index_path) as index, index._using() as snapshot:
        searcher = snapshot.searcher
        assert len(searcher.leaf_searchers()) == 2
        compiled = QueryCompiler(searcher.reader(), snapshot.vocabulary, snapshot.written).compile(parse(query))
        weights = compiled.weights
        lead = _LeadTerms.of(searcher, compiled.concepts, weights, RANKING)
        assert lead is not None
        nonzero = 0
        for docnum in range(searcher.doc_count_all()):
            stored = searcher.stored_fields(docnum)
            expected = _reference_share(searcher, compiled.concepts, weights, docnum)
            assert lead.share(stored, {}) == expected, (query, stored["id"])
            # As ``rank_candidates`` calls it: the body scanned once, for more terms than the lead's.
            body = stored.get("body", "")
            termless: list[int] = []
            wanted = query_terms(passage_query_for(compiled)) | lead.wanted("body") | {"rain", "the"}
            found = find_terms(body, wanted, termless)
            assert lead.share(stored, {"body": (found, termless)}) == expected, (query, stored["id"])
            nonzero += expected > 0
        assert nonzero


def _reference_find_terms(text, wanted, termless):
    """Token by token, as ``analyze`` reads a text."""
    found = []
    position = 0
    for match in TOKEN_PATTERN.finditer(text):
        term = _QUERY_FILTER.term(match.group())
        if term:
            if term in wanted:
                found.append((position, term, match.start(), match.end()))
            position += 1
        else:
            termless.append(position)
    return found


def _texts():
    rng = random.Random(3)
    words = ("bank banks banking the of U.S. e.g. 3,800 15.8m don't O'Brien's café CAFÉ naïve \u00bd "
             f"profit profits {LONG_WORD} x\u0301 \u2019s rose rising risen ok").split()
    yield ""
    yield "   ...   "
    yield LONG_WORD
    for _, title, body in ARTICLES + MORE:
        yield f"{title}\n\n{body}"
    for size in (10, 300, 3000):
        yield " ".join(rng.choice(words) for _ in range(size))
        yield "\n\t".join(rng.choice(words) for _ in range(size))


@pytest.mark.parametrize("wanted", [set(), {"bank"}, {"bank", "profit", "rose", "3,800", "u.s", "cafe", "obrien"},
                                    {"", "the", "of", "rise", "naiv", "15.8m", "x"}])
def test_find_terms_equals_reading_token_by_token(wanted):
    for text in _texts():
        termless: list[int] = []
        expected_termless: list[int] = []
        assert find_terms(text, wanted, termless) == _reference_find_terms(text, wanted, expected_termless)
        assert termless == expected_termless
        assert find_terms(text, wanted) == _reference_find_terms(text, wanted, [])


def test_termless_positions_count_as_the_index_counts_them():
    termless: list[int] = []
    found = find_terms(f"one {LONG_WORD} two {LONG_WORD} {LONG_WORD} three", {"one", "two", "three"}, termless)
    assert [position for position, *_ in found] == [0, 1, 2]
    assert termless == [1, 2, 2]  # before "two", and twice before "three": index positions 0, 2, 5


@pytest.mark.parametrize("query", [
    PassageQuery({"bank": 1.0, "profit": 2.0}),
    PassageQuery({"rain": 1.0}, phrases=(("bank", "river"),), phrase_only=frozenset({"river"})),
    PassageQuery({"plan": 0.5, "prime": 1.0, "minist": 1.5}, phrases=(("prime", "minist"),), phrase_slop=(1,)),
])
def test_passages_from_a_wider_scan_are_the_same(query):
    for _, title, body in ARTICLES + MORE:
        text = f"{title}\n\n{body}\n\n{body}"
        wider = find_terms(text, query_terms(query) | {"the", "wind", "rise", "flood"})
        for count, max_chars in ((1, 300), (3, 40), (2, 80)):
            assert (best_passages(text, query, count=count, max_chars=max_chars, found=wider)
                    == best_passages(text, query, count=count, max_chars=max_chars))
