"""The numpy columns (``columns``): facets, timelines, filter masks, filter notes and a query's
matches equal brute-force counts over the stored fields, after adds, updates and deletes."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from newsearch import build_index, open_index
from newsearch.columns import NO_DATE, doc_columns, epoch_micros, filter_mask, matching_docnums, timeline_of
from newsearch.grouping import FACETS, facet_counts, year_month
from newsearch.matches import column_values
from newsearch.models import PERIODS
from newsearch.query import parse
from newsearch.schema import source_key, stored_published
from newsearch.timeline import timeline

METALS = ["zinc", "tin", "cobalt", "copper", "nickel", "iron"]  # each its own stem
SOURCES = ["Reuters", "reuters", "The  Times", "BBC News", "Le Monde", ""]  # "Reuters" and "reuters": one key
BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), BERLIN]
# Moments at the edges of periods and of Berlin's clock changes (2020-03-29 01:00Z, 2020-10-25 01:00Z).
EDGES = [datetime(2020, 3, 29, 0, 59, 59, 999999), datetime(2020, 3, 29, 1), datetime(2020, 3, 28, 23),
         datetime(2020, 10, 25, 0, 59), datetime(2020, 10, 25, 1), datetime(2020, 10, 24, 22, 30),
         datetime(2019, 12, 31, 23, 30), datetime(2020, 1, 1), datetime(2020, 12, 31, 18, 45)]
QUERIES = ["zinc", "zinc tin", "cobalt -zinc", '"copper nickel"', "iron OR tin", "zinc AND copper"]


def micros_since_epoch(moment: datetime) -> int:
    naive = moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    return (naive - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def _article(rng: random.Random, number: int) -> dict[str, object]:
    words = [rng.choice(METALS) for _ in range(rng.randrange(1, 6))]
    article: dict[str, object] = {"id": f"a{number}", "title": f"Report {number} " + " ".join(words[:2]),
                                  "body": " ".join(words) + f" story{number}."}
    source = rng.choice(SOURCES)
    if source:
        article["source"] = source
    if rng.random() < 0.85:
        moment = (rng.choice(EDGES) if rng.random() < 0.2 else
                  datetime(2019, 11, 1) + timedelta(seconds=rng.randrange(500 * 86400)))
        article["published"] = moment.isoformat() + "Z"
    return article


def _write(corpus: Path, name: str, articles: list[dict[str, object]]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / name).write_text("".join(json.dumps(article) + "\n" for article in articles), encoding="utf-8")


def _stored(index) -> dict[int, dict]:
    """Every live document's stored fields, by global number: the brute-force reference."""
    searcher = index._fresh().searcher
    reader = searcher.reader()
    return {docnum: searcher.stored_fields(docnum) for docnum in range(searcher.doc_count_all())
            if not reader.is_deleted(docnum)}


def _matches_text(stored: dict, query: str) -> bool:
    words = set(f"{stored.get('title', '')} {stored.get('body', '')}".lower().replace(".", " ").split())
    text = f" {stored.get('title', '')} . {stored.get('body', '')} ".lower()
    if query.startswith('"'):
        return " " + query.strip('"') + " " in text.replace(".", " . ")
    if " -" in query:
        wanted, unwanted = query.split(" -")
        return wanted in words and unwanted not in words
    if " AND " in query:
        return all(word in words for word in query.split(" AND "))
    return any(word in words for word in query.replace(" OR ", " ").split())


def _reference_facets(stored: list[dict]) -> dict[str, tuple[tuple[str, int], ...]]:
    names: dict[str, str] = {}
    for fields in stored:  # the name as the first article of a source (by document number) writes it
        key = source_key(fields.get("source", ""))
        if key:
            names.setdefault(key, fields.get("source", ""))
    periods = [year_month(stored_published(fields.get("published"))) for fields in stored]
    return {
        "source": tuple(facet_counts(names.get(source_key(fields.get("source", ""))) for fields in stored)),
        "year": tuple(facet_counts(period[0] if period else None for period in periods)),
        "month": tuple(facet_counts(period[1] if period else None for period in periods)),
    }


def _in_filters(fields: dict, since: datetime | None, until: datetime | None, sources: list[str]) -> bool:
    if sources and source_key(fields.get("source", "")) not in {source_key(name) for name in sources}:
        return False
    if since is None and until is None:
        return True
    moment = stored_published(fields.get("published"))
    return moment is not None and (since is None or moment >= since) and (until is None or moment < until)


FILTERS = [
    (None, None, []),
    (datetime(2020, 3, 29, 1, tzinfo=timezone.utc), None, []),
    (None, datetime(2020, 6, 1, tzinfo=timezone.utc), ["reuters"]),
    (datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 10, 25, 1, tzinfo=timezone.utc),
     ["The Times", "le monde"]),
    (None, None, ["BBC  news", "Nobody"]),
]


def _check_index(path: Path) -> None:
    with open_index(path) as index:
        stored = _stored(index)
        searcher = index._fresh().searcher
        columns = doc_columns(searcher)
        # The columns hold what Whoosh's column readers and the stored fields hold.
        docnums = list(range(searcher.doc_count_all()))
        def dated(raw: list[int]) -> list[int | None]:
            return [value if value < NO_DATE else None for value in raw]  # NO_DATE or more: undated

        assert dated(columns.published.tolist()) == dated(list(column_values(searcher, "published", docnums,
                                                                             NO_DATE).values()))
        for docnum, fields in stored.items():
            code = columns.source[docnum]
            assert (columns.source_keys[code] if code >= 0 else "") == source_key(fields.get("source", ""))
        for query in QUERIES:
            compiled = index._compiler(searcher, index._fresh(), correct=False).compile(parse(query))
            matched = sorted(docnum for docnum, fields in stored.items() if _matches_text(fields, query))
            assert matching_docnums(searcher, compiled.query).tolist() == matched, query
            for since, until, sources in FILTERS:
                keys = [source_key(name) for name in sources]
                mask = filter_mask(columns, since, until, keys)
                kept = [docnum for docnum in matched if _in_filters(stored[docnum], since, until, sources)]
                assert matching_docnums(searcher, compiled.query, mask).tolist() == kept, (query, since, until)
                results = index.search(query, since=since, until=until, sources=sources or None, facets=FACETS,
                                       collapse=False)
                assert results.total == len(kept)
                if kept:
                    assert results.facets == _reference_facets([stored[docnum] for docnum in kept])
                elif matched and (since or until or sources):
                    _check_note(results.filtered_out, [stored[docnum] for docnum in matched], since, until, sources)
                for period in PERIODS:
                    for tz in ZONES:
                        expected = timeline([stored_published(stored[docnum].get("published")) for docnum in kept],
                                            period, since=since, until=until, tz=tz)
                        assert index.timeline(query, by=period, since=since, until=until, sources=sources or None,
                                              tz=tz, correct=False) == expected, (query, period, tz)


def _check_note(note, matched: list[dict], since, until, sources) -> None:
    dates = [moment for fields in matched if (moment := stored_published(fields.get("published"))) is not None]
    assert note.matches == len(matched)
    assert note.dated == len(dates)
    assert (note.earliest, note.latest) == (min(dates, default=None), max(dates, default=None))
    if sources:
        assert note.from_sources == sum(1 for fields in matched if _in_filters(fields, None, None, sources))
        assert note.match_sources == _reference_facets(matched)["source"]
    if since or until:
        assert note.in_dates == sum(1 for moment in dates
                                    if (since is None or moment >= since) and (until is None or moment < until))


@pytest.mark.parametrize("seed", [3])
def test_facets_timelines_and_filters_equal_brute_force_after_adds_updates_and_deletes(tmp_path, seed):
    rng = random.Random(seed)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    articles = [_article(rng, number) for number in range(120)]
    for part in range(3):
        _write(corpus, f"part{part}.jsonl", articles[part * 40:(part + 1) * 40])
    build_index([corpus], index)
    _check_index(index)
    _write(corpus, "part3.jsonl", [_article(rng, number) for number in range(120, 150)])  # added
    _write(corpus, "part1.jsonl", [_article(rng, number) for number in range(40, 70)])  # updated: fewer, new values
    (corpus / "part0.jsonl").unlink()  # deleted
    build_index([corpus], index, prune=True)  # a third of the articles: more than a run deletes unprompted
    _check_index(index)


def test_a_segment_without_dates_reads_as_undated(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _write(corpus, "plain.jsonl", [{"id": "p1", "title": "zinc", "body": "zinc tin"}, {"id": "p2", "body": "tin"}])
    build_index([corpus], index)
    with open_index(index) as opened:
        assert doc_columns(opened._fresh().searcher).published.tolist() == [NO_DATE, NO_DATE]
        facets = opened.search("zinc", facets=FACETS).facets
        assert (facets["year"], facets["month"]) == ((), ())
        assert opened.timeline("tin") == timeline([None, None], "month")


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("tz", ZONES + [ZoneInfo("America/St_Johns"), ZoneInfo("Australia/Lord_Howe")])
def test_timeline_of_an_array_equals_the_timeline_of_datetimes(period, tz):
    rng = random.Random(11)
    start = datetime(2018, 1, 1, tzinfo=timezone.utc)
    moments = [start + timedelta(microseconds=rng.randrange(3 * 365 * 86400 * 10**6)) for _ in range(3000)]
    # Every quarter hour around each clock change of the zone, when it has them.
    for year in (2018, 2019, 2020):
        for month in range(1, 13):
            start = datetime(year, month, 1, tzinfo=timezone.utc)
            for day in range(31):
                moment = start + timedelta(days=day)
                if moment.astimezone(tz).utcoffset() != (moment + timedelta(days=1)).astimezone(tz).utcoffset():
                    moments += [moment + timedelta(minutes=15 * step) + delta for step in range(97)
                                for delta in (timedelta(0), -timedelta(microseconds=1))]
    dates = [*moments, None, None]
    array = np.array([micros_since_epoch(moment) for moment in moments], dtype=np.int64)
    assert timeline_of(array, 2, period, tz=tz) == timeline(dates, period, tz=tz)
    since, until = datetime(2018, 7, 3, 5, tzinfo=timezone.utc), datetime(2020, 2, 29, 23, tzinfo=timezone.utc)
    assert timeline_of(array, 2, period, since=since, until=until, tz=tz) == timeline(dates, period, since=since,
                                                                                     until=until, tz=tz)


def test_timeline_of_refuses_what_timeline_refuses():
    moments = np.array([micros_since_epoch(datetime(2000, 1, 1)), micros_since_epoch(datetime(2030, 1, 1))])
    with pytest.raises(ValueError, match="more than 10,000"):
        timeline_of(moments, 0, "day")
    with pytest.raises(ValueError, match="must be before until"):
        timeline_of(moments, 0, "day", since=datetime(2001, 1, 1), until=datetime(2000, 1, 1))
    assert timeline_of(np.zeros(0, dtype=np.int64), 0, "week").buckets == ()


def test_epoch_micros_leaves_out_the_undated():
    raw = np.array([NO_DATE, NO_DATE + 5, 62135596800 * 10**6 + 1], dtype=np.uint64)  # the last: 1970-01-01 + 1 µs
    moments, undated = epoch_micros(raw)
    assert moments.tolist() == [1] and undated == 2
    assert date(1970, 1, 1) + timedelta(microseconds=int(moments[0])) == date(1970, 1, 1)
