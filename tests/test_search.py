"""The `Index` API (searcher + compiler) against small fixture corpora the tests write.

One module-scoped index holds the articles below; every query is built so that
exactly the articles named in the assertion can match, and in one order only.
Tests that change an index build their own.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import date, datetime, timezone

import pytest
from support.corpora import write_article

from newsearch import (
    Document,
    DocumentNotFound,
    Hit,
    Index,
    IndexNotFound,
    Passage,
    QueryError,
    Results,
    build_index,
    open_index,
)

UTC = timezone.utc

# Filler sentences (none of their words is queried) that keep passages apart.
FILLER = (
    "Residents gathered sandbags outside the library while volunteers handed out blankets and hot tea "
    "to families waiting for news.",
    "Council officers said that the emergency shelters in the school hall had room for two hundred "
    "people and that buses would run all night.",
    "Shopkeepers on the high street boarded up their windows and moved stock upstairs before the "
    "worst of the weather arrived.",
    "Forecasters expect the wind to ease by the weekend, although they warned that more heavy showers "
    "could follow early next week.",
)

ARTICLES = [
    # Stemming: "capture" finds both forms.
    dict(id="captured", title="Troops held near Kursk", body="Ukrainian forces captured two soldiers near Kursk.",
         date="2025-01-10T09:00:00Z", source="BBC News", author="Jane Doe", tags=["war", "ukraine"]),
    dict(id="captures", title="Lynx on film", body="Hidden wildlife camera captures rare forest lynx.",
         date="2024-06-02T08:00:00Z", source="The Guardian", author="Tom Smith", tags=["nature"]),
    # Phrases with stopwords.
    dict(id="sotu", title="President speaks to Congress",
         body="The president gave the state of the union address on Tuesday.",
         date="2025-02-05T02:00:00Z", source="Reuters", author="Ann Lee", tags=["politics"]),
    dict(id="union-state", title="Union statement",
         body="The union said the state of play was unclear after the talks.",
         date="2025-02-06T02:00:00Z", source="Reuters", author="Ann Lee", tags=["labour"]),
    dict(id="state-a-union", title="Marriage guidance", body="She described the state of a union under strain.",
         date="2025-02-07T02:00:00Z", source="Reuters"),
    dict(id="state-union", title="Federal rules", body="New state union rules take effect.",
         date="2025-02-08T02:00:00Z", source="Reuters"),
    # Hyphenated words.
    dict(id="email", title="Spy agency row", body="Claims of e-mail interception by the agency grew.",
         date="2025-03-01T12:00:00Z", source="BBC News", author="Jane Doe"),
    dict(id="mail", title="Post office", body="The mail van was late, and interception of parcels is rare.",
         date="2025-03-02T12:00:00Z", source="BBC News"),
    # Words that look like stopwords but are not.
    dict(id="polls", title="Polls tighten", body="The US vote in May will be close, pollsters say.",
         date="2024-04-01T12:00:00Z", source="Reuters"),
    dict(id="club-vote", title="Club news", body="The vote is close.", date="2024-04-20T12:00:00Z", source="Reuters"),
    # Title boost: the same word in the title of one and the body of the other.
    dict(id="budget-title", title="Budget cuts announced",
         body="Ministers set out new spending plans for schools. Head teachers welcomed them.",
         date="2024-09-01T12:00:00Z", source="BBC News"),
    dict(id="budget-body", title="Spending plans",
         body="Ministers set out new budget plans for schools. Head teachers welcomed them.",
         date="2024-09-02T12:00:00Z", source="BBC News"),
    # Passage-aware ranking: same words, same counts, same length; one paragraph holds them all.
    dict(id="flood-near", title="Storm update",
         body="The river flood reached the old bridge at dawn today.\n\n" + " ".join(FILLER) + "\n\nThe town is quiet.",
         date="2023-10-01T12:00:00Z", source="Reuters"),
    dict(id="flood-far", title="Storm update",
         body="The river rose.\n\n" + " ".join(FILLER[:2]) + "\n\nThe flood came.\n\n" + " ".join(FILLER[2:])
         + "\n\nThe old bridge held. The town is quiet.",
         date="2023-10-02T12:00:00Z", source="Reuters"),
    # All words first, but articles missing some still appear.
    dict(id="ferry-strike", title="Port dispute", body="Ferry workers at the harbour began a strike on Monday.",
         date="2023-01-01T12:00:00Z", source="Reuters"),
    dict(id="harbour-strike", title="Harbour strike", body="Talks about the strike at the harbour resumed.",
         date="2023-01-02T12:00:00Z", source="Reuters"),
    dict(id="ferry-only", title="Ferry ferry", body="Ferry fares rose. The ferry ferry timetable changed.",
         date="2023-01-03T12:00:00Z", source="Reuters"),
    # Typo correction, and a near spelling that must not be rewritten.
    dict(id="zelensky", title="Zelensky visits troops", body="President Zelensky met soldiers on the front line.",
         date="2025-03-10T12:00:00Z", source="BBC News", author="Jane Doe", tags=["war"]),
    dict(id="zelenska", title="First lady speaks", body="Olena Zelenska spoke at the summit.",
         date="2025-03-09T12:00:00Z", source="BBC News"),
    # Ties: same text; newest first, then id.
    dict(id="tie-b", title="Island wildlife", body="A quokka was seen on the island.",
         date="2024-05-01T12:00:00Z", source="ABC"),
    dict(id="tie-a", title="Island wildlife", body="A quokka was seen on the island.",
         date="2024-05-01T12:00:00Z", source="ABC"),
    dict(id="tie-c", title="Island wildlife", body="A quokka was seen on the island.",
         date="2024-06-01T12:00:00Z", source="ABC"),
    # Lead and passage evidence: the same title, none of the queried words in it. The first holds
    # three of the four words in its opening; the second all four, once each, in passing; the
    # third all four in one sentence.
    dict(id="observatory-lead", title="Mountain science",
         body="The observatory on the glacier opened its new telescope on Friday.\n\n" + " ".join(FILLER)
         + "\n\nVisitors to the observatory can see the glacier through the telescope.",
         date="2022-05-01T12:00:00Z", source="Reuters"),
    dict(id="observatory-passing", title="Mountain science",
         body=" ".join(FILLER[:2]) + "\n\nA new observatory was mentioned.\n\n" + " ".join(FILLER[2:])
         + "\n\nThe telescope plan was noted. " + FILLER[0] + "\n\nThe glacier retreated. " + FILLER[1]
         + "\n\nFunding was agreed.",
         date="2022-05-02T12:00:00Z", source="Reuters"),
    dict(id="observatory-sentence", title="Mountain science",
         body=" ".join(FILLER) + "\n\nFunding for the glacier observatory and its telescope was agreed.\n\n"
         + " ".join(FILLER[:2]),
         date="2022-05-03T12:00:00Z", source="Reuters"),
    # More "soldiers" for sorting, sources and dates.
    dict(id="soldiers-home", title="Soldiers return home", body="Crowds cheered as the regiment came back.",
         date="2024-11-20T12:00:00Z", source="The Guardian", author="Tom Smith"),
    dict(id="soldiers-run", title="Soldiers run marathon", body="The regiment raised money for charity.",
         date="2024-08-01T12:00:00Z", source="BBC Sport"),
]


def _write_corpus(folder):
    folder.mkdir(parents=True)
    with open(folder / "news.jsonl", "w", encoding="utf-8") as handle:
        for article in ARTICLES:
            handle.write(json.dumps(article) + "\n")


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    _write_corpus(root / "corpus")
    report = build_index([root / "corpus"], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    return root / "index"


@pytest.fixture(scope="module")
def index(index_path):
    with open_index(index_path) as opened:
        yield opened


def ids(results: Results) -> list[str]:
    return [hit.id for hit in results.hits]


def search_ids(index: Index, query: str, **options) -> list[str]:
    """The ids found, every copy of the duplicated fixtures (the "tie-" articles) included."""
    return ids(index.search(query, limit=50, **{"collapse": False, **options}))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- open_index and the result types --------------------------------------------------------


def test_results_are_plain_dataclasses_that_outlive_the_index(index_path):
    with open_index(index_path) as opened:
        assert isinstance(opened, Index)
        results = opened.search("zelensky")
    assert isinstance(results, Results) and results.query == "zelensky" and results.total == 1
    assert results.suggestion is None and results.expansions == () and results.timed_out is False
    assert results.elapsed_ms > 0
    (hit,) = results.hits
    assert isinstance(hit, Hit) and isinstance(hit.passages[0], Passage)
    assert (hit.id, hit.rank, hit.title, hit.source, hit.published, hit.url) == (
        "zelensky", 1, "Zelensky visits troops", "BBC News", at("2025-03-10T12:00:00"), "")
    assert hit.path.endswith("news.jsonl")
    assert hit.passages == (Passage("President Zelensky met soldiers on the front line.", 0, 50,
                                    hit.passages[0].score, ((10, 18),)),)
    # Plain data all the way down: nothing from Whoosh survives in it.
    plain = dataclasses.asdict(results)
    assert plain["hits"][0]["passages"][0]["highlights"] == ((10, 18),)
    assert all(not type(value).__module__.startswith("whoosh") for value in _walk(plain))


def _walk(value):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)


def test_open_index_prefers_argument_then_environment_then_cwd(tmp_path, monkeypatch):
    for name, word in (("arg", "walrus"), ("env", "narwhal"), ("cwd", "dugong")):
        write_article(tmp_path / name / "corpus", "a.txt", f"A {word}", f"A {word} was seen.")
        build_index([tmp_path / name / "corpus"], tmp_path / name / "index")
    monkeypatch.setenv("NEWSEARCH_INDEX", str(tmp_path / "env" / "index"))
    monkeypatch.chdir(tmp_path / "cwd")
    with open_index(tmp_path / "arg" / "index") as opened:
        assert opened.search("walrus").total == 1
    with open_index() as opened:
        assert opened.search("narwhal").total == 1
    monkeypatch.delenv("NEWSEARCH_INDEX")
    with open_index() as opened:
        assert opened.search("dugong").total == 1


def test_missing_index_says_how_to_build_one(tmp_path):
    expected = r"no index at .*missing: run `newsearch index ARTICLES_FOLDER --index .*missing` to build one"
    with pytest.raises(IndexNotFound, match=expected):
        open_index(tmp_path / "missing")


def test_document_returns_the_stored_article(index):
    assert index.document("captured") == Document(
        id="captured", title="Troops held near Kursk", body="Ukrainian forces captured two soldiers near Kursk.",
        path="news.jsonl", published=at("2025-01-10T09:00:00"), source="BBC News", url="", author="Jane Doe",
        tags=("war", "ukraine"))
    with pytest.raises(DocumentNotFound, match="no document with id 'nope'"):
        index.document("nope")


# -- query language ------------------------------------------------------------------------


def test_stemming_finds_every_form(index):
    # Same length, one occurrence each: a tie, so the newer article comes first.
    assert search_ids(index, "capture") == ["captured", "captures"]
    assert search_ids(index, "capturing") == ["captured", "captures"]
    assert search_ids(index, "captures") == ["captured", "captures"]


@pytest.mark.parametrize("query, expected", [("capture", ["captured", "captures"]),
                                             ('source:"bbc sport"', ["soldiers-run"])])
def test_query_whose_words_all_match_gets_no_did_you_mean(index, query, expected):
    results = index.search(query)
    assert ids(results) == expected and results.expansions == ()
    assert results.suggestion is None


def test_plain_words_prefer_articles_with_all_of_them(index):
    # ferry-only repeats "ferry" and is short, so pure BM25 would put it first.
    assert search_ids(index, "ferry harbour strike") == ["ferry-strike", "harbour-strike", "ferry-only"]


def test_two_words_all_first_strictly_three_as_a_strong_bonus(index):
    # Two words: every article holding both comes first, even one that only mentions them.
    assert search_ids(index, "glacier funding") == [
        "observatory-sentence", "observatory-passing", "observatory-lead"]
    # Three: an article whose opening is about two of them beats one that mentions all three
    # in passing (a headline's article may use other words for some of it).
    assert search_ids(index, "telescope glacier funding") == [
        "observatory-sentence", "observatory-lead", "observatory-passing"]


def test_phrase_with_stopwords_matches_only_the_exact_phrase(index):
    assert search_ids(index, '"state of the union"') == ["sotu"]


def test_phrase_without_stopwords_matches_adjacent_words_only(index):
    assert search_ids(index, '"state union"') == ["state-union"]


def test_unquoted_phrase_is_a_list_of_words_without_its_stopwords(index):
    results = search_ids(index, "state of the union")
    # union-state also has "union" in its title, so it leads.
    assert results[0] == "union-state"
    assert sorted(results) == ["sotu", "state-a-union", "state-union", "union-state"]


def test_stopwords_are_dropped_from_plain_word_lists(index):
    assert search_ids(index, "the lynx") == ["captures"]
    assert search_ids(index, "lynx of the") == ["captures"]


def test_quoted_words_match_a_hyphenated_word(index):
    assert search_ids(index, '"e mail interception"') == ["email"]
    assert search_ids(index, "e-mail") == ["email"]


@pytest.mark.parametrize("word", ["US", "May", "Will"])
def test_short_capitalised_words_stay_searchable(index, word):
    # club-vote is shorter, so it would come first if the word were dropped as a stopword.
    results = index.search(f"{word} vote")
    assert ids(results) == ["polls", "club-vote"]
    (passage,) = results.hits[0].passages
    assert passage.text == "The US vote in May will be close, pollsters say."
    assert [passage.text[a:b] for a, b in passage.highlights] == {
        "US": ["US", "vote"], "May": ["vote", "May"], "Will": ["vote", "will"]}[word]


def test_phrase_slop(index):
    # "forces captured two soldiers": two words between "forces" and "soldiers".
    assert index.search('"forces soldiers"').relaxed_phrases == ("forces soldiers",)  # no exact match: said so
    assert search_ids(index, '"forces soldiers"~1') == []
    assert search_ids(index, '"forces soldiers"~2') == ["captured"]


def test_required_and_excluded_words(index):
    assert search_ids(index, "soldiers -regiment") == ["zelensky", "captured"]
    assert search_ids(index, "soldiers -regiment -kursk") == ["zelensky"]
    assert search_ids(index, 'soldiers -"front line" -regiment') == ["captured"]
    assert search_ids(index, "soldiers NOT regiment NOT kursk") == ["zelensky"]
    # A required word that no article holds leaves nothing, whatever else matches.
    assert search_ids(index, "+quokka lynx") == ["tie-c", "tie-a", "tie-b"]
    assert search_ids(index, "quokka +walrus") == []


def test_and_or_and_parentheses(index):
    assert search_ids(index, "soldiers AND kursk") == ["captured"]
    assert search_ids(index, "lynx OR zelenska") == ["captures", "zelenska"]  # lynx: title and body
    assert search_ids(index, "(lynx OR zelensky) AND forest") == ["captures"]
    assert search_ids(index, "(quokka OR lynx) -forest") == ["tie-c", "tie-a", "tie-b"]
    assert search_ids(index, "kursk AND (regiment OR soldiers)") == ["captured"]


def test_fields(index):
    assert search_ids(index, "title:soldiers") == ["soldiers-home", "soldiers-run"]
    assert search_ids(index, "source:guardian") == ["soldiers-home", "captures"]
    assert search_ids(index, 'source:"bbc sport"') == ["soldiers-run"]
    assert search_ids(index, "author:doe") == ["zelensky", "email", "captured"]
    assert search_ids(index, "tag:nature") == ["captures"]
    assert search_ids(index, "title:lynx") == ["captures"]
    assert search_ids(index, "body:lynx") == ["captures"]
    assert search_ids(index, "body:film") == []  # "film" is only in a title


def test_a_field_word_that_occurs_in_the_index_is_not_rewritten(index):
    results = index.search("title:forest")  # "forest" is indexed, in a body
    assert ids(results) == [] and results.expansions == ()


def test_field_applies_to_a_parenthesised_group(index):
    # "regiment" is only ever in bodies: title:(...) must not find it.
    assert search_ids(index, "title:(regiment)") == []
    assert search_ids(index, "title:(marathon OR zelensky)") == ["zelensky", "soldiers-run"]


def test_prefix_and_fuzzy(index):
    assert search_ids(index, "quok*") == ["tie-c", "tie-a", "tie-b"]
    assert search_ids(index, "zelen*") == ["zelensky", "zelenska"]
    assert search_ids(index, "lynks~") == []  # two edits away
    assert search_ids(index, "lynks~2") == ["captures"]
    assert search_ids(index, "lynxx~") == ["captures"]


def test_date_alone_in_the_query(index):
    assert search_ids(index, "date:2025-01") == ["captured"]
    assert search_ids(index, "date:2025-02-05") == ["sotu"]
    assert search_ids(index, "date:2025-03-09..2025-03-10") == ["zelensky", "zelenska"]


def test_date_restricts_the_words_of_the_query(index):
    assert search_ids(index, "soldiers date:2025-01-01..2025-03-10") == ["zelensky", "captured"]
    assert search_ids(index, "soldiers date:2025-01-01..2025-03-09") == ["captured"]
    assert search_ids(index, "soldiers date:..2024-12") == ["soldiers-home", "soldiers-run"]


def test_typo_is_also_searched_as_its_closest_spellings(index):
    results = index.search("zelenksy")
    assert ids(results) == ["zelensky"]
    assert results.expansions == (("zelenksy", ("zelensky",)),)
    assert results.suggestion == "zelensky"


def test_a_word_that_occurs_is_never_rewritten(index):
    # "zelenska" is one edit from "zelensky" and indexed too: it must not be searched.
    results = index.search("zelensky")
    assert ids(results) == ["zelensky"] and results.expansions == () and results.suggestion is None


# -- ranking -------------------------------------------------------------------------------


def test_title_match_outranks_body_only_match(index):
    assert search_ids(index, "budget") == ["budget-title", "budget-body"]
    assert search_ids(index, "soldiers") == ["soldiers-home", "soldiers-run", "zelensky", "captured"]


def test_article_with_all_words_in_one_paragraph_outranks_one_that_scatters_them(index):
    # Same words, counts and length; flood-far is newer, so only the passages can decide.
    assert search_ids(index, "river flood bridge") == ["flood-near", "flood-far"]


def test_article_about_the_words_outranks_one_that_mentions_them_all_in_passing(index):
    # Four words, so coverage is a bonus, not a strict order. A sentence holding the whole query
    # (a remembered sentence) comes first; then the article whose opening is about three of the
    # words (as an article's opening is about its headline), before the one that has all four,
    # once each, deep in its body.
    assert search_ids(index, "observatory telescope glacier funding") == [
        "observatory-sentence", "observatory-lead", "observatory-passing"]


def test_a_typed_spelling_no_article_holds_gets_no_weight(index):
    # Corrected spellings stand in for it: "zelenksy" must not count as the query's rarest word.
    results = index.search("zelenksy soldiers")
    assert ids(results)[0] == "zelensky"


def test_ties_newest_first_then_id(index):
    assert search_ids(index, "quokka") == ["tie-c", "tie-a", "tie-b"]


def test_sort_newest_and_oldest(index):
    newest = ["zelensky", "captured", "soldiers-home", "soldiers-run"]
    assert search_ids(index, "soldiers", sort="newest") == newest
    assert search_ids(index, "soldiers", sort="oldest") == newest[::-1]
    with pytest.raises(QueryError, match="sort must be one of relevance, newest, oldest, not 'best'"):
        index.search("soldiers", sort="best")


def test_sources_filter_exact_names_case_insensitive(index):
    def newest(**options):
        return search_ids(index, "soldiers", sort="newest", **options)

    assert newest(sources=["bbc news"]) == ["zelensky", "captured"]
    assert newest(sources=["BBC"]) == []
    assert newest(sources="BBC News") == ["zelensky", "captured"]  # one name given as a string
    assert newest(sources=["THE GUARDIAN", "bbc sport"]) == ["soldiers-home", "soldiers-run"]
    assert search_ids(index, "quokka OR lynx", sources=["abc"]) == ["tie-c", "tie-a", "tie-b"]


def test_since_is_inclusive_until_exclusive(index):
    def newest(**options):
        return search_ids(index, "soldiers", sort="newest", **options)

    moment = at("2025-03-10T12:00:00")  # zelensky's exact publication time
    assert newest(since=moment) == ["zelensky"]
    assert newest(until=moment) == ["captured", "soldiers-home", "soldiers-run"]
    assert newest(since=at("2025-01-01T00:00:00"), until=at("2025-02-01T00:00:00")) == ["captured"]
    assert newest(since=datetime(2025, 3, 10, 12)) == ["zelensky"]  # naive datetimes are UTC
    assert newest(since=date(2025, 3, 10)) == ["zelensky"]  # a date: its midnight, UTC
    assert newest(until=date(2025, 2, 1)) == ["captured", "soldiers-home", "soldiers-run"]
    assert newest(since="2025-03-10") == ["zelensky"]  # a string: as on the command line
    with pytest.raises(QueryError, match="since must be a date, a datetime or a string such as '2025-01-20', not int"):
        index.search("soldiers", since=2005)
    assert index.timeline("soldiers", by="year", since=date(2025, 1, 1)).total == 2


def test_limit_and_offset_page_through_the_same_order(index):
    everything = search_ids(index, "soldiers")
    assert len(everything) == 4
    pages = [ids(index.search("soldiers", limit=1, offset=n)) for n in range(5)]
    assert pages == [[everything[0]], [everything[1]], [everything[2]], [everything[3]], []]
    second = index.search("soldiers", limit=2, offset=2)
    assert [hit.rank for hit in second.hits] == [3, 4] and second.total == 4


# -- passages ------------------------------------------------------------------------------


def test_passage_offsets_and_highlights_match_the_stored_body(index):
    results = index.search("capture", limit=50)
    seen = {}
    for hit in results.hits:
        body = index.document(hit.id).body
        for passage in hit.passages:
            assert body[passage.start:passage.end] == passage.text
            seen[hit.id] = [passage.text[a:b] for a, b in passage.highlights]
    # The surface forms of the stem are highlighted, exactly.
    assert seen == {"captured": ["captured"], "captures": ["captures"]}
    hit = results.hits[0]
    assert hit.passages[0].highlights == ((17, 25),)
    marked = "".join("^" if any(a <= i < b for a, b in hit.passages[0].highlights) else " "
                     for i in range(len(hit.passages[0].text)))
    assert hit.passages[0].text == "Ukrainian forces captured two soldiers near Kursk."
    assert marked == "                 ^^^^^^^^                         "


def test_phrase_highlights_only_the_phrase(index):
    hit = next(hit for hit in index.search('"state of the union"').hits if hit.id == "sotu")
    (passage,) = hit.passages
    assert passage.text == "The president gave the state of the union address on Tuesday."
    assert [passage.text[a:b] for a, b in passage.highlights] == ["state of the union"]
    assert passage.highlights == ((23, 41),)


def test_hyphenated_phrase_highlights_as_one_span(index):
    (hit,) = index.search('"e mail interception"').hits
    (passage,) = hit.passages
    assert [passage.text[a:b] for a, b in passage.highlights] == ["e-mail interception"]


def test_title_only_match_shows_the_lead_sentences_without_highlights(index):
    results = index.search("budget")
    title_hit = next(hit for hit in results.hits if hit.id == "budget-title")
    assert title_hit.passages == (Passage(
        "Ministers set out new spending plans for schools. Head teachers welcomed them.", 0, 78, 0.0, ()),)


def test_passages_zero_gives_none(index):
    results = index.search("soldiers", passages=0)
    assert results.total == 4 and all(hit.passages == () for hit in results.hits)


def test_passages_are_ranked_best_first_and_limited(index):
    # The two share their filler paragraphs: copies, so both are shown only with collapse=False.
    near, far = index.search("river flood bridge", passages=3, collapse=False).hits
    assert [p.text for p in near.passages] == ["The river flood reached the old bridge at dawn today."]
    # One word each, equal weights: earlier passages first.
    assert [p.text for p in far.passages] == ["The river rose.", "The flood came.", "The old bridge held."]
    assert [p.text for p in index.search("river flood bridge", passages=2, collapse=False).hits[1].passages] == [
        "The river rose.", "The flood came."]


# -- errors and hostile queries ------------------------------------------------------------


@pytest.mark.parametrize("query, message", [
    ("-profit", "only excludes words"),
    ("the", "'the' has only very common words, which plain word lists leave out; add a less common word, "
            "or quote the words to search them as a phrase"),
    ("Of THE", "'Of THE' has only very common words"),
    ("x*", "too short to expand"),
    ("*a*", "wildcards are only supported at the end of a word"),
    ("abcdef~3", "fuzzy distance 3 in 'abcdef~3' is too large; use ~1 or ~2"),
    ("colour:red", "unknown field 'colour' in 'colour:red'; valid fields are title:, body:, source:, author:, "
                   "tag:, date:"),
    ("date:[notadate to 2006]", "cannot read the date '[notadate'"),
    ("x" * 1001, "the query is 1,001 characters long; the limit is 1,000"),
    (" ".join(f"w{n}" for n in range(65)), "more than 64 terms"),
    ("(" * 2000 + "x" + ")" * 2000, "the limit is 1,000"),
    ("(" * 400 + "x", "deeper than 16 levels"),
    ("y" * 100_000, "the query is 100,000 characters long"),
])
def test_refused_queries_raise_query_error_quickly(index, query, message):
    started = time.monotonic()
    with pytest.raises(QueryError) as raised:
        index.search(query)
    assert message in str(raised.value)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("query, expected", [
    ("?????", []),
    ('"state union', ["state-union"]),
    ('"state union"~', ["state-union"]),
    ("(quokka", ["tie-c", "tie-a", "tie-b"]),
    ("quokka)", ["tie-c", "tie-a", "tie-b"]),
    ("((((quokka", ["tie-c", "tie-a", "tie-b"]),
    ("x" * 1000, []),
    ("http://example.com", []),
])
def test_lenient_queries_are_harmless(index, query, expected):
    assert search_ids(index, query) == expected


@pytest.mark.parametrize("options, message", [
    ({"limit": 0}, "limit must be between 1 and 1000, not 0"),
    ({"offset": -1}, "offset must not be negative, not -1"),
])
def test_bad_options_raise_query_error(index, options, message):
    with pytest.raises(QueryError, match=message):
        index.search("quokka", **options)


# -- a long-lived index --------------------------------------------------------------------


def test_one_index_shared_by_threads(index):
    queries = ["quokka", "capture", '"state of the union"', "zelenksy", "budget", "ferry harbour strike"]
    expected = {query: search_ids(index, query) for query in queries}
    errors: list[BaseException] = []
    wrong: list[tuple[str, list[str]]] = []

    def worker(offset: int) -> None:
        for n in range(50):
            query = queries[(n + offset) % len(queries)]
            try:
                got = search_ids(index, query)
            except BaseException as exc:  # noqa: BLE001 - every error counts
                errors.append(exc)
            else:
                if got != expected[query]:
                    wrong.append((query, got))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and wrong == []
    assert expected["quokka"] == ["tie-c", "tie-a", "tie-b"] and expected["zelenksy"] == ["zelensky"]


def test_index_follows_new_commits_and_rebuilds(tmp_path):
    corpus = tmp_path / "corpus"
    write_article(corpus, "a.txt", "Walrus on the beach", "A walrus slept on the beach.")
    build_index([corpus], tmp_path / "index")
    with open_index(tmp_path / "index") as opened:
        assert search_ids(opened, "walrus") == ["a.txt"] and search_ids(opened, "narwhal") == []
        write_article(corpus, "b.txt", "Narwhal in the bay", "A narwhal swam in the bay.")
        assert not build_index([corpus], tmp_path / "index").rebuilt
        assert search_ids(opened, "narwhal") == ["b.txt"]
        (corpus / "a.txt").unlink()
        write_article(corpus, "c.txt", "Dugong seen", "A dugong was seen near the walrus rock.")
        assert build_index([corpus], tmp_path / "index", rebuild=True).rebuilt
        assert search_ids(opened, "walrus") == ["c.txt"]
        assert search_ids(opened, "narwhal") == ["b.txt"]
        assert opened.document("c.txt").title == "Dugong seen"
        with pytest.raises(DocumentNotFound):
            opened.document("a.txt")


def test_typo_correction_has_its_full_time_even_when_the_stemmer_loads_slowly(index, monkeypatch):
    """The first unknown word of a process loads NLTK; that must not eat the time allowed
    for finding its spellings (measured here: a 2 s NLTK import left no correction at all)."""
    import newsearch.analysis as analysis

    real = analysis._nltk_snowball()

    def slow_load():
        time.sleep(0.8)  # longer than the whole expansion budget
        return real

    monkeypatch.setattr(analysis._Stemmer, "_stem", None)
    monkeypatch.setattr(analysis._Stemmer, "_cache", {})
    monkeypatch.setattr(analysis._Stemmer, "lookup", None)
    monkeypatch.setattr(analysis, "_nltk_snowball", slow_load)
    results = index.search("zelenksy")
    assert results.expansions == (("zelenksy", ("zelensky",)),)


def test_a_misspelling_that_shares_a_rare_words_stem_is_still_corrected(tmp_path):
    # Snowball stems "goverment" as it stems "governess": the typed word matched the one article
    # about a governess, and the hundreds about the government were never offered.
    folder = tmp_path / "corpus"
    write_article(folder, "nanny.txt", "The governess", "A governess taught the children French.")
    for number in range(25):
        write_article(folder, f"gov-{number}.txt", f"Budget {number}", f"The government announced budget {number}.")
    build_index([folder], tmp_path / "ix")
    with open_index(tmp_path / "ix") as index:
        found = index.search("goverment", limit=30)
        assert found.expansions == (("goverment", ("government",)),)
        assert found.total == 26 and found.hits[0].id.startswith("gov-")
        assert index.search("governess").expansions == ()  # a word written in the index is never rewritten
