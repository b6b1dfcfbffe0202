"""Damage is reported as damage (issue #12, item 6).

A damaged index makes every command exit 4 with the rebuild command, and every API entry
point raise IndexCorrupt: never "Interrupted." (click takes an EOFError for Ctrl-D), never a
traceback. `check` verifies every file the index relies on, the vocabulary and the
near-duplicate pairs included. A long-lived Index notices an index deleted and built afresh.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from pathlib import Path

import pytest
from support.corpora import write_article

from newsearch import build_index, check_index, open_index
from newsearch.storage import CHECKSUMS_PATTERN, CURRENT, GENERATION_PATTERN, generations, set_checksums_aside


def live_generation(index_path: Path) -> Path:
    return index_path / os.readlink(index_path / CURRENT)


# -- generations are unique: an open Index follows a deleted and rebuilt index ----------------


def test_an_open_index_serves_a_fresh_build_after_the_folder_was_deleted(tmp_path):
    old, new, index_path = tmp_path / "old", tmp_path / "new", tmp_path / "ix"
    write_article(old, "a.txt", "Walrus sighting", "A walrus was seen on the beach.")
    write_article(new, "b.txt", "Narwhal sighting", "A narwhal was seen in the fjord.")
    build_index([old], index_path)
    with open_index(index_path) as index:
        assert [hit.id for hit in index.search("walrus").hits] == ["a.txt"]
        shutil.rmtree(index_path)
        build_index([new], index_path)
        assert index.search("walrus").total == 0
        assert [hit.id for hit in index.search("narwhal").hits] == ["b.txt"]
        assert index.document("b.txt").title == "Narwhal sighting"


def test_generation_names_are_numbered_and_never_repeat_after_a_fresh_build(tmp_path):
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    write_article(corpus, "a.txt", "Walrus sighting", "A walrus was seen on the beach.")
    build_index([corpus], index_path)
    first = live_generation(index_path).name
    build_index([corpus], index_path, rebuild=True)
    second = live_generation(index_path).name
    assert [path.name for path in generations(index_path)] == [first, second]
    assert [GENERATION_PATTERN.match(name).group(1) for name in (first, second)] == ["000001", "000002"]
    shutil.rmtree(index_path)
    build_index([corpus], index_path)
    third = live_generation(index_path).name
    assert third.startswith("gen-000001-") and third not in (first, second)


def test_an_index_with_old_style_generation_names_still_opens_and_updates(tmp_path):
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    write_article(corpus, "a.txt", "Walrus sighting", "A walrus was seen on the beach.")
    build_index([corpus], index_path)
    live_generation(index_path).rename(index_path / "gen-000001")  # as versions before the token named it
    (index_path / CURRENT).unlink()
    os.symlink("gen-000001", index_path / CURRENT)
    with open_index(index_path) as index:
        assert index.search("walrus").total == 1
    write_article(corpus, "b.txt", "Walrus again", "Another walrus on the beach.")
    assert build_index([corpus], index_path).added == 1
    assert os.readlink(index_path / CURRENT) == "gen-000001"
    build_index([corpus], index_path, rebuild=True)
    assert os.readlink(index_path / CURRENT).startswith("gen-000002-")
    assert generations(index_path)[0].name == "gen-000001"  # retired, kept for the grace period
    with open_index(index_path) as index:
        assert index.search("walrus").total == 2


# -- check verifies every file the index relies on ----------------------------------------------


@pytest.fixture
def small_index(tmp_path) -> Path:
    """An index of a few articles, two of them copies of one story (so duplicates.tsv has a pair)."""
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    story = ("The harbour authority said the new cranes would be operated remotely from a control room. "
             "Unions warned that hundreds of jobs were at risk and called for talks with the port owners. ") * 3
    write_article(corpus, "world/a.txt", "Harbour cranes go remote", story)
    write_article(corpus, "world/b.txt", "Harbour cranes go remote", story + "Reuters contributed.")
    write_article(corpus, "sport/c.txt", "Cardiff win", "Cardiff won the match in the last minute.")
    build_index([corpus], index_path)
    assert (live_generation(index_path) / "duplicates.tsv").read_text().count("\n") == 2  # header + one pair
    return index_path


def check_fails(runner, index_path: Path, *expected: str) -> str:
    from newsearch.cli import cli

    result = runner.invoke(cli, ["check", "--index", str(index_path)])
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith(f"Error: the index at {index_path} is inconsistent: ")
    assert result.stderr.endswith(f"; run `newsearch index --rebuild --index {index_path}`\n")
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


def test_check_passes_the_small_index(runner, small_index):
    from newsearch.cli import cli

    result = runner.invoke(cli, ["check", "--index", str(small_index)])
    assert result.exit_code == 0, result.output


VOCABULARY_DAMAGE = [
    ("garbage", lambda text: "garbage\nmore garbage\n",
     "vocabulary.tsv line 1 is not word<TAB>count<TAB>stem: 'garbage'"),
    ("not UTF-8", lambda text: text.replace("cardiff", "card\udcffiff"),
     "is not word<TAB>count<TAB>stem: not UTF-8 text"),
    ("a count that is not a number", lambda text: text.replace("cardiff\t", "cardiff\tx", 1), "has no count"),
    ("no stem", lambda text: re.sub(r"^(cardiff\t\d+\t)\w+$", r"\1", text, flags=re.MULTILINE), "has no stem"),
    ("a word with digits", lambda text: "4x4\t1\t4x4\n" + text, "line 1 has no word"),
    ("out of order", lambda text: "".join(reversed(text.splitlines(keepends=True))), "is out of order"),
    ("cut short", lambda text: text[:-3], "ends in the middle of its last line"),
    ("half the words lost", lambda text: "".join(text.splitlines(keepends=True)[::2]), "of the index's words"),
    ("emptied", lambda text: "", "of the index's words"),
    ("missing", None, "vocabulary.tsv is missing"),
]


DUPLICATES_DAMAGE = [
    ("garbage", lambda text: "garbage\nmore garbage\n", "duplicates.tsv line 1 is not the header"),
    ("a garbled pair", lambda text: text + "world/a.txt world/c.txt\n", "line 3 is not id<TAB>id<TAB>similarity"),
    ("a similarity out of range", lambda text: text.replace("\t0.", "\t7.").replace("\t1.0000", "\t7.0000"),
     "line 2 is not id<TAB>id<TAB>similarity"),
    ("an id not in the index", lambda text: text + "world/a.txt\tworld/zzz.txt\t0.9000\n",
     "line 3 names 'world/zzz.txt', which is not in the index"),
    ("ids out of order", lambda text: text + "world/b.txt\tsport/c.txt\t0.9000\n",
     "line 3 is not a pair of two ids in order"),
    ("a repeated pair", lambda text: text + text.splitlines(keepends=True)[1], "line 3 repeats the pair"),
    ("cut short", lambda text: text[:-3], "ends in the middle of its last line"),
    ("emptied", lambda text: "", "duplicates.tsv is empty"),
    ("missing", None, "duplicates.tsv is missing"),
]


SIDE_FILE_DAMAGE = [("vocabulary.tsv", *case) for case in VOCABULARY_DAMAGE] + [
    ("duplicates.tsv", *case) for case in DUPLICATES_DAMAGE]


@pytest.mark.parametrize("filename, damage, expected", [(file, damage, expected)
                                                         for file, _, damage, expected in SIDE_FILE_DAMAGE],
                         ids=[f"{file}-{name}" for file, name, _, _ in SIDE_FILE_DAMAGE])
def test_check_finds_a_damaged_side_file(runner, small_index, filename, damage, expected):
    """Read line by line, as for an index whose latest commit has no checksums (a run killed before
    writing them, an index of an earlier version); with them, the checksum finds it first (below)."""
    set_checksums_aside(live_generation(small_index))
    path = live_generation(small_index) / filename
    if damage is None:
        path.unlink()
    else:
        path.write_bytes(damage(path.read_text("utf-8")).encode("utf-8", "surrogateescape"))
    message = check_fails(runner, small_index, expected)
    assert f"{live_generation(small_index).name}/{filename}" in message


@pytest.mark.parametrize("filename, damage", [(file, damage) for file, _, damage, _ in SIDE_FILE_DAMAGE],
                         ids=[f"{file}-{name}" for file, name, _, _ in SIDE_FILE_DAMAGE])
def test_check_and_opening_find_a_side_file_that_differs_from_its_checksum(runner, small_index, filename, damage):
    from newsearch import IndexCorrupt
    from newsearch.cli import cli

    path = live_generation(small_index) / filename
    if damage is None:
        path.unlink()
    else:
        path.write_bytes(damage(path.read_text("utf-8")).encode("utf-8", "surrogateescape"))
    shown = f"{live_generation(small_index).name}/{filename}"
    result = runner.invoke(cli, ["check", "--index", str(small_index)])
    assert result.exit_code == 4, result.output
    assert re.fullmatch(rf"Error: the index at {re.escape(str(small_index))} is damaged \({re.escape(shown)} "
                        rf"(is missing|has \d+ bytes, but its commit wrote \d+|has changed since its commit wrote it "
                        rf"\(its checksum differs\))\); run `newsearch index --rebuild --index "
                        rf"{re.escape(str(small_index))}`\n", result.stderr), result.stderr
    with pytest.raises(IndexCorrupt, match=re.escape(shown)):
        open_index(small_index)


def test_check_index_raises_index_corrupt_for_a_damaged_vocabulary(small_index):
    from newsearch import IndexCorrupt, check_index

    set_checksums_aside(live_generation(small_index))
    (live_generation(small_index) / "vocabulary.tsv").write_text("garbage\n")
    with pytest.raises(IndexCorrupt, match=r"vocabulary\.tsv line 1 is not word<TAB>count<TAB>stem"):
        check_index(small_index)


def test_check_accepts_the_pairs_of_an_earlier_commit_that_a_killed_run_left(runner, small_index):
    """A run killed between its commit and the pairs file leaves the file of the commit before (and
    no checksums), whose pairs may name deleted documents; searching brings them up to date in memory
    (tests/test_reliability_side_files.py), the next `newsearch index` on disk."""
    from newsearch.cli import cli

    set_checksums_aside(live_generation(small_index))
    path = live_generation(small_index) / "duplicates.tsv"
    header, *pairs = path.read_text().splitlines(keepends=True)
    toc = int(re.search(r"toc=(\d+)", header).group(1))
    stale = f"# newsearch-duplicates 1 toc={toc - 1}\n" + "".join(pairs)
    path.write_text(stale + "world/a.txt\tworld/gone.txt\t0.9000\n")
    assert runner.invoke(cli, ["check", "--index", str(small_index)]).exit_code == 0
    path.write_text(f"# newsearch-duplicates 1 toc={toc + 1}\n" + "".join(pairs))
    check_fails(runner, small_index, f"duplicates.tsv line 1 names commit {toc + 1}, but the index's latest is {toc}")


# -- damage is reported as damage, by every command and every entry point -----------------------


def segment_files(index_path: Path) -> list[Path]:
    return sorted(live_generation(index_path).glob("MAIN_*.seg"))


def truncate_segments(index_path: Path) -> None:
    """As `truncate -s` to half the size: the end of a segment (its table of files) is lost."""
    for path in segment_files(index_path):
        os.truncate(path, path.stat().st_size // 2)


def damaged_message(index_path: Path) -> str:
    """A file that cannot be decoded (an exception named), or one its commit's checksums disagree with."""
    return (rf"Error: the index at {re.escape(str(index_path))} is damaged "
            rf"\((\w+: .*|gen-[\w-]+/MAIN_\w+\.seg has [\d,]+ bytes, but its commit wrote [\d,]+)\); "
            rf"run `newsearch index --rebuild --index {re.escape(str(index_path))}`\n")


COMMANDS = [
    ["index", "CORPUS"], ["index"], ["stats"], ["stats", "--json"], ["check"], ["search", "cranes"],
    ["search", '"harbour cranes"', "--facets", "source"], ["show", "world/a.txt"],
    ["show", "world/a.txt", "-q", "cranes"],
    ["related", "world/a.txt"], ["timeline", "cranes"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_reports_a_truncated_segment_as_damage(runner, small_index, command, monkeypatch):
    from newsearch.cli import cli

    monkeypatch.delenv("NEWSEARCH_CORPUS")  # `index` alone updates from the corpus the index remembers
    truncate_segments(small_index)
    args = [str(small_index.parent / "corpus") if arg == "CORPUS" else arg for arg in command]
    result = runner.invoke(cli, [*args, "--index", str(small_index)])
    assert (result.exit_code, result.stdout) == (4, ""), result.output
    assert re.fullmatch(damaged_message(small_index), result.stderr), result.stderr


def test_a_real_process_reports_a_truncated_segment_as_damage_not_as_an_interruption(small_index):
    from support.processes import run_cli

    truncate_segments(small_index)
    for command in (["index", str(small_index.parent / "corpus")], ["stats"]):
        result = run_cli(*command, "--index", str(small_index))
        assert (result.returncode, result.stdout) == (4, ""), result.stderr
        assert re.fullmatch(damaged_message(small_index), result.stderr), result.stderr


def test_a_rebuild_replaces_a_damaged_index(runner, small_index):
    from newsearch.cli import cli

    truncate_segments(small_index)
    corpus = str(small_index.parent / "corpus")
    assert runner.invoke(cli, ["index", corpus, "--rebuild", "--index", str(small_index)]).exit_code == 0
    assert runner.invoke(cli, ["check", "--index", str(small_index)]).exit_code == 0
    assert runner.invoke(cli, ["search", "cranes", "--index", str(small_index)]).exit_code == 0


ENTRY_POINTS = {
    "open_index": lambda path, corpus: open_index(path).close(),
    "build_index": lambda path, corpus: build_index([corpus], path),
    "index_stats": lambda path, corpus: __import__("newsearch").index_stats(path),
    "check_index": lambda path, corpus: __import__("newsearch").check_index(path),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_raises_index_corrupt_for_a_truncated_segment(small_index, name):
    from newsearch import IndexCorrupt

    truncate_segments(small_index)
    with pytest.raises(IndexCorrupt, match=r"is damaged .*; run `newsearch index --rebuild --index "):
        ENTRY_POINTS[name](small_index, small_index.parent / "corpus")


INDEX_METHODS = {
    "search": lambda index: index.search("cranes"),
    "document": lambda index: index.document("world/a.txt"),
    "related": lambda index: index.related("world/a.txt"),
    "timeline": lambda index: index.timeline("cranes"),
    "highlight": lambda index: index.highlight("The cranes", "cranes"),
}


@pytest.mark.parametrize("name", INDEX_METHODS)
def test_an_open_index_raises_index_corrupt_when_it_follows_the_index_to_damaged_files(small_index, name):
    """A long-lived Index reopens after a switch; the new generation's damage is IndexCorrupt."""
    from newsearch import IndexCorrupt

    with open_index(small_index) as index:
        INDEX_METHODS[name](index)
        damaged = small_index / "gen-000009-0000abcd"
        shutil.copytree(live_generation(small_index), damaged)
        for path in damaged.glob("MAIN_*.seg"):  # copies: never the files the open Index has mapped
            os.truncate(path, path.stat().st_size // 2)
        os.symlink(damaged.name, small_index / "next")
        os.replace(small_index / "next", small_index / CURRENT)
        with pytest.raises(IndexCorrupt, match=r"is damaged .*; run `newsearch index --rebuild --index "):
            INDEX_METHODS[name](index)


def damage_kinds(size: int) -> list[tuple[str, int, bytes | None]]:
    """(kind, offset, bytes written there or None to cut the file at the offset): cuts at many
    points, and short overwrites (zeros, 0xff, a fixed pattern) spread over the file."""
    kinds: list[tuple[str, int, bytes | None]] = [("cut", size * k // 12, None) for k in range(12)]
    for k in range(1, 24):
        offset = size * k // 24
        fill = (b"\x00" * 16, b"\xff" * 16, bytes(range(7, 71, 4)))[k % 3]
        kinds.append(("overwrite", offset, fill))
    return kinds


def _on_index(call):
    """``call`` of an Index method, given the index's path."""
    return lambda path: call(open_index(path))


@pytest.mark.parametrize("checksums", [True, False], ids=["with checksums", "unverified"])
def test_no_damage_to_a_segment_raises_anything_but_index_corrupt(tmp_path, small_index, checksums):
    """Whatever part of a segment is cut or overwritten, every entry point raises IndexCorrupt: the
    checksums its commit recorded differ (#13 item 6). Without them (a run killed before writing
    them, an index of an earlier version), an entry point either works (the damage was in a part
    it did not read) or raises IndexCorrupt: never one of Whoosh's exceptions; only there can
    overwritten postings of an id make the article unfindable (DocumentNotFound)."""
    from newsearch import DocumentNotFound, IndexCorrupt, check_index, index_stats

    corpus = small_index.parent / "corpus"
    calls = {**{name: _on_index(call) for name, call in INDEX_METHODS.items()},
             "search sorted": lambda path: open_index(path).search("harbour OR cardiff", sort="newest"),
             "search phrase": lambda path: open_index(path).search('"harbour cranes"', facets=["source", "year"]),
             "index_stats": index_stats, "check_index": check_index,
             "build_index": lambda path: build_index([corpus], path)}
    if not checksums:
        set_checksums_aside(live_generation(small_index))
    segment = segment_files(small_index)[0]
    original = segment.read_bytes()
    leaks = []
    for kind, offset, fill in damage_kinds(segment.stat().st_size):
        copy = tmp_path / f"copy-{kind}-{offset}"
        shutil.copytree(small_index, copy, symlinks=True)
        target = live_generation(copy) / segment.name
        if fill is None:
            os.truncate(target, offset)
        else:
            with open(target, "r+b") as handle:
                handle.seek(offset)
                handle.write(fill)
        changed = target.read_bytes() != original
        for name, call in calls.items():
            try:
                call(copy)
                if checksums and changed:
                    leaks.append(f"{name} after {kind} at {offset}: no error")
            except IndexCorrupt:
                pass
            except DocumentNotFound:
                if checksums or name not in ("document", "related"):
                    leaks.append(f"{name} after {kind} at {offset}: DocumentNotFound")
            except Exception as exc:  # noqa: BLE001 - what leaks is the finding
                leaks.append(f"{name} after {kind} at {offset}: {type(exc).__name__}: {exc}")
        shutil.rmtree(copy)
    assert leaks == []


def test_an_eof_error_from_the_library_is_an_internal_error_not_an_interruption(runner, small_index, monkeypatch):
    """The safety net: click takes an EOFError for Ctrl-D; one the library lets through is a bug."""
    from newsearch import status
    from newsearch.cli import cli

    def fail(index):
        raise EOFError("Ran out of input")

    monkeypatch.setattr(status, "index_stats", fail)
    result = runner.invoke(cli, ["stats", "--index", str(small_index)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("Error: internal error (EOFError: Ran out of input); "
                             "set NEWSEARCH_DEBUG=1 to see the traceback, and please report it\n")


def _plant_stale_checksums(generation: Path) -> None:
    """What a run killed after setting its checksums aside leaves, at its worst: set-aside checksums
    whose file names, sizes and inode numbers match the files there now (the file system reuses the
    inode numbers of files replaced since) but whose checksums are of other bytes."""
    set_checksums_aside(generation)
    lines = [f"{path.name}\t{path.stat().st_size}\t{path.stat().st_ino}\t{0xdeadbeef:08x}\n"
             for path in sorted(generation.iterdir())
             if path.is_file() and not path.name.startswith((".", "checksums")) and "WRITELOCK" not in path.name]
    body = "# newsearch-checksums 1 toc=1\n" + "".join(lines)
    (generation / "checksums.previous").write_text(f"{body}# crc32={zlib.crc32(body.encode()):08x}\n")


@pytest.mark.parametrize("change", [False, True], ids=["nothing-changed", "an-article-added"])
def test_the_run_after_a_killed_one_never_inherits_its_set_aside_checksums(runner, small_index, change):
    """CI found this: a SIGKILLed update left checksums.previous; the next run's new vocabulary took
    the old file's inode number and size and inherited its checksum, so the index read as damaged."""
    generation = live_generation(small_index)
    _plant_stale_checksums(generation)
    corpus = small_index.parent / "corpus"
    if change:
        write_article(corpus, "sport/d.txt", "Swansea draw", "Swansea drew at home.")
    build_index([corpus], small_index)
    from newsearch.cli import cli

    result = runner.invoke(cli, ["check", "--index", str(small_index)])
    assert result.exit_code == 0, result.output
    with open_index(small_index) as index:
        assert index.search("Swansea").total == int(change)


def test_a_run_that_changes_nothing_removes_checksums_a_killed_commit_left_beside_its_new_ones(small_index):
    """CI found this: killed after writing its new checksums but before removing the set-aside
    ones, an update left checksums.previous beside checksums-N; the next run, with nothing to
    change, kept it for good."""
    generation = live_generation(small_index)
    (live,) = [path for path in generation.iterdir() if CHECKSUMS_PATTERN.match(path.name)]
    shutil.copyfile(live, generation / "checksums.previous")
    shutil.copyfile(live, generation / "checksums-0.tsv")
    build_index([small_index.parent / "corpus"], small_index)
    assert sorted(path.name for path in generation.iterdir() if path.name.startswith("checksums")) == [live.name]
    check_index(small_index)  # raises IndexCorrupt on a checksum that does not hold
