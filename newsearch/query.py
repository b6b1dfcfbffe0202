"""The query language: user text -> a small syntax tree. No Whoosh here.

Grammar, loosest first (the README's precedence table)::

    query   := group ("OR" group)*
    group   := clause (["AND"] clause)*
    clause  := ["+" | "-" | "NOT "] atom
    atom    := "(" query ")" | [field ":"] (phrase | word) | "date:" range
    phrase  := '"' words '"' ["~" N]
    word    := text ["*"] | text "~" [1|2]

A group's clauses "should" match (ranked so that articles matching every clause
come first); the operands of AND "must" (``AND NOT x``, ``AND -x``: must not).
A ``+x``, ``-x`` or ``NOT x`` that is not an operand of AND is required or
excluded at its whole bracket level, across any OR there: ``a OR b -c`` is
``(a OR b) -c``. A bracket group of only exclusions that is required
(``a AND (NOT b)``, ``+(-b)``) means "none of these".

Lenient by design: an unclosed quote or parenthesis closes at the end, a stray
")" is ignored. Refused with a QueryError that says how to fix it: unknown
fields, bare or leading wildcards, fuzzy distances over 2, only exclusions,
and queries over the size limits (which also bound parsing time and depth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from newsearch.config import date_bounds
from newsearch.errors import QueryError

MAX_QUERY_CHARS = 1000
MAX_CLAUSES = 64
MAX_DEPTH = 16
MIN_PREFIX_CHARS = 2

# query field name -> index field name
FIELDS = {"title": "title", "body": "body", "source": "source", "author": "author", "tag": "tag", "date": "published"}

Occur = Literal["should", "must", "not"]


@dataclass(frozen=True)
class Word:
    """One word as typed; the searcher analyzes it (it may become several terms)."""

    text: str
    field: str | None = None  # None: title and body
    prefix: bool = False
    fuzzy: int = 0


@dataclass(frozen=True)
class Phrase:
    text: str
    field: str | None = None
    slop: int = 0


@dataclass(frozen=True)
class DateRange:
    """Published in [start, end) (either side open), UTC."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Clause:
    occur: Occur
    node: Node


@dataclass(frozen=True)
class Group:
    """Clauses that must, should or must not match."""

    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class AnyOf:
    """Alternatives joined by OR."""

    groups: tuple[Node, ...]


Node = Word | Phrase | DateRange | Group | AnyOf

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<quote>"(?P<qtext>[^"]*)(?:"|$)(?:~(?P<slop>\d+))?)
    | (?P<word>[^\s()"]+)
    """,
    re.VERBOSE,
)
_FIELD = re.compile(r"^(?P<name>[A-Za-z_]+):(?P<rest>.*)$", re.DOTALL)


@dataclass
class _Token:
    kind: str
    text: str
    slop: int = 0
    modifier: str = ""  # "+", "-" or ""
    fieldname: str | None = None


@dataclass
class _Parser:
    tokens: list[_Token]
    pos: int = 0
    clauses: int = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse_query(self, depth: int) -> Node:
        """One bracket level: alternatives joined by OR, and the clauses that apply to the whole level.

        A ``+x``, ``-x`` or ``NOT x`` that is not an operand of AND applies to the whole level,
        across its ORs (as in Lucene): ``a OR b -c`` is ``(a OR b) -c``, and ``a OR b +c`` is
        ``(a OR b) +c``. The operands of AND belong to their alternative: ``a OR b AND NOT c``
        is ``a OR (b AND NOT c)``.
        """
        branches = [self.parse_group(depth)]
        while (token := self.peek()) is not None and token.kind == "word" and token.text == "OR" and not token.modifier:
            self.pos += 1
            branches.append(self.parse_group(depth))
        if len(branches) == 1:
            return Group(tuple(clause for clause, _ in branches[0]))
        level = tuple(clause for branch in branches for clause, wide in branch if wide)
        groups = [Group(tuple(clause for clause, wide in branch if not wide)) for branch in branches]
        groups = [group for group in groups if group.clauses]
        if len(groups) == 1:
            return Group(groups[0].clauses + level)
        if not groups:
            return Group(level)
        alternatives = AnyOf(tuple(groups))
        return Group((Clause("should", alternatives),) + level) if level else alternatives

    def parse_group(self, depth: int) -> list[tuple[Clause, bool]]:
        """The clauses of one alternative, each with whether it applies to the whole level
        (a ``+x``, ``-x`` or ``NOT x`` that is not an operand of AND)."""
        clauses: list[tuple[Clause, bool]] = []
        operand = 0  # where the clauses of the last operand start (a group of exclusions gives several)
        and_next = False
        while (token := self.peek()) is not None:
            if token.kind == "close":
                if depth > 0:
                    break
                self.pos += 1  # a stray ")" at the top level is ignored
                continue
            if token.kind == "word" and not token.modifier and token.text == "OR":
                break
            if token.kind == "word" and not token.modifier and token.text == "AND":
                self.pos += 1
                and_next = bool(clauses)
                left = [clause for clause, _ in clauses[operand:]]  # the left operand: required (or excluded)
                del clauses[operand:]
                clauses.extend((part, False) for clause in left for part in _required(clause))
                continue
            if token.kind == "word" and not token.modifier and token.text == "NOT":
                self.pos += 1
                nxt = self.peek()
                if nxt is not None and nxt.kind != "close" and not nxt.modifier:
                    nxt.modifier = "-"
                continue
            node = self.parse_atom(token, depth)
            occur: Occur = ("not" if token.modifier == "-" else "must" if token.modifier == "+" or and_next
                            else "should")
            wide = bool(token.modifier) and not and_next
            and_next = False
            if node is not None:
                operand = len(clauses)
                clause = Clause(occur, node)
                clauses.extend((part, wide) for part in (_required(clause) if occur == "must" else (clause,)))
        return clauses

    def parse_atom(self, token: _Token, depth: int) -> Node | None:
        self.pos += 1
        if token.kind == "open":
            if depth + 1 > MAX_DEPTH:
                raise QueryError(f"the query nests parentheses deeper than {MAX_DEPTH} levels; simplify it")
            inner = self.parse_query(depth + 1)
            if (closing := self.peek()) is not None and closing.kind == "close":
                self.pos += 1
            return inner
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise QueryError(f"the query has more than {MAX_CLAUSES} terms; shorten it")
        if token.kind == "quote":
            text = token.text.strip()
            if token.fieldname == "published":
                return _date_range(text)
            return Phrase(text, token.fieldname, token.slop) if text else None
        return _word(token.text, token.fieldname)


def parse(text: str) -> Node:
    """Parse a query string; raise QueryError with a fix in the message when it is refused."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}")
    tokens = _tokenize(text)
    if not tokens:
        raise QueryError("the query is empty; type some words to search for")
    root = _Parser(tokens).parse_query(0)
    if not _searches_something(root):
        raise QueryError(f"the query {text.strip()!r} has no words to search for, only operators, "
                         f"brackets or quotes; type some words")
    _check_positive(root)
    return root


def _searches_something(node: Node) -> bool:
    if isinstance(node, AnyOf):
        return any(_searches_something(group) for group in node.groups)
    if isinstance(node, Group):
        return any(_searches_something(clause.node) for clause in node.clauses)
    return True


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    modifier = ""
    fieldname: str | None = None
    group_fields: list[str | None] = []  # `title:(a b)`: the field of each open parenthesis
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "ws":
            continue
        inherited = group_fields[-1] if group_fields else None
        if kind == "quote":
            slop = int(match.group("slop") or 0)
            tokens.append(_Token("quote", match.group("qtext"), min(slop, 100), modifier, fieldname or inherited))
        elif kind == "open":
            group_fields.append(fieldname or inherited)
            tokens.append(_Token(kind, match.group(), modifier=modifier))
        elif kind == "close":
            if group_fields:
                group_fields.pop()
            tokens.append(_Token(kind, match.group()))
        else:
            raw = match.group("word")
            while raw[:1] in ("+", "-") and len(raw) > 1 and not modifier:
                modifier, raw = raw[0], raw[1:]
            if raw in ("+", "-"):
                modifier, fieldname = raw, None
                continue
            field_match = _FIELD.match(raw)
            if field_match and field_match.group("name").lower() in FIELDS:
                fieldname = FIELDS[field_match.group("name").lower()]
                raw = field_match.group("rest")
                if not raw:
                    continue  # `title:"..."` or `title:(`: the field applies to what follows
            elif field_match and field_match.group("rest") and not field_match.group("rest").startswith("/"):
                raise QueryError(
                    f"unknown field {field_match.group('name')!r} in {raw!r}; valid fields are "
                    + ", ".join(f"{name}:" for name in FIELDS)
                    + f". To search the text literally, quote it: \"{raw}\""
                )
            tokens.append(_Token("word", raw, modifier=modifier, fieldname=fieldname or inherited))
        modifier, fieldname = "", None
    return tokens


def _word(text: str, fieldname: str | None) -> Node | None:
    if fieldname == "published":
        return _date_range(text)
    fuzzy = 0
    fuzzy_match = re.fullmatch(r"(.*?)~(\d*)", text, re.DOTALL)
    if fuzzy_match and fuzzy_match.group(1):
        text = fuzzy_match.group(1)
        fuzzy = int(fuzzy_match.group(2) or 1)
        if fuzzy > 2:
            raise QueryError(f"fuzzy distance {fuzzy} in {fuzzy_match.group()!r} is too large; use ~1 or ~2")
    if "^" in text.strip("^"):
        plain = text.split("^")[0]
        raise QueryError(f"boosting a word ({text!r}) is not supported; search {plain!r}")
    prefix = text.endswith("*")
    core = text.rstrip("*")
    if "*" in core:
        raise QueryError(
            f"wildcards are only supported at the end of a word ({text!r}); "
            f"write at least {MIN_PREFIX_CHARS} letters before a final *, e.g. cap*"
        )
    if prefix and len(core) < MIN_PREFIX_CHARS:
        raise QueryError(
            f"{text!r} is too short to expand: write at least {MIN_PREFIX_CHARS} letters before the * (e.g. cap*)"
        )
    return Word(core, fieldname, prefix, fuzzy) if core else None


def _date_range(text: str) -> DateRange:
    """`2025`, `2025-01`, `2025-01-31`, and ranges `A..B` with either side open."""
    start_text, sep, end_text = text.partition("..")
    try:
        if not sep:
            start, end = date_bounds(text)
            return DateRange(start, end)
        open_start = date_bounds(start_text)[0] if start_text else None
        open_end = date_bounds(end_text)[1] if end_text else None
    except ValueError:
        raise QueryError(
            f"cannot read the date {text!r}; write date:YYYY, date:YYYY-MM, date:YYYY-MM-DD "
            f"or a range date:2025-01-01..2025-03-31"
        ) from None
    if open_start is None and open_end is None:
        raise QueryError("date:.. needs at least one date, e.g. date:2025-01..")
    return DateRange(open_start, open_end)


def _required(clause: Clause) -> tuple[Clause, ...]:
    """``clause`` as an operand of AND or with ``+``: required, or excluded if it was; a required
    bracket group of only exclusions (`a AND (NOT b)`, `+(-b)`) means none of them."""
    if clause.occur == "not":
        return (clause,)
    return _only_exclusions(clause.node) or (Clause("must", clause.node),)


def _only_exclusions(node: Node) -> tuple[Clause, ...] | None:
    """The clauses of a bracket group that only excludes (``(NOT b)``, ``((-b -c))``), else None."""
    if not isinstance(node, Group) or not node.clauses:
        return None
    if all(clause.occur == "not" for clause in node.clauses):
        return node.clauses
    if len(node.clauses) == 1 and node.clauses[0].occur != "not":
        return _only_exclusions(node.clauses[0].node)
    return None


def _check_positive(node: Node) -> None:
    """Refuse groups that only exclude: they would match nothing useful."""
    if isinstance(node, AnyOf):
        for group in node.groups:
            _check_positive(group)
    elif isinstance(node, Group):
        if node.clauses and all(clause.occur == "not" for clause in node.clauses):
            excluded = " ".join(f"-{_describe(clause.node)}" for clause in node.clauses)
            raise QueryError(
                f"the query {excluded!r} only excludes words; add a word to search for, e.g. 'bank {excluded}'"
            )
        if not node.clauses:
            raise QueryError("the query has nothing to search for; type some words")
        for clause in node.clauses:
            _check_positive(clause.node)


def _describe(node: Node) -> str:
    if isinstance(node, Word):
        return node.text
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    return "(...)"
