"""News features against fixture corpora the tests write: near-duplicate clusters in the index
(kept right by updates, deletions and crashes), collapsed search results, related stories,
facets and timelines checked against brute-force counts, and recency ranking."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsearch import DocumentNotFound, QueryError, build_index, duplicate_store, index_stats, open_index
from newsearch.cli import cli
from newsearch.duplicate_store import DUPLICATES_FILE
from newsearch.storage import current_generation, set_checksums_aside


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The command in this process (these tests read its output; real processes: tests/test_reliability_*)."""
    result = CliRunner().invoke(cli, list(args))
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


UTC = timezone.utc

WIRE = (
    "Dock workers at the port of Rotterdam walked out on Monday in a dispute over automation, halting "
    "container traffic at Europe's largest harbour. The union said cranes operated from remote control "
    "rooms would cost hundreds of jobs within three years. Shipping lines diverted vessels to Antwerp and "
    "Hamburg while talks with the port authority continued late into the night. A spokesman for the "
    "employers said the walkout was illegal and that a court hearing had been requested for Wednesday. "
    "Economists warned that a long stoppage could delay deliveries of electronics and clothing across "
    "the continent before the spring sales."
)
FOLLOW_UP = (
    "The strike at the port of Rotterdam ended on Friday after the union accepted a guarantee that no "
    "dock workers would lose their jobs to automation before 2028. Container traffic resumed within "
    "hours, although shipping lines said the backlog of vessels anchored off the harbour would take a "
    "week to clear. Both sides praised the mediator, a former transport minister."
)
BACKGROUND = (
    "Automation is spreading through Europe's container ports. In Rotterdam, remote control cranes and "
    "driverless vehicles already move a third of the containers at the newest terminals, and the port "
    "authority plans to extend them. Dock workers' unions fear for their jobs; employers say the "
    "harbour must keep pace with Asian rivals."
)

ARTICLES = [
    dict(id="reuters-port", title="Dock workers strike at Rotterdam", body=WIRE,
         date="2025-03-03T08:00:00Z", source="Reuters"),
    # The same wire story: a few words changed and a dateline added.
    dict(id="ap-port", title="Rotterdam dockers walk out",
         body="ROTTERDAM (AP) - " + WIRE.replace("on Monday", "early on Monday").replace("hundreds of", "many"),
         date="2025-03-03T10:00:00Z", source="AP"),
    # ... with a new headline and a paragraph added at the end.
    dict(id="bbc-port", title="Strike shuts Europe's biggest port",
         body=WIRE + "\n\nThe BBC's Europe correspondent said the government was expected to intervene "
                     "if no deal was reached by the end of the week.",
         date="2025-03-03T12:00:00Z", source="BBC"),
    # Same subject, different stories: never copies.
    dict(id="port-followup", title="Rotterdam strike ends", body=FOLLOW_UP,
         date="2025-03-10T09:00:00Z", source="Reuters"),
    dict(id="port-background", title="Robots at the docks", body=BACKGROUND,
         date="2024-11-20T09:00:00Z", source="BBC"),
    dict(id="football", title="Late winner for Feyenoord",
         body="Feyenoord scored in the last minute to beat Ajax in front of a full stadium in Rotterdam, "
              "where fans celebrated long into the night.",
         date="2025-01-15T21:00:00Z", source="Sky"),
    dict(id="election", title="Dutch coalition talks",
         body="Coalition talks in The Hague stalled again as the parties disagreed on housing and taxes; "
              "a new round is planned after the holidays.",
         date="2024-12-01T09:00:00Z", source="AP"),
]


def write_corpus(folder: Path, articles: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (folder / f"{article['id']}.json").write_text(json.dumps(article), encoding="utf-8")


def pairs_of(index_path: Path) -> set[tuple[str, str]]:
    return {(a, b) for a, b, _ in duplicate_store.load(current_generation(index_path)).pairs}


def clusters_of(index_path: Path) -> dict[str, str]:
    return duplicate_store.load(current_generation(index_path)).cluster_of


@pytest.fixture(scope="module")
def news_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("news")
    write_corpus(root / "corpus", ARTICLES)
    report = build_index([root / "corpus"], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    return root / "index"


@pytest.fixture(scope="module")
def index(news_index):
    with open_index(news_index) as opened:
        yield opened


# -- clusters in the index ------------------------------------------------------------------------


def test_copies_form_one_cluster_named_by_the_smallest_id(news_index):
    assert clusters_of(news_index) == {"ap-port": "ap-port", "bbc-port": "ap-port", "reuters-port": "ap-port"}
    assert pairs_of(news_index) == {("ap-port", "bbc-port"), ("ap-port", "reuters-port"),
                                    ("bbc-port", "reuters-port")}


def test_stats_count_the_copies(news_index):
    stats = index_stats(news_index)
    assert (stats.duplicates, stats.duplicate_clusters) == (2, 1)
    assert "\nCopies:     2 near-duplicates of 1 story\n" in run_cli("stats", "--index", str(news_index)).stdout


def test_clusters_follow_updates_and_deletions_as_a_rebuild_would(tmp_path):
    corpus, index_path = tmp_path / "corpus", tmp_path / "index"
    write_corpus(corpus, ARTICLES)
    build_index([corpus], index_path)

    def rebuilt_pairs() -> set[tuple[str, str]]:
        fresh = tmp_path / f"fresh-{random.random()}"
        build_index([corpus], fresh)
        return pairs_of(fresh)

    # The AP copy is rewritten into another story: it leaves the cluster.
    write_corpus(corpus, [{**ARTICLES[1], "body": ARTICLES[5]["body"] + " Ajax fans went home early."}])
    report = build_index([corpus], index_path)
    assert report.updated == 1
    # ... and becomes a copy of the football report instead.
    assert clusters_of(index_path) == {"bbc-port": "bbc-port", "reuters-port": "bbc-port",
                                       "ap-port": "ap-port", "football": "ap-port"}
    assert pairs_of(index_path) == rebuilt_pairs()

    # The BBC copy is deleted: the Reuters story has no copy left.
    (corpus / "bbc-port.json").unlink()
    assert build_index([corpus], index_path).deleted == 1
    assert clusters_of(index_path) == {"ap-port": "ap-port", "football": "ap-port"}
    assert pairs_of(index_path) == rebuilt_pairs()

    # A new copy arrives.
    write_corpus(corpus, [{**ARTICLES[0], "id": "afp-port", "source": "AFP", "title": "Port strike"}])
    assert build_index([corpus], index_path).added == 1
    assert clusters_of(index_path)["reuters-port"] == clusters_of(index_path)["afp-port"] == "afp-port"
    assert pairs_of(index_path) == rebuilt_pairs()


def test_a_run_killed_before_the_duplicates_file_is_written_is_repaired_by_the_next(tmp_path):
    corpus, index_path = tmp_path / "corpus", tmp_path / "index"
    write_corpus(corpus, ARTICLES)
    build_index([corpus], index_path)
    generation = current_generation(index_path)
    expected = duplicate_store.load(generation)

    set_checksums_aside(generation)  # killed between Whoosh's commit and the file (and its checksums)
    (generation / DUPLICATES_FILE).unlink()
    assert build_index([corpus], index_path).changed is False
    assert duplicate_store.load(generation) == expected

    # A file left by an older commit is not trusted for an update: every pair is found afresh.
    set_checksums_aside(generation)
    (generation / DUPLICATES_FILE).write_text("# newsearch-duplicates 1 toc=0\nelection\tfootball\t1.0\n")
    write_corpus(corpus, [{**ARTICLES[6], "body": ARTICLES[6]["body"] + " Talks resume in January."}])
    assert build_index([corpus], index_path).updated == 1
    assert pairs_of(index_path) == {(a, b) for a, b, _ in expected.pairs}


def test_parallel_and_serial_builds_find_the_same_pairs(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, ARTICLES)
    # Enough files for the parallel writer; all of them copies of two stories.
    write_corpus(corpus, [{**ARTICLES[0], "id": f"copy-{n:03d}", "source": f"Paper {n % 7}"} for n in range(200)])
    write_corpus(corpus, [{**ARTICLES[3], "id": f"later-{n:03d}"} for n in range(200)])
    build_index([corpus], tmp_path / "serial", jobs=1)
    build_index([corpus], tmp_path / "parallel", jobs=2)
    serial = clusters_of(tmp_path / "serial")
    assert serial == clusters_of(tmp_path / "parallel")
    assert Counter(serial.values()) == {"ap-port": 203, "later-000": 201}


# -- collapsing in search -------------------------------------------------------------------------


def test_search_folds_copies_into_the_best_ranked_and_names_their_sources(index):
    results = index.search("rotterdam dock workers automation", limit=10)
    assert [hit.id for hit in results.hits] == ["reuters-port", "port-followup", "port-background", "football"]
    first = results.hits[0]
    assert [(copy.id, copy.source) for copy in first.similar] == [("ap-port", "AP"), ("bbc-port", "BBC")]
    assert first.similar[0].published == datetime(2025, 3, 3, 10, tzinfo=UTC)
    assert results.total == 6  # every copy counts
    assert [hit.rank for hit in results.hits] == [1, 2, 3, 4]


def test_collapse_false_shows_every_copy(index):
    results = index.search("rotterdam dock workers automation", limit=10, collapse=False)
    assert [hit.id for hit in results.hits] == ["reuters-port", "ap-port", "bbc-port", "port-followup",
                                                "port-background", "football"]
    assert all(hit.similar == () for hit in results.hits)


def test_copies_outside_the_filters_are_not_counted(index):
    results = index.search("rotterdam dock workers", sources=["Reuters", "AP"])
    assert [hit.id for hit in results.hits] == ["reuters-port", "port-followup"]
    assert [copy.id for copy in results.hits[0].similar] == ["ap-port"]


def test_pages_are_filled_after_folding(index):
    pages = [index.search("rotterdam", limit=2, offset=offset) for offset in (0, 2)]
    everything = index.search("rotterdam", limit=10)
    assert [hit.id for page in pages for hit in page.hits] == [hit.id for hit in everything.hits][:4]
    assert len(everything.hits) == 4  # 6 articles say Rotterdam, 3 of them one story


# -- related stories ------------------------------------------------------------------------------


def test_related_ranks_the_same_subject_first_and_leaves_out_copies(index):
    results = index.related("reuters-port", limit=3)
    assert [hit.id for hit in results.hits][:2] == ["port-followup", "port-background"]
    assert not {"reuters-port", "ap-port", "bbc-port"} & {hit.id for hit in results.hits}
    assert results.hits[0].passages and results.hits[0].passages[0].highlights


def test_related_before_keeps_only_older_articles(index):
    results = index.related("bbc-port", before=True, limit=10)
    assert results.hits[0].id == "port-background"
    assert all(hit.published < datetime(2025, 3, 3, 12, tzinfo=UTC) for hit in results.hits)
    assert "port-followup" not in {hit.id for hit in results.hits}


def test_related_errors(index):
    with pytest.raises(DocumentNotFound, match="no-such-id"):
        index.related("no-such-id")


# -- facets and timelines, against brute-force counts ---------------------------------------------

SOURCES = ("Reuters", "AP", "BBC News", "Le Monde")


def generated_articles(count: int = 120, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        day = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(700), hours=rng.randrange(24))
        words = " ".join(f"topic{rng.randrange(400)}" for _ in range(40))
        harbour = rng.random() < 0.4
        article = dict(id=f"gen-{number:03d}", title=f"Report {number}",
                       body=f"Article{number} {'harbour ' if harbour else ''}{words}.", source=rng.choice(SOURCES))
        if number % 10:  # every tenth article has no date
            article["date"] = day.isoformat()
        articles.append(article)
    return articles


@pytest.fixture(scope="module")
def generated_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("facets")
    write_corpus(root / "corpus", generated_articles())
    build_index([root / "corpus"], root / "index")
    with open_index(root / "index") as opened:
        yield opened


def matching(word: str) -> list[dict]:
    return [article for article in generated_articles() if f" {word} " in article["body"]]


def parsed(article: dict) -> datetime | None:
    return datetime.fromisoformat(article["date"]) if "date" in article else None


def test_facets_count_the_whole_result_set(generated_index):
    results = generated_index.search("harbour", limit=1, facets=("source", "year", "month"))
    expected = matching("harbour")
    assert results.total == len(expected) > 30
    by_source = Counter(article["source"] for article in expected)
    by_year = Counter(parsed(a).strftime("%Y") for a in expected if parsed(a))
    by_month = Counter(parsed(a).strftime("%Y-%m") for a in expected if parsed(a))
    assert dict(results.facets["source"]) == by_source
    assert dict(results.facets["year"]) == by_year
    assert dict(results.facets["month"]) == by_month
    counts = [count for _, count in results.facets["month"]]
    assert counts == sorted(counts, reverse=True)  # most frequent first
    assert list(results.facets) == ["source", "year", "month"]


def test_facets_respect_filters_and_reject_unknown_names(generated_index):
    results = generated_index.search("harbour", facets=("source",), sources=["AP"])
    assert results.facets == {"source": (("AP", sum(a["source"] == "AP" for a in matching("harbour"))),)}
    assert generated_index.search("harbour").facets == {}
    with pytest.raises(QueryError, match="unknown facet 'author': choose from source, year, month"):
        generated_index.search("harbour", facets=("author",))


def test_timeline_counts_every_month_including_empty_ones(generated_index):
    counts = generated_index.timeline("harbour", by="month")
    expected = matching("harbour")
    dated = [parsed(a) for a in expected if parsed(a)]
    brute = Counter(moment.strftime("%Y-%m") for moment in dated)
    labels = [start.strftime("%Y-%m") for start, _ in counts]
    assert labels[0] == min(brute) and labels[-1] == max(brute)
    assert len(labels) == len(set(labels))
    assert {start.strftime("%Y-%m"): count for start, count in counts} == {
        label: brute.get(label, 0) for label in labels}
    assert counts.undated == len(expected) - len(dated)


def test_timeline_bounds_and_time_zones(tmp_path):
    late = dict(id="late", title="Harbour at midnight", body="The harbour lights went out.",
                date="2025-01-31T23:30:00Z", source="AP")
    write_corpus(tmp_path / "corpus", [late, {**late, "id": "march", "body": "Harbour fog in March.",
                                              "date": "2025-03-02T10:00:00Z"}])
    build_index([tmp_path / "corpus"], tmp_path / "index")
    with open_index(tmp_path / "index") as index:
        utc = index.timeline("harbour", by="month")
        assert [(start.isoformat(), count) for start, count in utc] == [
            ("2025-01-01", 1), ("2025-02-01", 0), ("2025-03-01", 1)]
        berlin = index.timeline("harbour", by="month", tz=timezone(timedelta(hours=1)))
        assert [(start.isoformat(), count) for start, count in berlin] == [("2025-02-01", 1), ("2025-03-01", 1)]
        bounded = index.timeline("harbour", by="week", since=datetime(2025, 2, 1, tzinfo=UTC),
                                 until=datetime(2025, 3, 1, tzinfo=UTC))
        # The weeks (from Monday) that hold February; the two articles fall outside.
        assert [(start.isoformat(), count) for start, count in bounded] == [
            ("2025-01-27", 0), ("2025-02-03", 0), ("2025-02-10", 0), ("2025-02-17", 0), ("2025-02-24", 0)]
        with pytest.raises(QueryError, match="more than 10,000"):
            index.timeline("harbour", by="day", since=datetime(1900, 1, 1, tzinfo=UTC))


# -- recency ----------------------------------------------------------------------------------------


def test_recency_prefers_newer_articles_among_relevant_ones(index):
    query = "dock workers walkout automation"
    plain = index.search(query, limit=3)
    recent = index.search(query, limit=3, recency=timedelta(days=1))
    assert [hit.id for hit in plain.hits] == ["reuters-port", "port-background", "port-followup"]
    assert [hit.id for hit in recent.hits] == ["port-followup", "reuters-port", "port-background"]
    # One day later is one half-life: the score halves (the scores are those of the relevance order).
    assert recent.hits[0].score == plain.hits[2].score
    # A long half-life leaves relevance in charge.
    assert [hit.id for hit in index.search(query, limit=3, recency=timedelta(days=3650)).hits] \
        == [hit.id for hit in plain.hits]


def test_recency_neither_favours_nor_drops_undated_articles(tmp_path):
    stories = [dict(id=f"d{n}", title="Harbour news", body=f"Harbour story number {n} about cranes.",
                    date=f"2025-0{n}-01T00:00:00Z", source="AP") for n in range(1, 6)]
    stories.append(dict(id="undated", title="Harbour news", body="Harbour story without a date about cranes.",
                        source="AP"))
    write_corpus(tmp_path / "corpus", stories)
    build_index([tmp_path / "corpus"], tmp_path / "index")
    with open_index(tmp_path / "index") as index:
        order = [hit.id for hit in index.search("harbour cranes", recency=timedelta(days=30)).hits]
    # The median factor, d3's: next to d3 (relevance decides which first), between d4 and d2.
    assert [doc_id for doc_id in order if doc_id != "undated"] == ["d5", "d4", "d3", "d2", "d1"]
    assert order.index("d4") < order.index("undated") < order.index("d2")


def test_date_sorts_put_undated_articles_last(tmp_path):
    stories = [dict(id=f"d{n}", title="Harbour", body=f"Harbour report {n}.", date=f"2025-0{n}-01T00:00:00Z")
               for n in (1, 2)] + [dict(id="undated", title="Harbour", body="Harbour report, undated.")]
    write_corpus(tmp_path / "corpus", stories)
    build_index([tmp_path / "corpus"], tmp_path / "index")
    with open_index(tmp_path / "index") as index:
        assert [hit.id for hit in index.search("harbour", sort="newest").hits] == ["d2", "d1", "undated"]
        assert [hit.id for hit in index.search("harbour", sort="oldest").hits] == ["d1", "d2", "undated"]


def test_recency_errors(index):
    with pytest.raises(QueryError, match=r"cannot be combined with sorting by date \(newest\)"):
        index.search("port", sort="newest", recency=timedelta(days=1))
    with pytest.raises(QueryError, match="longer than zero"):
        index.search("port", recency=timedelta(0))


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_search_shows_folded_copies_and_all_shows_them(news_index):
    args = ("search", "rotterdam dock workers automation", "--index", str(news_index), "--passages", "0")
    folded = run_cli(*args)
    assert folded.returncode == 0, folded.stderr
    assert "     +2 similar: ap-port (AP), bbc-port (BBC)\n" in folded.stdout
    everything = run_cli(*args, "--all", "--format", "json")
    assert {"reuters-port", "ap-port", "bbc-port"} <= {hit["id"] for hit in json.loads(everything.stdout)["hits"]}
    data = json.loads(run_cli(*args, "--format", "json").stdout)
    assert [copy["id"] for copy in data["hits"][0]["similar"]] == ["ap-port", "bbc-port"]


def test_cli_facets_text_and_json(news_index):
    args = ("search", "rotterdam", "--index", str(news_index), "--facets", "source,year")
    text = run_cli(*args)
    assert text.stdout.endswith("By source: BBC 2, Reuters 2, AP 1, Sky 1\nBy year: 2025 5, 2024 1\n")
    data = json.loads(run_cli(*args, "--format", "json").stdout)
    assert data["facets"]["year"] == [{"value": "2025", "count": 5}, {"value": "2024", "count": 1}]
    wrong = run_cli(*args[:-1], "source,author")
    assert wrong.returncode == 2 and "unknown facet 'author'" in wrong.stderr


def test_cli_timeline_formats(news_index):
    base = ("timeline", "rotterdam", "--index", str(news_index), "--since", "2025-01", "--until", "2025-03")
    rows = list(csv.DictReader(io.StringIO(run_cli(*base, "--format", "csv").stdout)))
    assert [(row["label"], row["count"]) for row in rows] == [("2025-01", "1"), ("2025-02", "0"), ("2025-03", "4")]
    text = run_cli(*base)
    assert text.returncode == 0
    assert text.stdout.splitlines()[1].startswith("2025-02  ") and text.stdout.splitlines()[1].endswith(" 0")
    assert "#" in text.stdout  # not a terminal: plain characters
    assert json.loads(run_cli(*base, "--format", "json").stdout)["total"] == 5
    nothing = run_cli("timeline", "zebra", "--index", str(news_index))
    assert nothing.returncode == 1


def test_cli_timeline_time_zones(tmp_path):
    late = dict(id="late", title="Harbour at midnight", body="The harbour lights went out.",
                date="2025-01-31T23:30:00Z", source="AP")
    write_corpus(tmp_path / "corpus", [late])
    build_index([tmp_path / "corpus"], tmp_path / "index")
    base = ("timeline", "harbour", "--index", str(tmp_path / "index"), "--format", "csv")
    assert run_cli(*base).stdout.splitlines()[1] == "2025-01-01,2025-01,1"
    for zone in ("Europe/Berlin", "+01:00", "+1"):
        assert run_cli(*base, "--tz", zone).stdout.splitlines()[1] == "2025-02-01,2025-02,1", zone
    assert run_cli(*base, "--tz", "America/New_York", "--by", "day").stdout.splitlines()[1] == \
        "2025-01-31,2025-01-31,1"
    wrong = run_cli(*base, "--tz", "Mars/Olympus")
    assert wrong.returncode == 2 and "unknown time zone 'Mars/Olympus'" in wrong.stderr


def test_cli_related(news_index):
    result = run_cli("related", "bbc-port", "--before", "--index", str(news_index), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hits"][0]["id"] == "port-background"
    missing = run_cli("related", "nope", "--index", str(news_index))
    assert missing.returncode == 1 and "no document with id 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_cli_recency_option(news_index):
    result = run_cli("search", "dock workers walkout automation", "--recency", "1d", "--index", str(news_index),
                     "--format", "json", "-n", "2")
    assert [hit["id"] for hit in json.loads(result.stdout)["hits"]] == ["port-followup", "reuters-port"]
    bad = run_cli("search", "port", "--recency", "soon", "--index", str(news_index))
    assert bad.returncode == 2 and "invalid half-life 'soon'" in bad.stderr
    # A value starting with "-" is the option's value, not an excluded word.
    negative = run_cli("search", "port", "--recency", "-1d", "--index", str(news_index))
    assert negative.returncode == 2 and "invalid half-life '-1d'" in negative.stderr


def test_cli_refuses_impossible_combinations(news_index):
    index = ("--index", str(news_index))
    jsonl = run_cli("search", "port", "--facets", "source", "--format", "jsonl", *index)
    assert jsonl.returncode == 2 and "--facets needs --format text or json" in jsonl.stderr
    for command in (("search", "port"), ("timeline", "port")):
        backwards = run_cli(*command, "--since", "2025", "--until", "2024", *index)
        assert backwards.returncode == 2, command
        assert "--since 2025 is after --until 2024: no date is in between" in backwards.stderr
    assert json.loads(run_cli("search", "rotterdam", "--facets", "Source", "--format", "json", *index).stdout)[
        "facets"]["source"][0] == {"value": "BBC", "count": 2}


def test_cli_timeline_of_undated_matches_says_so(tmp_path):
    write_corpus(tmp_path / "corpus", [dict(id="a", title="Harbour", body="The harbour at dawn.")])
    build_index([tmp_path / "corpus"], tmp_path / "index")
    result = run_cli("timeline", "harbour", "--index", str(tmp_path / "index"))
    assert (result.returncode, result.stdout) == (0, "1 matching article, none of them dated: no timeline to draw.\n")


@pytest.mark.bbc
def test_the_index_finds_exactly_the_pairs_of_the_in_memory_pipeline_on_bbc(bbc_corpus, bbc_index):
    """Band hashes in a column and numpy grouping give the same verified pairs as band keys in a dict."""
    from newsearch.duplicates import duplicate_text, find_duplicates

    texts = {}
    with open_index(bbc_index.path) as index:  # the session's BBC index, built by two workers (conftest.py)
        for path in sorted(bbc_corpus.rglob("*.txt")):
            document = index.document(path.relative_to(bbc_corpus).as_posix())
            texts[document.id] = duplicate_text(document.title, document.body)
    _, verified = find_duplicates(texts)
    assert pairs_of(bbc_index.path) == {(a, b) for a, b, _ in verified}
    assert len(verified) >= 160


@pytest.mark.parametrize("collapse", [True, False])
def test_pages_partition_one_ordering(generated_index, collapse):
    query = "harbour topic1 topic2 topic3 topic5 topic8"
    everything = generated_index.search(query, limit=100, passages=0, collapse=collapse)
    assert len(everything.hits) > 40
    paged = [hit for offset in range(0, len(everything.hits), 7)
             for hit in generated_index.search(query, limit=7, offset=offset, passages=0, collapse=collapse).hits]
    whole = everything.hits
    assert [(hit.id, hit.rank, hit.score) for hit in paged] == [(hit.id, hit.rank, hit.score) for hit in whole]
