"""Typo correction never invents results (issue #12, item 4).

A word no article holds is searched as a spelling one edit away only when the correction is
confident (``compiler.QueryCompiler._confident``): a long word alone, to a common spelling; or a
word whose correction one article holds together with two or more other words of the query.
Otherwise the word is searched as typed: "No results for 'obama'." (exit 1) and "Did you mean:
osama?", or, beside words that match, results for those and a note that no article has it. The
note about any rewriting comes before the results. ``--exact`` / ``correct=False`` turn
correction off.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.corpora import WORDS, write_article

from newsearch import build_index, open_index
from newsearch.cli import cli


def filler(seed: int) -> str:
    """Different words for each article, so that none is folded as a copy of another."""
    rng = random.Random(seed)
    return " ".join(" ".join(rng.choice(WORDS) for _ in range(10)).capitalize() + "." for _ in range(4))


@pytest.fixture(scope="module")
def index_path(tmp_path_factory) -> Path:
    """120 articles: "parliament" in 30, "ipod" in 10, "osama" in one (beside "president"),
    "imbruglia" in one (beside "natalie" and "electra"), "vaccine" in 3."""
    root = tmp_path_factory.mktemp("typo_confidence")
    corpus = root / "corpus"
    for number in range(30):
        write_article(corpus, f"parliament/{number:02d}.txt", f"Vote number {number}",
                      f"The parliament voted on the budget today. {filler(number)}")
    for number in range(10):
        write_article(corpus, f"ipod/{number:02d}.txt", f"Music player {number}",
                      f"Sales of the ipod rose again, with new apps. {filler(100 + number)}")
    write_article(corpus, "osama.txt", "Tape broadcast", f"A tape said to be from Osama was aired; the president "
                                                         f"spoke of it. {filler(200)}")
    write_article(corpus, "imbruglia.txt", "Concert for the tsunami", "Artists including Carmen Electra and "
                  f"Natalie Imbruglia gave live performances at the event. {filler(201)}")
    for number in range(3):
        write_article(corpus, f"vaccine/{number}.txt", f"Health plan {number}",
                      f"A new vaccine against malaria was tested. {filler(300 + number)}")
    for number in range(120 - 45):
        write_article(corpus, f"other/{number:02d}.txt", f"Local news {number}",
                      f"The president of the club opened a garden. {filler(400 + number)}")
    build_index([corpus], root / "index")
    return root / "index"


@pytest.fixture
def run(index_path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, ["search", "--index", str(index_path), "--passages", "0", *args],
                             prog_name="newsearch")

    return invoke


def without_timing(text: str) -> str:
    return re.sub(r"\(\d[\d,]* ms\)", "(X ms)", text)


# -- confident corrections ---------------------------------------------------------------------


def test_a_long_word_one_edit_from_a_common_word_is_corrected_and_said_so_first(run):
    result = run("parliment", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert without_timing(result.stdout) == (
        "Also searched for: parliament (for 'parliment')\n"
        "  1. Vote number 0\n"
        "     parliament · parliament/00.txt\n"
        "\n"
        "1 of 30 results (X ms)\n"
    )


def test_the_note_about_a_correction_comes_before_the_first_hit(run):
    lines = run("parliment budget").stdout.splitlines()
    assert lines[0] == "Also searched for: parliament (for 'parliment')"
    assert lines[1].startswith("  1. ")


def test_a_rare_correction_held_with_two_other_words_of_the_query_is_made(index_path):
    with open_index(index_path) as index:
        results = index.search("natalie ikbruglia electra")
    assert results.expansions == (("ikbruglia", ("imbruglia",)),) and results.not_found == ()
    assert results.hits[0].id == "imbruglia.txt"


# -- words the archive does not hold -----------------------------------------------------------


def test_a_word_one_edit_from_a_rare_word_is_not_rewritten(run, index_path):
    result = run("obama")
    assert (result.exit_code, result.stdout) == (1, "No results for 'obama'.\nDid you mean: osama?\n")
    with open_index(index_path) as index:
        results = index.search("obama")
    assert (results.total, results.expansions, results.not_found, results.suggestion) == (0, (), ("obama",), "osama")


def test_a_short_word_one_edit_from_a_common_word_is_not_rewritten(run):
    """"ipad" is one edit from "ipod" (in 10 of 120 articles), but four letters are one edit
    from too many words for that to be confident."""
    result = run("ipad")
    assert (result.exit_code, result.stdout) == (1, "No results for 'ipad'.\nDid you mean: ipod?\n")


def test_one_other_word_held_with_a_rare_correction_does_not_confirm_it(index_path):
    with open_index(index_path) as index:
        results = index.search("obama president")
    assert results.expansions == () and results.not_found == ("obama",)
    assert results.total == 76  # the articles with "president", as for "president" alone
    assert results.suggestion == "osama president"


def test_beside_words_that_match_the_unknown_word_is_reported_before_the_results(run):
    result = run("covid vaccine")
    assert result.exit_code == 0
    lines = without_timing(result.stdout).splitlines()
    assert lines[0] == "No article has 'covid': these are results for the other words."
    assert lines[1].startswith("  1. Health plan")
    assert lines[-1] == "1-3 of 3 results (X ms)"


def test_json_lists_the_words_no_article_has(run):
    data = json.loads(run("covid vaccine", "--format", "json").stdout)
    assert (data["not_found"], data["expansions"], data["total"]) == (["covid"], {}, 3)
    data = json.loads(run("parliment", "--format", "json").stdout)
    assert (data["not_found"], data["expansions"]) == ([], {"parliment": ["parliament"]})


def test_an_excluded_word_is_never_corrected_nor_reported(index_path):
    with open_index(index_path) as index:
        results = index.search("budget -parliment")
    assert (results.total, results.expansions, results.not_found) == (30, (), ())


# -- correction off ----------------------------------------------------------------------------


def test_exact_turns_correction_off(run, index_path):
    result = run("parliment", "--exact")
    assert (result.exit_code, result.stdout) == (1, "No results for 'parliment'.\nDid you mean: parliament?\n")
    with open_index(index_path) as index:
        results = index.search("parliment", correct=False)
        assert (results.total, results.expansions, results.not_found) == (0, (), ("parliment",))
        assert index.timeline("parliment", correct=False).undated == 0
        counted = index.timeline("parliment")
        assert (counted.undated, counted.expansions) == (30, (("parliment", ("parliament",)),))


def test_timeline_says_what_it_counted_instead(index_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["timeline", "--index", str(index_path), "parliment"], prog_name="newsearch")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "Also counted: parliament (for 'parliment')"
    exact = runner.invoke(cli, ["timeline", "--index", str(index_path), "parliment", "--exact"], prog_name="newsearch")
    assert (exact.exit_code, exact.stdout.splitlines()[0]) == (1, "No article has 'parliment'.")


# -- the BBC corpus ----------------------------------------------------------------------------

NOT_IN_BBC = ["obama", "covid vaccine", "brexit", "twitter", "iphone", "tiktok", "quokka", "turbo",
              "ipad", "musk", "kindle", "obama president", "brwon blair"]
# Real typing errors of BBC words: long ones alone, and short ones among the words they go with
# (from the benchmark's typo set).
TYPOS_IN_BBC = {
    "goverment": "government",
    "parliment": "parliament",
    "minsiter": "minister",
    "rule including green natalie ikbruglia electra": "imbruglia",
    "condiiton physical decision israel spokesman": "condition",
    "third labour next aenda months": "agenda",
    "training abdmen full strained back": "abdomen",
    "maibu robinson nomination home luis oscar": "malibu",
}


@pytest.fixture(scope="module")
def bbc(bbc_index):
    with open_index(bbc_index.path) as index:
        yield index


@pytest.mark.parametrize("query", NOT_IN_BBC)
def test_words_the_bbc_archive_lacks_are_not_rewritten(bbc, query):
    results = bbc.search(query)
    assert results.expansions == ()
    assert query.split()[0] in results.not_found or query == "turbo"


@pytest.mark.parametrize("query, word", TYPOS_IN_BBC.items())
def test_real_typos_of_bbc_words_are_still_corrected(bbc, query, word):
    expansions = dict(bbc.search(query).expansions)
    assert [word] == [spelling for spellings in expansions.values() for spelling in spellings][:1], expansions
