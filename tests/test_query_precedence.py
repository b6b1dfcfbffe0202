"""Operator precedence (README, "Query language"; issue #12 item 1).

Every row of the precedence table and every query of the issue is checked against brute force:
the table evaluated, by a parser of its own written here, on the analysed stored texts (title
and body) of a small corpus the test writes; then random boolean queries (hypothesis) are
checked the same way. On the BBC corpus, when present, the issue's queries return exactly the
articles of ``blair -brown``.

The brute force implements the table, not newsearch's parser:

* a bracket level is alternatives joined by OR; each alternative is a juxtaposition of AND
  chains; a chain is unary operands joined by AND; a unary operand is ``+x``, ``-x``,
  ``NOT x`` or ``x``, where x is a word, a phrase or a bracket group;
* a lone ``+x`` / ``-x`` / ``NOT x`` (not an AND operand) is required / excluded at its whole
  level, across any OR; the operands of AND are required (``NOT``/``-``: excluded) in their
  alternative; a lone plain ``x`` "should" match;
* a clause list matches: all required ones if there are any (the rest only rank), else any of
  the "should" ones; minus the excluded ones. With several alternatives, their union is one
  "should" of the level;
* a bracket group of only exclusions means "none of these" where it is required (``+`` or an
  AND operand); anywhere else, as an OR alternative, or as the whole query, it is refused.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.corpora import write_article

from newsearch import QueryError, build_index, open_index
from newsearch.analysis import analyze, fold

# -- the fixture corpus --------------------------------------------------------------------

# The words queried, and the forms the articles write them in ("budgetary" is another stem:
# only `budg*` finds it). No two are within two typing errors, none is a stopword.
FORMS = {
    "blair": ["Blair", "Blair's"],
    "brown": ["Brown", "Brown's", "browns"],
    "howard": ["Howard", "Howard's"],
    "budget": ["budget", "budgets", "budgetary"],
    "pension": ["pension", "pensions"],
    "iraq": ["Iraq"],
}
PHRASES = {"gordon brown": "Gordon Brown", "tony blair": "Tony Blair"}
DECOYS = ["Gordon said that Brown", "Brown met Gordon", "Blair thanked Tony"]  # the phrase's words, not the phrase
FILLER = [
    "The committee met on Tuesday to discuss the plans.",
    "Officials said a decision would follow next month.",
    "Critics called the proposal a missed opportunity.",
    "Local councils welcomed the extra money for schools.",
]
ARTICLE_COUNT = 24


def fixture_articles() -> list[tuple[str, str, str]]:
    """(name, title, body): each article writes a random subset of the words, in random forms."""
    rng = random.Random(12)
    articles = []
    for number in range(ARTICLE_COUNT):
        chosen = [word for word in FORMS if rng.random() < 0.45]
        parts = [rng.choice(FILLER)]
        for word in chosen:
            parts.append(f"{rng.choice(FILLER)[:-1]}, {rng.choice(FORMS[word])} said.")
        for phrase in PHRASES.values():
            if rng.random() < 0.25:
                parts.append(f"{phrase} spoke.")
        if rng.random() < 0.3:
            parts.append(f"{rng.choice(DECOYS)} again.")
        rng.shuffle(parts)
        in_title = [word for word in chosen if rng.random() < 0.3]
        title = " ".join(["News", *(FORMS[word][0] for word in in_title)])
        articles.append((f"a{number:02d}.txt", title, " ".join(parts)))
    return articles


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precedence_corpus")
    for name, title, body in fixture_articles():
        write_article(folder, name, title, body)
    path = tmp_path_factory.mktemp("precedence_index") / "index"
    build_index([folder], path)
    with open_index(path) as opened:
        yield opened


@pytest.fixture(scope="module")
def brute(index):
    ids = [f"a{number:02d}.txt" for number in range(ARTICLE_COUNT)]
    return Brute([StoredArticle.of(index.document(id)) for id in ids])


def found(index, query: str) -> set[str]:
    """The ids ``query`` finds, every copy included."""
    results = index.search(query, limit=1000, collapse=False, passages=0)
    ids = {hit.id for hit in results.hits}
    assert results.total == len(ids)
    return ids


# -- brute force ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredArticle:
    id: str
    fields: dict[str, list[tuple[str, str]]]  # field -> (term, folded surface) of each token, in order

    @classmethod
    def of(cls, document) -> StoredArticle:
        return cls(document.id, {name: [(term, fold(text[start:end])) for term, start, end in analyze(text)]
                                 for name, text in (("title", document.title), ("body", document.body))})

    def tokens(self, field: str | None) -> list[list[tuple[str, str]]]:
        return [self.fields[field]] if field else list(self.fields.values())


class Refused(Exception):
    """newsearch must refuse the query (QueryError)."""


@dataclass(frozen=True)
class OnlyExcludes:
    """A bracket group of only exclusions: what it excludes."""

    excluded: frozenset[str]


Meaning = frozenset[str] | OnlyExcludes

_TOKEN = re.compile(r'\s*(?:(?P<close>\))|(?P<mod>[+-]?)(?:(?P<open>\()|"(?P<phrase>[^"]*)"|(?P<word>[^\s()"]+)))')


@dataclass
class _Token:
    kind: str  # "open", "close", "phrase", "word" or an operator: "AND", "OR", "NOT"
    mod: str = ""
    text: str = ""


def _tokens(query: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(query):
        if match.group("close"):
            tokens.append(_Token("close"))
        elif match.group("open"):
            tokens.append(_Token("open", match.group("mod")))
        elif match.group("phrase") is not None:
            tokens.append(_Token("phrase", match.group("mod"), match.group("phrase")))
        elif match.group("word"):
            word = match.group("word")
            operator = word in ("AND", "OR", "NOT") and not match.group("mod")
            tokens.append(_Token(word if operator else "word", match.group("mod"), word))
    return tokens


class Brute:
    """The precedence table evaluated over the stored articles."""

    def __init__(self, articles: list[StoredArticle]) -> None:
        self.articles = articles

    def ids(self, query: str) -> frozenset[str]:
        """The ids ``query`` must find; raises Refused when it must be refused."""
        self.tokens, self.pos = _tokens(query), 0
        meaning = self.level()
        if isinstance(meaning, OnlyExcludes):
            raise Refused(query)
        return meaning

    # -- the grammar: level := alternative ("OR" alternative)*, alternative := chain*,
    #    chain := unary ("AND" unary)*, unary := ["+" | "-" | "NOT"] atom

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def level(self) -> Meaning:
        wide_required: list[Meaning] = []
        wide_excluded: list[Meaning] = []
        alternatives: list[list[list[tuple[str, Meaning]]]] = [[]]
        while (token := self.peek()) is not None and token.kind != "close":
            if token.kind == "OR":
                self.pos += 1
                alternatives.append([])
                continue
            chain = self.chain()
            if len(chain) == 1 and chain[0][0]:
                (wide_required if chain[0][0] == "+" else wide_excluded).append(chain[0][1])
            else:
                alternatives[-1].append(chain)
        return self.combine(wide_required, wide_excluded, [alternative for alternative in alternatives if alternative])

    def chain(self) -> list[tuple[str, Meaning]]:
        operands = [self.unary()]
        while (token := self.peek()) is not None and token.kind == "AND":
            self.pos += 1
            operands.append(self.unary())
        return operands

    def unary(self) -> tuple[str, Meaning]:
        token = self.peek()
        assert token is not None
        sign = token.mod
        if token.kind == "NOT":
            self.pos += 1
            sign, token = "-", self.peek()
            assert token is not None and not token.mod
        self.pos += 1
        if token.kind == "open":
            meaning = self.level()
            if (closing := self.peek()) is not None and closing.kind == "close":
                self.pos += 1
            return sign, meaning
        return sign, self.atom(token)

    # -- meaning

    def combine(self, wide_required, wide_excluded, alternatives) -> Meaning:
        everything = frozenset(article.id for article in self.articles)
        lengths = [len(chain) for alternative in alternatives for chain in alternative]
        if not wide_required and not wide_excluded and lengths == [1]:
            sign, meaning = alternatives[0][0][0]
            if not sign and isinstance(meaning, OnlyExcludes):
                return meaning  # `((NOT b))`: brackets around a group of exclusions
        required: list[frozenset[str]] = []
        excluded: list[frozenset[str]] = []
        self.sort(wide_required, "+", required, excluded)
        self.sort(wide_excluded, "-", required, excluded)
        options = []
        for alternative in alternatives:
            own_required: list[frozenset[str]] = []
            own_excluded: list[frozenset[str]] = []
            should: list[frozenset[str]] = []
            for chain in alternative:
                if len(chain) == 1 and not chain[0][0]:
                    if isinstance(chain[0][1], OnlyExcludes):
                        raise Refused("a group of only exclusions that is not required")
                    should.append(chain[0][1])
                    continue
                for sign, meaning in chain:
                    self.sort([meaning], "-" if sign == "-" else "+", own_required, own_excluded)
            options.append((own_required, should, own_excluded))
        if len(options) == 1:  # one alternative: its clauses are the level's
            own_required, should, own_excluded = options[0]
            required, excluded = required + own_required, excluded + own_excluded
        else:
            should = []
            for own_required, own_should, own_excluded in options:
                if not own_required and not own_should:
                    raise Refused("an alternative of only exclusions")
                matched = frozenset.intersection(*own_required) if own_required else frozenset().union(*own_should)
                should.append(matched - frozenset().union(*own_excluded))
            should = [frozenset().union(*should)] if should else []
        if not required and not should:
            if excluded:
                return OnlyExcludes(frozenset().union(*excluded))
            raise Refused("nothing to search for")
        positive = frozenset.intersection(*required) if required else frozenset().union(*should)
        return (positive - frozenset().union(*excluded)) & everything

    @staticmethod
    def sort(meanings, sign, required, excluded) -> None:
        for meaning in meanings:
            if isinstance(meaning, OnlyExcludes):
                if sign == "-":
                    raise Refused("an excluded group of only exclusions")
                excluded.append(meaning.excluded)  # required to have none of them
            else:
                (excluded if sign == "-" else required).append(meaning)

    def atom(self, token: _Token) -> frozenset[str]:
        field, text = None, token.text
        if ":" in text:
            field, text = text.split(":", 1)
        if token.kind == "phrase":
            wanted = [term for term, _, _ in analyze(text)]
            return frozenset(article.id for article in self.articles
                             if any(_holds(tokens, wanted) for tokens in article.tokens(field)))
        if text.endswith("*"):
            prefix = fold(text[:-1])
            stems = {term for article in self.articles for tokens in article.tokens(field)
                     for term, surface in tokens if surface.startswith(prefix)}
        elif text.endswith("~"):
            typed = fold(text[:-1])
            stems = {term for article in self.articles for tokens in article.tokens(field)
                     for term, surface in tokens if _edits(surface, typed) <= 1}
            stems |= {term for term, _, _ in analyze(text[:-1])}
        else:
            stems = {term for term, _, _ in analyze(text)}
        return frozenset(article.id for article in self.articles
                         if any(term in stems for tokens in article.tokens(field) for term, _ in tokens))


def _holds(tokens: list[tuple[str, str]], wanted: list[str]) -> bool:
    terms = [term for term, _ in tokens]
    return any(terms[at:at + len(wanted)] == wanted for at in range(len(terms) - len(wanted) + 1))


def _edits(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def check(index, brute: Brute, query: str) -> None:
    """newsearch finds exactly what the table says, or refuses what it refuses."""
    try:
        expected = brute.ids(query)
    except Refused:
        with pytest.raises(QueryError):
            index.search(query, limit=1000, collapse=False, passages=0)
        return
    assert found(index, query) == set(expected), query


# -- the fixture corpus is what the tests need ---------------------------------------------


def test_every_word_and_phrase_is_in_some_articles_but_not_all(brute):
    for query in [*FORMS, *(f'"{phrase}"' for phrase in PHRASES), "budgetary", "budgets", "gordon"]:
        assert 0 < len(brute.ids(query)) < ARTICLE_COUNT, query
    assert brute.ids("brown") - brute.ids('"gordon brown"')  # Brown without Gordon before him
    assert brute.ids("gordon") & brute.ids("brown") - brute.ids('"gordon brown"')  # both, not as the phrase
    assert brute.ids("budg*") > brute.ids("budget")  # "budgetary" is another stem
    assert brute.ids("title:blair") < brute.ids("blair")


# -- every row of the table ------------------------------------------------------------------

TABLE = [
    # ( ) a group, evaluated first
    "(blair OR brown) AND howard",
    "blair AND (brown OR howard)",
    "(blair howard) -brown",
    "((blair))",
    # atoms
    '"gordon brown"', 'title:blair', 'budg*', 'howard~', '"tony blair" OR title:howard',
    # +x, -x, NOT x: at their whole bracket level, across any OR
    "+blair howard", "blair -brown", "blair NOT brown", '-"gordon brown" blair',
    "blair OR howard -brown", "blair OR howard NOT brown", "-brown blair OR howard",
    "blair OR +howard", "blair OR howard +iraq", "blair OR howard -brown -pension",
    "(blair OR howard -brown) OR iraq", "iraq (blair OR howard -brown)",
    "blair OR -(brown OR pension)", "blair +(brown OR pension)",
    # AND: tighter than OR; AND NOT / AND - exclude; AND + requires
    "blair AND brown", "blair AND NOT brown", "blair AND -brown", "blair AND +brown",
    "blair OR brown AND NOT howard", "blair OR brown AND howard", "blair AND brown OR howard AND iraq",
    "-blair AND brown", "NOT blair AND brown OR iraq", "blair howard AND NOT brown",
    # juxtaposition: any of them
    "blair brown", "blair brown howard", "blair brown OR iraq pension",
    # OR: alternatives
    "blair OR brown", "blair OR brown OR iraq",
    # a bracket group of only exclusions, required: none of these
    "blair AND (NOT brown)", "blair AND NOT (brown OR howard)", "blair +(-brown -pension)",
    "(NOT brown) AND blair", "blair AND ((NOT brown))", "iraq OR blair AND (-brown -howard)",
    # refused: nothing positive
    "-blair", "NOT blair", "-blair -brown", "blair OR (NOT brown)", "blair (NOT brown)",
    "blair -(NOT brown)", "NOT (blair OR brown)",
]

ISSUE = [
    "blair AND NOT brown", "blair AND -brown", "(blair AND NOT brown)", 'blair AND NOT "gordon brown"',
    "blair AND howard AND NOT brown", "blair AND (NOT brown)", "blair OR howard -brown", "blair howard -brown",
]


@pytest.mark.parametrize("query", TABLE + ISSUE)
def test_table_rows_match_brute_force(index, brute, query):
    check(index, brute, query)


@pytest.mark.parametrize("query, same_as", [
    ("blair AND NOT brown", "blair -brown"),
    ("blair AND -brown", "blair -brown"),
    ("(blair AND NOT brown)", "blair -brown"),
    ("blair AND (NOT brown)", "blair -brown"),
    ('blair AND NOT "gordon brown"', 'blair -"gordon brown"'),
    ("blair AND howard AND NOT brown", "+blair +howard -brown"),
    ("blair OR howard -brown", "blair howard -brown"),
    ("blair OR howard -brown", "(blair OR howard) -brown"),
    ("blair OR brown AND NOT howard", "blair OR (brown AND NOT howard)"),
    ("blair AND NOT (brown OR howard)", "blair -brown -howard"),
    ("kursk OR -blair", "kursk -blair"),
])
def test_the_table_says_these_are_the_same(index, brute, query, same_as):
    assert found(index, query) == found(index, same_as)
    assert brute.ids(query) == brute.ids(same_as)


def test_and_not_excludes_and_is_not_highlighted(index):
    results = index.search("blair AND NOT brown", limit=1000, collapse=False)
    assert results.hits
    for hit in results.hits:
        for passage in hit.passages:
            marked = {passage.text[start:end].lower() for start, end in passage.highlights}
            assert not any(word.startswith("brown") for word in marked), passage


# -- random boolean queries ------------------------------------------------------------------

WORDS = st.sampled_from(["blair", "brown", "howard", "budget", "pension", "iraq", "budgets", "Brown",
                         "title:blair", "title:brown", "budg*"])
PHRASE_ATOMS = st.sampled_from(['"gordon brown"', '"tony blair"'])
SIGNS = st.sampled_from(["", "", "", "+", "-", "NOT "])


def queries(atoms: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    unary = st.builds(lambda sign, atom: sign + atom, SIGNS, atoms)
    chain = st.lists(unary, min_size=1, max_size=3).map(" AND ".join)
    alternative = st.lists(chain, min_size=1, max_size=3).map(" ".join)
    return st.lists(alternative, min_size=1, max_size=3).map(" OR ".join)


ATOMS = st.recursive(WORDS | PHRASE_ATOMS, lambda inner: queries(inner).map(lambda query: f"({query})"),
                     max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries(ATOMS))
def test_random_boolean_queries_match_brute_force(index, brute, query):
    check(index, brute, query)


# -- the BBC corpus --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bbc(bbc_index):
    """The session's BBC index (conftest), opened once for this module."""
    with open_index(bbc_index.path) as opened:
        yield opened


@pytest.mark.parametrize("query", ["blair AND NOT brown", "blair AND -brown", "(blair AND NOT brown)",
                                   "blair AND (NOT brown)"])
def test_bbc_and_not_is_an_exclusion(bbc, query):
    expected = found(bbc, "blair -brown")
    assert expected == found(bbc, "blair") - found(bbc, "brown")
    assert len(expected) == 124  # the issue's 125 counted an article with Brown (Whoosh's AndNot, #419)
    assert found(bbc, query) == expected


def test_bbc_exclusion_applies_across_or(bbc):
    assert found(bbc, "blair OR howard -brown") == found(bbc, "blair howard -brown")
    assert found(bbc, 'blair AND NOT "gordon brown"') == found(bbc, 'blair -"gordon brown"')
    assert found(bbc, "blair AND howard AND NOT brown") == found(bbc, "+blair +howard -brown")
