"""Phrase highlights (issue 12, item 5): a phrase occurrence is one span, its words are
highlighted only where the phrase occurs, and passages for a phrase query contain it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsearch import build_index
from newsearch.cli import cli
from newsearch.passages import PassageQuery, best_passages, highlight_spans
from newsearch.searcher import Index

ARTICLES = {
    "treasury": ("Budget day",
                 "Mr Brown arrived early at the Treasury with the budget.\n\n"
                 "Later the chancellor, Gordon Brown, set out his budget.\n\n"
                 "Aides said Brown was calm."),
    "spam": ("Spam report",
             "Spammers route junk via the mail servers of the firm.\n\n"
             "Most junk mails are blocked. The e-mail interception law was passed."),
    "pm": ("Questions",
           "The prime minister spoke to MPs.\n\n"
           "A minister for trade was absent, and the prime suspect was not named."),
    "border": ("Border talks",
               "Troops from North-Korean units and South Korean units met.\n\n"
               "Gordon and Sarah Brown visited the CAFÉ Society in the capital."),
    "weather": ("Weather", "The weather was mild all week."),
}


@pytest.fixture(scope="module")
def index_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phrase_highlights")
    corpus = root / "corpus"
    corpus.mkdir()
    for id, (title, body) in ARTICLES.items():
        (corpus / f"{id}.json").write_text(json.dumps({"id": id, "title": title, "body": body}), encoding="utf-8")
    report = build_index([corpus], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    return root / "index"


@pytest.fixture(scope="module")
def index(index_path):
    with Index(index_path) as opened:
        yield opened


def covered(text: str, spans) -> list[str]:
    return [text[start:end] for start, end in spans]


def marked(text: str, spans) -> str:
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], "[", text[start:end], "]"]
        last = end
    return "".join(out) + text[last:]


# -- spans: Index.highlight (what `show --query` uses) -------------------------------------------


@pytest.mark.parametrize(("id", "query", "expected"), [
    ("treasury", '"gordon brown"', ["Gordon Brown"]),  # not "Mr Brown", not "Brown was calm"
    ("spam", '"junk mail"', ["junk mails"]),  # not "junk via the mail"
    ("spam", '"e mail interception"', ["e-mail interception"]),
    ("pm", '"prime minister"', ["prime minister"]),  # not "A minister", not "prime suspect"
    ("border", '"north korean"', ["North-Korean"]),  # not "South Korean"
    ("border", "north-korean", ["North-Korean"]),
    ("border", '"cafe society"', ["CAFÉ Society"]),
    ("border", '"gordon brown"', []),
])
def test_a_phrase_is_one_span_and_only_where_it_occurs(index, id, query, expected):
    body = index.document(id).body
    spans = index.highlight(body, query)
    assert covered(body, spans) == expected
    # The offsets exactly: from the first word's start to the last word's end.
    assert spans == [(body.index(text), body.index(text) + len(text)) for text in expected]


def test_exact_offsets_of_phrase_spans(index):
    body = index.document("treasury").body
    assert index.highlight(body, '"gordon brown"') == [(79, 91)]
    body = index.document("spam").body
    assert index.highlight(body, '"junk mail"') == [(60, 70)]
    assert index.highlight(body, '"e mail interception"') == [(88, 107)]


def test_a_word_typed_alone_too_is_highlighted_everywhere(index):
    body = index.document("treasury").body
    spans = index.highlight(body, '"gordon brown" brown')
    assert covered(body, spans) == ["Brown", "Gordon Brown", "Brown"]


def test_sloppy_phrase_highlights_its_words_not_the_words_between(index):
    body = index.document("border").body
    assert covered(body, index.highlight(body, '"gordon brown"~2')) == ["Gordon", "Brown"]
    body = index.document("treasury").body
    assert covered(body, index.highlight(body, '"gordon brown"~2')) == ["Gordon Brown"]


def test_passage_query_phrase_only_terms():
    body = "Brown, Brown and Brown.\n\nThey said Gordon Brown spoke.\n\nGordon was late."
    query = PassageQuery({"gordon": 1.0, "brown": 1.0}, phrases=(("gordon", "brown"),),
                         phrase_only=frozenset({"gordon", "brown"}))
    assert covered(body, highlight_spans(body, query)) == ["Gordon Brown"]
    passages = best_passages(body, query, count=3)
    assert [marked(p.text, p.highlights) for p in passages] == ["They said [Gordon Brown] spoke."]
    # Without phrase_only the words count alone as well (plain words and the phrase both typed).
    loose = PassageQuery({"gordon": 1.0, "brown": 1.0}, phrases=(("gordon", "brown"),))
    assert covered(body, highlight_spans(body, loose)) == ["Brown", "Brown", "Brown", "Gordon Brown", "Gordon"]


def test_overlapping_phrases_merge_into_one_span():
    body = "The New York Times said so."
    query = PassageQuery({"new": 1.0, "york": 1.0, "time": 1.0}, phrases=(("new", "york"), ("york", "time")),
                         phrase_only=frozenset({"new", "york", "time"}))
    assert covered(body, highlight_spans(body, query)) == ["New York Times"]


# -- passages --------------------------------------------------------------------------------------


def test_every_passage_of_a_phrase_query_holds_the_phrase(index):
    (hit,) = index.search('"gordon brown"', passages=3).hits
    assert [marked(p.text, p.highlights) for p in hit.passages] == [
        "Later the chancellor, [Gordon Brown], set out his budget.",
    ]


def test_the_passage_with_the_phrase_beats_one_with_a_single_word_of_it(index):
    (hit, *_) = index.search('"gordon brown" budget', passages=1).hits
    assert hit.id == "treasury"
    assert [marked(p.text, p.highlights) for p in hit.passages] == [
        "Later the chancellor, [Gordon Brown], set out his [budget].",
    ]


def test_text_output_shows_a_phrase_as_one_bracketed_span(index_path):
    result = CliRunner().invoke(cli, ["search", '"prime minister"', "--index", str(index_path)])
    assert result.exit_code == 0, result.output
    assert "     The [prime minister] spoke to MPs." in result.stdout.splitlines()
    assert "[prime]" not in result.stdout and "[minister]" not in result.stdout


def test_json_output_has_one_span_per_phrase(index_path):
    result = CliRunner().invoke(cli, ["search", '"prime minister"', "--index", str(index_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    (hit,) = json.loads(result.stdout)["hits"]
    assert [(p["text"], p["highlights"]) for p in hit["passages"]] == [("The prime minister spoke to MPs.", [[4, 18]])]


def test_show_with_a_phrase_query(index_path):
    result = CliRunner().invoke(cli, ["show", "treasury", "--index", str(index_path), "--query", '"gordon brown"'])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-5:] == [
        "Mr Brown arrived early at the Treasury with the budget.",
        "",
        "Later the chancellor, [Gordon Brown], set out his budget.",
        "",
        "Aides said Brown was calm.",
    ]
    result = CliRunner().invoke(cli, ["show", "spam", "--index", str(index_path), "--format", "json",
                                      "--query", '"junk mail"'])
    assert json.loads(result.stdout)["highlights"] == [[60, 70]]


# -- the BBC articles ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bbc(bbc_index):
    with Index(bbc_index.path) as opened:  # the session's BBC index (conftest.py)
        yield opened


@pytest.mark.parametrize(("query", "pattern"), [
    ('"gordon brown"', r"gordon\s+brown(['’]s)?"),
    ('"prime minister"', r"prime\s+minister(['’]?s)?"),
])
def test_bbc_phrase_highlights_read_the_phrase(bbc, query, pattern):
    results = bbc.search(query, limit=10)
    assert len(results.hits) == 10
    spans = [p.text[a:b] for hit in results.hits for p in hit.passages for a, b in p.highlights]
    assert spans and all(re.fullmatch(pattern, span, re.IGNORECASE) for span in spans), spans
    # Every passage shown holds the phrase (each of these articles has it in its body).
    assert all(p.highlights for hit in results.hits for p in hit.passages)
