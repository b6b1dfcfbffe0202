"""JSON Lines at archive scale (issue 14, item 4): a file over the size cap is streamed record by
record, the cap applying to one record; a build cuts it at line starts so that workers share it,
and the pieces give exactly what one read of the whole gives."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

from newsearch import build_index, build_jobs, corpus, indexer, open_index
from newsearch.errors import CorpusError
from newsearch.models import Document, SkippedFile

KB = 1024
MB = 1024 * KB


def record(number: int, words: int = 30, **fields: object) -> str:
    body = " ".join(f"word{(number * 7 + k) % 997}" for k in range(words))
    return json.dumps({"title": f"Story {number}", "body": f"marker{number} {body}", **fields})


def write_jsonl(path: Path, count: int, words: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(count):
            handle.write(record(number, words) + "\n")
    return path


def stored(index_path: Path) -> dict[str, dict]:
    with whoosh_index.open_dir(str(index_path / "current")).searcher() as searcher:
        return {fields["id"]: fields for fields in searcher.all_stored_fields()}


def streamed(target: corpus.CorpusFile | corpus.FilePiece, max_bytes: int) -> tuple[list, list]:
    documents: list[Document] = []
    problems: list[SkippedFile] = []
    for item in corpus.read_articles(target, max_bytes=max_bytes).items:
        (documents if isinstance(item, Document) else problems).append(item)  # type: ignore[arg-type]
    return documents, problems


def test_a_jsonl_file_over_the_cap_is_indexed_record_by_record(tmp_path):
    """Before: the whole file was skipped as "too large" and the build exited 0 with an empty index."""
    path = write_jsonl(tmp_path / "corpus" / "dump.jsonl", 1000)
    assert path.stat().st_size > 200 * KB
    report = build_index([tmp_path / "corpus"], tmp_path / "ix", max_bytes=32 * KB)
    assert (report.added, report.documents, report.skipped) == (1000, 1000, [])
    with open_index(tmp_path / "ix") as index:
        assert [hit.id for hit in index.search("marker734").hits] == ["dump.jsonl#735"]
        assert index.document("dump.jsonl#1000").title == "Story 999"


@pytest.mark.slow
def test_a_20000_article_44_mb_jsonl_at_the_default_cap(tmp_path):
    path = write_jsonl(tmp_path / "corpus" / "news.jsonl", 20_000, words=320)
    assert path.stat().st_size > 40 * MB > corpus.DEFAULT_MAX_BYTES
    done = subprocess.run([sys.executable, "-m", "newsearch", "index", "--index", str(tmp_path / "ix"),
                           "--jobs", "2", str(tmp_path / "corpus")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    with open_index(tmp_path / "ix") as index:
        assert index.search("marker19999").hits[0].id == "news.jsonl#20000"
        assert index.search("word5").total == len([n for n in range(20_000)
                                                   if any((n * 7 + k) % 997 == 5 for k in range(320))])
    assert len(stored(tmp_path / "ix")) == 20_000


def test_a_record_over_the_cap_is_skipped_with_its_line_named(tmp_path):
    lines = [record(0), "", record(1, words=3000), record(2)]
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "day.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = len(lines[2].encode())
    cap = 8 * KB
    report = build_index([tmp_path / "corpus"], tmp_path / "ix", max_bytes=cap)
    assert report.skipped == [SkippedFile("day.jsonl#2", f"too large: line 3 is {size:,} bytes > cap {cap:,}")]
    assert sorted(stored(tmp_path / "ix")) == ["day.jsonl#1", "day.jsonl#3"]
    done = subprocess.run([sys.executable, "-m", "newsearch", "index", "--rebuild", "--max-size", str(cap),
                           "--index", str(tmp_path / "ix2"), str(tmp_path / "corpus")], capture_output=True, text=True)
    assert done.returncode == 0
    assert f"warning: skipped day.jsonl#2: too large: line 3 is {size:,} bytes > cap {cap:,}" in done.stderr


# Every awkward shape at once: CRLF and lone CR line ends, blank and whitespace-only lines, a BOM,
# malformed JSON, a non-object, a record with no body, one over the cap, explicit ids (one
# repeated), non-UTF-8 bytes, and a last line without a newline.
AWKWARD = b"\xef\xbb\xbf" + b"".join([
    record(0).encode() + b"\r\n",
    b"\r\n",
    record(1, id="kept-1").encode() + b"\n",
    b"{not json\n",
    b"   \t \n",
    record(2).encode() + b"\r" + record(3).encode() + b"\n",
    b"[1, 2]\n",
    json.dumps({"title": "no body"}).encode() + b"\n",
    record(4, words=400).encode() + b"\n",
    record(5, id="kept-1").encode() + b"\n",
    b'{"title": "caf\xe9", "body": "na\xefve \xc2\xa0 text"}\r\n',
    b"\xc2\xa0\n",
    *[record(n).encode() + b"\n" for n in range(6, 30)],
    b"\n\n",
    record(30).encode(),
])


@pytest.fixture
def awkward(tmp_path) -> corpus.CorpusFile:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mixed.jsonl").write_bytes(AWKWARD)
    [file] = corpus.scan([tmp_path / "a"]).files
    return file


def test_pieces_give_what_the_whole_read_gives(awkward):
    cap = 2 * KB  # under the file, over every record but one
    documents, problems = streamed(awkward, cap)
    whole = corpus.read_file(awkward, max_bytes=cap)
    assert (whole.documents, whole.problems) == (documents, problems)
    ids = [document.id for document in documents]
    assert ids[:4] == ["mixed.jsonl#1", "kept-1", "mixed.jsonl#4", "mixed.jsonl#5"]
    assert ids[-1] == "mixed.jsonl#35" and len(ids) == 30  # the NBSP-only line is blank
    assert documents[4].title == "café" and documents[4].body == "naïve \xa0 text"
    assert [(problem.path, problem.reason.split(":")[0]) for problem in problems] == [
        ("mixed.jsonl#3", "malformed JSON"), ("mixed.jsonl#6", "not an article"), ("mixed.jsonl#7", "no text"),
        ("mixed.jsonl#8", "too large"), ("mixed.jsonl#9", "duplicate id")]
    assert problems[0].reason == "malformed JSON: line 4, column 2: Expecting property name enclosed in double quotes"
    assert problems[3].reason.startswith("too large: line 10 is ")
    for count in range(2, 40):  # the cut targets land mid-line everywhere; the cuts move to line starts
        pieces = corpus.cut_file(awkward, count, max_bytes=cap)
        assert all(isinstance(piece, corpus.FilePiece) for piece in pieces)
        assert all(AWKWARD[piece.start - 1:piece.start] == b"\n" for piece in pieces[1:])
        assert [(piece.start, piece.stop) for piece in pieces] == list(zip(
            [0, *(piece.start for piece in pieces[1:])], [*(piece.start for piece in pieces[1:]), len(AWKWARD)]))
        read = [streamed(piece, cap) for piece in pieces]  # an id repeated in a later piece: the build finds it
        assert [document for part, _ in read for document in part if document.id != "kept-1"] == \
            [document for document in documents if document.id != "kept-1"]
        assert [problem for _, part in read for problem in part if "duplicate" not in problem.reason] == \
            [problem for problem in problems if "duplicate" not in problem.reason]


def test_within_the_cap_the_same_ids_as_streamed(awkward):
    """A file that grows past the cap keeps its articles' ids."""
    whole = corpus.read_file(awkward)  # read whole, in memory
    documents, problems = streamed(awkward, 2 * KB)
    assert [document for document in whole.documents if document.id != "mixed.jsonl#8"] == documents
    assert whole.problems == [problem for problem in problems if not problem.reason.startswith("too large")]


def test_a_build_of_pieces_stores_what_one_process_stores(tmp_path, awkward, monkeypatch):
    monkeypatch.setattr(build_jobs, "MIN_PIECE_BYTES", 1024)
    monkeypatch.setattr(indexer, "PARALLEL_MIN_BYTES", 1024)
    monkeypatch.setattr(indexer, "usable_cores", lambda: 2)
    write_jsonl(tmp_path / "a" / "more.jsonl", 50)
    serial = build_index([tmp_path / "a"], tmp_path / "serial", max_bytes=2 * KB, jobs=1)
    assert len(build_jobs.work_units(corpus.scan([tmp_path / "a"]).files, 2, 2 * KB)) > 2
    parallel = build_index([tmp_path / "a"], tmp_path / "parallel", max_bytes=2 * KB, jobs=2)
    assert len(whoosh_index.open_dir(str(tmp_path / "parallel" / "current"))._segments()) == 2
    assert stored(tmp_path / "serial") == stored(tmp_path / "parallel")
    assert serial.added == parallel.added == 80
    assert sorted(item.path for item in serial.skipped) == sorted(item.path for item in parallel.skipped if
                                                                  "duplicate" not in item.reason) + ["mixed.jsonl#9"]


def test_a_changed_line_in_a_large_file_is_found_by_an_update(tmp_path):
    path = write_jsonl(tmp_path / "corpus" / "dump.jsonl", 300)
    cap = 4 * KB
    build_index([tmp_path / "corpus"], tmp_path / "ix", max_bytes=cap)
    [file] = corpus.scan([tmp_path / "corpus"]).files
    assert corpus.file_version(file, max_bytes=cap).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[150] = json.dumps({"title": "Changed", "body": "a rewritten zebracorn story"})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = build_index([tmp_path / "corpus"], tmp_path / "ix", max_bytes=cap)
    assert (report.updated, report.unchanged, report.added, report.deleted) == (1, 299, 0, 0)
    with open_index(tmp_path / "ix") as index:
        assert [hit.id for hit in index.search("zebracorn").hits] == ["dump.jsonl#151"]
        assert index.search("marker150").total == 0


def test_a_file_that_changes_between_its_pieces_is_reported(awkward):
    [first, *_] = corpus.cut_file(awkward, 3, max_bytes=2 * KB)
    with open(awkward.path, "ab") as handle:
        handle.write(b"\n" + record(99).encode() + b"\n")
    documents, problems = streamed(first, 2 * KB)
    assert documents == []
    assert problems == [SkippedFile("mixed.jsonl", "changing: the file changed while it was read; "
                                                   "it is read again next run")]


def test_a_jsonl_of_no_usable_line_over_the_cap_is_refused_as_one(tmp_path):
    (tmp_path / "bad.jsonl").write_text("nope\n" * 1000)
    [file] = corpus.scan([tmp_path]).files
    with pytest.raises(CorpusError) as caught:
        corpus.read_file(file, max_bytes=100)
    assert str(caught.value) == "bad.jsonl: malformed JSON: line 1, column 1: Expecting value (and 999 more)"


MEASURE = textwrap.dedent("""
    import resource, sys
    from newsearch import corpus
    [file] = corpus.scan([sys.argv[1]]).files
    count = sum(1 for _ in corpus.read_articles(file, max_bytes=1024 * 1024).items)  # both over the cap
    print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")


def peak_rss_kb(folder: Path) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, check=True)
    count, peak = done.stdout.split()
    return int(count), int(peak)


@pytest.mark.parametrize("count", [3000, pytest.param(16_000, marks=pytest.mark.slow)])
def test_streaming_memory_does_not_grow_with_the_file(tmp_path, count):
    write_jsonl(tmp_path / "small" / "a.jsonl", count // 10, words=1500)
    large = write_jsonl(tmp_path / "large" / "a.jsonl", count, words=1500)  # 38 or 200 MB
    grown = large.stat().st_size * 9 // 10 // KB
    small_peak, large_peak = peak_rss_kb(tmp_path / "small"), peak_rss_kb(tmp_path / "large")
    assert (small_peak[0], large_peak[0]) == (count // 10, count)
    print(f"peak RSS streaming {count:,} records: {large_peak[1]:,} KB; a tenth of them: {small_peak[1]:,} KB")
    assert large_peak[1] < small_peak[1] + min(grown // 2, 20 * KB), (small_peak, large_peak, grown)
