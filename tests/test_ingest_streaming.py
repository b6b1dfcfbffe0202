"""CSV/TSV files and web archives over the size cap are streamed like JSON Lines: the cap applies
to each article, the articles equal those of a whole read, and the file is never held whole."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest
from support.corpora import read_one
from test_ingest_warc import RECORDS, archive, html

from newsearch.corpus import read_articles, scan
from newsearch.indexer import build_index
from newsearch.models import Document, SkippedFile

ROWS = [
    ("1", "Harbour strike ends", "Dockers voted to return to work.\nThe port reopens on Monday."),
    ("2", 'Council "listens"', "Residents said the council, for once, listened."),
    ("3", "Café reopens", "The café by the quay reopened after two years."),
    ("4", "Ferry timetable", "Ferries run every hour again; the last leaves at 22:00."),
]


def _csv(delimiter: str = ",", rows=ROWS) -> bytes:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in f'"\n{delimiter}') else value

    lines = [delimiter.join(("id", "title", "text"))] + [delimiter.join(map(cell, row)) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _jsonl() -> bytes:
    return "".join(json.dumps({"id": i, "title": t, "text": b}) + "\n" for i, t, b in ROWS).encode()


CASES = {
    "news.csv": _csv(),
    "news.csv.gz": gzip.compress(_csv()),
    "news.tsv": _csv("\t"),
    "news.jsonl.gz": gzip.compress(_jsonl()),
    "crawl.warc": archive(RECORDS, gzipped=False),
    "crawl.warc.gz": archive(RECORDS, gzipped=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_file_over_the_cap_gives_the_articles_of_a_whole_read(tmp_path, name):
    whole = read_one(tmp_path / "whole", name, CASES[name])
    cap = len(gzip.decompress(CASES[name]) if name.endswith(".gz") else CASES[name]) // 2  # over every article
    streamed = read_one(tmp_path / "whole", name, CASES[name], max_bytes=cap)
    assert whole.documents and whole.problems == []
    assert (streamed.documents, streamed.problems, streamed.warnings) == (
        whole.documents, whole.problems, whole.warnings)
    if not name.endswith(".gz"):  # a .gz read whole is hashed as decompressed, streamed as stored
        assert streamed.version.sha256 == whole.version.sha256


def test_a_row_over_the_cap_is_a_problem_and_its_neighbours_are_read(tmp_path):
    rows = [*ROWS[:2], ("big", "A long one", "word " * 400), *ROWS[2:]]
    result = read_one(tmp_path, "news.csv", _csv(rows=rows), max_bytes=1000)
    assert [doc.id for doc in result.documents] == ["1", "2", "3", "4"]
    assert result.problems == [SkippedFile("news.csv#3", "too large: the row at line 5 is 2,017 bytes > cap 1,000")]


def test_a_page_over_the_cap_is_a_problem_and_the_others_are_read(tmp_path):
    big = html("A very long page", "<meta name='x' content='" + "y" * 3000 + "'>")
    records = [*RECORDS, ("response", "https://port.example/long", "2026-03-07T09:00:00Z", 200, "text/html", big)]
    result = read_one(tmp_path, "crawl.warc.gz", archive(records), max_bytes=2500)
    assert [doc.title for doc in result.documents] == ["Harbour strike ends", "Café reopens by the quay"]
    assert result.problems == [SkippedFile("crawl.warc.gz#3", "too large: the page https://port.example/long is over "
                                                              "the cap of 2,500 bytes")]


def _peak_streaming(folder, count: int) -> tuple[int, int]:
    """(file size, peak bytes allocated) reading a CSV of `count` rows of ~1 KB with a 64 KB cap."""
    body = "A paragraph of a long story about the harbour. " * 20
    folder.mkdir()
    path = folder / "news.csv"
    path.write_bytes(_csv(rows=[(str(n), f"Story {n}", f"{body}\n{n}") for n in range(count)]))
    [file] = scan([folder]).files
    tracemalloc.start()
    try:
        articles = read_articles(file, max_bytes=64 * 1024)
        assert sum(isinstance(item, Document) for item in articles.items) == count
        return path.stat().st_size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_streamed_csv_is_not_held_in_memory(tmp_path):
    small_size, small_peak = _peak_streaming(tmp_path / "small", 1500)  # both over the 1 MiB read at a time
    large_size, large_peak = _peak_streaming(tmp_path / "large", 6000)
    # What grows is the set of ids seen (duplicates are refused), not the rows read
    assert large_peak - small_peak < (large_size - small_size) // 4, (small_peak, large_peak, large_size)


def test_an_index_holds_every_row_of_a_csv_over_the_cap(tmp_path):
    corpus = tmp_path / "data"
    corpus.mkdir()
    (corpus / "news.csv").write_bytes(_csv())
    report = build_index([corpus], tmp_path / "ix", max_bytes=200)
    assert (report.added, report.skipped) == (4, [])
