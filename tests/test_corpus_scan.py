"""scan(): which files are found, their relative paths, what is ignored or skipped, symlinks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from newsearch.corpus import SUPPORTED_SUFFIXES, CorpusScan, scan
from newsearch.errors import CorpusError
from newsearch.models import SkippedFile


def make(root: Path, *relpaths: str) -> None:
    for relpath in relpaths:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Headline of {relpath}\n\nBody.\n", encoding="utf-8")


def relpaths(found: CorpusScan) -> list[str]:
    return [file.relpath for file in found.files]


def test_supported_suffixes_include_each_format_and_its_gz():
    base = {".txt", ".md", ".markdown", ".json", ".jsonl", ".ndjson", ".html", ".htm", ".xml", ".rss", ".atom",
            ".csv", ".tsv", ".tab", ".warc"}
    assert SUPPORTED_SUFFIXES == base | {suffix + ".gz" for suffix in base}


def test_folder_relpaths_sorted_with_hidden_and_unknown_counted(tmp_path):
    corpus = tmp_path / "news"
    make(corpus, "tech/b.md", "business/001.txt", "business/002.TXT", "top.json", "feeds/world.xml.gz",
         ".hidden.txt", ".git/config.txt", "business/.draft.txt", "notes.docx", "README", "archive.gz")
    found = scan([corpus])
    assert relpaths(found) == ["business/001.txt", "business/002.TXT", "feeds/world.xml.gz", "tech/b.md", "top.json"]
    # .hidden.txt, .git (one folder, not walked), business/.draft.txt, notes.docx, README, archive.gz
    assert found.ignored == 6
    assert found.skipped == []
    first = found.files[0]
    assert first.root == corpus
    assert first.path == str(corpus / "business" / "001.txt")
    info = os.stat(first.path)
    assert (first.size, first.mtime_ns) == (info.st_size, info.st_mtime_ns)


def test_single_file_relpath_is_its_name(tmp_path):
    make(tmp_path, "news/world/story.txt")
    found = scan([tmp_path / "news" / "world" / "story.txt"])
    assert relpaths(found) == ["story.txt"]
    assert found.files[0].root == tmp_path / "news" / "world"


def test_several_paths_are_relative_to_their_common_parent(tmp_path):
    make(tmp_path, "news/business/1.txt", "news/tech/1.txt", "news/tech/2.txt")
    found = scan([tmp_path / "news" / "tech", str(tmp_path / "news" / "business")])
    assert relpaths(found) == ["business/1.txt", "tech/1.txt", "tech/2.txt"]
    assert {file.root for file in found.files} == {tmp_path / "news"}


def test_overlapping_and_repeated_paths_are_deduplicated(tmp_path):
    make(tmp_path, "news/tech/1.txt", "news/top.txt")
    news = tmp_path / "news"
    found = scan([news, news / "tech", news / "tech" / "1.txt", news])
    assert relpaths(found) == ["tech/1.txt", "top.txt"]


def test_missing_path_raises_naming_it_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError) as caught:
        scan([tmp_path, "news/nope"])
    assert str(caught.value) == "corpus path not found: news/nope"


def test_a_single_string_is_refused_rather_than_scanned_letter_by_letter():
    with pytest.raises(TypeError, match="list of paths"):
        scan("corpus")  # type: ignore[arg-type]


def test_explicit_file_of_unknown_type_is_reported(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"PK")
    found = scan([tmp_path / "notes.docx"])
    assert found.files == []
    assert found.skipped == [SkippedFile("notes.docx", "unsupported file type: .docx")]


def test_symlink_outside_the_corpus_is_skipped_unless_followed(tmp_path):
    make(tmp_path, "outside/secret.txt", "outside/more/deep.txt", "corpus/in.txt")
    corpus = tmp_path / "corpus"
    (corpus / "linked.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    (corpus / "folder").symlink_to(tmp_path / "outside")
    found = scan([corpus])
    assert relpaths(found) == ["in.txt"]
    assert found.skipped == [
        SkippedFile("folder", f"symlink outside the corpus: -> {tmp_path / 'outside'}"),
        SkippedFile("linked.txt", f"symlink outside the corpus: -> {tmp_path / 'outside' / 'secret.txt'}"),
    ]
    followed = scan([corpus], follow_symlinks=True)
    assert relpaths(followed) == ["folder/more/deep.txt", "folder/secret.txt", "in.txt"]
    assert followed.skipped == []


def test_symlink_loops_are_reported_and_never_walked(tmp_path):
    corpus = tmp_path / "corpus"
    make(corpus, "a/story.txt")
    (corpus / "a" / "up").symlink_to(corpus)  # points to an ancestor
    (corpus / "self.txt").symlink_to(corpus / "self.txt")  # points to itself
    (corpus / "ping.txt").symlink_to(corpus / "pong.txt")
    (corpus / "pong.txt").symlink_to(corpus / "ping.txt")
    started = time.perf_counter()
    found = scan([corpus], follow_symlinks=True)
    assert time.perf_counter() - started < 10  # a guard against looping, not a speed figure
    assert relpaths(found) == ["a/story.txt"]
    assert [(s.path, s.reason.split(":")[0]) for s in found.skipped] == [
        ("a/up", "symlink loop"), ("ping.txt", "symlink loop"), ("pong.txt", "symlink loop"),
        ("self.txt", "symlink loop"),
    ]


def test_symlinks_inside_the_corpus_do_not_duplicate_files(tmp_path):
    corpus = tmp_path / "corpus"
    make(corpus, "2024/11/story.txt")
    (corpus / "latest").symlink_to(corpus / "2024" / "11")
    (corpus / "alias.txt").symlink_to(corpus / "2024" / "11" / "story.txt")
    found = scan([corpus])
    assert relpaths(found) == ["2024/11/story.txt"]
    assert found.skipped == []


def test_symlinked_folder_not_otherwise_walked_is_named_by_its_link(tmp_path):
    corpus = tmp_path / "corpus"
    make(corpus, ".archive/story.txt")  # hidden: only reachable through the link
    (corpus / "current").symlink_to(corpus / ".archive")
    found = scan([corpus])
    assert relpaths(found) == ["current/story.txt"]
    assert found.ignored == 1


def test_the_folder_given_is_the_boundary_for_symlinks(tmp_path):
    make(tmp_path, "corpus/real/story.txt")
    corpus = tmp_path / "corpus"
    (corpus / "other").mkdir()
    (corpus / "other" / "view").symlink_to(corpus / "real")
    found = scan([corpus / "other"])
    assert relpaths(found) == []
    assert found.skipped == [SkippedFile("view", f"symlink outside the corpus: -> {corpus / 'real'}")]
    assert relpaths(scan([corpus / "other"], follow_symlinks=True)) == ["view/story.txt"]


def test_with_several_folders_each_one_given_is_a_boundary_for_symlinks(tmp_path):
    # Their common parent is not: two corpus folders in /tmp must not open all of /tmp to links.
    make(tmp_path, "private/secret.txt")
    make(tmp_path, "first/story.txt")
    make(tmp_path, "second/report.txt")
    (tmp_path / "first" / "leak").symlink_to(tmp_path / "private")
    (tmp_path / "first" / "mirror").symlink_to(tmp_path / "second")
    found = scan([tmp_path / "first", tmp_path / "second"])
    assert relpaths(found) == ["first/story.txt", "second/report.txt"]  # the real path wins over the link
    assert found.skipped == [SkippedFile("first/leak", f"symlink outside the corpus: -> {tmp_path / 'private'}")]


def test_broken_symlink_is_reported(tmp_path):
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")
    found = scan([tmp_path])
    reason = f"broken symlink: No such file or directory: -> {tmp_path / 'missing.txt'}"
    assert found.skipped == [SkippedFile("gone.txt", reason)]


def test_fifo_is_reported_not_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    found = scan([tmp_path])
    assert found.files == []
    assert found.skipped == [SkippedFile("pipe.txt", "not a regular file")]


def test_unreadable_folder_is_reported_and_the_rest_scanned(tmp_path, monkeypatch):
    make(tmp_path, "open/a.txt", "locked/b.txt")
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = scan([tmp_path])
    assert relpaths(found) == ["open/a.txt"]
    assert found.skipped == [SkippedFile("locked", "unreadable: Permission denied")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_chmod_000_folder_is_reported(tmp_path):
    make(tmp_path, "open/a.txt", "locked/b.txt")
    (tmp_path / "locked").chmod(0)
    try:
        found = scan([tmp_path])
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert relpaths(found) == ["open/a.txt"]
    assert found.skipped == [SkippedFile("locked", "unreadable: Permission denied")]


@pytest.mark.bbc
def test_bbc_scan_finds_every_article_quickly(bbc_corpus):
    scan([bbc_corpus])  # warm the OS cache
    started = time.perf_counter()
    found = scan([bbc_corpus])
    elapsed = time.perf_counter() - started
    assert len(found.files) == 2225
    assert found.skipped == [] and found.ignored == 0
    assert {file.relpath.split("/")[0] for file in found.files} == {
        "business", "entertainment", "politics", "sports", "tech"}
    assert found.files[0].relpath == "business/001.txt"
    print(f"\nBBC scan: {elapsed * 1000:.0f} ms")  # a figure, not asserted: timings are noisy
