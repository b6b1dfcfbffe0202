"""Reliability: side files tied to their commit, checksums of every file (issue #13, items 5 and 6).

Each fault either is found (opening or ``check`` raises IndexCorrupt, exit 4, with the rebuild
command) or leaves the answers exactly those of a sound index of the same articles: never
silently different results.

* Killed right after Whoosh's commit (a fault-injection hook: the process exits where the pairs
  would be written), the pairs file belongs to the commit before: searching brings it up to date
  in memory, ``check`` passes (the newest commit is unverified, not damaged), and the next run
  writes both. A full disk at that moment says the update is committed, not "previous index intact".
* A side file changed in any way (garbled, a wrong or not-UTF-8 stem), a segment or the table of
  contents with a flipped bit: opening and ``check`` report it, and an update refuses to build on it.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

import pytest
from support.corpora import write_article
from support.probes import answers
from support.processes import run_cli

from newsearch import IndexCorrupt, IndexWriteError, build_index, check_index, open_index
from newsearch import duplicate_store as duplicate_store_module
from newsearch.storage import CURRENT, checksums_name, set_checksums_aside

STORY = ("The harbour authority said the new cranes would be operated remotely from a control room. "
         "Unions warned that hundreds of jobs were at risk and called for talks with the port owners. ") * 3
OTHER = ("The walrus colony on the northern beach has doubled in size, wardens said, and visitors are "
         "asked to keep their distance during the breeding season. ") * 3
QUERIES = ("cranes", "harbour unions", "walrus", "cardiff", "beach OR port")
IDS = ("world/a.txt", "world/b.txt", "sport/c.txt", "nature/d.txt")


def live(index_path: Path) -> Path:
    return index_path / os.readlink(index_path / CURRENT)


def toc_of(index_path: Path) -> int:
    return max(int(m.group(1)) for name in os.listdir(live(index_path)) if (m := re.match(r"_MAIN_(\d+)\.toc$", name)))


@pytest.fixture
def corpus_and_index(tmp_path) -> tuple[Path, Path]:
    corpus, index_path = tmp_path / "corpus", tmp_path / "ix"
    write_article(corpus, "world/a.txt", "Harbour cranes go remote", STORY)
    write_article(corpus, "world/b.txt", "Harbour cranes go remote", STORY + "Reuters contributed.")
    write_article(corpus, "sport/c.txt", "Cardiff win", "Cardiff won the match in the last minute.")
    build_index([corpus], index_path)
    return corpus, index_path


def completed(corpus: Path, copy: Path) -> list[object]:
    """The answers of ``copy``, a copy of the index before the update, once the update completes."""
    build_index([corpus], copy)
    return answers(copy, QUERIES, IDS)


def killed_after_commit(corpus: Path, index_path: Path) -> None:
    """Run an update in a child process that exits, as a SIGKILL would, right after Whoosh's commit."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            duplicate_store_module.refresh = lambda *args, **kwargs: os._exit(137)
            build_index([corpus], index_path)
        finally:
            os._exit(1)  # the hook was never reached
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 137


# -- item 5: a run killed right after Whoosh's commit -------------------------------------------


def test_a_run_killed_right_after_its_commit_leaves_answers_equal_to_a_sound_index(tmp_path, corpus_and_index):
    corpus, index_path = corpus_and_index
    shutil.copytree(index_path, tmp_path / "reference", symlinks=True)
    before = toc_of(index_path)
    # b.txt, a copy of a.txt, is rewritten into an unrelated story; d.txt is a new copy of b.txt's new text.
    write_article(corpus, "world/b.txt", "Walrus colony doubles", OTHER)
    write_article(corpus, "nature/d.txt", "Walrus colony doubles", OTHER + "Photographs by the wardens.")
    killed_after_commit(corpus, index_path)
    assert toc_of(index_path) == before + 1  # committed
    assert duplicate_store_module.load(live(index_path)).toc == before  # the pairs of the commit before
    assert not (live(index_path) / checksums_name(before + 1)).exists()  # unverified, not damaged
    expected = completed(corpus, tmp_path / "reference")
    assert answers(index_path, QUERIES, IDS) == expected
    walrus = open_index(index_path).search("walrus").hits
    assert [(hit.id, [copy.id for copy in hit.similar]) for hit in walrus] in (
        [("world/b.txt", ["nature/d.txt"])], [("nature/d.txt", ["world/b.txt"])])
    assert check_index(index_path).documents == 4
    report = build_index([corpus], index_path)  # the next run finishes what the killed one left
    assert (report.added, report.updated, report.deleted) == (0, 0, 0)
    assert duplicate_store_module.load(live(index_path)).toc == before + 1
    assert (live(index_path) / checksums_name(before + 1)).exists()
    assert answers(index_path, QUERIES, IDS) == expected
    check_index(index_path)


def test_a_run_killed_after_deleting_a_copy_leaves_no_pair_naming_it(tmp_path, corpus_and_index):
    corpus, index_path = corpus_and_index
    shutil.copytree(index_path, tmp_path / "reference", symlinks=True)
    (corpus / "world" / "b.txt").unlink()
    killed_after_commit(corpus, index_path)
    assert answers(index_path, QUERIES, IDS) == completed(corpus, tmp_path / "reference")
    assert open_index(index_path).search("cranes").hits[0].similar == ()


def test_check_exits_0_on_the_pairs_a_killed_run_left_and_4_once_they_are_malformed(corpus_and_index):
    """The pairs of the commit before are not damage: every answer is right (searching brings them
    up to date), and `newsearch index` rewrites them, so exit 4 ("run --rebuild") would send a cron
    job's owner to rebuild for nothing. They are still read line by line: a malformed one is damage."""
    corpus, index_path = corpus_and_index
    write_article(corpus, "nature/d.txt", "Walrus colony doubles", OTHER)
    killed_after_commit(corpus, index_path)
    pairs = live(index_path) / duplicate_store_module.DUPLICATES_FILE
    assert duplicate_store_module.load(live(index_path)).toc == toc_of(index_path) - 1
    check = run_cli("check", "--index", str(index_path))  # a real process: the exit code cron sees
    assert (check.returncode, check.stderr) == (0, ""), check.stderr
    assert check.stdout.startswith(f"OK: {index_path} ")
    sound = pairs.read_text()
    pairs.write_text(sound + "world/a.txt\n")
    check = run_cli("check", "--index", str(index_path))
    assert check.returncode == 4 and "is not id<TAB>id<TAB>similarity" in check.stderr, check.stderr
    pairs.write_text(sound)
    assert run_cli("index", str(corpus), "--index", str(index_path), "--quiet").returncode == 0
    assert duplicate_store_module.load(live(index_path)).toc == toc_of(index_path)  # brought up to date
    assert run_cli("check", "--index", str(index_path)).returncode == 0


def test_a_full_disk_right_after_the_commit_says_the_update_is_committed(corpus_and_index, monkeypatch):
    corpus, index_path = corpus_and_index
    write_article(corpus, "nature/d.txt", "Walrus colony doubles", OTHER)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(duplicate_store_module, "save", disk_full)
    with pytest.raises(IndexWriteError) as raised:
        build_index([corpus], index_path)
    assert str(raised.value) == (
        f"the update of the index in {index_path} is committed (searches see the new articles), but finishing "
        f"it failed: the disk is full; free some space and run `newsearch index --index {index_path}` again to "
        f"finish it")
    assert [hit.id for hit in open_index(index_path).search("walrus").hits] == ["nature/d.txt"]
    monkeypatch.undo()
    assert build_index([corpus], index_path).added == 0
    check_index(index_path)


# -- item 6: checksums of every file of a commit --------------------------------------------------


def check_exit(index_path: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from newsearch.cli import cli

    result = CliRunner().invoke(cli, ["check", "--index", str(index_path)])
    return result.exit_code, result.stderr


GARBLES = {  # damage that keeps each file well formed, so only a checksum can tell
    "duplicates.tsv: a pair of unrelated articles": (
        "duplicates.tsv", lambda text: text.replace("world/b.txt", "sport/c.txt")),
    "vocabulary.tsv: a wrong stem": ("vocabulary.tsv", lambda text: text.replace("\tcrane\n", "\tcardiff\n")),
    "vocabulary.tsv: a count changed": ("vocabulary.tsv", lambda text: re.sub(r"^(cranes\t)\d+", r"\g<1>99", text,
                                                                            flags=re.MULTILINE)),
    "newsearch.json: another corpus": ("newsearch.json", lambda text: text.replace("corpus", "c0rpus", 1)),
}


@pytest.mark.parametrize("name", GARBLES)
def test_a_well_formed_but_changed_side_file_is_damage_for_open_check_and_update(corpus_and_index, name):
    corpus, index_path = corpus_and_index
    filename, garble = GARBLES[name]
    path = live(index_path) / filename
    text = path.read_text()
    assert garble(text) != text
    path.write_text(garble(text))
    damage = re.escape(f"is damaged ({live(index_path).name}/{filename} ")
    with pytest.raises(IndexCorrupt, match=damage):
        open_index(index_path)
    assert check_exit(index_path)[0] == 4
    write_article(corpus, "nature/d.txt", "Walrus colony doubles", OTHER)
    with pytest.raises(IndexCorrupt, match=damage):
        build_index([corpus], index_path)
    build_index([corpus], index_path, rebuild=True)
    check_index(index_path)


def test_a_wrong_stem_never_reaches_articles_added_later(tmp_path, corpus_and_index):
    """Before: the update stemmed 'cranes' of a new article as the vocabulary said ('cardiff'), and
    the article stayed unfindable as 'cranes' even after the vocabulary was repaired."""
    corpus, index_path = corpus_and_index
    shutil.copytree(index_path, tmp_path / "reference", symlinks=True)
    path = live(index_path) / "vocabulary.tsv"
    sound = path.read_text()
    path.write_text(sound.replace("\tcrane\n", "\tcardi\n"))  # the same size: only the checksum differs
    write_article(corpus, "nature/d.txt", "More cranes", "The cranes arrived at the northern port today.")
    with pytest.raises(IndexCorrupt, match=r"vocabulary\.tsv has changed since its commit wrote it"):
        build_index([corpus], index_path)
    path.write_text(sound)  # repaired by hand: the update then indexes the article as written
    assert build_index([corpus], index_path).added == 1
    assert answers(index_path, QUERIES, IDS) == completed(corpus, tmp_path / "reference")


def test_a_stem_that_is_not_utf8_is_damage_not_an_articles_fault(corpus_and_index):
    corpus, index_path = corpus_and_index
    path = live(index_path) / "vocabulary.tsv"
    path.write_bytes(path.read_bytes().replace(b"\tcrane\n", b"\tcr\xffne\n"))
    write_article(corpus, "nature/d.txt", "More cranes", "The cranes arrived at the northern port today.")
    with pytest.raises(IndexCorrupt, match=r"vocabulary\.tsv has changed since its commit wrote it.*--rebuild"):
        build_index([corpus], index_path)
    assert check_exit(index_path)[0] == 4


def test_unverified_a_stem_that_is_not_utf8_is_stemmed_afresh(corpus_and_index):
    """With no checksums (a run killed before writing them), the update still works: the word is
    stemmed again rather than the article blamed; `check` reports the line."""
    corpus, index_path = corpus_and_index
    set_checksums_aside(live(index_path))
    path = live(index_path) / "vocabulary.tsv"
    path.write_bytes(path.read_bytes().replace(b"\tcrane\n", b"\tcr\xffne\n"))
    write_article(corpus, "nature/d.txt", "More cranes", "The cranes arrived at the northern port today.")
    assert build_index([corpus], index_path).added == 1
    assert "nature/d.txt" in {hit.id for hit in open_index(index_path).search("crane", collapse=False).hits}
    check_index(index_path)  # the update rewrote the vocabulary (and its checksums) whole


def flipped(path: Path, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("which", ["segment", "toc"])
def test_every_bit_flip_in_a_segment_or_the_table_of_contents_is_found(tmp_path, corpus_and_index, which):
    """Before: 9 of 24 segment flips and 3 of 12 TOC flips changed results with `check` exit 0."""
    _, index_path = corpus_and_index
    names = sorted(os.listdir(live(index_path)))
    name = next(n for n in names if (n.endswith(".seg") if which == "segment" else re.match(r"_MAIN_\d+\.toc$", n)))
    size = (live(index_path) / name).stat().st_size
    for trial in range(12):
        copy = tmp_path / f"copy{trial}"
        shutil.copytree(index_path, copy, symlinks=True)
        flipped(live(copy) / name, (size * 8 * trial) // 12 + 5)
        with pytest.raises(IndexCorrupt, match=re.escape(f"{live(copy).name}/{name} has changed")):
            open_index(copy)
        code, message = check_exit(copy)
        assert code == 4 and f"{live(copy).name}/{name} has changed" in message
        shutil.rmtree(copy)


def test_checksums_cover_every_file_a_commit_writes_not_a_fixed_list(corpus_and_index, monkeypatch):
    """A file another part of the writer adds to the generation (a sidecar of a segment, say) is
    covered like Whoosh's own files."""
    corpus, index_path = corpus_and_index
    refresh = duplicate_store_module.refresh

    def with_sidecar(generation, ix):
        (generation / "postings-test.npy").write_bytes(bytes(range(256)) * 4)
        return refresh(generation, ix)

    monkeypatch.setattr(duplicate_store_module, "refresh", with_sidecar)
    build_index([corpus], index_path, rebuild=True)
    monkeypatch.undo()
    check_index(index_path)
    flipped(live(index_path) / "postings-test.npy", 100)
    with pytest.raises(IndexCorrupt, match=r"postings-test\.npy has changed since its commit wrote it"):
        check_index(index_path)


def test_a_flip_in_a_segment_too_large_to_checksum_on_opening_is_kept_for_check(corpus_and_index, monkeypatch):
    """Files over OPEN_CHECKSUM_BYTES are only sized on opening; a later commit keeps their recorded
    checksum instead of recording the damaged bytes as the truth, so `check` still finds it."""
    from newsearch import storage

    corpus, index_path = corpus_and_index
    monkeypatch.setattr(storage, "OPEN_CHECKSUM_BYTES", 0)
    segment = next(name for name in os.listdir(live(index_path)) if name.endswith(".seg"))
    flipped(live(index_path) / segment, 4000)
    open_index(index_path).close()  # sizes agree
    write_article(corpus, "nature/d.txt", "Walrus colony doubles", OTHER)
    assert build_index([corpus], index_path).added == 1
    assert (live(index_path) / segment).exists()  # not merged away
    with pytest.raises(IndexCorrupt, match=re.escape(f"{segment} has changed since its commit wrote it")):
        check_index(index_path)


def test_a_reader_opening_while_a_writer_replaces_the_vocabulary_sees_no_damage(corpus_and_index):
    """A writer sets the checksums aside before it replaces the vocabulary (before its commit): the
    newest commit is then unverified, never damaged."""
    _, index_path = corpus_and_index
    set_checksums_aside(live(index_path))
    path = live(index_path) / "vocabulary.tsv"
    path.write_text(path.read_text().replace("cardiff\t1\t", "cardiff\t2\t"))  # the next commit's counts
    with open_index(index_path) as index:
        assert index.search("cranes").total == 2
    check_index(index_path)


def test_damaged_checksums_are_damage(corpus_and_index):
    _, index_path = corpus_and_index
    path = live(index_path) / checksums_name(toc_of(index_path))
    path.write_text(path.read_text().replace("\t", " ", 1))
    with pytest.raises(IndexCorrupt, match=re.escape(f"{path.name} is not a complete list of checksums")):
        open_index(index_path)
