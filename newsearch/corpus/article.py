"""What a format reader hands back, and the shared rules for turning raw values into fields."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .dates import parse_date

TITLE_LENGTH = 100  # a title made from the text is cut at a word boundary near here
HEADLINE_LENGTH = 150  # a first line up to this long, followed by a blank line, is the headline

# Field name -> the names it goes by in the wild (JSON keys, front matter, header lines).
FIELD_NAMES = {
    "title": ("title", "headline"),
    "body": ("body", "text", "content", "article", "content_text", "content_html",
             "summary", "description"),
    "published": ("published", "date", "published_at", "pubdate", "datetime",
                  "date_published", "created_at", "updated", "modified"),
    "source": ("source", "site", "publisher"),
    "url": ("url", "link"),
    "author": ("author", "byline", "authors"),
    "tags": ("tags", "keywords", "categories"),
    "id": ("id", "guid", "uuid"),
}
# Keys a "Key: value" header block may use: metadata only, never the body.
HEADER_KEYS = {alias: name for name, aliases in FIELD_NAMES.items() if name != "body" for alias in aliases}


class Refused(Exception):
    """The whole file cannot be used; the message is the reason ('key: details')."""


class TooLarge(Refused):
    """The file is over the size cap (on disk or once decompressed): 'too large: details'."""


@dataclass(frozen=True)
class ItemProblem:
    """One article of a multi-article file that cannot be used, and why ('key: details')."""

    reason: str


@dataclass(frozen=True)
class Notice:
    """Something to say about a file that is read all the same (records of a crawl that are not pages)."""

    reason: str


@dataclass
class Article:
    """The fields a reader found; ids, titles and sources are completed in `read`."""

    body: str
    title: str = ""
    published: datetime | None = None
    source: str = ""
    url: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    id: str = ""
    notes: list[str] = field(default_factory=list)  # warnings for the index report ('unreadable date: ...')


def article_from_fields(fields: dict[str, object], body: str | None = None) -> Article:
    """An Article from loosely named fields (keys already lower-cased), coercing odd values."""
    found: dict[str, object] = {}
    for name, aliases in FIELD_NAMES.items():
        for alias in aliases:
            if fields.get(alias) not in (None, "", [], {}):
                found[name] = fields[alias]
                break
    date = found.get("published")
    date = date.get("date") if isinstance(date, dict) else date
    published = parse_date(date)
    return Article(
        body=body if body is not None else as_text(found.get("body"), joiner="\n\n"),
        title=one_line(as_text(found.get("title"))),
        published=published,
        source=one_line(as_name(found.get("source"))),
        url=one_line(as_name(found.get("url"), keys=("href", "url"))),
        author=one_line(as_names(found.get("author"))),
        tags=as_tags(found.get("tags")),
        id=one_line(as_name(found.get("id"), keys=("value", "id"))),
        notes=[] if published or date is None else [unreadable_date(date)],
    )


def unreadable_date(value: object) -> str:
    """The warning for a date field that is there but not a date: the article is indexed undated."""
    shown = one_line(value)[:60] if isinstance(value, str) else type(value).__name__
    return f"unreadable date: {shown!r}: indexed without a date"


def as_text(value: object, joiner: str = " ") -> str:
    """Strings as they are, numbers written out, lists of strings joined; anything else is ''."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return joiner.join(part for part in (as_text(item, joiner) for item in value) if part.strip())
    return ""


def as_name(value: object, keys: tuple[str, ...] = ("name", "title")) -> str:
    """A string or number, or an object's name: {"name": "Reuters"} -> 'Reuters'."""
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                return as_name(value[key], keys)
        return ""
    if isinstance(value, list):
        return as_name(value[0], keys) if value else ""
    return as_text(value)


def as_names(value: object) -> str:
    """One or more names as one string: ["A", {"name": "B"}] -> 'A, B'."""
    if isinstance(value, list):
        return ", ".join(name for name in (one_line(as_name(item)) for item in value) if name)
    return as_name(value)


def as_tags(value: object) -> tuple[str, ...]:
    """Tags from a list (of strings or {"name"/"term"/"label": ...}) or a comma-separated string."""
    if isinstance(value, str):
        items: Iterable[str] = value.split(",")
    elif isinstance(value, list):
        items = (as_name(item, keys=("name", "term", "label")) for item in value)
    else:
        items = ()
    return unique(one_line(item) for item in items)


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Non-empty items in first-seen order, without case-insensitive repeats."""
    seen: dict[str, str] = {}
    for item in items:
        if item and item.casefold() not in seen:
            seen[item.casefold()] = item
    return tuple(seen.values())


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof gen sen rep gov lt col capt sgt no vs etc inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


def title_from_text(text: str) -> str:
    """A title made from the first sentence of `text`, cut at a word boundary with '…' when long.

    >>> title_from_text("Markets rallied on Monday. Then they fell.")
    'Markets rallied on Monday'
    """
    first = next((line for line in text.split("\n", 20) if line.strip()), "")[:10 * TITLE_LENGTH]
    sentence = first
    for match in _SENTENCE_END.finditer(first):
        words = first[:match.start()].split()
        word = words[-1] if words else ""
        if match.group().startswith(".") and (len(word) == 1 or "." in word or word.lower() in _ABBREVIATIONS):
            continue  # "J.", "U.S.", "Mr."
        sentence = first[:match.end()]
        break
    sentence = one_line(sentence)
    if len(sentence) <= TITLE_LENGTH:
        if sentence.endswith(".") and not sentence.endswith(".."):
            return sentence[:-1].rstrip() or sentence
        return sentence
    cut = sentence[:TITLE_LENGTH + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > TITLE_LENGTH // 2 else sentence[:TITLE_LENGTH]
    return cut.rstrip(" ,;:-–—") + "…"
