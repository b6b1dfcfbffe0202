"""The query compiler on its own: query text -> the Whoosh query, the concepts the ranking counts,
the term weights of the passages, the phrases, the expansions -- with no index.

The compiler asks its reader only how many articles hold a term (``doc_frequency``), how many
articles there are (``doc_count``) and, for the fields that are not stemmed, which terms start with
a prefix or lie within a few edits (``expand_prefix``, ``terms_within``). ``FakeReader`` answers
those from a table, so each test states the index statistics its result depends on; prefixes,
fuzzy words and typo correction read a small ``Vocabulary`` built in memory.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from whoosh import query as wq
from whoosh.query.spans import SpanNear2
from whoosh.support.levenshtein import distance

from newsearch.compiler import AndNot, CompiledQuery, QueryCompiler, VerifiedPhrase, date_filter
from newsearch.errors import QueryError
from newsearch.query import Clause, Group, Word, parse
from newsearch.vocabulary import Vocabulary

DOCS = 100
COMMON = 8  # more articles than the rare-stem limit (5): a plain word this common is never corrected


class FakeReader:
    """The reader methods the compiler calls, answered from ``{(field, term): articles}``."""

    def __init__(self, frequencies: dict[tuple[str, str], int], docs: int = DOCS) -> None:
        self.frequencies = frequencies
        self.docs = docs
        self.asked: list[tuple[str, str]] = []

    def doc_count(self) -> int:
        return self.docs

    def doc_frequency(self, fieldname: str, text: str) -> int:
        self.asked.append((fieldname, text))
        return self.frequencies.get((fieldname, text), 0)

    def expand_prefix(self, fieldname: str, prefix: str):
        for name, term in sorted(self.frequencies):
            if name == fieldname and term.startswith(prefix):
                yield term.encode("utf-8")

    def terms_within(self, fieldname: str, text: str, maxdist: int, prefix: int = 0):
        for name, term in self.frequencies:
            if name == fieldname and term[:prefix] == text[:prefix] and distance(term, text) <= maxdist:
                yield term


def in_text(*terms: str, articles: int = COMMON) -> dict[tuple[str, str], int]:
    """Frequencies for index terms found in the body of ``articles`` articles each."""
    return {("body", term): articles for term in terms}


def no_vocabulary() -> Vocabulary:
    raise AssertionError("the vocabulary was loaded for a query that does not need it")


def vocabulary_of(**counts: int):
    vocabulary = Vocabulary.counted(Counter(counts))
    return lambda: vocabulary


def compiled(text: str, frequencies: dict[tuple[str, str], int], vocabulary=no_vocabulary,
             written=None) -> CompiledQuery:
    return QueryCompiler(FakeReader(frequencies), vocabulary, written).compile(parse(text))


def both(term: str, boost: float = 1.0) -> wq.Query:
    """One word searched in the title (counting double) and the body."""
    return wq.Or([wq.Term("title", term, boost=2.0 * boost), wq.Term("body", term, boost=boost)])


def idf(frequency: int, docs: int = DOCS) -> float:
    return math.log(1 + (docs - frequency + 0.5) / (frequency + 0.5))


# -- words, groups and their structure -------------------------------------------------------


def test_a_word_is_its_stem_in_title_and_body():
    result = compiled("Captured", in_text("captur"))
    assert result.query == both("captur")
    assert result.concepts == [both("captur")]
    assert result.weights == {"captur": idf(COMMON)}
    assert (result.phrases, result.phrase_slop, result.expansions, result.all_words_query) == ([], [], {}, None)


def test_several_words_any_of_them_and_all_of_them_for_the_ranking():
    result = compiled("profit bank", in_text("profit", "bank"))
    assert result.query == wq.Or([both("profit"), both("bank")])
    assert result.concepts == [both("profit"), both("bank")]
    assert result.all_words_query == wq.And([both("profit"), both("bank")])
    assert set(result.weights) == {"profit", "bank"}


def test_stopwords_are_left_out_of_a_plain_word_list():
    frequencies = in_text("cost", "live")
    assert compiled("the cost of living", frequencies).query == compiled("cost living", frequencies).query
    assert compiled("the cost of living", frequencies).concepts == [both("cost"), both("live")]


def test_a_query_of_stopwords_only_is_refused_with_the_fix():
    with pytest.raises(QueryError, match="'the of' has only very common words, which plain word lists leave out"):
        compiled("the of", {})


def test_excluded_words_are_taken_out_of_the_query_and_of_the_all_words_query():
    frequencies = in_text("profit", "bank", "energi")
    assert compiled("profit -bank", frequencies).query == AndNot(both("profit"), both("bank"))
    assert compiled("profit -bank", frequencies).all_words_query is None
    result = compiled("profit bank -energy", frequencies)
    assert result.query == AndNot(wq.Or([both("profit"), both("bank")]), both("energi"))
    assert result.all_words_query == AndNot(wq.And([both("profit"), both("bank")]), both("energi"))
    assert compiled("profit NOT bank", frequencies).query == compiled("profit -bank", frequencies).query


def test_a_group_that_only_excludes_is_refused():
    with pytest.raises(QueryError, match="only excludes words; add a word to search for"):
        QueryCompiler(FakeReader(in_text("bank")), no_vocabulary).compile(Group((Clause("not", Word("bank")),)))


def test_required_words_lead_and_the_others_may_add():
    frequencies = in_text("profit", "bank")
    result = compiled("+profit bank", frequencies)
    assert result.query == wq.AndMaybe(both("profit"), both("bank"))
    assert result.all_words_query is None
    assert compiled("+profit +bank", frequencies).query == wq.And([both("profit"), both("bank")])
    assert compiled("profit AND bank", frequencies).query == wq.And([both("profit"), both("bank")])


def test_or_joins_alternatives_without_an_all_words_query():
    result = compiled("profit OR bank", in_text("profit", "bank"))
    assert result.query == wq.Or([both("profit"), both("bank")])
    assert result.all_words_query is None
    assert result.concepts == [both("profit"), both("bank")]


def test_parentheses_nest_groups():
    frequencies = in_text("profit", "bank", "energi")
    result = compiled("energy (profit OR bank)", frequencies)
    assert result.query == wq.Or([both("energi"), wq.Or([both("profit"), both("bank")])])
    assert result.all_words_query == wq.And([both("energi"), wq.Or([both("profit"), both("bank")])])


# -- field restrictions ---------------------------------------------------------------------


def test_title_and_body_restrictions_search_one_field_with_stems():
    frequencies = in_text("captur")
    assert compiled("title:capture", frequencies).query == wq.Term("title", "captur")
    assert compiled("body:captures", frequencies).query == wq.Term("body", "captur")


def test_source_author_and_tag_are_searched_as_written_folded_not_stemmed():
    assert compiled("source:Reuters", {}).query == wq.Term("source", "reuters")
    assert compiled("author:Smith", {}).query == wq.Term("author", "smith")
    assert compiled("tag:Elections", {}).query == wq.Term("tag", "elections")
    # never corrected either, and the vocabulary (of title and body words) is not consulted
    assert compiled("source:reutres", {}).expansions == {}


def test_a_field_applies_to_the_words_of_its_phrase():
    assert compiled('source:"BBC News"', {}).query == SpanNear2(
        [wq.Term("source", "bbc"), wq.Term("source", "news")], slop=1, ordered=True, mindist=1)


# -- phrases --------------------------------------------------------------------------------


def _near(fieldname: str, first: str, second: str, gap: int, slop: int = 0, boost: float = 1.0) -> wq.Query:
    return SpanNear2([wq.Term(fieldname, first, boost=boost), wq.Term(fieldname, second, boost=boost)],
                     slop=gap + slop, ordered=True, mindist=gap)


def test_a_phrase_is_its_words_in_order_in_title_or_body():
    result = compiled('"north korean"', in_text("north", "korean"))
    expected = wq.Or([_near("title", "north", "korean", 1, boost=2.0), _near("body", "north", "korean", 1)])
    assert result.query == expected
    assert result.concepts == [expected]
    assert (result.phrases, result.phrase_slop) == ([("north", "korean")], [0])
    assert set(result.weights) == {"north", "korean"}


def test_a_hyphenated_word_is_the_phrase_of_its_parts():
    frequencies = in_text("north", "korean")
    assert compiled("north-korean", frequencies).query == compiled('"north korean"', frequencies).query
    assert compiled("north-korean", frequencies).phrases == [("north", "korean")]


def test_stopwords_in_a_phrase_are_exact_gaps_verified_against_the_stored_text():
    result = compiled('"state of the union"', in_text("state", "union"))
    sequence = ("state", "of", "the", "union")
    grams = {name: (wq.Term(f"{name}_stops", "of the"),) for name in ("title", "body")}
    assert result.query == wq.Or([
        VerifiedPhrase(_near("title", "state", "union", 3, boost=2.0), "title", sequence, required=grams["title"]),
        VerifiedPhrase(_near("body", "state", "union", 3), "body", sequence, required=grams["body"])])
    assert (result.phrases, result.phrase_slop) == ([sequence], [0])


def test_a_phrase_with_slop_widens_the_gap_and_needs_no_verification():
    result = compiled('"state of the union"~2', in_text("state", "union"))
    assert result.query == wq.Or([_near("title", "state", "union", 3, slop=2, boost=2.0),
                                  _near("body", "state", "union", 3, slop=2)])
    assert result.phrase_slop == [2]


def test_a_phrase_of_one_word_is_that_word():
    result = compiled('"union"', in_text("union"))
    assert result.query == both("union")
    assert result.phrases == []


def test_a_phrase_of_one_indexed_word_and_stopwords_is_verified():
    result = compiled('"the union"', in_text("union"))
    body = result.concept_parts[0].phrases[1]
    assert body.terms == (wq.Term("body", "union"),) and body.required == (wq.Term("body_stops", "the"),)
    assert body.query == VerifiedPhrase(wq.Term("body", "union"), "body", ("the", "union"), required=body.required)
    assert result.phrases == [("the", "union")]


def test_a_phrase_of_stopwords_only_is_found_by_its_grams():
    result = compiled('profit "of the"', in_text("profit") | {("body_stops", "of the"): COMMON})
    body = result.concept_parts[1].phrases[1]
    assert body.terms == () and body.required == (wq.Term("body_stops", "of the"),) and body.score > 0
    assert body.query == VerifiedPhrase(wq.Term("body_stops", "of the"), "body", ("of", "the"),
                                        required=body.required, score=body.score)


def test_verified_phrase_tells_the_stopwords_apart():
    class Stored:
        def stored_fields(self, docnum: int) -> dict[str, str]:
            return [{"body": "The president gave the state of the union address."},
                    {"body": "She described the state of a union under strain."},
                    {"title": "State of the union"}][docnum]

    phrase = VerifiedPhrase(_near("body", "state", "union", 3), "body", ("state", "of", "the", "union"))
    assert [phrase.holds(Stored(), docnum) for docnum in range(3)] == [True, False, False]
    same = VerifiedPhrase(_near("body", "state", "union", 3), "body", ("state", "of", "the", "union"))
    assert phrase == same and hash(phrase) == hash(same)
    assert phrase != VerifiedPhrase(_near("body", "state", "union", 3), "title", ("state", "of", "the", "union"))


# -- dates ----------------------------------------------------------------------------------


def _published(start: datetime | None, end: datetime | None) -> wq.Query:
    return wq.DateRange("published", start, end, endexcl=True)


def test_a_date_range_is_naive_utc_with_an_exclusive_end():
    year = _published(datetime(2024, 1, 1), datetime(2025, 1, 1))
    assert compiled("date:2024", {}).query == year
    assert compiled("date:2024-02", {}).query == _published(datetime(2024, 2, 1), datetime(2024, 3, 1))


def test_a_date_restricts_the_words_beside_it():
    frequencies = in_text("profit", "bank")
    year = _published(datetime(2024, 1, 1), datetime(2025, 1, 1))
    assert compiled("profit date:2024", frequencies).query == wq.And([year, both("profit")])
    result = compiled("profit bank date:2024", frequencies)
    assert result.query == wq.And([year, wq.Or([both("profit"), both("bank")])])
    assert result.all_words_query == wq.And([year, both("profit"), both("bank")])
    assert compiled("date:2024 -bank", frequencies).query == AndNot(year, both("bank"))


def test_date_filter_of_since_and_until():
    assert date_filter(None, None) is None
    paris = timezone(timedelta(hours=2))
    assert date_filter(datetime(2024, 6, 1, 2, 0, tzinfo=paris), None) == _published(datetime(2024, 6, 1), None)
    until = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert date_filter(None, until) == _published(None, datetime(2025, 1, 1))


# -- prefixes and fuzzy words (the vocabulary) ----------------------------------------------


def test_a_prefix_is_the_indexed_words_starting_with_it_most_frequent_first():
    # "captivity" is in the vocabulary (it only grows) but no longer in the index: left out.
    vocabulary = vocabulary_of(capture=5, captured=3, captain=2, captivity=9)
    result = compiled("capt*", in_text("captur", "captain"), vocabulary)
    assert result.query == wq.Or([wq.Term("title", "captur", boost=2.0), wq.Term("title", "captain", boost=2.0),
                                  wq.Term("body", "captur"), wq.Term("body", "captain")])
    assert len(result.concepts) == 1
    assert set(result.weights) == {"captur", "captain"}


def test_a_prefix_in_a_field_that_is_not_stemmed_reads_the_index_terms():
    frequencies = {("source", "reuters"): 3, ("source", "reach"): 1, ("source", "bbc"): 2}
    assert compiled("source:re*", frequencies).query == wq.Or([wq.Term("source", "reach"),
                                                                wq.Term("source", "reuters")])


def test_a_prefix_nothing_starts_with_matches_nothing():
    assert compiled("zzq*", {}, vocabulary_of(capture=1)).query == wq.NullQuery


def test_a_fuzzy_word_adds_the_indexed_words_within_its_distance():
    vocabulary = vocabulary_of(zelensky=5, zelenska=2, zelenskyy=1)
    frequencies = in_text("zelenski", "zelenska", "zelenskyy")
    result = compiled("zelensky~1", frequencies, vocabulary)
    spellings = ("zelenski", "zelenska", "zelenskyy")
    assert result.query == wq.Or([wq.Term("title", term, boost=2.0) for term in spellings]
                                 + [wq.Term("body", term) for term in spellings])
    assert result.expansions == {}


def test_a_fuzzy_word_in_a_field_that_is_not_stemmed():
    frequencies = {("author", "smith"): 2, ("author", "smyth"): 1, ("author", "jones"): 4}
    assert compiled("author:smith~1", frequencies).query == wq.Or([wq.Term("author", "smith"),
                                                                   wq.Term("author", "smyth")])


# -- typo correction ------------------------------------------------------------------------


def test_a_word_never_indexed_is_also_searched_as_its_nearest_spelling():
    result = compiled("zelenksy", in_text("zelenski", articles=7), vocabulary_of(zelensky=9, zelenska=3))
    assert result.query == wq.Or([wq.Term("title", "zelenksi", boost=2.0),
                                  wq.Term("title", "zelenski", boost=2.0 * 0.6),
                                  wq.Term("body", "zelenksi"), wq.Term("body", "zelenski", boost=0.6)])
    assert result.expansions == {"zelenksy": ("zelensky",)}


def test_a_common_word_is_never_corrected_and_needs_no_vocabulary():
    assert compiled("zelenska", in_text("zelenska", articles=6)).query == both("zelenska")


def test_a_rare_word_written_as_typed_is_never_corrected():
    vocabulary = vocabulary_of(zelensky=50, zelenska=1)
    result = compiled("zelenska", {**in_text("zelenska", articles=1), **in_text("zelenski", articles=90)}, vocabulary)
    assert (result.query, result.expansions) == (both("zelenska"), {})
    # whether it was written may be told without the vocabulary
    result = compiled("zelenska", in_text("zelenska", articles=1), written=lambda word: word == "zelenska")
    assert (result.query, result.expansions) == (both("zelenska"), {})


def test_short_words_and_words_with_digits_are_never_corrected():
    vocabulary = vocabulary_of(bank=50, covid=50)
    assert compiled("bnk", in_text("bank"), vocabulary).expansions == {}
    assert compiled("covid19", in_text("covid"), vocabulary).expansions == {}


def test_a_rare_stem_gives_way_to_a_much_commoner_spelling():
    """"goverment" was never written, but stems as the rare "governess" does: "government" leads,
    and the rare stem counts as a lesser spelling of it."""
    frequencies = {**in_text("gover", articles=1), **in_text("govern", articles=40)}
    result = compiled("goverment", frequencies, vocabulary_of(government=400, governess=1))
    rare = 0.6 * idf(40) / idf(1)
    assert result.query == wq.Or([wq.Term("title", "gover", boost=2.0 * rare), wq.Term("title", "govern", boost=2.0),
                                  wq.Term("body", "gover", boost=rare), wq.Term("body", "govern")])
    assert result.expansions == {"goverment": ("government",)}
    assert result.weights == {"gover": 0.6 * idf(40), "govern": idf(40)}


def test_a_rare_stem_is_kept_when_the_other_spelling_is_not_20_times_commoner():
    frequencies = {**in_text("gover", articles=2), **in_text("govern", articles=39)}
    result = compiled("goverment", frequencies, vocabulary_of(government=400, governess=2))
    assert (result.query, result.expansions) == (both("gover"), {})


def test_a_stem_in_more_than_five_articles_is_never_corrected():
    frequencies = {**in_text("gover", articles=6), **in_text("govern", articles=99)}
    assert compiled("goverment", frequencies).query == both("gover")


# -- term weights ---------------------------------------------------------------------------


def test_weights_are_the_idf_of_the_body_or_else_the_title_never_above_the_article_count():
    frequencies = {("body", "profit"): 10, ("title", "profit"): 50, ("title", "bank"): 6, ("body", "energi"): 130}
    result = compiled("profit bank energy", frequencies)
    assert result.weights == {"profit": idf(10), "bank": idf(6), "energi": idf(DOCS)}
