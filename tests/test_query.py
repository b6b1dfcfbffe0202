"""The query parser (`newsearch.query`): user text -> syntax tree, or a QueryError that says how to fix it."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from newsearch.config import parse_date_bound
from newsearch.errors import QueryError
from newsearch.query import AnyOf, Clause, DateRange, Group, Phrase, Word, parse

UTC = timezone.utc


def should(*nodes):
    return tuple(Clause("should", node) for node in nodes)


def day(year, month=1, date=1):
    return datetime(year, month, date, tzinfo=UTC)


# -- the language --------------------------------------------------------------------------


@pytest.mark.parametrize("text, tree", [
    ("north korea", Group(should(Word("north"), Word("korea")))),
    ('"exact phrase"', Group(should(Phrase("exact phrase")))),
    ('"state of the union"', Group(should(Phrase("state of the union")))),
    ('"troops captured"~3', Group(should(Phrase("troops captured", slop=3)))),
    ("+required -excluded", Group((Clause("must", Word("required")), Clause("not", Word("excluded"))))),
    ('bank -"profit warning"', Group((Clause("should", Word("bank")), Clause("not", Phrase("profit warning"))))),
    ("bank NOT profit", Group((Clause("should", Word("bank")), Clause("not", Word("profit"))))),
    ("bank AND profit", Group((Clause("must", Word("bank")), Clause("must", Word("profit"))))),
    ("bank OR profit", AnyOf((Group(should(Word("bank"))), Group(should(Word("profit")))))),
    ("kursk OR -profit", Group((Clause("should", Word("kursk")), Clause("not", Word("profit"))))),
    ("a b OR c", AnyOf((Group(should(Word("a"), Word("b"))), Group(should(Word("c")))))),
    ("(bank OR profit) AND loss", Group((
        Clause("must", AnyOf((Group(should(Word("bank"))), Group(should(Word("profit")))))),
        Clause("must", Word("loss"))))),
    ("+(bank profit) loss", Group((Clause("must", Group(should(Word("bank"), Word("profit")))),
                                   Clause("should", Word("loss"))))),
    ("title:kursk", Group(should(Word("kursk", field="title")))),
    ("TITLE:kursk", Group(should(Word("kursk", field="title")))),
    ('title:"north korea"', Group(should(Phrase("north korea", field="title")))),
    ("body:kursk", Group(should(Word("kursk", field="body")))),
    ("source:BBC", Group(should(Word("BBC", field="source")))),
    ("author:doe", Group(should(Word("doe", field="author")))),
    ("tag:war", Group(should(Word("war", field="tag")))),
    ("-source:bbc kursk", Group((Clause("not", Word("bbc", field="source")), Clause("should", Word("kursk"))))),
    ("cap*", Group(should(Word("cap", prefix=True)))),
    ("title:capt*", Group(should(Word("capt", field="title", prefix=True)))),
    ("zelenksy~", Group(should(Word("zelenksy", fuzzy=1)))),
    ("zelenksy~1", Group(should(Word("zelenksy", fuzzy=1)))),
    ("zelenksy~2", Group(should(Word("zelenksy", fuzzy=2)))),
    ("e-mail", Group(should(Word("e-mail")))),
    ("http://example.com/a", Group(should(Word("http://example.com/a")))),
    ("?????", Group(should(Word("?????")))),
])
def test_parse(text, tree):
    assert parse(text) == tree


@pytest.mark.parametrize("text, start, end", [
    ("date:2025", day(2025), day(2026)),
    ("date:2025-01", day(2025, 1), day(2025, 2)),
    ("date:2024-02", day(2024, 2), day(2024, 3)),  # leap year: 29 days
    ("date:2025-01-31", day(2025, 1, 31), day(2025, 2, 1)),
    ("date:2025-01-01..2025-03-31", day(2025, 1, 1), day(2025, 4, 1)),  # the end day is included
    ("date:2025-01..", day(2025, 1), None),
    ("date:..2025-02", None, day(2025, 3)),
    ('date:"2025-12"', day(2025, 12), day(2026, 1)),
])
def test_dates_are_half_open_utc_ranges(text, start, end):
    assert parse(text) == Group(should(DateRange(start, end)))


def test_date_bounds_for_since_and_until():
    assert parse_date_bound("2025-03") == day(2025, 3)
    assert parse_date_bound("2025-03", end=True) == day(2025, 4)
    assert parse_date_bound("2025-12-31", end=True) == day(2026, 1, 1)
    assert parse_date_bound("2025") == day(2025)
    with pytest.raises(QueryError, match=r"cannot read the date '2025-13'; write YYYY, YYYY-MM, YYYY-MM-DD, a time"):
        parse_date_bound("2025-13")
    with pytest.raises(QueryError, match="cannot read the date 'last week'"):
        parse_date_bound("last week")


def test_field_before_parentheses_applies_to_the_group():
    assert parse("title:(kursk OR korea)") == Group(should(AnyOf((
        Group(should(Word("kursk", field="title"))), Group(should(Word("korea", field="title")))))))


# -- lenient -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, tree", [
    ('"unclosed phrase', Group(should(Phrase("unclosed phrase")))),
    ('kursk "north korea', Group(should(Word("kursk"), Phrase("north korea")))),
    ("(unclosed group", Group(should(Group(should(Word("unclosed"), Word("group")))))),
    ("stray)", Group(should(Word("stray")))),
    (") leading", Group(should(Word("leading")))),
    ("((kursk", Group(should(Group(should(Group(should(Word("kursk")))))))),
])
def test_unbalanced_quotes_and_parentheses_are_closed_or_ignored(text, tree):
    assert parse(text) == tree


# -- refused, with the fix in the message --------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("", "the query is empty; type some words to search for"),
    ("   ", "the query is empty; type some words to search for"),
    ("-profit", "the query '-profit' only excludes words; add a word to search for, e.g. 'bank -profit'"),
    ("-profit -loss", "the query '-profit -loss' only excludes words"),
    ("NOT profit", "only excludes words"),
    ("kursk OR (-profit)", "the query '-profit' only excludes words"),
    ("kursk (NOT profit)", "the query '-profit' only excludes words"),
    ("*", "'*' is too short to expand: write at least 2 letters before the * (e.g. cap*)"),
    ("c*", "'c*' is too short to expand"),
    ("*a*", "wildcards are only supported at the end of a word ('*a*'); write at least 2 letters before a final *"),
    ("*ing", "wildcards are only supported at the end of a word"),
    ("ca*t", "wildcards are only supported at the end of a word"),
    ("abcdef~3", "fuzzy distance 3 in 'abcdef~3' is too large; use ~1 or ~2"),
    ("colour:red", "unknown field 'colour' in 'colour:red'; valid fields are title:, body:, source:, author:, tag:, "
                   "date:. To search the text literally, quote it: \"colour:red\""),
    ("date:[notadate to 2006]", "cannot read the date '[notadate'; write date:YYYY, date:YYYY-MM, date:YYYY-MM-DD "
                                "or a range date:2025-01-01..2025-03-31"),
    ("date:2025-13", "cannot read the date '2025-13'"),
    ("date:2025-02-30", "cannot read the date '2025-02-30'"),
    ("date:..", "date:.. needs at least one date"),
    ("x" * 1001, "the query is 1,001 characters long; the limit is 1,000"),
    (" ".join(f"w{n}" for n in range(65)), "the query has more than 64 terms; shorten it"),
    ("(" * 17 + "kursk", "the query nests parentheses deeper than 16 levels; simplify it"),
    ("OR", "the query 'OR' has no words to search for, only operators, brackets or quotes; type some words"),
    ("AND OR", "the query 'AND OR' has no words to search for"),
    ("NOT", "has no words to search for"),
    ("()", "has no words to search for"),
    ('""', "has no words to search for"),
    ("title:()", "has no words to search for"),
    ("blair^2", "boosting a word ('blair^2') is not supported; search 'blair'"),
])
def test_refused_queries_say_why(text, message):
    with pytest.raises(QueryError) as raised:
        parse(text)
    assert message in str(raised.value)


def test_limits_are_inclusive():
    assert parse("x" * 1000) == Group(should(Word("x" * 1000)))
    assert len(parse(" ".join(f"w{n}" for n in range(64))).clauses) == 64
    tree = parse("(" * 16 + "kursk" + ")" * 16)
    for _ in range(16):
        (clause,) = tree.clauses
        tree = clause.node
    assert tree == Group(should(Word("kursk")))


@pytest.mark.parametrize("text", [
    "(" * 2000 + "kursk" + ")" * 2000,
    "(" * 999 + "x",
    "(" * 499 + "x" + ")" * 499,
    ")" * 1000,
    "y" * 100_000,
    '"' * 1000,
    "a~" * 500,
    "-" * 1000,
    "*" * 1000,
    "date:" + "9" * 995,
    "title:" * 166,
    "\x00\x1b[2J" * 250,
])
def test_hostile_queries_raise_only_query_error_and_fast(text):
    started = time.monotonic()
    try:
        parse(text)
    except QueryError as exc:
        assert str(exc)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("text", ['-"~2 \n bank"', '-"of\nthe"', "-profit\r\n-loss"])
def test_a_refusal_quoting_a_query_with_line_breaks_is_one_line(text):
    """Found by the fuzzers: the message quoted the query's line breaks as they were."""
    with pytest.raises(QueryError) as refused:
        parse(text)
    assert "\n" not in str(refused.value) and "\r" not in str(refused.value)
