"""HTML fragments (a feed item's content, a scraped body, a file with no page around its story) ->
text and what metadata they hold, with the stdlib parser. Whole web pages: `webpage`."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

from .article import Article, as_tags, one_line
from .dates import parse_date
from .decode import clean

# Never article text: code, chrome around the article, and interactive parts.
_SKIP = frozenset({
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
    "canvas", "nav", "header", "footer", "aside", "form", "button", "select", "textarea",
    "dialog", "menu",
})
_BLOCK = frozenset({
    "address", "article", "blockquote", "body", "br", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "main", "ol", "p",
    "pre", "section", "summary", "table", "td", "th", "tr", "ul",
})
_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})
# Stand-ins for '<' that is text, and for paragraph breaks; clean() has removed both
# control characters from the input, so neither can be confused with it.
_LESS_THAN = "\x01"
_BREAK = "\x00"
# A tag: '<', a name (or '/', '!', '?'), then up to '>' with quoted attribute values, which may
# hold '<' and '>' ('<img alt="a<b">'). Every other '<' is text: the stdlib parser would rescan
# to the end for each (quadratic on '<a<a<a...'), so it becomes _LESS_THAN. One way to match
# each character, and quoted values bounded, so each attempt stops at the next bare '<' or '>'.
_TAG_OR_LESS_THAN = re.compile(
    r"""<[A-Za-z/!?][^<>"']*(?:(?:"[^"]{0,4000}"|'[^']{0,4000}')[^<>"']*)*>|<""")
# '<![...>' is a comment to HTML5; the stdlib parser raises AssertionError on most ('<![foo[').
_MARKED_SECTION = re.compile(r"<!\[[^<>]*>")
# An (X)HTML doctype with an internal subset ('[<!ENTITY ...>]') would otherwise show as text.
_DOCTYPE_WITH_SUBSET = re.compile(
    r"\s*(?:<\?xml[^<>]{0,500}>\s*)?<!DOCTYPE[^\[<>]{0,1000}\[[^\]]{0,100000}\]\s*>", re.IGNORECASE)
_TAG = re.compile(
    r"<(?:p|br|div|span|a|em|strong|b|i|u|ul|ol|li|h[1-6]|blockquote|img|figure|table)\b[^<>]{0,1000}>",
    re.IGNORECASE)


class _PageParser(HTMLParser):
    """Collects text per container (article, main, whole body) plus head metadata."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.open: Counter[str] = Counter()
        self.skipping = 0
        self.text: dict[str, list[str]] = {"article": [], "main": [], "body": []}
        self.meta: dict[str, str] = {}
        self.meta_tags: list[str] = []
        self.canonical = ""
        self.time = ""
        self.title: list[str] = []
        self.h1: list[str] = []
        self.h1_done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "meta":
            key = (attributes.get("property") or attributes.get("name") or "").lower()
            if key == "article:tag":
                self.meta_tags.append(attributes.get("content", ""))
            elif key:
                self.meta.setdefault(key, attributes.get("content", ""))
        elif tag == "link" and "canonical" in attributes.get("rel", "").lower().split():
            self.canonical = self.canonical or attributes.get("href", "")
        elif tag == "time" and not self.time:
            self.time = attributes.get("datetime", "")
        if tag in _BLOCK:
            self._break()
        if tag in _VOID:
            return
        self.stack.append(tag)
        self.open[tag] += 1
        if tag in _SKIP:
            self.skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if not self.open[tag]:
            return  # stray end tag
        while self.stack:
            closed = self.stack.pop()
            self.open[closed] -= 1
            if closed in _SKIP:
                self.skipping -= 1
            if closed in _BLOCK:
                self._break()
            if closed == "h1" and self.h1:
                self.h1_done = True
            if closed == tag:
                break

    def handle_data(self, data: str) -> None:
        if _LESS_THAN in data:
            data = data.replace(_LESS_THAN, "<")
        if self.open["title"]:
            self.title.append(data)
        elif self.open["h1"] and not self.h1_done:
            self.h1.append(data)
        if self.skipping:
            return
        self.text["body"].append(data)
        if self.open["main"]:
            self.text["main"].append(data)
        if self.open["article"]:
            self.text["article"].append(data)

    def _break(self) -> None:
        for parts in self.text.values():
            parts.append(_BREAK)

    def main_text(self) -> str:
        """The text of the <article> elements, else of <main>, else of the whole body."""
        for container in ("article", "main", "body"):
            paragraphs = (" ".join(block.split()) for block in "".join(self.text[container]).split(_BREAK))
            text = "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
            if text:
                return text
        return ""


def _without_comments(markup: str) -> str:
    """Markup with its comments cut out, first: what they hold ('<!--[if lt IE 9]>...<![endif]-->',
    commented-out tags) is never text and must not be taken for markup. An unclosed comment runs to
    the end, as in HTML5. One pass, whatever the input."""
    parts = []
    start = 0
    while (opening := markup.find("<!--", start)) >= 0:
        parts.append(markup[start:opening])
        closing = markup.find("-->", opening + 4)
        if closing < 0:
            return "".join(parts)
        start = closing + 3
    parts.append(markup[start:])
    return "".join(parts)


def _tag_or_text(match: re.Match[str]) -> str:
    return _LESS_THAN if len(match.group()) == 1 else match.group()


def _parse(markup: str) -> _PageParser:
    markup = clean(markup)
    doctype = _DOCTYPE_WITH_SUBSET.match(markup)
    if doctype:
        markup = markup[doctype.end():]
    markup = _MARKED_SECTION.sub("", _TAG_OR_LESS_THAN.sub(_tag_or_text, _without_comments(markup)))
    parser = _PageParser()
    parser.feed(markup)
    parser.close()
    return parser


def read_html(markup: str) -> Article:
    """One article from an HTML page: title, date, site, author, url, tags and the main text."""
    page = _parse(markup)
    meta = page.meta
    published = next(
        (moment for moment in map(parse_date, (meta.get("article:published_time"), page.time)) if moment),
        None,
    )
    return Article(
        body=page.main_text(),
        title=one_line(meta.get("og:title") or "".join(page.title) or "".join(page.h1)),
        published=published,
        source=one_line(meta.get("og:site_name", "")),
        url=one_line(meta.get("og:url") or page.canonical),
        author=one_line(meta.get("author", "")),
        tags=as_tags(page.meta_tags or meta.get("keywords", "")),
    )


def looks_like_html(text: str) -> bool:
    """True when `text` holds common HTML tags (a scraped body or a feed's HTML content)."""
    return "<" in text and _TAG.search(text) is not None


def html_to_text(markup: str) -> str:
    """An HTML fragment as readable text: paragraphs separated by blank lines, no markup."""
    return _parse(markup).main_text()
