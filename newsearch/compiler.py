"""Query syntax tree -> Whoosh query, against one index reader.

Every word becomes concrete index terms here: prefixes and fuzzy words are
expanded to at most ``MAX_EXPANSIONS`` indexed terms (most frequent first), so
the cost of a query is known before it runs. A word no article holds is searched
as a spelling one edit away only when that correction is confident
(``_confident``; see the README, "When a typo is corrected"); otherwise it is
searched as typed, and recorded as not found with the near spellings to suggest.

Besides the Whoosh query, the compiler says how it built it, so that candidate scoring
(``candidates``) never has to recognise query shapes: each word or phrase typed is a
``ConceptParts`` (its term queries, or its phrases with their terms and distances), and
``concepts_are_plain`` says whether the query is exactly the disjunction of the concepts
(and its all-words variant their conjunction), the case the one-pass collection serves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple

from whoosh import matching
from whoosh import query as wq
from whoosh.query.spans import SpanNear2
from whoosh.reading import IndexReader
from whoosh.support.levenshtein import distance as edit_distance

from newsearch.analysis import (
    STOPWORDS,
    analyze,
    find_terms,
    fold,
    is_stopword,
    stop_grams,
    stop_terms,
    term_for,
    terms,
)
from newsearch.errors import QueryError
from newsearch.query import AnyOf, Clause, DateRange, Group, Node, Phrase, Word
from newsearch.schema import SEARCH_FIELDS, STOP_FIELDS
from newsearch.scoring import RANKING, RankingConfig, bm25f_idf
from newsearch.vocabulary import Vocabulary
from newsearch.whoosh_internals import WrappingQueryBase

MAX_EXPANSIONS = 64
MAX_TYPO_SPELLINGS = 3
MIN_TYPO_LENGTH = 4
# A word that was never written in the index but shares its stem with a rare word ("goverment"
# is stemmed as "governess" is) is still corrected when a spelling this much more common is near.
RARE_STEM_DOCUMENTS = 5
COMMONER_BY = 20
# When a correction is confident (``QueryCompiler._confident``). On the BBC corpus, of the words
# written in one article only (new names and words, as an archive meets them), those of 4 letters
# are one edit from a word in 5 or more other articles 65 % of the time, of 6 letters 22 %, of 8
# letters 7 % and of 9 or more 4 %: a short word the archive lacks is rarely a typo of its common
# neighbour (ipad/ipod, musk/must, obama/osama). A word alone is corrected from LONG_TYPO letters
# on; with other words, when an article holds the correction together with them.
LONG_TYPO = 8
COMMON_ARTICLES = 5  # a correction of a word alone must be this common ...
COMMON_SHARE = 0.01  # ... or in this share of the articles (a small archive: one article in 100)
CONTEXT_WORDS = 2  # other words that, held together with a rarer correction, confirm it
EXPANSION_TIME_S = 0.5
TEXT_FIELDS = SEARCH_FIELDS


@dataclass(frozen=True)
class PhraseParts:
    """A phrase in one field as compiled (``_gapped_phrase``): each next term ``mindist[k]``
    to ``maxdist[k]`` positions after the one before, in nested ``SpanNear2`` queries; a
    ``VerifiedPhrase`` around them then checks the stored text. Scored as Whoosh scores
    ``query``: the sum of its terms' scores.

    The phrase's stopwords are not in ``terms`` (the field's positions do not hold them):
    ``required`` are the stopword grams (``analysis.StopGramAnalyzer``) every article with the
    phrase has. A phrase of stopwords only has no ``terms``: its articles are those with every
    gram (then checked against the text when it has more than one word), all scored ``score``."""

    terms: tuple[wq.Term, ...]
    mindist: tuple[int, ...]  # [0] unused
    maxdist: tuple[int, ...]
    query: wq.Query  # as compiled (the span query, or the VerifiedPhrase wrapping it)
    required: tuple[wq.Term, ...] = ()
    score: float = 0.0  # the score of a phrase without terms

    @property
    def verify(self) -> VerifiedPhrase | None:
        return self.query if isinstance(self.query, VerifiedPhrase) else None


ConceptKind = Literal["terms", "phrases", "other"]


@dataclass(frozen=True)
class ConceptParts:
    """How one word or phrase typed was compiled: ``query`` is the sum of ``terms`` (a word:
    its term queries in each field and spelling) or of ``phrases`` (a phrase: one per field)."""

    query: wq.Query
    terms: tuple[wq.Term, ...] = ()
    phrases: tuple[PhraseParts, ...] = ()

    @property
    def kind(self) -> ConceptKind:
        return "terms" if self.terms else "phrases" if self.phrases else "other"


@dataclass
class CompiledQuery:
    query: wq.Query
    # One query per word or phrase the user typed: the ranking counts how many a document matches.
    concepts: list[wq.Query] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)  # body term -> idf, for passages
    phrases: list[tuple[str, ...]] = field(default_factory=list)
    phrase_slop: list[int] = field(default_factory=list)
    words: set[str] = field(default_factory=set)  # terms searched alone, not only inside a phrase
    expansions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # typed word -> spellings also searched
    # Words typed that no article holds, searched as typed (in order), and the near spellings
    # offered for words not corrected ("did you mean"), never searched.
    not_found: list[str] = field(default_factory=list)
    suggestions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    all_words_query: wq.Query | None = None  # for a plain list of words: all of them required
    concept_parts: list[ConceptParts] = field(default_factory=list)  # one per concept, in order
    # The query is exactly the disjunction of the concepts (an unboosted ``Or`` of them in order,
    # or the one concept), and ``all_words_query`` is None or exactly their conjunction.
    concepts_are_plain: bool = False
    # The exact phrases that could be relaxed (quoted, no slop, two words or more, not only
    # stopwords): (text, query), and those compiled relaxed, as their words (see ``unmatched_phrases``).
    exact_phrases: list[tuple[str, wq.Query]] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    timed_out: bool = False  # a prefix or spelling was expanded to fewer words than it has: time ran out


class _Built(NamedTuple):
    """A compiled node, and the concepts it is exactly the disjunction of (None: it is not)."""

    query: wq.Query | None
    disjunction: tuple[wq.Query, ...] | None = None


class QueryCompiler:
    """Compiles one parsed query against one reader."""

    def __init__(self, reader: IndexReader, vocabulary: Callable[[], Vocabulary],
                 written: Callable[[str], bool] | None = None, config: RankingConfig = RANKING,
                 correct: bool = True, relax: Collection[str] = (), deadline: float | None = None) -> None:
        self.reader = reader
        self.config = config
        self.correct = correct  # False: every word is searched as typed (``--exact``)
        self.relax = relax  # the texts of exact phrases to search as their words instead
        self.vocabulary = vocabulary  # loaded only when a query needs it (prefix, fuzzy, typo)
        # Whether a word was ever written in the index; without loading the vocabulary if it can.
        self.written = written or (lambda word: word in self.vocabulary())
        self.result = CompiledQuery(wq.NullQuery)
        self._deadline: float | None = None
        self.deadline = deadline  # the search's (a time.monotonic() value): expansion stops by then too
        # Plain word -> the index terms of the other words of its group (what they describe).
        self._context: dict[int, tuple[str, ...]] = {}
        self._excluding = 0  # inside a clause that must not match: no correction, nothing reported

    def _expansion_deadline(self) -> float:
        """When expanding prefixes and spellings must stop: ``EXPANSION_TIME_S`` after the first
        expansion starts (loading the vocabulary or the stemmer does not count), and never after
        the search's own deadline."""
        if self._deadline is None:
            self._deadline = time.monotonic() + EXPANSION_TIME_S
            if self.deadline is not None:
                self._deadline = min(self._deadline, self.deadline)
        return self._deadline

    def _out_of_time(self) -> bool:
        """Whether expanding must stop now; the compiled query then says it was cut short."""
        if time.monotonic() > self._expansion_deadline():
            self.result.timed_out = True
        return self.result.timed_out

    def compile(self, node: Node) -> CompiledQuery:
        built = self._node(node, top=True)
        self.result.query = built.query or wq.NullQuery
        # Every concept compiled is in the disjunction (none excluded, none in another clause).
        self.result.concepts_are_plain = (built.disjunction is not None
                                          and len(built.disjunction) == len(self.result.concepts) > 0)
        return self.result

    # -- structure -------------------------------------------------------------------------

    def _node(self, node: Node, top: bool = False) -> _Built:
        if isinstance(node, AnyOf):
            built = [b for b in (self._node(group) for group in node.groups) if b.query is not None]
            if not built:
                return _Built(None)
            return _Built(wq.Or([b.query for b in built]), _joined(built) if len(built) > 1 else None)
        if isinstance(node, Group):
            return self._group(node, top)
        if isinstance(node, DateRange):
            return _Built(_date_query(node))
        if isinstance(node, Phrase) and node.slop == 0 and node.text in self.relax:
            return self._relaxed(node)
        query = self._phrase(node, quoted=True) if isinstance(node, Phrase) else self._word(node)
        return _Built(query, (query,) if query is not None else None)  # a leaf: one concept

    def _group(self, group: Group, top: bool = False) -> _Built:
        clauses = list(group.clauses)
        # Stopwords are left out of plain word lists ("the cost of living" -> cost living),
        # unless the query has nothing else.
        stops = [(c, c.node.text) for c in clauses if c.occur == "should" and isinstance(c.node, Word)
                 and c.node.field is None and not c.node.prefix and not c.node.fuzzy and fold(c.node.text) in STOPWORDS]
        if stops and len(stops) < len(clauses):
            stopped = [c for c, _ in stops]
            clauses = [c for c in clauses if c not in stopped]
        elif top and stops:
            words = " ".join(text for _, text in stops)
            raise QueryError(
                f"'{words}' has only very common words, which plain word lists leave out; add a less common word, "
                f"or quote the words to search them as a phrase"
            )
        self._note_context(clauses)
        must, should, must_not, dates = [], [], [], []
        must_built, should_built = [], []
        for clause in clauses:
            built = _Built(self._excluded(clause.node)) if clause.occur == "not" else self._node(clause.node)
            compiled = built.query
            if compiled is None:
                continue
            if clause.occur == "not":
                must_not.append(compiled)
            elif isinstance(clause.node, DateRange):
                dates.append(compiled)  # a date restricts the group, whatever its other words
            elif clause.occur == "must":
                must.append(compiled)
                must_built.append(built)
            else:
                should.append(compiled)
                should_built.append(built)
        if not must and not should and not dates:
            if must_not:
                raise QueryError("the query only excludes words; add a word to search for")
            return _Built(None)
        positive: wq.Query
        if must and should:
            positive = wq.AndMaybe(_all(must), _any(should))
        elif must or should:
            positive = _all(must) if must else _any(should)
        if dates:
            positive = _all(dates + [positive]) if must or should else _all(dates)
        if top and len(should) > 1:
            # The same query with every word required: its top hits are the articles
            # that cover the whole query, which the ranking puts first.
            every = _all(dates + must + should)
            self.result.all_words_query = AndNot(every, _any(must_not)) if must_not else every
        if must_not:
            return _Built(AndNot(positive, _any(must_not)))
        if dates or (must and should) or len(must) > 1:
            return _Built(positive)
        # Only words and phrases that may match, or one that must: one clause passed through
        # as it is, or several joined (if each is one concept) into one disjunction.
        if len(must_built) + len(should_built) == 1:
            return _Built(positive, (must_built or should_built)[0].disjunction)
        return _Built(positive, _joined(should_built))

    def _excluded(self, node: Node) -> wq.Query | None:
        """What an excluded clause matches. Its words are not what the reader looks for: they
        count neither in the ranking nor in passages and highlights (``blair -title:brown``)."""
        result = self.result
        concepts, phrases = len(result.concepts), len(result.phrases)
        weights, words = dict(result.weights), set(result.words)
        self._excluding += 1  # no correction of an excluded word, nor a report of it
        query = self._node(node).query
        self._excluding -= 1
        del result.concepts[concepts:], result.concept_parts[concepts:], result.phrases[phrases:]
        del result.phrase_slop[phrases:]
        result.weights, result.words = weights, words
        return query

    # -- leaves ----------------------------------------------------------------------------

    def _fields(self, fieldname: str | None) -> list[tuple[str, float]]:
        if fieldname is None:
            return [("title", self.config.title_boost), ("body", 1.0)]
        return [(fieldname, 1.0)]

    def _word(self, word: Word) -> wq.Query | None:
        stem = word.field is None or word.field in TEXT_FIELDS
        word_terms = terms(word.text, stem=stem)
        if not word_terms:
            return None
        if len(word_terms) > 1:  # "north-korean", "e-mail": the parts as a phrase
            return self._phrase(Phrase(word.text, word.field))
        term = word_terms[0]
        typed = fold(word.text)
        if word.prefix:
            candidates = [(t, 1.0) for t in self._prefixed(typed, stem, word.field)]
        elif word.fuzzy:
            candidates = [(term, 1.0)] + [(t, 1.0) for t, _ in self._near(typed, word.fuzzy, stem, word.field,
                                                                          MAX_EXPANSIONS, nearest_only=False)
                                          if t != term]
        else:
            candidates = self._with_corrections(word, typed, term) if stem else [(term, 1.0)]
        return self._terms_query(candidates, word.field)

    def _terms_query(self, candidates: list[tuple[str, float]], fieldname: str | None) -> wq.Query | None:
        if not candidates:
            return None
        subqueries = [wq.Term(field_name, term, boost=field_boost * boost)
                      for field_name, field_boost in self._fields(fieldname) for term, boost in candidates]
        for term, _ in candidates:
            self._weigh(term)
        self.result.words.update(term for term, _ in candidates)
        query = _any(subqueries)
        self.result.concepts.append(query)
        self.result.concept_parts.append(ConceptParts(query, terms=tuple(subqueries)))
        return query

    def _phrase(self, phrase: Phrase, quoted: bool = False) -> wq.Query | None:
        """A phrase (``quoted``, or the parts of a hyphenated word): its words in order. Stopwords
        are gaps in the positions of the title and body, so a quoted phrase with stopwords also
        needs their grams (``_exact_phrase``)."""
        stem = phrase.field is None or phrase.field in TEXT_FIELDS
        tokens = list(analyze(phrase.text, stem=stem))
        if not tokens:
            return None
        sequence = tuple(term for term, _, _ in tokens)
        if stem and phrase.slop == 0 and quoted:
            return self._exact_phrase(phrase, sequence)
        # (position in the phrase, term) of the words the index holds
        indexed = [(position, term) for position, (term, start, end) in enumerate(tokens)
                   if not (stem and is_stopword(phrase.text[start:end]))]
        if not indexed:
            raise QueryError(
                f'the phrase "{phrase.text}"~{phrase.slop} has only very common words, whose positions are not '
                f"indexed; remove the ~{phrase.slop} or add a less common word to it"
            )
        if len(indexed) == 1:
            return self._terms_query([(indexed[0][1], 1.0)], phrase.field)
        parts = [_gapped_phrase(name, indexed, phrase.slop, boost) for name, boost in self._fields(phrase.field)]
        if len(indexed) < len(tokens) and phrase.slop == 0:
            # Stopwords are gaps in the index; only the stored text tells "state of
            # the union" from "state of a union".
            parts = [replace(part, query=VerifiedPhrase(part.query, name, sequence))
                     for part, (name, _) in zip(parts, self._fields(phrase.field))]
        subqueries = [part.query for part in parts]
        for _, term in indexed:
            self._weigh(term)
        self.result.phrases.append(sequence)
        self.result.phrase_slop.append(phrase.slop)
        query = _any(subqueries)
        self.result.concepts.append(query)
        self.result.concept_parts.append(ConceptParts(query, phrases=tuple(parts)))
        return query

    def _exact_phrase(self, phrase: Phrase, sequence: tuple[str, ...]) -> wq.Query | None:
        """A quoted phrase in the title or body: exactly its words in order, whatever they are.
        (An unquoted hyphenated word, "on-stage", is still its indexed parts at their distances,
        as the plain words around it leave stopwords out.)

        The words that are not stopwords (by their term: "downs" is "down", a stopword's term)
        are found by their positions, at their distances in the phrase; the stopwords by their
        grams (every stopword, and every two consecutive ones, in the stopword field). Then the
        stored text is checked (the article must hold the exact sequence), unless the index alone
        decides: a phrase without stopwords (positions), or of one stopword (its gram).
        """
        stops = stop_terms()
        anchors = [(position, term) for position, term in enumerate(sequence) if term not in stops]
        if len(sequence) == 1 and anchors:
            return self._terms_query([(sequence[0], 1.0)], phrase.field)
        grams = _required_grams(sequence, stops)
        parts = []
        for name, boost in self._fields(phrase.field):
            required = tuple(wq.Term(STOP_FIELDS[name], gram) for gram in grams)
            if anchors:
                part = _gapped_phrase(name, anchors, 0, boost)
            else:  # stopwords only: a constant score, the IDF of the rarest gram
                score = boost * max(bm25f_idf(self.reader.doc_frequency(term.fieldname, term.text),
                                              max(self.reader.doc_count(), 1)) for term in required)
                part = PhraseParts((), (), (), _all(list(required)), score=score)
            if required:
                verify = len(sequence) > 1  # a phrase of one stopword is its gram
                part = replace(part, required=required, query=VerifiedPhrase(
                    part.query, name, sequence, required=required, verify=verify,
                    score=None if anchors else part.score))
            parts.append(part)
        for _, term in anchors:
            self._weigh(term)
        self.result.phrases.append(sequence)
        self.result.phrase_slop.append(phrase.slop)
        query = _any([part.query for part in parts])
        self.result.concepts.append(query)
        self.result.concept_parts.append(ConceptParts(query, phrases=tuple(parts)))
        if anchors:
            self.result.exact_phrases.append((phrase.text, query))
        return query

    def _relaxed(self, phrase: Phrase) -> _Built:
        """An exact phrase that no article has, searched as its words (stopwords left out, as in
        a plain list): the articles with most of them, closest together, rank first."""
        self.result.relaxed.append(phrase.text)
        words = [Word(phrase.text[start:end], phrase.field) for _, start, end in analyze(phrase.text)]
        return self._group(Group(tuple(Clause("should", word) for word in words)))

    # -- vocabulary ------------------------------------------------------------------------

    def _known(self, term: str, fieldname: str | None) -> bool:
        names = TEXT_FIELDS if fieldname is None else (fieldname,)
        return any(self.reader.doc_frequency(name, term) > 0 for name in names)

    def _with_corrections(self, word: Word, typed: str, term: str) -> list[tuple[str, float]]:
        """(term, boost) to search for a plain word: itself, and for a likely typing error the
        spellings one edit away that ``_confident`` accepts (recorded in ``expansions``).

        A word the index holds anywhere is never rewritten, even if not in the queried field,
        unless it matches only through a rare word's stem and was never written as typed. A word
        no article holds and no spelling corrects is searched as typed and recorded in
        ``not_found``, its near spellings in ``suggestions`` (offered, not searched).
        """
        if self._excluding:
            return [(term, 1.0)]  # excluding a spelling nobody typed would hide articles silently
        documents = self._documents(term)
        if not documents:
            self.result.not_found.append(word.text)
        if len(typed) < MIN_TYPO_LENGTH or not typed.isalpha():
            return [(term, 1.0)]
        if documents and (documents > RARE_STEM_DOCUMENTS or self.written(typed)):
            return [(term, 1.0)]
        # Spellings to offer: one edit away, or two for a long word (a short word is two edits
        # from too many others: walrus/wales, brexit/brit, quokka/quota).
        near = [(spelled, surface) for spelled, surface
                in self._near(typed, 2 if len(typed) >= LONG_TYPO else 1, True, word.field, MAX_TYPO_SPELLINGS,
                              nearest_only=True)
                if spelled != term and self._documents(spelled) >= COMMONER_BY * documents]
        spellings = ([(spelled, surface) for spelled, surface in near
                      if self._confident(word, typed, spelled, surface)] if self.correct else [])
        if not spellings:
            if near:
                self.result.suggestions[word.text] = tuple(surface for _, surface in near)
            return [(term, 1.0)]
        if not documents:
            self.result.not_found.remove(word.text)
        self.result.expansions[word.text] = tuple(surface for _, surface in spellings)
        if not documents:
            return [(term, 1.0)] + [(spelled, self.config.typo_boost) for spelled, _ in spellings]
        # The typed word matched by a coincidence of stems: the common spelling leads, and the
        # rare stem counts as a lesser spelling of it (its rarity is no evidence).
        common = _idf(self.reader, spellings[0][0])
        self.result.weights[term] = self.config.typo_boost * common
        return ([(term, self.config.typo_boost * common / _idf(self.reader, term))]
                + [(spelled, 1.0) for spelled, _ in spellings])

    def _confident(self, word: Word, typed: str, spelled: str, surface: str) -> bool:
        """Whether ``typed`` (no article holds it, or only a much rarer stem) is confidently a
        typing error for ``surface`` (index term ``spelled``, already at least ``COMMONER_BY``
        times commoner): one edit away (a letter added, dropped or changed, or two swapped),
        and either

        * common (in ``COMMON_ARTICLES`` articles, or ``COMMON_SHARE`` of a small archive) and
          ``typed`` at least ``LONG_TYPO`` letters long, with an article holding it together
          with every other word of the query (if any); or
        * held in one article together with every other word of the query, at least
          ``CONTEXT_WORDS`` of them: what the words together describe is there.
        """
        if edit_distance(surface, typed, limit=1) != 1:
            return False
        context = self._context.get(id(word), ())
        documents = self._documents(spelled)
        common = documents >= min(COMMON_ARTICLES, max(1, math.ceil(COMMON_SHARE * self.reader.doc_count())))
        if not (len(context) >= CONTEXT_WORDS or (common and len(typed) >= LONG_TYPO)):
            return False
        return not context or self._held_together((spelled, *context))

    def _held_together(self, terms: tuple[str, ...]) -> bool:
        """Whether one article (not deleted) holds every one of ``terms`` (in its title or body)."""
        together: set[int] | None = None
        for term in sorted(terms, key=self._documents):
            found = set()
            for name in TEXT_FIELDS:
                if self.reader.doc_frequency(name, term):
                    found.update(self.reader.postings(name, term).all_ids())
            together = found if together is None else together & found
            if not together:
                return False
        return any(not self.reader.is_deleted(docnum) for docnum in together or ())

    def _note_context(self, clauses: list[Clause]) -> None:
        """For each plain word of a group, the index terms of the group's other words that
        articles hold (its context: words that may or must match, not exclusions)."""
        words = [c.node for c in clauses if c.occur != "not" and isinstance(c.node, Word)
                 and not c.node.prefix and not c.node.fuzzy and (c.node.field is None or c.node.field in TEXT_FIELDS)]
        if len(words) < 2 or not self.correct:
            return
        held = {id(word): tuple(term for term in terms(word.text) if self._documents(term)) for word in words}
        for word in words:
            self._context[id(word)] = tuple(dict.fromkeys(
                term for other in words if other is not word for term in held[id(other)]))

    def _documents(self, term: str) -> int:
        """In how many articles the term is (the larger of its title and body counts)."""
        return max(self.reader.doc_frequency(name, term) for name in TEXT_FIELDS)

    def _weigh(self, term: str) -> None:
        if term not in self.result.weights:
            self.result.weights[term] = _idf(self.reader, term)

    def _prefixed(self, prefix: str, stem: bool, fieldname: str | None) -> list[str]:
        """Indexed terms of words starting with ``prefix``, most frequent words first."""
        if stem:
            words = (word for word, _ in self.vocabulary().with_prefix(prefix))
        else:
            words = (raw.decode("utf-8") for raw in self.reader.expand_prefix(fieldname, prefix))
        found: list[str] = []
        for word in words:
            term = term_for(word, stem) if stem else word
            if term not in found and self._known(term, fieldname):
                found.append(term)
                if len(found) >= MAX_EXPANSIONS:
                    break
            if found and self._out_of_time():  # the most frequent word is always kept
                break
        return found

    def _near(self, word: str, maxdist: int, stem: bool, fieldname: str | None, limit: int,
              nearest_only: bool) -> list[tuple[str, str]]:
        """(index term, word) for indexed words within ``maxdist`` edits, nearest then most frequent."""
        if stem:
            vocabulary = self.vocabulary()
            near = vocabulary.near(word, maxdist, self._expansion_deadline())
            self._out_of_time()  # near() stops at the deadline without saying so
        else:
            near = sorted((edit_distance(candidate, word), candidate)
                          for candidate in self.reader.terms_within(fieldname, word, maxdist, prefix=1))
        found: dict[str, str] = {}
        nearest = None
        for distance, candidate in near:
            if nearest_only and nearest is not None and distance > nearest:
                break  # for typo correction, nearer spellings win outright
            term = term_for(candidate, stem) if stem else candidate
            if term not in found and self._known(term, fieldname):
                found[term] = candidate
                nearest = distance
                if len(found) >= limit:
                    break
        return list(found.items())


def unmatched_phrases(searcher: Any, compiled: CompiledQuery) -> frozenset[str]:
    """The texts of the exact phrases of ``compiled`` that no article (of ``searcher``) has."""
    return frozenset(text for text, query in compiled.exact_phrases
                     if not query.matcher(searcher, searcher.context()).is_active())


class AndNot(wq.AndNot):
    """Documents of ``a`` that ``b`` does not match.

    Whoosh's own matcher for this is wrong twice: it keeps an excluded document that is the
    first match of ``a`` when ``b`` matches an earlier one (whoosh issue #419; ``brown -blair``
    found an article with Blair, and ``blair -brown`` counted one with Brown), and it fails
    (IndexError) when skipped past the end of ``a`` inside an OR. So the documents of ``b`` are
    read first (one pass over its postings) and filtered out of ``a``.
    """

    def matcher(self, searcher: Any, context: Any = None) -> matching.Matcher:
        wanted = self.a.matcher(searcher, context)
        unwanted = self.b.matcher(searcher, searcher.boolean_context())
        if not wanted.is_active() or not unwanted.is_active():
            return wanted
        return Unexcluded(wanted, frozenset(unwanted.all_ids()), exclude=True)


class Unexcluded(matching.FilterMatcher):
    """Whoosh's FilterMatcher, which also filters where block-quality skipping lands (Whoosh's
    passes that straight to the child, so a top-N search could return a filtered document)."""

    def skip_to_quality(self, minquality: float) -> int:
        skipped = super().skip_to_quality(minquality)
        if self.child.is_active():
            self.skip_to(self.child.id())  # the child stays where it is; the filter applies
        return skipped


class VerifiedPhrase(WrappingQueryBase):
    """Documents of ``child`` whose stored ``fieldname`` holds exactly ``sequence`` of terms.

    ``required`` terms (docs only: the phrase's stopword grams) narrow the documents whose
    text is read; with ``verify`` False they are all that is checked. With ``score`` every
    document found scores that (a phrase of stopwords: ``child`` only finds candidates);
    else each scores as ``child`` scores it.
    """

    def __init__(self, child: wq.Query, fieldname: str, sequence: tuple[str, ...],
                 required: tuple[wq.Term, ...] = (), verify: bool = True, score: float | None = None) -> None:
        super().__init__(child)
        self.fieldname = fieldname
        self.sequence = sequence
        self.required = required
        self.verify = verify
        self.score = score

    def key(self) -> tuple[object, ...]:
        return (self.child, self.fieldname, self.sequence, self.required, self.verify, self.score)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash((type(self), *self.key()))

    def rewrap(self, child: wq.Query) -> VerifiedPhrase:
        return VerifiedPhrase(child, self.fieldname, self.sequence, self.required, self.verify, self.score)

    def holds(self, searcher: Any, docnum: int) -> bool:
        """Whether document ``docnum`` (of ``searcher``'s reader) holds the exact sequence."""
        return _contains_sequence(searcher.stored_fields(docnum).get(self.fieldname, ""), self.sequence)

    def matcher(self, searcher: Any, context: Any = None) -> matching.Matcher:
        allowed = _documents_with(searcher, self.required) if self.required else None
        if allowed is not None and not allowed:
            return matching.NullMatcher()
        candidates = self.child.matcher(searcher, context)
        verified = []
        while candidates.is_active():
            docnum = candidates.id()
            if (allowed is None or docnum in allowed) and (not self.verify or self.holds(searcher, docnum)):
                verified.append(docnum)
            candidates.next()
        if not verified:
            return matching.NullMatcher()
        if self.score is not None:
            return matching.ListMatcher(verified, all_weights=self.score)
        return matching.FilterMatcher(self.child.matcher(searcher, context), frozenset(verified))


def _documents_with(searcher: Any, required: tuple[wq.Term, ...]) -> set[int]:
    """The documents (of ``searcher``'s reader) holding every one of ``required``."""
    reader = searcher.reader()
    found: set[int] | None = None
    for term in required:
        if (term.fieldname, term.text) not in reader:
            return set()
        ids = set(reader.postings(term.fieldname, term.text).all_ids())
        found = ids if found is None else found & ids
        if not found:
            return set()
    return found or set()


def _required_grams(sequence: tuple[str, ...], stops: frozenset[str]) -> list[str]:
    """The stopword grams every text holding ``sequence`` has: each pair of consecutive
    stopwords, and each stopword that is in no pair, rarest-looking first (longest)."""
    grams = stop_grams(list(sequence), stops)
    in_pairs = {word for gram in grams if " " in gram for word in gram.split(" ")}
    return sorted((gram for gram in grams if " " in gram or gram not in in_pairs), key=lambda gram: -len(gram))


def _contains_sequence(text: str, needle: tuple[str, ...]) -> bool:
    """Whether ``needle`` occurs as consecutive terms of ``text`` (only its own terms are kept)."""
    at = {position: term for position, term, _, _ in find_terms(text, set(needle))}
    return any(all(at.get(position + k) == needle[k] for k in range(1, len(needle)))
               for position, term in at.items() if term == needle[0])


def _gapped_phrase(fieldname: str, indexed: list[tuple[int, str]], slop: int, boost: float) -> PhraseParts:
    """Consecutive indexed words at exactly their distance in the phrase (plus ``slop``)."""
    first = wq.Term(fieldname, indexed[0][1], boost=boost)
    query: wq.Query = first
    terms, mindist, maxdist = [first], [0], [0]
    for (previous, _), (position, term) in zip(indexed, indexed[1:]):
        gap = position - previous
        following = wq.Term(fieldname, term, boost=boost)
        query = SpanNear2([query, following], slop=gap + slop, ordered=True, mindist=gap)
        terms.append(following)
        mindist.append(gap)
        maxdist.append(gap + slop)
    return PhraseParts(tuple(terms), tuple(mindist), tuple(maxdist), query)


def _idf(reader: IndexReader, term: str) -> float:
    docs = max(reader.doc_count(), 1)
    # Whoosh counts deleted documents until their segment is merged away: never more than exist.
    frequency = min(reader.doc_frequency("body", term) or reader.doc_frequency("title", term), docs)
    return math.log(1 + (docs - frequency + 0.5) / (frequency + 0.5))


def _joined(built: list[_Built]) -> tuple[wq.Query, ...] | None:
    """The concepts that ``wq.Or`` of several compiled nodes is exactly the disjunction of:
    each node must be one concept itself (an ``Or`` nested in an ``Or`` is not plain)."""
    if all(b.disjunction is not None and len(b.disjunction) == 1 for b in built):
        return tuple(b.query for b in built)
    return None


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
