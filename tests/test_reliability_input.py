"""Hostile corpora and hostile queries, end to end through `newsearch index` and `newsearch search`.

The readers' own refusals are unit-tested in test_corpus_hostile.py; here the whole command
runs in a child process: exact set of indexed ids, one warning (path: reason) per bad file,
exit codes, no traceback, and the child's peak memory (from os.wait4) stays bounded.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.corpora import write_article
from support.privileges import _drop_file_capabilities, can_drop_root_bypass
from support.readers import stored_documents

MB = 1024 * 1024
MEMORY_LIMIT_MB = 500
TRACEBACK = "Traceback (most recent call last)"


# -- running the command with its peak memory -----------------------------------------------------

@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float


def run_measured(*args: str, drop_root_bypass: bool = False) -> Measured:
    """Run ``python -m newsearch ARGS``; its peak RSS (and its children's) comes from wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "newsearch", *args], stdout=out, stderr=err,
                                   preexec_fn=_drop_file_capabilities if drop_root_bypass else None)
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Measured(process.returncode, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), usage.ru_maxrss / 1024, seconds)


def warnings_of(stderr: str) -> dict[str, str]:
    """{path: reason} from the 'warning: skipped PATH: REASON' lines of `newsearch index`."""
    found = {}
    for line in stderr.splitlines():
        match = re.fullmatch(r"warning: skipped (.+?): (.+)", line)
        assert match, f"unexpected stderr line: {line!r}"
        found[match.group(1)] = match.group(2)
    return found


# -- a hostile corpus ---------------------------------------------------------------------------

def gzip_bomb(path: Path, gigabytes: int = 1) -> None:
    """A valid gzip file of ``gigabytes`` GiB of zeros (~1 MB per GiB), written as a stream.

    After a full flush the compressor starts afresh, so every further MiB of zeros compresses to
    the same bytes: compress one MiB, then repeat its bytes.
    """
    zeros = bytes(MB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    with open(path, "wb") as handle:
        handle.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        for _ in range(1024 * gigabytes):
            handle.write(block)
            crc = zlib.crc32(zeros, crc)
        handle.write(compressor.flush())
        handle.write(struct.pack("<II", crc, (1024 * gigabytes * MB) & 0xFFFFFFFF))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
""" + b"".join(b' <!ENTITY lol%d "%s">\n' % (n, b"".join(b"&lol%s;" % (b"" if n == 1 else b"%d" % (n - 1))
                                                            for _ in range(10))) for n in range(1, 10)) + b"""]>
<rss version="2.0"><channel><title>Laughs</title>
<item><title>Laugh</title><description>&lol9;</description></item></channel></rss>
"""

GOOD_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title>
<item><guid>wire-1</guid><title>Harbour opens</title>
<description>The new harbour opened to pelicans.</description></item>
<item><guid>wire-2</guid><title>Harbour closes</title>
<description>The harbour closed for flamingos.</description></item>
</channel></rss>
"""

GOOD_IDS = {
    "good/plain.txt", "good/cp1252.txt", "good/invalid-utf8.txt", "good/long-token.txt", "good/page.html",
    "jl-1", "jl-3", "jl-4", "wire-1", "wire-2", "good/gz.txt.gz",
}
# path -> the start of the reason it must be reported with
BAD = {
    "bad/empty.txt": "empty",
    "bad/blank.md": "empty",
    "bad/image.txt": "binary",
    "bad/nul.md": "binary: NUL bytes",
    "bad/huge.txt": "too large: 52,428,800 bytes > cap 10,485,760",
    "bad/no-body.html": "no text",
    "bad/broken.rss": "",  # any reason (see test_broken_feed_is_reported_as_broken_xml)
    "bad/bomb.txt.gz": "too large",
    "bad/laughs.xml": "entity expansion refused",
    "bad/loop-file.txt": "symlink loop",
    "bad/loop-file2.txt": "symlink loop",
    "bad/loop-dir": "symlink loop",
    "bad/outside.txt": "symlink outside the corpus",
    "bad/outside-dir": "symlink outside the corpus",
    "bad/dangling.txt": "broken symlink",
    "good/lines.jsonl#2": "",  # the malformed line: any reason naming the problem
    "good/lines.jsonl#5": "no text",
}
PERMISSIONS_APPLY = can_drop_root_bypass()  # else the unreadable file is left out
if PERMISSIONS_APPLY:
    BAD["bad/unreadable.txt"] = "unreadable: Permission denied"
OUTSIDE = {"bad/outside.txt", "bad/outside-dir"}


def hostile_corpus(root: Path) -> Path:
    corpus, outside = root / "corpus", root / "outside"
    good, bad = corpus / "good", corpus / "bad"
    for folder in (good, bad, outside):
        folder.mkdir(parents=True)
    write_article(good, "plain.txt", "Plain headline", "The plain article is about zebras.")
    (good / "cp1252.txt").write_bytes("Caf\u00e9 headline\n\nThe caf\u00e9 in Z\u00fcrich served \u201cquoted\u201d "
                                      "coffee to the walrus.\n".encode("cp1252"))
    (good / "invalid-utf8.txt").write_bytes("Mixed headline\n\nValid caf\u00e9 text, ".encode("utf-8")
                                            + b"a stray \xff\xfe\xc3 byte run, and an ocelot.\n")
    write_article(good, "long-token.txt", "Long token headline", "Before " + "x" * 1_000_000 + " after giraffe.")
    (good / "page.html").write_text("<html><head><title>Page headline</title></head><body><nav>menu</nav>"
                                    "<p>The page tells of a lonely narwhal.</p></body></html>")
    lines = [{"id": "jl-1", "title": "Line one", "body": "First line about otters."},
             None,
             {"id": "jl-3", "title": "Line three", "body": "Third line about beavers."},
             {"id": "jl-4", "title": "Line four", "body": "Fourth line about badgers."},
             {"id": "jl-5", "title": "Line five", "body": ""}]
    (good / "lines.jsonl").write_text("\n".join('{"id": "jl-2", "title": "Broken", "body": "no closing brace"'
                                                if line is None else json.dumps(line) for line in lines) + "\n")
    (good / "feed.rss").write_bytes(GOOD_RSS)
    import gzip
    (good / "gz.txt.gz").write_bytes(gzip.compress(b"Gzipped headline\n\nA compressed story about a lynx.\n"))

    (bad / "empty.txt").write_bytes(b"")
    (bad / "blank.md").write_bytes(b" \n\t\n")
    (bad / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    (bad / "nul.md").write_bytes(b"Title\n\nText with a \x00 NUL byte in it.\n")
    with open(bad / "huge.txt", "wb") as handle:  # 50 MB, sparse: written in no time
        handle.write(b"Huge headline\n\nHuge body.\n")
        handle.truncate(50 * MB)
    (bad / "no-body.html").write_text("<html><head><title>Only a title</title></head></html>")
    (bad / "broken.rss").write_bytes(b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>T</title>'
                                     b"<item><title>Cut <<<& off")
    gzip_bomb(bad / "bomb.txt.gz")
    (bad / "laughs.xml").write_bytes(BILLION_LAUGHS)
    if PERMISSIONS_APPLY:
        (bad / "unreadable.txt").write_text("Secret headline\n\nUnreadable body.\n")
        (bad / "unreadable.txt").chmod(0)
    os.symlink("loop-file2.txt", bad / "loop-file.txt")
    os.symlink("loop-file.txt", bad / "loop-file2.txt")
    os.symlink(".", bad / "loop-dir")
    write_article(outside, "secret.txt", "Outside headline", "Outside the corpus: a quokka.")
    os.symlink(outside / "secret.txt", bad / "outside.txt")
    os.symlink(outside, bad / "outside-dir")
    os.symlink("no-such-file.txt", bad / "dangling.txt")
    return corpus


@dataclass
class HostileBuild:
    corpus: Path
    index: Path
    first: Measured


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> HostileBuild:
    root = tmp_path_factory.mktemp("hostile")
    corpus = hostile_corpus(root)
    index = root / "index"
    return HostileBuild(corpus, index, run_measured("index", str(corpus), "--index", str(index),
                                                    drop_root_bypass=PERMISSIONS_APPLY))


def assert_reported(run: Measured, expected: dict[str, str]) -> None:
    reported = warnings_of(run.stderr)
    assert set(reported) == set(expected)
    for path, reason in expected.items():
        assert reported[path].startswith(reason), (path, reported[path])
        assert reported[path].strip(), path


def test_hostile_corpus_exits_0_without_traceback_in_bounded_memory(hostile):
    run = hostile.first
    assert run.returncode == 0, run
    assert TRACEBACK not in run.stderr and "internal error" not in run.stderr
    assert run.peak_rss_mb < MEMORY_LIMIT_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"
    assert f"{len(GOOD_IDS)} added" in run.stdout
    assert f"The index holds {len(GOOD_IDS)} documents." in run.stdout


def test_hostile_corpus_every_good_document_is_indexed(hostile):
    assert {doc_id for doc_id, _ in stored_documents(hostile.index)} == GOOD_IDS


def test_hostile_corpus_every_bad_file_is_reported_with_path_and_reason(hostile):
    assert_reported(hostile.first, BAD)


def test_hostile_corpus_good_documents_are_searchable(hostile):
    import newsearch

    expected = {"zebras": "good/plain.txt", "zurich": "good/cp1252.txt",
                "walrus": "good/cp1252.txt", "ocelot": "good/invalid-utf8.txt", "giraffe": "good/long-token.txt",
                "narwhal": "good/page.html", "badgers": "jl-4", "flamingos": "wire-2", "lynx": "good/gz.txt.gz"}
    with newsearch.open_index(hostile.index) as index:
        for word, doc_id in expected.items():
            assert [hit.id for hit in index.search(word).hits] == [doc_id], word
        assert {hit.id for hit in index.search("caf\u00e9").hits} == {"good/cp1252.txt", "good/invalid-utf8.txt"}
        cp1252 = index.document("good/cp1252.txt")
        assert (cp1252.title, "Z\u00fcrich served \u201cquoted\u201d" in cp1252.body) == ("Caf\u00e9 headline", True)
        assert "\ufffd" not in index.document("good/invalid-utf8.txt").body
        assert len(index.document("good/long-token.txt").body) > 1_000_000


def test_hostile_corpus_strict_rerun_exits_5_and_reports_again(hostile):
    run = run_measured("index", str(hostile.corpus), "--index", str(hostile.index), "--strict",
                       drop_root_bypass=PERMISSIONS_APPLY)
    assert run.returncode == 5, run
    assert TRACEBACK not in run.stderr
    assert run.peak_rss_mb < MEMORY_LIMIT_MB
    # every unusable file is reported again (the JSONL's bad lines belong to a file that is indexed)
    assert_reported(run, {path: reason for path, reason in BAD.items() if "#" not in path})
    assert {doc_id for doc_id, _ in stored_documents(hostile.index)} == GOOD_IDS


def test_hostile_corpus_follow_symlinks(hostile, tmp_path):
    run = run_measured("index", str(hostile.corpus), "--index", str(tmp_path / "index"), "--follow-symlinks",
                       "--strict", drop_root_bypass=PERMISSIONS_APPLY)
    assert run.returncode == 5, run
    assert_reported(run, {path: reason for path, reason in BAD.items() if path not in OUTSIDE})
    # the file behind both links is indexed once
    assert {doc_id for doc_id, _ in stored_documents(tmp_path / "index")} == GOOD_IDS | {"bad/outside-dir/secret.txt"}


def test_broken_feed_is_reported_as_broken_xml(hostile):
    assert warnings_of(hostile.first.stderr)["bad/broken.rss"].startswith("broken XML")


# -- hostile queries ------------------------------------------------------------------------------

TIME_LIMIT_S = 2.0  # README: no search runs longer than 2 seconds
API_MARGIN_S = 0.5
CLI_MARGIN_S = 3.0  # a process's start on a loaded machine

HOSTILE_QUERIES = {
    "bare star": "*",
    "star a star": "*a*",
    "question marks": "?????",
    "fuzzy 3": "abcdef~3",
    "lucene range": "[a to]",
    "100,000-character token": "x" * 100_000,
    "2,000 nested parentheses": "(" * 2000 + "bank" + ")" * 2000,
    "17 nested parentheses": "(" * 17 + "bank" + ")" * 17,
    "400 nested parentheses": "(" * 400 + "bank" + ")" * 400,
    "10,000 terms": " ".join(["bank"] * 10_000),
    "65 terms": " ".join(f"w{number}" for number in range(65)),
    "bad date range": "date:[notadate to 2006]",
    "only excluded": "-profit",
    "unbalanced quote": '"bank market',
    "unbalanced parenthesis": "(bank OR (market",
    "stray closing parentheses": "bank ) market ))",
    "control characters": "bank \x1b[2J \x07 \x1b]52;c;SGVsbG8=\x07 \x9b31m market",
    "bidi override": "\u202ebank\u202c market",
    "year 9999": "date:9999",
    "9999-12-31": "bank date:9999-12-31",
}
API_ONLY = {
    "lone surrogate": "bank \ud800 market",
    "lone low surrogate": "\udfff",
    "NUL": "bank\x00market",
}

def query_params(queries: dict[str, str]) -> list:
    return [pytest.param(query, id=name)
            for name, query in queries.items()]


@pytest.fixture(scope="module")
def small_index(synthetic_index) -> Path:
    return synthetic_index.path  # 120 synthetic articles, shared and read-only (conftest.py)


@pytest.fixture(scope="module")
def searcher(small_index):
    import newsearch

    with newsearch.open_index(small_index) as index:
        yield index


def search_or_query_error(index, query: str, **options) -> tuple[object, float]:
    """(Results or QueryError, seconds); anything else propagates and fails the test."""
    from newsearch.errors import QueryError

    started = time.monotonic()
    try:
        outcome: object = index.search(query, **options)
    except QueryError as exc:
        assert str(exc) and "\n" not in str(exc)
        outcome = exc
    return outcome, time.monotonic() - started


@pytest.mark.parametrize("query", query_params({**HOSTILE_QUERIES, **API_ONLY}))
def test_hostile_query_api(searcher, query):
    outcome, seconds = search_or_query_error(searcher, query)
    assert seconds < TIME_LIMIT_S + API_MARGIN_S, seconds


@pytest.mark.parametrize("query", query_params(HOSTILE_QUERIES))
def test_hostile_query_cli(small_index, cli_server, query):
    started = time.monotonic()
    result = cli_server.run_cli("search", "--index", str(small_index), "--", query)  # a crash stays out of pytest
    seconds = time.monotonic() - started
    assert seconds < TIME_LIMIT_S + CLI_MARGIN_S, seconds
    assert TRACEBACK not in result.stderr
    if result.returncode == 2:
        [line] = result.stderr.splitlines()  # one line
        assert line.startswith("Error: ") and len(line) < 1000, line
        assert result.stdout == ""
    else:
        assert result.returncode in (0, 1), result
        assert result.stderr == ""
        assert re.search(r"No results( for .*)?\.|of \d+ results?", result.stdout)


@pytest.mark.parametrize(("query", "code"), [("-xyzzy bank", 0), ("-profit bank", 1), ("-profit", 2)])
def test_query_starting_with_an_exclusion_cli(small_index, cli_server, query, code):
    result = cli_server.run_cli("search", query, "--index", str(small_index))
    assert result.returncode == code, result
    if code == 2:
        assert result.stderr.splitlines() == [
            "Error: the query '-profit' only excludes words; add a word to search for, e.g. 'bank -profit'"]


@pytest.mark.parametrize(("query", "message"), [
    ("x*", "too short to expand"),
    ("*a*", "only supported at the end of a word"),
    ("abcdef~3", "fuzzy distance 3"),
    ("x" * 100_000, "the query is 100,000 characters long; the limit is 1,000"),
    ("(" * 2000 + "bank" + ")" * 2000, "the limit is 1,000"),
    ("(" * 17 + "bank" + ")" * 17, "deeper than 16 levels"),
    (" ".join(["bank"] * 10_000), "the limit is 1,000"),
    (" ".join(f"w{number}" for number in range(65)), "more than 64 terms"),
    ("date:[notadate to 2006]", "cannot read the date '[notadate'"),
    ("-profit", "only excludes words"),
])
def test_refused_queries_say_why(searcher, query, message):
    from newsearch.errors import QueryError

    outcome, _ = search_or_query_error(searcher, query)
    assert isinstance(outcome, QueryError) and message in str(outcome), outcome


def test_common_word_after_an_incremental_update(tmp_path, cli_server):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    for number in range(3):
        write_article(corpus, f"{number}.txt", f"Title {number}", f"The bank story {number}.")
    assert cli_server.run_cli("index", str(corpus), "--index", str(index), "--quiet").returncode == 0
    for number in range(2):
        write_article(corpus, f"{number}.txt", f"Title {number}", f"The bank story {number}, changed.")
    assert cli_server.run_cli("index", str(corpus), "--index", str(index), "--quiet").returncode == 0
    result = cli_server.run_cli("search", "bank", "--index", str(index))
    assert (result.returncode, result.stderr) == (0, ""), result
    assert "1-3 of 3 results" in result.stdout
    shown = cli_server.run_cli("show", "0.txt", "--query", "bank", "--index", str(index))
    assert (shown.returncode, shown.stderr) == (0, ""), shown


# -- property-based fuzzing ---------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ_EXAMPLES = 400
SLOW_FUZZ_EXAMPLES = 4000
FUZZ_TIMES: dict[str, list[float]] = {}

PIECES = st.sampled_from([
    "bank", "market", "profit", "growth", "Marker7", "story", "ba", "ma*", "pro*", "b*", "*", "**", "bank~",
    "bank~2", "banc~1", "mrket~2", "xyzzy", "the", "of", "e-mail", "north-korean", "café", "ÉCOLE", "2005",
    "~", "~3", "?", "\\", "'", "AND", "OR", "NOT", "+", "-", "(", ")", '"', '"~2', "..", ":",
    "title:", "body:", "source:", "author:", "tag:", "date:", "foo:", "TITLE:", "http://x",
    "2005-02", "2005-02-30", "9999", "2005..", "..2006", "2005-01-01..2005-03-31", "[2005 TO 2006]",
    "\x00", "\x1b[2J", "\x07", "\u202e", "\ud800", "\x9b", "\t", "\n", "\u3000", "𝔟𝔞𝔫𝔨",
])
JOINERS = st.sampled_from([" ", " ", " ", "", " AND ", " OR ", " -", " +", " NOT "])


@st.composite
def queries(draw) -> str:
    """Query-language fragments glued together, now and then with arbitrary characters."""
    parts = draw(st.lists(PIECES, min_size=1, max_size=30))
    text = "".join(part + draw(JOINERS) for part in parts)
    if draw(st.booleans()):
        noise = draw(st.text(max_size=20))
        at = draw(st.integers(0, len(text)))
        text = text[:at] + noise + text[at:]
    return text


# grammar-shaped fragments; arbitrary text; any code point including lone surrogates
QUERY_TEXT = st.one_of(queries(), st.text(max_size=80),
                       st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None), max_size=40))


def fuzz_settings(examples: int):
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def record(kind: str, seconds: float) -> None:
    FUZZ_TIMES.setdefault(kind, []).append(seconds)


def report(kind: str) -> None:
    times = FUZZ_TIMES.pop(kind, [])
    print(f"\n{kind}: {len(times):,} fuzzed queries, max {max(times, default=0) * 1000:.2f} ms")


def fuzz_parse(query: str) -> None:
    from newsearch.errors import QueryError
    from newsearch.query import parse

    started = time.monotonic()
    try:
        parse(query)
    except QueryError as exc:
        assert str(exc)
    seconds = time.monotonic() - started
    record("parse", seconds)
    assert seconds < TIME_LIMIT_S


def fuzz_search(index, query: str, sort: str, limit: int) -> None:
    outcome, seconds = search_or_query_error(index, query, sort=sort, limit=limit)
    record("search", seconds)
    assert seconds < TIME_LIMIT_S + API_MARGIN_S, (query, seconds)
    if not isinstance(outcome, Exception):
        assert outcome.total >= len(outcome.hits)
        assert all(hit.id.endswith(".txt") and hit.passages is not None for hit in outcome.hits)


SORT = st.sampled_from(["relevance", "newest", "oldest"])


@fuzz_settings(FUZZ_EXAMPLES)
@given(query=QUERY_TEXT)
def test_fuzz_parse(query):
    fuzz_parse(query)


@fuzz_settings(FUZZ_EXAMPLES)
@given(query=QUERY_TEXT, sort=SORT, limit=st.integers(1, 50))
def test_fuzz_search(searcher, query, sort, limit):
    fuzz_search(searcher, query, sort, limit)


@pytest.mark.slow
@fuzz_settings(SLOW_FUZZ_EXAMPLES)
@given(query=QUERY_TEXT)
def test_fuzz_parse_slow(query):
    fuzz_parse(query)


@pytest.mark.slow
@fuzz_settings(SLOW_FUZZ_EXAMPLES)
@given(query=QUERY_TEXT, sort=SORT, limit=st.integers(1, 50))
def test_fuzz_search_slow(searcher, query, sort, limit):
    fuzz_search(searcher, query, sort, limit)


@pytest.fixture(scope="module", autouse=True)
def fuzz_timings_report():
    """Prints the fuzzing figures when the module is done (run pytest with -s to see them)."""
    yield
    for kind in list(FUZZ_TIMES):
        report(kind)
