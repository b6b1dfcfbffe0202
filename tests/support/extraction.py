"""Scoring web-page extraction against the readability pages (shared/corpora/readability-pages).

Each page has the article text and metadata Mozilla's Readability.js extracts from it. An
extractor turns a page's bytes into an `Extracted` (or raises: the page is refused). The figures:

* text F1: bag-of-words F1 of the extracted text against `expected.html`'s text, mean over all
  pages, a refused page scoring 0 (words are lower-cased; CJK characters count one by one, as
  those scripts do not separate words by spaces);
* title exact: the title equals the expected one (whitespace collapsed), over all pages;
* author: over pages with an expected byline (less the two whose byline is a date line), the
  words of the extracted author and of the byline (lower-cased, less "by") contain one another;
* site name: over pages with an expected site name, the two contain one another (ignoring case);
* date: over pages with an expected date, the same calendar day (in the expected time's own
  offset, or in UTC);
* s/page: the mean extraction time, in CPU seconds of this process (wall time on a shared machine
  measures the other processes too).

Run it by hand: ``python -m tests.support.extraction [newsearch|trafilatura]``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

PAGES = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "readability-pages" / "pages"
_DATE_LINE_BYLINES = frozenset({"seattletimes-1", "spiceworks"})
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str = ""
    author: str = ""
    site: str = ""
    published: datetime | None = None


@dataclass(frozen=True)
class Figures:
    pages: int
    text_f1: float
    refused: int
    title: float
    author: float
    site: float
    date: float
    seconds_per_page: float

    def row(self, name: str) -> str:
        return (f"| {name} | {self.text_f1:.3f} | {self.refused} of {self.pages} | {self.title:.2f} | "
                f"{self.author:.2f} | {self.site:.2f} | {self.date:.2f} | {self.seconds_per_page:.3f} |")


HEADER = ("| | text F1 | refused | title exact | author | site name | date (same day) | s/page |\n"
          "|---|---|---|---|---|---|---|---|")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.parts.append(" ")


def words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.casefold()))


def text_f1(extracted: str, expected: str) -> float:
    ours, theirs = words(extracted), words(expected)
    common = sum((ours & theirs).values())
    if not common:
        return 0.0
    precision, recall = common / sum(ours.values()), common / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)


def _collapse(text: str | None) -> str:
    return " ".join((text or "").split())


def _author_words(text: str | None) -> frozenset[str]:
    return frozenset(words(text or "")) - {"by", "par"}


def _same_day(ours: datetime | None, expected: str) -> bool:
    if ours is None:
        return False
    try:
        theirs = datetime.fromisoformat(expected.replace("Z", "+00:00"))
    except ValueError:
        return False
    days = {theirs.date()}
    if theirs.tzinfo is not None:
        days.add(theirs.astimezone(timezone.utc).date())
    ours_utc = ours.astimezone(timezone.utc) if ours.tzinfo else ours
    return ours_utc.date() in days


def page_names() -> list[str]:
    return sorted(path.name for path in PAGES.iterdir() if (path / "source.html").is_file())


def expected_text(name: str) -> str:
    parser = _Text()
    parser.feed((PAGES / name / "expected.html").read_text(encoding="utf-8"))
    return "".join(parser.parts)


def measure(extract: Callable[[bytes], Extracted], names: list[str] | None = None,
            report: Callable[[str], None] | None = None) -> Figures:
    """Run `extract` over the pages and score it; `report` gets one line per page."""
    names = names or page_names()
    f1s: list[float] = []
    refused = 0
    scores: dict[str, list[bool]] = {"title": [], "author": [], "site": [], "date": []}
    elapsed = 0.0
    for name in names:
        data = (PAGES / name / "source.html").read_bytes()
        meta = json.loads((PAGES / name / "expected-metadata.json").read_text(encoding="utf-8"))
        start = time.process_time()
        try:
            got: Extracted | None = extract(data)
        except Exception:  # noqa: BLE001 - a refused page scores 0, whatever the reason
            got = None
        elapsed += time.process_time() - start
        if got is None or not got.text.strip():
            refused += 1
            f1s.append(0.0)
            got = Extracted("")
        else:
            f1s.append(text_f1(got.text, expected_text(name)))
        scores["title"].append(_collapse(got.title) == _collapse(meta.get("title")))
        if meta.get("byline") and name not in _DATE_LINE_BYLINES:
            mine, byline = _author_words(got.author), _author_words(meta["byline"])
            scores["author"].append(bool(mine) and (mine <= byline or byline <= mine))
        if meta.get("siteName"):
            ours, theirs = _collapse(got.site).casefold(), _collapse(meta["siteName"]).casefold()
            scores["site"].append(bool(ours) and (ours in theirs or theirs in ours))
        if meta.get("publishedTime"):
            scores["date"].append(_same_day(got.published, meta["publishedTime"]))
        if report:
            report(f"{name:28} f1={f1s[-1]:.3f} title={_collapse(got.title)[:50]!r} author={got.author!r} "
                   f"site={got.site!r} date={got.published}")

    def share(values: list[bool]) -> float:
        return sum(values) / len(values) if values else 1.0

    return Figures(len(names), sum(f1s) / len(f1s), refused, share(scores["title"]), share(scores["author"]),
                   share(scores["site"]), share(scores["date"]), elapsed / len(names))


def newsearch_extract(data: bytes) -> Extracted:
    """newsearch's HTML reader, as `newsearch index` reads a page (titles completed as it does)."""
    from newsearch.corpus.article import title_from_text
    from newsearch.corpus.formats import READERS

    (article,), _ = READERS[".html"].read(data)
    assert not isinstance(article, Exception) and hasattr(article, "body")
    return Extracted(article.body, article.title or title_from_text(article.body), article.author,
                     article.source, article.published)


def trafilatura_extract(data: bytes) -> Extracted:
    """trafilatura on its own, with its defaults."""
    import trafilatura

    from newsearch.corpus.dates import parse_date

    doc = trafilatura.bare_extraction(data, with_metadata=True)
    if doc is None:
        raise ValueError("refused")
    return Extracted(doc.text or "", doc.title or "", doc.author or "", doc.sitename or "", parse_date(doc.date))


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "newsearch"
    extractor = {"newsearch": newsearch_extract, "trafilatura": trafilatura_extract}[which]
    verbose = "-v" in sys.argv
    figures = measure(extractor, report=print if verbose else None)
    print(HEADER)
    print(figures.row(which))
