"""What a new user ran into: an index path that is a file, JSON Lines that hide a rewrite, and
messages whose advice did not match what the index does."""

from __future__ import annotations

import json

from click.testing import CliRunner
from support.corpora import write_article

from newsearch import build_index
from newsearch.cli import cli


def test_an_index_path_that_is_a_file_is_refused_with_a_message_not_an_internal_error(tmp_path):
    corpus, not_a_folder = tmp_path / "corpus", tmp_path / "index"
    write_article(corpus, "a.txt", "Harbour", "The harbour opened.")
    not_a_folder.write_text("I am a file")
    result = CliRunner().invoke(cli, ["index", str(corpus), "--index", str(not_a_folder)])
    assert (result.exit_code, result.stderr) == (
        3, f"Error: cannot use {not_a_folder} as an index folder: it is a file, not a folder\n")
    assert not_a_folder.read_text() == "I am a file"


def test_json_lines_say_what_was_searched_instead_of_what_was_typed(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    for number in range(6):
        write_article(corpus, f"{number}.txt", f"Report {number}", "The government announced a budget for harbours.")
    build_index([corpus], index)
    corrected = CliRunner().invoke(cli, ["search", "goverment", "--index", str(index), "--format", "jsonl"])
    lines = [json.loads(line) for line in corrected.stdout.splitlines()]
    assert lines and all(line["expansions"] == {"goverment": ["government"]} for line in lines)
    missing = CliRunner().invoke(cli, ["search", "covid budget", "--index", str(index), "--format", "jsonl"])
    lines = [json.loads(line) for line in missing.stdout.splitlines()]
    assert lines and all(line["not_found"] == ["covid"] and "expansions" not in line for line in lines)
    plain = CliRunner().invoke(cli, ["search", "budget", "--index", str(index), "--format", "jsonl"])
    assert all(set(json.loads(line)) & {"expansions", "not_found", "relaxed_phrases"} == set()
               for line in plain.stdout.splitlines())


def test_a_query_of_common_words_says_how_to_search_them(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_article(corpus, "a.txt", "The Who", "The who played at the back of the hall.")
    build_index([corpus], index)
    refused = CliRunner().invoke(cli, ["search", "at the", "--index", str(index)])
    assert refused.exit_code == 2 and "quote the words to search them as a phrase" in refused.stderr
    quoted = CliRunner().invoke(cli, ["search", '"the who"', "--index", str(index)])
    assert quoted.exit_code == 0 and "[The who] played" in quoted.stdout
