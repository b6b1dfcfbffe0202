"""The query parameters of each API endpoint, in one table: read and checked from a request,
and described in the OpenAPI document from the same rows.

What a parameter means is decided by the library (``options.search_arguments`` reads the search
options as the command line does); this module only turns the strings of a URL into Python
values, refusing what is too long, not a number, not a yes/no, repeated, or unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from newsearch.errors import QueryError
from newsearch.formatting import HighlightStyle
from newsearch.models import PERIODS, SORTS
from newsearch.options import LIMITS, PASSAGE_COUNTS

MAX_CHARS = 4096  # one value; the library's own limit on a query (1,000 characters) comes later, with its message
MAX_VALUES = 50  # of a repeatable parameter
MAX_DEPTH = 5000  # offset + limit: deeper pages are refused rather than computed
MAX_ID_CHARS = 1000
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")

Kind = Literal["string", "integer", "boolean", "strings"]


@dataclass(frozen=True)
class Parameter:
    """One query parameter: its name, kind, bounds (integers) or choices (strings), and what it does."""

    name: str
    kind: Kind
    description: str
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    required: bool = False

    def read(self, values: Sequence[str]) -> Any:
        """The value of this parameter given ``values`` (all its occurrences in the URL)."""
        if len(values) > (MAX_VALUES if self.kind == "strings" else 1):
            raise QueryError(f"{self.name} is given {len(values)} times; "
                             + (f"at most {MAX_VALUES}" if self.kind == "strings" else "give it once"))
        for value in values:
            if len(value) > MAX_CHARS:
                raise QueryError(f"{self.name} is {len(value):,} characters long; the limit is {MAX_CHARS:,}")
        if self.kind == "strings":
            return tuple(values)
        (value,) = values
        if self.kind == "integer":
            return self._integer(value)
        if self.kind == "boolean":
            if value.lower() in TRUE or value == "":  # ``?all`` alone means yes, as a flag does
                return True
            if value.lower() in FALSE:
                return False
            raise QueryError(f"{self.name} must be true or false (or 1 or 0), not {value!r}")
        if self.choices and value not in self.choices:
            raise QueryError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        return value

    def _integer(self, value: str) -> int:
        text = value.strip()
        if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 12:
            raise QueryError(f"{self.name} must be a whole number, not {value!r}")
        number = int(text)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            within = (f"between {self.low} and {self.high}" if self.high is not None
                      else f"at least {self.low}")
            raise QueryError(f"{self.name} must be {within}, not {number}")
        return number

    def schema(self) -> dict[str, Any]:
        """This parameter as an OpenAPI parameter object."""
        kinds: dict[Kind, dict[str, Any]] = {
            "string": {"type": "string", "maxLength": MAX_CHARS},
            "integer": {"type": "integer"},
            "boolean": {"type": "boolean"},
            "strings": {"type": "array", "items": {"type": "string", "maxLength": MAX_CHARS},
                        "maxItems": MAX_VALUES},
        }
        shape = dict(kinds[self.kind])
        if self.low is not None:
            shape["minimum"] = self.low
        if self.high is not None:
            shape["maximum"] = self.high
        if self.choices:
            shape["enum"] = list(self.choices)
        return {"name": self.name, "in": "query", "required": self.required, "description": self.description,
                "schema": shape, **({"explode": True} if self.kind == "strings" else {})}


def read_parameters(table: Iterable[Parameter], given: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The values of the parameters in ``given`` (name -> every value in the URL), by ``table``;
    parameters not given are left out. QueryError for an unknown or missing one, or a bad value."""
    rows = {row.name: row for row in table}
    unknown = sorted(set(given) - set(rows))
    if unknown:
        known = ", ".join(rows) or "none"
        raise QueryError(f"unknown parameter {unknown[0]!r}: this endpoint takes {known}")
    missing = [row.name for row in rows.values() if row.required and not any(given.get(row.name, ()))]
    if missing:
        raise QueryError(f"the parameter {missing[0]!r} is required" + (" (the query)" if missing[0] == "q" else ""))
    return {name: rows[name].read(values) for name, values in given.items()}


_QUERY = Parameter("q", "string", "The query, in the query language of `newsearch search`.", required=True)
_LIMIT = Parameter("limit", "integer", "Hits per page (10 unless given).", *LIMITS)
_PASSAGES = Parameter("passages", "integer", "Passages per hit.", *PASSAGE_COUNTS)
_SINCE = Parameter("since", "string", "Only articles published on or after this date (YYYY, YYYY-MM, YYYY-MM-DD, "
                                      "2025-01-20T14:00, today, yesterday, or an age: 12h, 7d, 2w, 3m, 1y).")
_UNTIL = Parameter("until", "string", "Only articles published up to the end of this date.")
_SOURCE = Parameter("source", "strings", "Only this source (repeatable).")
_EXACT = Parameter("exact", "boolean", "Search every word as typed: never correct a typing error.")

SEARCH = (
    Parameter("q", "string", "The query, in the query language of `newsearch search`; empty (with a date or source "
                             "filter) or * to list articles newest first."),
    _LIMIT,
    Parameter("page", "integer", "Page of results, from 1 (or give offset).", low=1),
    Parameter("offset", "integer", "Stories to skip, from 0 (or give page).", low=0),
    _SINCE, _UNTIL, _SOURCE,
    Parameter("sort", "string", "Order of the hits.", choices=SORTS),
    _PASSAGES,
    Parameter("facets", "string", "Count all results by source, year and/or month (e.g. source,year)."),
    Parameter("recency", "string", "Favour recent articles: scores halve with each half-life (12h, 30d, 2w, 1y)."),
    Parameter("all", "boolean", "Show every copy of a republished story, not only the best."),
    _EXACT,
    Parameter("tz", "string", "The calendar of since and until: UTC, an offset such as +01:00, or a name such as "
                              "Europe/Berlin (default: the server's zone)."),
    Parameter("highlight", "string", "Also give each passage 'highlighted': its text with the matched words marked "
                                     "(html: escaped, in highlight_tags).",
              choices=tuple(style.value for style in HighlightStyle)),
    Parameter("highlight_tags", "string", "The tags around a match with highlight=html, comma-separated "
                                          "(default: <mark>,</mark>)."),
)
READING = ("highlight", "highlight_tags")  # read by the front-end (how hits are shown), not by the search
# The keyword of ``options.search_arguments`` for a parameter named otherwise (the rest match).
SEARCH_KEYWORDS = {"source": "sources", "all": "show_all"}
TIMELINE = (
    _QUERY,
    Parameter("by", "string", "Length of each period (weeks start on Monday).", choices=PERIODS),
    _SINCE, _UNTIL, _SOURCE,
    Parameter("tz", "string", "Calendar of the periods: UTC, an offset such as +01:00, or a name such as "
                              "Europe/Berlin."),
    _EXACT,
)
TIMELINE_KEYWORDS = {"source": "sources"}
RELATED = (
    Parameter("limit", "integer", "Articles to show (10 unless given).", *LIMITS),
    Parameter("before", "boolean", "Only articles published before this one (its background)."),
    _PASSAGES,
)
ARTICLE = (Parameter("q", "string", "Highlight this query's words in the article."),)


def keywords(values: Mapping[str, Any], renamed: Mapping[str, str]) -> dict[str, Any]:
    """``values`` keyed by the library's argument names."""
    return {renamed.get(name, name): value for name, value in values.items()}


def check_id(id: str) -> str:
    """An article id from a URL path: any text the index may hold, within a length limit."""
    if len(id) > MAX_ID_CHARS:
        raise QueryError(f"the article id is {len(id):,} characters long; the limit is {MAX_ID_CHARS:,}")
    return id
