"""Lists by date (newsearch/listing.py): browsing pages, searches sorted by date and every match
(``Index.matching``) in exactly the documented order -- newest (or oldest) first, undated articles
last either way, ties by id -- equal to a brute-force sort of the corpus, with many undated
articles, many articles sharing one moment, and copies of one story folded."""

from __future__ import annotations

import random

import pytest
from support.news import write_news

from newsearch import build_index, listing
from newsearch.errors import QueryError
from newsearch.searcher import CANDIDATES, Index

MOMENTS = ["2025-01-20T09:00:00Z", "2025-01-18T12:00:00Z", "2025-01-18T12:00:00Z", "2025-01-02T00:00:00Z",
           "2024-12-31T23:59:59Z", "2024-06-01T08:30:00Z"]
WORDS = ("tide quay mooring vessel cargo crane dock pilot tug buoy anchor hull deck mast sail keel rudder "
         "bridge lock canal basin jetty wharf berth freight tanker trawler dredger ferryman beacon").split()


def _body(rng: random.Random, *extra: str) -> str:
    return " ".join([*extra, *rng.choices(WORDS, k=60), *extra]) + "."


def _articles() -> tuple[list[dict], list[list[str]]]:
    """Undated ferry articles outnumbering a search's candidate depth, dated ones sharing a few
    moments, harbour articles without ferries, and three stories published several times."""
    rng = random.Random(18)
    articles: list[dict] = []
    for number in range(CANDIDATES + 30):
        articles.append({"id": f"u{rng.randrange(10**6):06d}-{number}", "title": "Ferry notes",
                         "body": _body(rng, "ferry"), "source": "Archive"})
    for number in range(40):
        articles.append({"id": f"d{rng.randrange(10**6):06d}-{number}", "title": "Ferry news",
                         "body": _body(rng, "ferry"), "date": rng.choice(MOMENTS),
                         "source": rng.choice(["Wire", "Post"])})
    for number in range(25):
        articles.append({"id": f"h{number:03d}", "title": "Harbour news", "body": _body(rng, "harbour"),
                         "date": rng.choice(MOMENTS + [None]), "source": "Post"})
    stories = []
    for number in range(3):
        body = _body(rng, "ferry", f"story{number}")
        copies = [f"s{number}-{copy}" for copy in range(3)]
        for copy, dated in zip(copies, [MOMENTS[number], MOMENTS[number + 2], None]):
            articles.append({"id": copy, "title": "Ferry story", "body": body, "date": dated, "source": "Wire"})
        stories.append(copies)
    for article in articles:
        if article.get("date") is None:
            article.pop("date", None)
    return articles, stories


ARTICLES, STORIES = _articles()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("date_order")
    report = build_index([write_news(root / "corpus", ARTICLES)], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    with Index(root / "index") as opened:
        yield opened


def expected(sort: str, word: str | None = None) -> list[str]:
    """The brute-force order of the articles holding ``word`` (every article for None)."""
    chosen = [a for a in ARTICLES if word is None or word in a["body"].split()]
    dated = sorted((a for a in chosen if "date" in a), key=lambda a: a["id"])
    dated.sort(key=lambda a: a["date"], reverse=(sort == "newest"))
    return [a["id"] for a in dated] + sorted(a["id"] for a in chosen if "date" not in a)


def folded(order: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    story_of = {copy: number for number, copies in enumerate(STORIES) for copy in copies}
    listed = []
    for id in order:
        story = story_of.get(id)
        if story is None:
            listed.append((id, ()))
        elif not any(story_of.get(other) == story for other, _ in listed):
            listed.append((id, tuple(other for other in order if story_of.get(other) == story and other != id)))
    return listed


@pytest.fixture(params=[(listing.FIRST, listing.CHUNK), (7, 5), (1, 1)], ids=["default", "small-chunks", "one"])
def chunks(request, monkeypatch):
    """Page and chunk bounds falling inside groups of articles that share a moment, too."""
    monkeypatch.setattr(listing, "FIRST", request.param[0])
    monkeypatch.setattr(listing, "CHUNK", request.param[1])


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_a_search_sorted_by_date_lists_dated_articles_first(index, sort):
    """More undated matches than the search's candidate depth: they used to fill it, newest first."""
    order = expected(sort, "ferry")
    assert sum(not id.startswith(("d", "s")) for id in order) > CANDIDATES
    results = index.search("ferry", sort=sort, collapse=False, limit=10)
    assert [hit.id for hit in results.hits] == order[:10]
    assert results.total == len(order)


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_every_page_of_a_sort_by_date_equals_brute_force(index, sort, chunks):
    order = expected(sort, "ferry")
    for offset, limit in [(0, 3), (2, 5), (38, 9), (len(order) - 4, 10)]:
        results = index.search("ferry", sort=sort, collapse=False, limit=limit, offset=offset)
        assert [hit.id for hit in results.hits] == order[offset:offset + limit], (offset, limit)


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_every_browsing_page_equals_brute_force(index, sort, chunks):
    order = expected(sort)
    stories = folded(order)
    for offset, limit in [(0, 1), (0, 10), (5, 7), (44, 20), (len(stories) - 3, 10)]:
        listed = index.search("*", sort=sort, collapse=False, limit=limit, offset=offset)
        assert [hit.id for hit in listed.hits] == order[offset:offset + limit]
        assert (listed.total, listed.stories) == (len(order), len(order))
        grouped = index.search("*", sort=sort, limit=limit, offset=offset)
        assert [(hit.id, tuple(sorted(copy.id for copy in hit.similar))) for hit in grouped.hits] == \
               [(id, tuple(sorted(copies))) for id, copies in stories[offset:offset + limit]]
        assert (grouped.total, grouped.stories) == (len(order), len(stories))


def test_filters_alone_list_in_the_same_order(index, chunks):
    harbour_post = [id for id in expected("newest") if id.startswith("h")]
    assert [hit.id for hit in index.search("", sources=["Post"], limit=100).hits] == \
           [id for id in expected("newest") if next(a for a in ARTICLES if a["id"] == id)["source"] == "Post"]
    assert [hit.id for hit in index.search("harbour", sort="newest", limit=100).hits] == harbour_post


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_matching_lists_every_match_in_order_with_copies_folded(index, sort, chunks):
    order = expected(sort, "ferry")
    with index.matching("ferry", sort=sort) as matches:
        assert len(matches) == len(order)
        assert [match.id for match in matches] == order
        assert [match.id for match in matches] == order  # iterated again while open
    with index.matching("ferry", sort=sort, collapse=True) as matches:
        assert [(match.id, match.similar) for match in matches] == folded(order)
        assert len(matches) == len(folded(order))


def test_closed_matches_are_not_read_again(index):
    matches = index.matching("ferry")
    matches.close()
    assert len(matches) == len(expected("newest", "ferry"))
    with pytest.raises(ValueError, match="closed"):
        list(matches)
    with pytest.raises(QueryError, match="sort must be newest or oldest, not 'relevance'"):
        index.matching("ferry", sort="relevance")


def test_a_page_reads_the_ids_of_its_own_ties_only(index, monkeypatch):
    """The first page of a list orders by the date column; only articles sharing the boundary's
    moment have their ids read, not every listed article's."""
    read: list[int] = []
    original = listing.column_values

    def counting(searcher, fieldname, docnums, default):
        docnums = list(docnums)
        if fieldname == "id":
            read.extend(docnums)
        return original(searcher, fieldname, docnums, default)

    monkeypatch.setattr(listing, "column_values", counting)
    monkeypatch.setattr(listing, "FIRST", 2)
    (hit,) = index.search("*", collapse=False, limit=1).hits
    newest = [a["id"] for a in ARTICLES if a.get("date") == MOMENTS[0]]
    assert hit.id == min(newest)
    assert len(read) == len(newest) < len(ARTICLES) // 4


def test_stored_order_survives_an_update(tmp_path):
    """Deleted articles leave the order; a new segment's articles join it in place."""
    corpus = write_news(tmp_path / "corpus", ARTICLES[:60])
    build_index([corpus], tmp_path / "index")
    (corpus / f"{ARTICLES[0]['id']}.json").unlink()
    later = ARTICLES[60:140]
    write_news(corpus, later)
    build_index([corpus], tmp_path / "index")
    kept = {a["id"] for a in ARTICLES[1:140]}
    with Index(tmp_path / "index") as index:
        listed = [hit.id for hit in index.search("*", collapse=False, limit=100, offset=0).hits]
        listed += [hit.id for hit in index.search("*", collapse=False, limit=100, offset=100).hits]
    assert listed == [id for id in expected("newest") if id in kept]
