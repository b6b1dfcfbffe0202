"""Web pages -> one article: the story's text by trafilatura, its metadata as the page declares it.

trafilatura (the reference extractor of news-crawling research) finds the article among the page's
navigation, teasers and comments; it is imported on the first page read, so commands that read no
HTML never load it or lxml. The metadata comes from what the publisher declared, in the order
Readability.js trusts it: JSON-LD (`NewsArticle`, `BlogPosting`, ...), then <meta> tags (Dublin
Core, Open Graph, Twitter, Parse.ly), then the <title> without its site suffix; trafilatura's own
guesses (bylines in the page, dates by htmldate) fill what is still missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from configparser import ConfigParser
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from ..controlchars import TEXT_UNSAFE
from .article import Article, as_names, as_tags, one_line
from .dates import parse_date
from .decode import declared_charset
from .htmlpage import read_html

if TYPE_CHECKING:
    from lxml.html import HtmlElement

# schema.org types of an article (Readability.js's list).
_ARTICLE_TYPES = frozenset({
    "Article", "AdvertiserContentArticle", "NewsArticle", "AnalysisNewsArticle", "AskPublicNewsArticle",
    "BackgroundNewsArticle", "OpinionNewsArticle", "ReportageNewsArticle", "ReviewNewsArticle", "Report",
    "SatiricalArticle", "ScholarlyArticle", "MedicalScholarlyArticle", "SocialMediaPosting", "BlogPosting",
    "LiveBlogPosting", "DiscussionForumPosting", "TechArticle", "APIReference",
})
# <meta> keys, most trusted first.
_TITLE_KEYS = ("dc:title", "dcterm:title", "og:title", "weibo:article:title", "weibo:webpage:title", "title",
               "twitter:title", "parsely-title")
_AUTHOR_KEYS = ("dc:creator", "dcterm:creator", "dc.creator", "author", "parsely-author", "article:author",
                "og:article:author", "byl", "sailthru.author")
_SITE_KEYS = ("og:site_name", "application-name")
_DATE_KEYS = ("article:published_time", "parsely-pub-date", "datepublished", "og:published_time",
              "pubdate", "publishdate", "publish-date", "dc.date.issued", "dc:date", "dc.date", "date",
              "sailthru.date", "article.published", "published-date", "og:article:published_time")
# ' | ', ' - ', ' » ' ...: where a <title> joins the story's title and the site's name.
_SEPARATOR = re.compile(r" [|\-\\/>»] ")
_HIERARCHICAL = re.compile(r" [\\/>»] ")
_REFERENCE = re.compile(r"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});?")
_MOST_ELEMENTS = 30_000  # ten times the largest of the 75 real pages (2,953)
_NEVER_THE_STORY = ("nav", "footer", "aside")
_PAGE = re.compile(r"<(?:html|head|body)[\s>]", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*- ")
_LEADING_BY = re.compile(r"^(?:by|par|von|por)\b[:\s]*", re.IGNORECASE)
_JSON_LD = "application/ld+json"
_SHORT_STORY = 250  # characters: trafilatura's own threshold for falling back to the whole page
_WHOLE_PAGE_FACTOR = 3  # ...which is taken instead only when it holds this many times more text
_CDATA = re.compile(r"^\s*(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>\s*$")
# Elements whose class or id says they hold the byline: 'byline', 'post-author', 'author_fmt', not
# 'authorization'.
_BYLINE_MARK = re.compile(r"(?<![a-z])(?:byline|author|writtenby)s?(?![a-z])", re.IGNORECASE)
_BYLINE_LENGTH = 100  # longer is the article, or a biography, not a byline


def page_charset(data: bytes, sent: str | None = None) -> str | None:
    """The charset to decode a page with: none (UTF-8) when its bytes are UTF-8, whatever it declares
    (pages re-encoded when saved keep their old declaration), else the one it was `sent` with (the
    HTTP header), else the one it declares."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return sent or declared_charset(data)
    return None


def read_page(markup: str) -> Article:
    """One article from a web page's text (already decoded); raises Refused when it holds none."""
    import trafilatura  # imported here: the first page read pays for it, nothing else does

    # A fragment ('<h1>News</h1><p>Text', a scraped body) has no page around its story: all its text is
    # the article. So is what trafilatura does not take for HTML.
    if "&#" in markup:
        markup = _REFERENCE.sub(_unless_unsafe, markup)
    tree = trafilatura.load_html(markup) if _PAGE.search(markup) else None
    if tree is None:
        return read_html(markup)
    if sum(1 for _ in tree.iter()) > _MOST_ELEMENTS:
        # Not one article's page (a generated dump, an attack): trafilatura's time grows with the
        # elements (a minute for 200,000 paragraphs); the stdlib reader reads it in one linear pass.
        return read_html(markup)
    # trafilatura's metadata is not asked for: what the page declares costs a tenth of it, and its
    # guesses (htmldate's date, a byline in the page) only fill what is missing.
    meta = _meta_tags(tree)
    ld = _json_ld_article(tree)
    article = Article(
        body="",
        title=one_line(_title(ld, meta, tree)),
        published=_published(ld, meta, tree) or _guessed_date(tree),
        source=one_line(as_names(_ld_name(ld.get("publisher"))) or _first(meta, _SITE_KEYS)),
        url=one_line(meta.get("og:url") or _canonical(tree)),
        author=_author(ld, meta) or _marked_byline(tree) or _guessed_author(tree),
        tags=as_tags(_meta_values(tree, "article:tag") or meta.get("keywords", "")),
    )
    for element in list(tree.iterfind(".//p//time")):
        element.drop_tag()  # prose ('on <time>26 Nov</time>'), which trafilatura would drop
    for element in list(tree.iter(*_NEVER_THE_STORY)):
        element.drop_tree()  # trafilatura's fallback to the page's whole text would keep them
    article.body = _paragraphs(_story(tree), article.title)
    return article


def _unless_unsafe(match: re.Match[str]) -> str:
    """A character reference kept, or dropped when it names a control character: every reader drops
    those from the text, and lxml gives up on a tree that holds one (trafilatura then finds nothing)."""
    number = match.group(1)
    try:
        code = int(number[1:], 16) if number[0] in "xX" else int(number)
        return "" if TEXT_UNSAFE.match(chr(code)) else match.group()
    except (ValueError, OverflowError):
        return match.group()


def _marked_byline(tree: HtmlElement) -> str:
    """The text of the first short element marked as the byline (rel=author, itemprop=author, a class
    or id naming the byline or author), inside the page's body."""
    body = next(tree.iter("body"), None)
    if body is None:
        return ""
    for element in body.iter("*"):
        if element.tag in ("script", "style", "noscript", "template") or not isinstance(element.tag, str):
            continue
        marks = f"{element.get('class') or ''} {element.get('id') or ''}"
        if (element.get("rel") == "author" or "author" in (element.get("itemprop") or "")
                or _BYLINE_MARK.search(marks)):
            text = one_line(element.text_content())
            if 0 < len(text) < _BYLINE_LENGTH:
                return _clean_author(text)
    return ""


def _guessed_author(tree: HtmlElement) -> str:
    """A byline trafilatura finds in the page (elements marked author, byline, ...)."""
    from trafilatura.metadata import extract_author

    return _clean_author(extract_author(tree) or "")


def _guessed_date(tree: HtmlElement) -> datetime | None:
    """The publication date htmldate finds in the page (its markup, then its text)."""
    from htmldate import find_date

    return parse_date(find_date(tree, original_date=True, extensive_search=False))


def _story(tree: HtmlElement) -> str:
    """The article's text, one block a line.

    trafilatura takes the whole page's text (navigation and all, as one block) when it finds less
    than 250 characters of article; that is kept only when it holds much more than the story found
    (a page whose article markup trafilatura prunes), not for a story that is simply short, nor for
    a page with no article at all (navigation only).
    include_comments=False: readers' comments are not the article; fast: no second-opinion
    extractors (a better F1 on the readability pages, in half the time).
    """
    import trafilatura

    story = trafilatura.extract(tree, fast=True, include_comments=False, config=_short_story_config()) or ""
    if story and len(story) < _SHORT_STORY:
        page = trafilatura.extract(tree, fast=True, include_comments=False) or ""
        if len(page) > _WHOLE_PAGE_FACTOR * len(story):
            return page
    return story


@cache
def _short_story_config() -> ConfigParser:
    """trafilatura's settings, with no minimum size for the article it finds."""
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")
    return config


def _paragraphs(text: str, title: str) -> str:
    """trafilatura's one line per block -> paragraphs separated by blank lines, as the other readers
    give, without the '- ' it writes before list items, less a first line that repeats the title
    (the page's headline)."""
    lines = [_LIST_ITEM.sub("", line).strip() for line in text.split("\n") if line.strip()]
    lines = [line for line in lines if line]
    if lines and one_line(lines[0]).casefold() == title.casefold():
        del lines[0]
    return "\n\n".join(lines)


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    """<meta> name/property/itemprop (lower-cased) -> content; the first of each wins."""
    found: dict[str, str] = {}
    for element in tree.iter("meta"):
        content = element.get("content")
        if not content or not content.strip():
            continue
        for attribute in ("property", "name", "itemprop"):
            for key in (element.get(attribute) or "").lower().split():
                found.setdefault(key, content.strip())
    return found


def _meta_values(tree: HtmlElement, key: str) -> list[str]:
    return [element.get("content", "") for element in tree.iter("meta")
            if key in (element.get("property") or element.get("name") or "").lower().split()]


def _first(meta: dict[str, str], keys: tuple[str, ...]) -> str:
    return next((meta[key] for key in keys if meta.get(key)), "")


def _canonical(tree: HtmlElement) -> str:
    for element in tree.iter("link"):
        if "canonical" in (element.get("rel") or "").lower().split():
            return element.get("href") or ""
    return ""


def _json_ld_article(tree: HtmlElement) -> dict[str, Any]:
    """The first schema.org article the page declares in JSON-LD, or {}."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != _JSON_LD or not script.text:
            continue
        try:
            value = json.loads(_CDATA.sub("", script.text), strict=False)
        except (ValueError, RecursionError):
            continue  # a publisher's broken JSON-LD: the other sources still count
        for item in _json_ld_items(value):
            types = item.get("@type")
            if set(types if isinstance(types, list) else [types]) & _ARTICLE_TYPES:
                return item
    return {}


def _json_ld_items(value: object, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 3:
        return
    if isinstance(value, list):
        for item in value:
            yield from _json_ld_items(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        yield from _json_ld_items(value.get("@graph"), depth + 1)


def _ld_name(value: object) -> object:
    return value if isinstance(value, (str, dict, list)) else ""


def _ld_text(ld: dict[str, Any], key: str) -> str:
    value = ld.get(key)
    return one_line(value) if isinstance(value, str) else ""


def _title(ld: dict[str, Any], meta: dict[str, str], tree: HtmlElement) -> str:
    return (_ld_text(ld, "headline") or _ld_text(ld, "name") or _first(meta, _TITLE_KEYS)
            or _page_title(tree, _first(meta, _SITE_KEYS)))


def _page_title(tree: HtmlElement, site: str) -> str:
    """The <title> without the site's name: 'Story | Site' -> 'Story', 'Site - Story' -> 'Story'.

    The part that is the page's headline (<h1>), or whose cut-off part is the site's declared name,
    wins; otherwise Readability.js's rule: the part before the last separator, unless that is under
    three words (then the part after the first), and the whole title when four words or fewer are left.
    """
    element = next(tree.iter("title"), None)
    original = one_line(element.text_content()) if element is not None else ""
    separators = list(_SEPARATOR.finditer(original))
    if not separators:
        if 15 <= len(original) <= 150:
            return original
        headings = list(tree.iter("h1"))
        return one_line(headings[0].text_content()) if len(headings) == 1 else original
    before, after = one_line(original[:separators[-1].start()]), one_line(original[separators[0].end():])
    headlines = {one_line(h1.text_content()).casefold() for h1 in tree.iter("h1")}
    for part in (before, after):
        cut = original.replace(part, "", 1).casefold()
        if part.casefold() in headlines or (site and site.casefold() in cut):
            return part
    title = before if len(before.split()) >= 3 else after
    words = len(title.split())
    kept_words = len(re.sub(r"[|\-\\/>»]+", "", original).split()) - 1
    if words <= 4 and (not _HIERARCHICAL.search(original) or words != kept_words):
        return original  # too little left to be the story's title
    return title


def _author(ld: dict[str, Any], meta: dict[str, str]) -> str:
    names = as_names(_ld_name(ld.get("author")))
    if names:
        return _clean_author(names)
    for key in _AUTHOR_KEYS:
        author = _clean_author(meta.get(key, ""))
        if author:
            return author
    return ""


def _clean_author(name: str) -> str:
    """A byline as a name: no 'By ', and never a web address (article:author often is one)."""
    name = _LEADING_BY.sub("", one_line(name))
    return "" if "://" in name or name.startswith("www.") else name


def _published(ld: dict[str, Any], meta: dict[str, str], tree: HtmlElement) -> datetime | None:
    for value in (ld.get("datePublished"), *(meta.get(key) for key in _DATE_KEYS)):
        moment = parse_date(value)
        if moment:
            return moment
    for element in tree.iter("time"):
        moment = parse_date(element.get("datetime"))
        if moment:
            return moment
    return None
