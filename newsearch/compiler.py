"""Query syntax tree -> Whoosh query, against one index reader.

Every word becomes concrete index terms here: prefixes and fuzzy words are
expanded to at most ``MAX_EXPANSIONS`` indexed terms (most frequent first), so
the cost of a query is known before it runs; a word the index has never seen is
also searched as its closest indexed spellings (typo correction).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from whoosh import query as wq
from whoosh.reading import IndexReader
from whoosh.support.levenshtein import distance as edit_distance

from newsearch.analysis import STOPWORDS, fold, term_for, terms
from newsearch.errors import QueryError
from newsearch.query import AnyOf, DateRange, Group, Node, Phrase, Word

TITLE_BOOST = 2.0
MAX_EXPANSIONS = 64
MAX_TYPO_SPELLINGS = 3
MIN_TYPO_LENGTH = 4
TYPO_BOOST = 0.6  # a corrected spelling counts a little less than what was typed
EXPANSION_TIME_S = 0.5
TEXT_FIELDS = ("title", "body")
UNSTEMMED_FIELDS = ("source", "author", "tag")


@dataclass
class Concept:
    """One positive clause of the query: a document covers it when it holds any of its terms."""

    pairs: frozenset[tuple[str, str]]  # (field, term)


@dataclass
class CompiledQuery:
    query: wq.Query
    concepts: list[Concept] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)  # body term -> idf, for passages
    phrases: list[tuple[str, ...]] = field(default_factory=list)
    phrase_slop: list[int] = field(default_factory=list)
    expansions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # typed word -> spellings also searched
    unknown: list[str] = field(default_factory=list)  # typed words the index has never seen


class QueryCompiler:
    """Compiles one parsed query against one reader."""

    def __init__(self, reader: IndexReader) -> None:
        self.reader = reader
        self.result = CompiledQuery(wq.NullQuery)
        self.deadline = time.monotonic() + EXPANSION_TIME_S

    def compile(self, node: Node) -> CompiledQuery:
        self.result.query = self._node(node) or wq.NullQuery
        return self.result

    # -- structure -------------------------------------------------------------------------

    def _node(self, node: Node) -> wq.Query | None:
        if isinstance(node, AnyOf):
            parts = [q for q in (self._node(group) for group in node.groups) if q is not None]
            return wq.Or(parts) if parts else None
        if isinstance(node, Group):
            return self._group(node)
        if isinstance(node, DateRange):
            return _date_query(node)
        if isinstance(node, Phrase):
            return self._phrase(node)
        return self._word(node)

    def _group(self, group: Group) -> wq.Query | None:
        clauses = list(group.clauses)
        # Stopwords are left out of plain word lists ("the cost of living" -> cost living),
        # unless the query has nothing else.
        plain = [c for c in clauses if c.occur == "should" and isinstance(c.node, Word) and c.node.field is None
                 and not c.node.prefix and not c.node.fuzzy]
        stops = [c for c in plain if fold(c.node.text) in STOPWORDS]  # type: ignore[union-attr]
        if stops and len(stops) < len(clauses):
            clauses = [c for c in clauses if c not in stops]
        must, should, must_not = [], [], []
        for clause in clauses:
            compiled = self._node(clause.node)
            if compiled is None:
                continue
            if clause.occur == "not":
                must_not.append(compiled)
            elif clause.occur == "must" or isinstance(clause.node, DateRange):
                must.append(compiled)
            else:
                should.append(compiled)
        if not must and not should:
            if must_not:
                raise QueryError("the query only excludes words; add a word to search for")
            return None
        positive: wq.Query
        if must and should:
            positive = wq.AndMaybe(_all(must), _any(should))
        elif must:
            positive = _all(must)
        else:
            positive = _any(should)
        return wq.AndNot(positive, _any(must_not)) if must_not else positive

    # -- leaves ----------------------------------------------------------------------------

    def _fields(self, fieldname: str | None) -> list[tuple[str, float]]:
        if fieldname is None:
            return [("title", TITLE_BOOST), ("body", 1.0)]
        return [(fieldname, 1.0)]

    def _word(self, word: Word) -> wq.Query | None:
        stem = word.field is None or word.field in TEXT_FIELDS
        word_terms = terms(word.text, stem=stem)
        if not word_terms:
            return None
        if len(word_terms) > 1:  # "north-korean", "e-mail": the parts as a phrase
            return self._phrase(Phrase(word.text, word.field))
        term = word_terms[0]
        if word.prefix:
            candidates = self._expand_prefix(fold(word.text), stem, word.field)
        elif word.fuzzy:
            candidates = self._spellings(fold(word.text), word.fuzzy, stem, word.field, limit=MAX_EXPANSIONS,
                                         nearest_only=False)
            candidates = [(term, 1.0)] + [(c, 1.0) for c, _ in candidates if c != term]
        else:
            candidates = [(term, 1.0)]
            if stem and not self._known(term, word.field) and len(fold(word.text)) >= MIN_TYPO_LENGTH \
                    and not any(c.isdigit() for c in term):
                self.result.unknown.append(word.text)
                spellings = self._spellings(fold(word.text), 2, stem, word.field, limit=MAX_TYPO_SPELLINGS)
                if spellings:
                    self.result.expansions[word.text] = tuple(surface for _, surface in spellings)
                    candidates += [(c, TYPO_BOOST) for c, _ in spellings if c != term]
        return self._terms_query(candidates, word.field)

    def _terms_query(self, candidates: list[tuple[str, float]], fieldname: str | None) -> wq.Query | None:
        if not candidates:
            return None
        subqueries = []
        pairs = set()
        for field_name, field_boost in self._fields(fieldname):
            for term, boost in candidates:
                subqueries.append(wq.Term(field_name, term, boost=field_boost * boost))
                pairs.add((field_name, term))
        for term, _ in candidates:
            self._weigh(term)
        self.result.concepts.append(Concept(frozenset(pairs)))
        return _any(subqueries)

    def _phrase(self, phrase: Phrase) -> wq.Query | None:
        stem = phrase.field is None or phrase.field in TEXT_FIELDS
        phrase_terms = terms(phrase.text, stem=stem)
        if not phrase_terms:
            return None
        if len(phrase_terms) == 1:
            return self._terms_query([(phrase_terms[0], 1.0)], phrase.field)
        subqueries = [wq.Phrase(name, phrase_terms, slop=phrase.slop + 1, boost=boost)
                      for name, boost in self._fields(phrase.field)]
        for term in phrase_terms:
            self._weigh(term)
        self.result.phrases.append(tuple(phrase_terms))
        self.result.phrase_slop.append(phrase.slop)
        self.result.concepts.append(Concept(frozenset(
            (name, term) for name, _ in self._fields(phrase.field) for term in phrase_terms)))
        return _any(subqueries)

    # -- vocabulary ------------------------------------------------------------------------

    def _known(self, term: str, fieldname: str | None) -> bool:
        names = TEXT_FIELDS if fieldname is None else (fieldname,)
        return any(self.reader.doc_frequency(name, term) > 0 for name in names)

    def _weigh(self, term: str) -> None:
        if term not in self.result.weights:
            self.result.weights[term] = _idf(self.reader, term)

    def _expand_prefix(self, prefix: str, stem: bool, fieldname: str | None) -> list[tuple[str, float]]:
        """Indexed words starting with ``prefix`` (unstemmed), most frequent first, as index terms."""
        source_field = "words" if stem else fieldname
        found: list[tuple[int, str]] = []
        for raw in self.reader.expand_prefix(source_field, prefix):
            word = raw.decode("utf-8")
            found.append((self.reader.doc_frequency(source_field, word), word))
            if len(found) % 256 == 0 and time.monotonic() > self.deadline:
                break
        found.sort(key=lambda item: (-item[0], item[1]))
        expanded: dict[str, float] = {}
        for _, word in found:
            expanded.setdefault(term_for(word, stem) if stem else word, 1.0)
            if len(expanded) >= MAX_EXPANSIONS:
                break
        return list(expanded.items())

    def _spellings(self, word: str, maxdist: int, stem: bool, fieldname: str | None, limit: int,
                   nearest_only: bool = True) -> list[tuple[str, str]]:
        return closest_spellings(self.reader, "words" if stem else fieldname or "words", word, maxdist,
                                 limit=limit, stem=stem, nearest_only=nearest_only, deadline=self.deadline)


def closest_spellings(reader: IndexReader, fieldname: str, word: str, maxdist: int, *, limit: int,
                      stem: bool = True, nearest_only: bool = True,
                      deadline: float | None = None) -> list[tuple[str, str]]:
    """Indexed words of ``fieldname`` within ``maxdist`` edits of ``word``, nearest then most frequent.

    Returns (index term, surface word) pairs: the term is stemmed when ``stem``.
    The first letter is taken as typed (few typing errors are there), which keeps
    the scan to one slice of the vocabulary; ``deadline`` bounds it in time.
    """
    deadline = time.monotonic() + EXPANSION_TIME_S if deadline is None else deadline
    scored: list[tuple[int, int, str]] = []
    for raw in reader.expand_prefix(fieldname, word[:1]):
        candidate = raw.decode("utf-8")
        if candidate != word and abs(len(candidate) - len(word)) <= maxdist:
            found = edit_distance(candidate, word, limit=maxdist)
            if found <= maxdist:
                scored.append((found, -reader.doc_frequency(fieldname, candidate), candidate))
        if len(scored) % 64 == 0 and time.monotonic() > deadline:
            break
    scored.sort()
    nearest = scored[0][0] if scored else 0
    result: dict[str, str] = {}
    for found, _, candidate in scored:
        if nearest_only and found > nearest:
            break  # for typo correction, nearer spellings win outright
        result.setdefault(term_for(candidate, stem) if stem else candidate, candidate)
        if len(result) >= limit:
            break
    return list(result.items())


def _idf(reader: IndexReader, term: str) -> float:
    docs = max(reader.doc_count(), 1)
    frequency = reader.doc_frequency("body", term) or reader.doc_frequency("title", term)
    return math.log(1 + (docs - frequency + 0.5) / (frequency + 0.5))


def _any(queries: list[wq.Query]) -> wq.Query:
    return queries[0] if len(queries) == 1 else wq.Or(queries)


def _all(queries: list[wq.Query]) -> wq.Query:
    return queries[0] if len(queries) == 1 else wq.And(queries)


def _date_query(node: DateRange) -> wq.Query:
    return wq.DateRange("published", _naive(node.start), _naive(node.end), endexcl=True)


def _naive(value: datetime | None) -> datetime | None:
    """Whoosh stores naive UTC datetimes."""
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value else None


def date_filter(since: datetime | None, until: datetime | None) -> wq.Query | None:
    """The --since/--until filter (since inclusive, until exclusive)."""
    if since is None and until is None:
        return None
    return _date_query(DateRange(since, until))
