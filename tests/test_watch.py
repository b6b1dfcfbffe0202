"""Saved searches (`newsearch watch`, ``newsearch.watch``): a sequence of index updates and runs with
the exact new articles of each, runs that overlap each other and the indexer, runs killed before
they recorded, state across ``--rebuild``, the Atom feeds, and the exit codes."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.news import ARTICLES, write_news

from newsearch import build_index
from newsearch.cli import cli
from newsearch.errors import QueryError
from newsearch.searcher import Index
from newsearch.watch import FEED_ENTRIES, STATE_FILE, Watch, WatchError, Watches

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def news(tmp_path) -> tuple[Path, Path]:
    """A private corpus and its index (the tests change both)."""
    corpus = write_news(tmp_path / "corpus")
    build_index([corpus], tmp_path / "index")
    return corpus, tmp_path / "index"


def watch(index: Path, *args: str):
    return CliRunner().invoke(cli, ["watch", *args, "--index", str(index)], prog_name="newsearch")


def run_ids(index: Path, *names: str, feed_dir: Path | None = None) -> tuple[int, list[tuple[str, str, bool]]]:
    """Exit code and (watch, id, changed) of each article one `watch run --format jsonl` reports."""
    extra = ["--feed-dir", str(feed_dir)] if feed_dir else []
    result = watch(index, "run", *names, "--format", "jsonl", *extra)
    assert result.exit_code in (0, 1), result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, [(line["watch"], line["id"], line["changed"]) for line in lines]


def add_article(corpus: Path, id: str, title: str, body: str, date: str, source: str = "Wire") -> None:
    write_news(corpus, [{"id": id, "title": title, "body": body, "date": date, "source": source}])


def test_each_run_reports_exactly_what_is_new_or_changed(news):
    corpus, index = news
    assert watch(index, "add", "ferry", "ferry").exit_code == 0
    assert watch(index, "add", "wire", "--source", "Wire").exit_code == 0
    # The first run: every current match, copies folded, newest first.
    assert run_ids(index) == (0, [("ferry", "ferry-2", False), ("ferry", "ferry-old", False),
                                  ("ferry", "undated", False), ("wire", "ferry-2", False),
                                  ("wire", "ferry-old", False)])
    assert run_ids(index) == (1, [])
    add_article(corpus, "ferry-new", "Ferry service resumes", "The ferry service resumed today.", "2025-01-25")
    add_article(corpus, "weather", "Sunny week ahead", "Forecasters expect sunshine.", "2025-01-26")
    (corpus / "undated.json").write_text(json.dumps({**ARTICLES[-1], "body": "Rebuilt after the ferry storm."}))
    build_index([corpus], index)
    assert run_ids(index) == (0, [("ferry", "ferry-new", False), ("ferry", "undated", True),
                                  ("wire", "weather", False), ("wire", "ferry-new", False)])
    assert run_ids(index, "wire") == (1, [])
    (corpus / "ferry-old.json").unlink()  # a deletion is nothing to report
    build_index([corpus], index)
    assert run_ids(index) == (1, [])


def test_filters_with_relative_dates_are_read_at_each_run(news):
    _, index = news
    assert watch(index, "add", "all", "*").exit_code == 0
    assert watch(index, "add", "old", "*", "--until", "2024").exit_code == 0
    code, found = run_ids(index, "old")
    assert (code, found) == (0, [("old", "ferry-old", False)])


def test_a_run_killed_before_it_recorded_reports_the_same_again(news):
    _, index = news
    with Watches.open(index) as watches:
        watches.add(Watch("ferry", "ferry"))
    with Index(index) as opened:
        with Watches.open(index) as watches:
            first = watches.check(opened, "ferry")  # delivered, then killed: never recorded
        with Watches.open(index) as watches:
            again = watches.check(opened, "ferry")
            assert [a.document.id for a in again.new] == [a.document.id for a in first.new] == [
                "ferry-2", "ferry-old", "undated"]
            watches.record([again])
        with Watches.open(index) as watches:
            assert watches.check(opened, "ferry").new == ()


def test_a_killed_command_records_nothing(news, tmp_path):
    _, index = news
    assert watch(index, "add", "ferry", "ferry").exit_code == 0
    lock = os.open(index / f"{STATE_FILE}.lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # the run waits for this holder; it is killed while waiting
    process = subprocess.Popen([sys.executable, "-m", "newsearch", "watch", "run", "--index", str(index)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    os.close(lock)
    assert run_ids(index)[1] == [("ferry", "ferry-2", False), ("ferry", "ferry-old", False),
                                 ("ferry", "undated", False)]


def test_overlapping_runs_take_turns_and_report_each_article_once(news):
    _, index = news
    assert watch(index, "add", "all", "*", "--all").exit_code == 0
    reported: list[str] = []

    def one_run() -> None:
        with Index(index) as opened, Watches.open(index) as watches:
            report = watches.check(opened, "all")
            time.sleep(0.2)  # still delivering while the other run waits
            reported.extend(article.document.id for article in report.new)
            watches.record([report])

    threads = [threading.Thread(target=one_run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reported) == sorted(article["id"] for article in ARTICLES)


def test_runs_beside_the_indexer_lose_and_repeat_nothing(news):
    corpus, index = news
    assert watch(index, "add", "all", "*", "--all").exit_code == 0
    added = [f"extra-{number}" for number in range(12)]
    reported: list[str] = []
    done = threading.Event()

    def indexer() -> None:
        for number, id in enumerate(added):
            add_article(corpus, id, f"Extra {number}", f"Extra article number {number}.", "2025-02-01")
            build_index([corpus], index)
        done.set()

    thread = threading.Thread(target=indexer)
    thread.start()
    while not done.is_set():
        reported.extend(id for _, id, _ in run_ids(index)[1])
    thread.join()
    reported.extend(id for _, id, _ in run_ids(index)[1])
    assert sorted(reported) == sorted([article["id"] for article in ARTICLES] + added)


def test_the_state_survives_a_rebuild_and_can_live_elsewhere(news, tmp_path, monkeypatch):
    corpus, index = news
    assert watch(index, "add", "ferry", "ferry").exit_code == 0
    assert run_ids(index)[0] == 0
    build_index([corpus], index, rebuild=True)
    assert (index / STATE_FILE).is_file()
    assert run_ids(index) == (1, [])
    state = tmp_path / "mine.json"
    monkeypatch.setenv("NEWSEARCH_WATCHES", str(state))
    assert watch(index, "list").stdout == ""
    assert watch(index, "add", "budget", "budget").exit_code == 0
    assert json.loads(state.read_text())["watches"].keys() == {"budget"}


def test_the_atom_feed_is_valid_stable_newest_first_and_bounded(news, tmp_path):
    corpus, index = news
    feeds = tmp_path / "feeds"
    assert watch(index, "add", "ferry", "ferry").exit_code == 0
    run_ids(index, feed_dir=feeds)
    first = ET.parse(feeds / "ferry.atom").getroot()
    assert first.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert first.find(f"{ATOM}{required}") is not None
    entries = first.findall(f"{ATOM}entry")
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert ids == ["tag:newsearch,2025:article/ferry-2", "tag:newsearch,2025:article/ferry-old",
                   "tag:newsearch,2025:article/undated"]
    for entry in entries:
        assert all(entry.find(f"{ATOM}{name}") is not None for name in ("id", "title", "updated", "summary"))
    for number in range(FEED_ENTRIES + 5):
        add_article(corpus, f"f{number:03d}", f"Ferry news {number}", f"Ferry update {number}.",
                    f"2025-02-{1 + number // 24:02d}T{number % 24:02d}:00:00Z")
    build_index([corpus], index)
    run_ids(index, feed_dir=feeds)
    later = [entry.findtext(f"{ATOM}id") for entry in ET.parse(feeds / "ferry.atom").getroot().iter(f"{ATOM}entry")]
    assert len(later) == FEED_ENTRIES
    assert later[0] == "tag:newsearch,2025:article/f054" and "tag:newsearch,2025:article/ferry-2" not in later


def test_text_output_and_list(news):
    _, index = news
    added = watch(index, "add", "sport", "--source", "Sport Daily")
    assert added.stdout == "Added watch sport: --source 'Sport Daily'\n"
    assert watch(index, "list").stdout == "sport\t--source 'Sport Daily'\tnever run\n"
    result = watch(index, "run")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[0].endswith(" sport: 1 new article (1 story match --source 'Sport Daily')")  # after the time
    assert lines[1:] == ["  1. Harbour FC win the derby", "     Sport Daily · 2025-01-18 20:00 · match",
                         "     Harbour FC beat their rivals 2-1 in the derby."]
    assert watch(index, "run").stdout.endswith("sport: 0 new articles (1 story match --source 'Sport Daily')\n")
    assert watch(index, "remove", "sport").stdout == "Removed watch sport.\n"
    assert watch(index, "list").stdout == ""


@pytest.mark.parametrize("args, code, message", [
    (("add", "x", ""), 2, "the watch 'x' has no query and no filter"),
    (("add", "bad name", "ferry"), 1, "invalid watch name 'bad name'"),
    (("add", "x", "colour:red"), 2, "unknown field 'colour'"),
    (("add", "x", "ferry", "--since", "someday"), 2, "cannot read the date 'someday'"),
    (("remove", "nope"), 1, "no watch named 'nope' (watches: none yet)"),
])
def test_bad_watches_are_refused(news, args, code, message):
    _, index = news
    result = watch(index, *args)
    assert result.exit_code == code and message in result.stderr, result.output


def test_run_errors_exit_70_never_0_or_1(news, tmp_path):
    _, index = news
    assert watch(index, "run", "nope").exit_code == 70
    missing = CliRunner().invoke(cli, ["watch", "run", "--index", str(tmp_path / "none"), "--state",
                                       str(tmp_path / "w.json")], prog_name="newsearch")
    assert missing.exit_code == 3
    with pytest.raises(WatchError, match="exists already"), Watches.open(index) as watches:
        watches.add(Watch("a", "ferry"))
        watches.add(Watch("a", "ferry"))
    with pytest.raises(QueryError), Watches.open(index) as watches:
        watches.add(Watch("b", "x*"))
