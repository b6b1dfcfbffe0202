"""RSS and Atom feeds: every item is an article; entity declarations are refused up front."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import feedparser

from .article import Article, ItemProblem, Refused, as_tags, one_line, unreadable_date
from .dates import parse_date
from .decode import clean
from .htmlpage import html_to_text

# ' - ', ' | ', ' » ', ' – ', ' — ', ': ' between a feed's site and its section.
_FEED_SEPARATOR = re.compile(r" [-|»–—/:] |: ")
_NOT_A_NAME = frozenset({"www", "com", "net", "org", "feeds", "feed", "rss", "news"})


def refuse_entities(data: bytes) -> None:
    """Refuse any XML entity declaration ("billion laughs", external entities) before parsing.

    NUL bytes are dropped first so UTF-16 and UTF-32 feeds are checked too.
    """
    if b"<!ENTITY" in (data.replace(b"\x00", b"") if b"\x00" in data else data):
        raise Refused("entity expansion refused: the file declares XML entities (<!ENTITY)")


def read_feed(data: bytes) -> list[Article | ItemProblem]:
    """The items of an RSS or Atom feed, given its raw bytes (feedparser finds the encoding)."""
    refuse_entities(data)
    try:
        # A stream, never bytes or str: feedparser would try those as a file name or URL.
        parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # noqa: BLE001 - third-party parser on untrusted input
        raise Refused(f"broken XML: {type(exc).__name__}: {exc}") from None
    entries = parsed.get("entries") or []
    if not entries:
        if parsed.get("bozo"):
            raise Refused(f"broken XML: {parsed.get('bozo_exception')}")
        if not parsed.get("version"):
            raise Refused("not a feed: no RSS or Atom root element")
        raise Refused("empty: the feed has no items")
    title_detail = parsed.feed.get("title_detail")
    source = site_name(one_line(_as_text(title_detail)), parsed.feed.get("link", "")) if title_detail else ""
    # The lenient parser recovers what it can of a broken feed; an item it could not
    # recover is reported as the broken XML it is, not as an item without text.
    broken = f"broken XML: {parsed.get('bozo_exception')}" if parsed.get("bozo") else None
    return [_entry(entry, source, broken) for entry in entries]


def _entry(entry: dict, source: str, broken: str | None = None) -> Article | ItemProblem:
    body = ""
    for detail in [*entry.get("content", []), entry.get("summary_detail")]:
        if detail and detail.get("value", "").strip():
            body = _as_text(detail)
            if body:
                break
    if not body:
        return ItemProblem(broken or "no text: the item has no content or summary")
    title_detail = entry.get("title_detail")
    published = _published(entry)
    # dict.get: the item's own fields, without feedparser's deprecated 'updated' -> 'published' fallback
    dates = [value for key in ("published", "updated", "created") if (value := dict.get(entry, key))]
    return Article(
        body=body,
        title=one_line(_as_text(title_detail)) if title_detail else "",
        published=published,
        source=source,
        url=_web_link(entry.get("link", "")),
        author=_author(entry),
        tags=as_tags([clean(tag.get("term") or tag.get("label") or "") for tag in entry.get("tags", [])]),
        id=one_line(clean(entry.get("id", ""))),
        notes=[unreadable_date(dates[0])] if dates and not published else [],
    )


def _author(entry: dict) -> str:
    """The item's author as a name: RSS writes 'econ@ledger.example.net (Mary Lane)', whose name
    feedparser finds; an address alone stays as it is."""
    detail = entry.get("author_detail") or {}
    return one_line(clean(detail.get("name") or entry.get("author", "")))


def site_name(title: str, link: str) -> str:
    """The site a feed belongs to, from its title: 'The Ledger - Economy' or 'Economy | The Ledger'
    with a link to ledger.example.net is 'The Ledger', the name its pages give as og:site_name, so
    that one site is one source. The first part named like the site's host (its name, or a label of
    it, starts the part) wins; a title with no such part stays whole."""
    host = urlsplit(one_line(link)).hostname or ""
    labels = {label for label in host.split(".") if len(label) > 2} - _NOT_A_NAME
    labels.add("".join(label for label in host.split(".")[:-1] if label != "www"))  # theguardian.com
    labels = {label.removeprefix("the") for label in labels if label.removeprefix("the")}
    for part in _FEED_SEPARATOR.split(title):
        key = _letters(part).removeprefix("the")
        if key and any(key.startswith(label) for label in labels):  # 'BBC News' on bbc.co.uk
            return part.strip()
    return title


def _letters(text: str) -> str:
    return "".join(character for character in text.casefold() if character.isalnum())


def _web_link(link: str) -> str:
    """The item's link when it is a web address (feedparser falls back to ids such as 'urn:uuid:...')."""
    link = one_line(clean(link))
    return link if link.lower().startswith(("http://", "https://")) else ""


def _as_text(detail: dict) -> str:
    value = clean(detail.get("value", ""))
    if "html" in detail.get("type", "text/html"):
        return html_to_text(value)
    return value.strip()


def _published(entry: dict) -> datetime | None:
    for key in ("published", "updated", "created"):
        parsed = entry.get(f"{key}_parsed")
        if isinstance(parsed, time.struct_time):
            try:
                return datetime(*parsed[:6], tzinfo=timezone.utc)
            except ValueError:
                pass
        moment = parse_date(entry.get(key))
        if moment:
            return moment
    return None
