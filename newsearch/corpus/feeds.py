"""RSS and Atom feeds: every item is an article; entity declarations are refused up front."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone

import feedparser

from .article import Article, ItemProblem, Refused, as_tags, one_line
from .dates import parse_date
from .decode import clean
from .htmlpage import html_to_text


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
    source = one_line(_as_text(title_detail)) if title_detail else ""
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
    return Article(
        body=body,
        title=one_line(_as_text(title_detail)) if title_detail else "",
        published=_published(entry),
        source=source,
        url=_web_link(entry.get("link", "")),
        author=one_line(clean(entry.get("author", ""))),
        tags=as_tags([clean(tag.get("term") or tag.get("label") or "") for tag in entry.get("tags", [])]),
        id=one_line(clean(entry.get("id", ""))),
    )


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
