"""`newsearch search` and `newsearch show` through click's CliRunner: exact output and exit codes."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from newsearch import Document, Hit, Passage, Results, build_index
from newsearch.cli import cli
from newsearch.searcher import Index

EVIL = "\x1b]52;c;SGVsbG8=\x07"  # OSC 52: writes the clipboard
CLEAR = "\x1b[2J"  # CSI: clears the screen
C1_CSI = "\u009b2J"  # the same, as one 8-bit control character


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_search")
    corpus = root / "corpus"
    (corpus / "world").mkdir(parents=True)
    (corpus / "world" / "kursk.json").write_text(json.dumps({
        "id": "kursk", "title": "North Korean soldiers captured in Kursk",
        "body": "Ukrainian forces captured two North Korean soldiers in Kursk.\n\n"
                "Zelensky said the soldiers were injured.",
        "date": "2025-01-11T10:00:00Z", "source": "BBC News", "author": "Jane Doe",
        "url": "https://example.com/kursk"}), encoding="utf-8")
    (corpus / "world" / "summit.md").write_text(
        "---\ntitle: Leaders meet\ndate: 2024-12-01\nsource: Reuters\n---\nLeaders met at the summit without a deal.\n",
        encoding="utf-8")
    (corpus / "evil.jsonl").write_text(json.dumps({
        "id": "evil", "title": f"Evil {EVIL} headline {CLEAR}",
        "body": f"Clipboard {EVIL} hijack and {CLEAR} clear screen; soldiers beware. {C1_CSI} too.",
        "source": f"Evil {CLEAR} Source", "author": EVIL, "url": f"https://example.com/{CLEAR}"}) + "\n",
        encoding="utf-8")
    report = build_index([corpus], root / "index")
    assert report.documents == 3 and not report.skipped
    return root / "index"


@pytest.fixture
def run(index_path):
    runner = CliRunner()

    def invoke(command: str, *args: str, index: str | None = None):
        return runner.invoke(cli, [command, "--index", str(index or index_path), *args], prog_name="newsearch")

    return invoke


def without_timing(text: str) -> str:
    return re.sub(r"\(\d[\d,]* ms\)", "(X ms)", text)


# -- search: text -----------------------------------------------------------------------------


def test_search_prints_ranked_hits_with_bracketed_highlights(run):
    result = run("search", "kursk")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert without_timing(result.stdout) == (
        "  1. North Korean soldiers captured in Kursk\n"
        "     BBC News · 2025-01-11 · kursk\n"
        "     Ukrainian forces captured two North Korean soldiers in [Kursk].\n"
        "\n"
        "1 of 1 result (X ms)\n"
    )
    assert "\x1b" not in result.stdout


def test_search_stems_and_shows_every_passage(run):
    result = run("search", "soldiers", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert without_timing(result.stdout) == (
        "  1. North Korean soldiers captured in Kursk\n"
        "     BBC News · 2025-01-11 · kursk\n"
        "     Ukrainian forces captured two North Korean [soldiers] in Kursk.\n"
        "     Zelensky said the [soldiers] were injured.\n"
        "\n"
        "1 of 2 results (X ms)\n"
    )


def test_search_pages(run):
    second = run("search", "soldiers", "--limit", "1", "--page", "2")
    assert second.exit_code == 0
    assert without_timing(second.stdout).startswith("  2. ")
    assert without_timing(second.stdout).endswith("\n2 of 2 results (X ms)\n")
    beyond = run("search", "soldiers", "--limit", "1", "--page", "3")
    assert (beyond.exit_code, beyond.stdout) == (0, "No results on page 3; 2 results in all, on 2 pages.\n")
    both = run("search", "soldiers", "--limit", "2")
    assert without_timing(both.stdout).endswith("\n1-2 of 2 results (X ms)\n")


def test_search_passages_zero_prints_headers_only(run):
    result = run("search", "kursk", "--passages", "0")
    assert without_timing(result.stdout) == (
        "  1. North Korean soldiers captured in Kursk\n"
        "     BBC News · 2025-01-11 · kursk\n"
        "\n"
        "1 of 1 result (X ms)\n"
    )


def test_search_sort_oldest(run):
    result = run("search", "leaders OR kursk", "--sort", "oldest", "--passages", "0")
    assert result.exit_code == 0
    assert re.findall(r"^ +\d+\. (.*)$", result.stdout, re.M) == [
        "Leaders meet", "North Korean soldiers captured in Kursk"]


def test_search_typo_says_what_it_also_searched_before_the_results(run):
    result = run("search", "zelenksy")
    assert result.exit_code == 0, result.output
    assert without_timing(result.stdout) == (
        "Also searched for: zelensky (for 'zelenksy')\n"
        "  1. North Korean soldiers captured in Kursk\n"
        "     BBC News · 2025-01-11 · kursk\n"
        "     [Zelensky] said the soldiers were injured.\n"
        "\n"
        "1 of 1 result (X ms)\n"
    )


def test_search_reads_the_index_from_the_environment(index_path, monkeypatch):
    monkeypatch.setenv("NEWSEARCH_INDEX", str(index_path))
    result = CliRunner().invoke(cli, ["search", "summit", "--passages", "0"], prog_name="newsearch")
    assert result.exit_code == 0, result.output
    assert "  1. Leaders meet\n     Reuters · 2024-12-01 · world/summit.md\n" in result.stdout


@pytest.mark.parametrize("args, marked", [
    (("search", "kursk", "--color", "always"), "\x1b[1;33mKursk\x1b[0m"),
    (("show", "kursk", "--query", "kursk", "--color", "always"), "\x1b[1;33mKursk\x1b[0m"),
])
def test_color_always_uses_ansi_even_when_piped(run, args, marked):
    result = run(*args)
    assert result.exit_code == 0
    assert marked in result.stdout and "[Kursk]" not in result.stdout


def test_color_never_and_auto_when_piped_use_brackets(run):
    for color in ("never", "auto"):
        result = run("search", "kursk", "--color", color)
        assert "two North Korean soldiers in [Kursk]." in result.stdout and "\x1b" not in result.stdout


@pytest.mark.parametrize("args, titles", [
    # (the undated "evil" article matches "hijack": a date filter leaves it out, a source filter too)
    (("--since", "2025-01"), ["North Korean soldiers captured in Kursk"]),
    (("--since", "2025-01-11"), ["North Korean soldiers captured in Kursk"]),
    (("--since", "2025-01-12"), []),
    (("--until", "2024-12"), ["Leaders meet"]),  # up to the end of December
    (("--until", "2024-12-01"), ["Leaders meet"]),
    (("--until", "2024-11"), []),
    (("--since", "2024-12-01", "--until", "2025-01-10"), ["Leaders meet"]),
    (("--source", "reuters"), ["Leaders meet"]),
    (("--source", "BBC NEWS", "--source", "Reuters"), ["Leaders meet", "North Korean soldiers captured in Kursk"]),
    (("--source", "BBC"), []),
    (("date:2024-12",), ["Leaders meet"]),
])
def test_search_filters(run, args, titles):
    query = "(leaders OR korean OR hijack)"
    options = [arg for arg in args if not arg.startswith("date:")]
    query += "".join(f" {arg}" for arg in args if arg.startswith("date:"))
    result = run("search", query, "--sort", "oldest", "--passages", "0", *options)
    assert result.exit_code == (0 if titles else 1), result.output
    assert re.findall(r"^ +\d+\. (.*)$", result.stdout, re.M) == titles


# -- search: JSON ------------------------------------------------------------------------------


def test_search_json(run):
    result = run("search", "soldiers", "--format", "json", "--limit", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"format_version", "query", "total", "stories", "offset", "limit", "elapsed_ms", "timed_out",
                         "suggestion", "expansions", "not_found", "hits",
                         "facets", "filtered_out", "relaxed_phrases"}
    assert (data["format_version"], data["query"], data["total"], data["offset"], data["limit"]) == (
        1, "soldiers", 2, 0, 1)
    assert (data["timed_out"], data["suggestion"], data["expansions"], data["facets"]) == (False, None, {}, {})
    (hit,) = data["hits"]
    assert {key: hit[key] for key in ("id", "rank", "title", "source", "published", "url")} == {
        "id": "kursk", "rank": 1, "title": "North Korean soldiers captured in Kursk", "source": "BBC News",
        "published": "2025-01-11T10:00:00+00:00", "url": "https://example.com/kursk"}
    assert [(p["text"], p["start"], p["end"], p["highlights"]) for p in hit["passages"]] == [
        ("Ukrainian forces captured two North Korean soldiers in Kursk.", 0, 61, [[43, 51]]),
        ("Zelensky said the soldiers were injured.", 63, 103, [[18, 26]]),
    ]
    for passage in hit["passages"]:
        assert [passage["text"][a:b] for a, b in passage["highlights"]] == ["soldiers"]


def test_search_json_reports_typo_expansions(run):
    data = json.loads(run("search", "zelenksy", "--format", "json").stdout)
    assert (data["expansions"], data["suggestion"]) == ({"zelenksy": ["zelensky"]}, "zelensky")


def test_search_json_with_no_results_exits_1(run):
    result = run("search", "walrus", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["total"], data["hits"]) == (0, [])


def test_search_jsonl_prints_one_hit_per_line(run):
    result = run("search", "soldiers", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and result.stdout.endswith("\n")
    hits = [json.loads(line) for line in lines]
    assert [(hit["format_version"], hit["rank"], hit["id"]) for hit in hits] == [(1, 1, "kursk"), (1, 2, "evil")]
    assert hits[0]["passages"][0]["highlights"] == [[43, 51]]
    empty = run("search", "walrus", "--format", "jsonl")
    assert (empty.exit_code, empty.stdout) == (1, "")


# -- exit codes and errors ------------------------------------------------------------------------


def test_no_results_exits_1(run):
    result = run("search", "walrus")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "No results for 'walrus'.\n", "")


@pytest.mark.parametrize("query, message", [
    ("colour:red", "Error: unknown field 'colour' in 'colour:red'; valid fields are title:, body:, source:, author:, "
                   "tag:, date:. To search the text literally, quote it: \"colour:red\"\n"),
    ("-profit -loss", "Error: the query '-profit -loss' only excludes words; add a word to search for, e.g. "
                      "'bank -profit -loss'\n"),
    ("-profit", "Error: the query '-profit' only excludes words; add a word to search for, e.g. 'bank -profit'\n"),
    ("x*", "Error: 'x*' is too short to expand: write at least 2 letters before the * (e.g. cap*)\n"),
    ("abcdef~3", "Error: fuzzy distance 3 in 'abcdef~3' is too large; use ~1 or ~2\n"),
    ("date:[notadate to 2006]", "Error: cannot read the date '[notadate'; write date:YYYY, date:YYYY-MM, "
                                "date:YYYY-MM-DD or a range date:2025-01-01..2025-03-31\n"),
    ("(" * 2000 + "kursk" + ")" * 2000, "Error: the query is 4,005 characters long; the limit is 1,000\n"),
])
def test_query_errors_exit_2_with_a_message_and_no_traceback(run, query, message):
    result = run("search", "--", query)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)


@pytest.mark.parametrize("args, message", [
    (("search", "kursk", "--sort", "best"), "Invalid value for '--sort'"),
    (("search", "kursk", "--format", "xml"), "Invalid value for '--format'"),
    (("search", "kursk", "--limit", "0"), "Invalid value for '-n' / '--limit'"),
    (("search", "kursk", "--since", "last week"),
     "Error: cannot read the date 'last week'; write YYYY, YYYY-MM, YYYY-MM-DD, a time such as 2025-01-20T14:00"),
    (("search",), "Error: the query is empty: type some words to search for"),
    (("show",), "Missing argument 'ID'"),
])
def test_usage_errors_exit_2(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("command", [("search", "kursk"), ("show", "kursk")])
def test_missing_index_exits_3_and_says_to_run_newsearch_index(run, tmp_path, command):
    missing = tmp_path / "missing"
    result = run(*command, index=str(missing))
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (f"Error: no index at {missing}: "
                             f"run `newsearch index ARTICLES_FOLDER --index {missing}` to build one\n")


@pytest.mark.parametrize("command", [("search", "kursk"), ("show", "kursk")])
def test_incompatible_index_exits_4_and_says_to_rebuild(run, index_path, tmp_path, command):
    copy = tmp_path / "old-index"
    shutil.copytree(index_path, copy, symlinks=True)
    meta_path = copy / "current" / "newsearch.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = "newsearch-schema-0-analysis-0"
    meta_path.write_text(json.dumps(meta))
    result = run(*command, index=str(copy))
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr.startswith(f"Error: the index at {copy} was built by another version of newsearch "
                                     "(newsearch-schema-0-analysis-0; this version reads ")
    assert result.stderr.endswith(f": run `newsearch index --rebuild --index {copy}`\n")


@pytest.mark.parametrize("damage, what", [("{garbage", "not readable JSON"), ("[1, 2]", "not a JSON object"),
                                          (None, "missing")])
def test_a_damaged_metadata_file_exits_4_and_says_to_rebuild(run, index_path, tmp_path, damage, what):
    copy = tmp_path / "damaged-index"
    shutil.copytree(index_path, copy, symlinks=True)
    meta_path = copy / "current" / "newsearch.json"
    if damage is None:
        meta_path.unlink()
    else:
        meta_path.write_text(damage)
    generation = (copy / "current").resolve().name
    for command in (("search", "kursk"), ("check",)):
        result = run(*command, index=str(copy))
        assert (result.exit_code, result.stdout) == (4, "")
        assert result.stderr == (f"Error: the index at {copy} is damaged ({generation}/newsearch.json is {what}); "
                                 f"run `newsearch index --rebuild --index {copy} CORPUS_PATH...`\n")  # not remembered


# -- show --------------------------------------------------------------------------------------


def test_show_prints_the_whole_article(run):
    result = run("show", "kursk")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "North Korean soldiers captured in Kursk\n"
        "BBC News · 2025-01-11 10:00 UTC · Jane Doe · https://example.com/kursk · kursk\n"
        "\n"
        "Ukrainian forces captured two North Korean soldiers in Kursk.\n"
        "\n"
        "Zelensky said the soldiers were injured.\n"
    )


def test_show_highlights_the_query_words_in_every_form(run):
    result = run("show", "kursk", "--query", "soldier OR capture")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[3:] == [
        "Ukrainian forces [captured] two North Korean [soldiers] in Kursk.",
        "",
        "Zelensky said the [soldiers] were injured.",
    ]


def test_show_json(run):
    result = run("show", "world/summit.md", "--format", "json", "--query", "summit")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "document": {"id": "world/summit.md", "title": "Leaders meet",
                     "body": "Leaders met at the summit without a deal.",
                     "path": "world/summit.md", "published": "2024-12-01T00:00:00+00:00", "source": "Reuters",
                     "url": "", "author": "", "tags": []},
        "highlights": [[19, 25]],
    }


def test_show_unknown_id_and_bad_query(run, index_path):
    unknown = run("show", "nope")
    assert (unknown.exit_code, unknown.stdout) == (1, "")
    assert unknown.stderr == f"Error: no document with id 'nope' in the index at {index_path}\n"
    bad = run("show", "kursk", "--query", "-profit")  # an option value may start with "-"
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert "only excludes words" in bad.stderr


# -- untrusted text never reaches the terminal raw ------------------------------------------------

RAW = ("\x1b", "\x07", "\x9b")


@pytest.mark.parametrize("args", [
    ("search", "soldiers"),
    ("search", "hijack"),
    ("search", "headline", "--passages", "0"),
    ("search", "soldiers", "--format", "json"),
    ("search", "soldiers", "--format", "jsonl"),
    ("show", "evil"),
    ("show", "evil", "--query", "clipboard screen"),
    ("show", "evil", "--format", "json"),
])
def test_control_sequences_in_articles_never_reach_stdout(run, args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "evil" in result.stdout.lower()
    assert not any(char in result.stdout for char in RAW)
    coloured = run(*args, "--color", "always") if "--format" not in args else result
    assert EVIL not in coloured.stdout and "\x1b]" not in coloured.stdout and CLEAR not in coloured.stdout


@pytest.fixture
def raw_index(monkeypatch, index_path):
    """An Index whose stored data kept its control characters (as from an older or foreign writer)."""
    published = datetime(2025, 1, 1, tzinfo=timezone.utc)
    body = f"Body {EVIL} with {CLEAR} and {C1_CSI} soldiers\u202e."
    passage = Passage(body, 0, len(body), 1.0, ((len(body) - 10, len(body) - 2),))
    hit = Hit(f"id{CLEAR}", 1, 1.0, f"Title {EVIL}", f"Source {CLEAR}", published, f"https://x/{EVIL}", "p",
              (passage,))
    results = Results(f"soldiers {CLEAR}", 1, (hit,), suggestion=f"soldier {EVIL}", elapsed_ms=1.0,
                      expansions=((f"x{CLEAR}", (f"y{EVIL}",)),))
    document = Document(f"id{CLEAR}", f"Title {EVIL}", body, "p", published, f"Source {CLEAR}", f"https://x/{EVIL}",
                        f"Author {EVIL}", (f"tag{CLEAR}",))
    monkeypatch.setattr(Index, "search", lambda self, query, **options: results)
    monkeypatch.setattr(Index, "document", lambda self, id: document)
    monkeypatch.setattr(Index, "highlight", lambda self, text, query: [(len(body) - 10, len(body) - 2)])


@pytest.mark.parametrize("args", [
    ("search", "soldiers"),
    ("search", "soldiers", "--color", "always"),
    ("search", "soldiers", "--format", "json"),
    ("search", "soldiers", "--format", "jsonl"),
    ("show", "x"),
    ("show", "x", "--query", "soldiers", "--color", "always"),
    ("show", "x", "--format", "json"),
])
def test_renderers_neutralise_control_characters_in_stored_data(run, raw_index, args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "soldiers" in result.stdout
    for raw in (EVIL, CLEAR, "\x1b]", "\x07", "\x9b", "\u202e"):
        assert raw not in result.stdout
