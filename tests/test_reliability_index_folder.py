"""The index folder is the index's, and only the index's (issue #13, items 2, 3, 4).

* Nothing outside the index folder is written or removed: a ``current`` that leads elsewhere,
  dangles or is not a link is damage (exit 4), and ``--rebuild`` repairs it.
* The rebuild a message prints works as printed: a rebuild without paths uses the corpus the
  index remembers, even from an index of another format, never ./corpus.
* Opening an index runs no code from it: the table of contents is unpickled with an allowlist,
  and a folder that others could write is refused unless NEWSEARCH_TRUST_INDEX=1.

The commands run in this process (``invoke_cli``): what is tested is what they do to the folder
and what they say, not how processes meet.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from support import planted
from support.corpora import write_article
from support.processes import invoke_cli

from newsearch import build_index, open_index
from newsearch.errors import IndexCorrupt, IndexUnsafe
from newsearch.storage import CURRENT, generations, remove_stale_generations, set_checksums_aside

TRUST = "NEWSEARCH_TRUST_INDEX"


def small_corpus(folder: Path, count: int = 5) -> Path:
    for number in range(count):
        write_article(folder, f"walrus{number}.txt", f"Walrus report {number}",
                      f"A walrus was seen on beach number {number}.")
    return folder


def live(index_path: Path) -> Path:
    return index_path / os.readlink(index_path / CURRENT)


@pytest.fixture(autouse=True)
def as_a_user_runs_it(monkeypatch):
    """Without the tests' NEWSEARCH_CORPUS: a rebuild without paths must use the corpus the index
    remembers (the commands run in this environment)."""
    monkeypatch.delenv("NEWSEARCH_CORPUS", raising=False)
    monkeypatch.delenv(TRUST, raising=False)


# -- item 2: nothing outside the index folder is touched ------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An index at tmp/outer/ix whose parent holds files an indexer's tidy-up would match."""
    outer = tmp_path / "outer"
    corpus = small_corpus(tmp_path / "corpus")
    build_index([corpus], outer / "ix")
    (outer / "important.tmp").write_text("keep me")
    (outer / "_MAIN_3.toc.keep").write_text("keep me too")
    return outer


def untouched(outer: Path) -> bool:
    return ((outer / "important.tmp").read_text() == "keep me"
            and (outer / "_MAIN_3.toc.keep").read_text() == "keep me too"
            and not (outer / ".retired").exists())


def test_current_pointing_at_the_parent_is_damage_and_rebuild_repairs_it_without_touching_the_parent(outside):
    index_path = outside / "ix"
    (index_path / CURRENT).unlink()
    os.symlink("..", index_path / CURRENT)
    update = invoke_cli("index", "--index", str(index_path))
    assert update.returncode == 4, update.stderr
    assert "is damaged (its 'current' points to '..'" in update.stderr
    assert f"run `newsearch index --rebuild --index {index_path}`" in update.stderr
    assert untouched(outside)
    search = invoke_cli("search", "walrus", "--index", str(index_path))
    assert search.returncode == 4 and "damaged" in search.stderr
    rebuilt = invoke_cli("index", "--rebuild", "--index", str(index_path))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert untouched(outside)
    assert live(index_path).parent == index_path
    assert invoke_cli("search", "walrus", "--index", str(index_path)).returncode == 0


def test_an_update_through_a_current_that_names_another_folder_deletes_nothing_there(tmp_path):
    corpus, index_path, victim = small_corpus(tmp_path / "corpus"), tmp_path / "ix", tmp_path / "victim"
    build_index([corpus], index_path)
    victim.mkdir()
    (victim / "precious.tmp").write_text("data")
    (victim / "_MAIN_1.toc.x").write_text("data")
    (index_path / CURRENT).unlink()
    os.symlink(victim, index_path / CURRENT)
    for args in (("index",), ("index", str(corpus)), ("check",), ("stats",), ("search", "walrus")):
        result = invoke_cli(*args, "--index", str(index_path))
        assert result.returncode == 4, (args, result.stderr)
        assert "damaged" in result.stderr and "--rebuild" in result.stderr
    assert sorted(os.listdir(victim)) == ["_MAIN_1.toc.x", "precious.tmp"]
    assert invoke_cli("index", "--rebuild", "--index", str(index_path)).returncode == 0
    assert sorted(os.listdir(victim)) == ["_MAIN_1.toc.x", "precious.tmp"]
    assert invoke_cli("search", "walrus", "--index", str(index_path)).returncode == 0


def _dangling(index_path: Path) -> None:
    os.symlink("gen-000099-deadbeef", index_path / CURRENT)


def _loop(index_path: Path) -> None:
    os.symlink(CURRENT, index_path / CURRENT)


def _file(index_path: Path) -> None:
    (index_path / CURRENT).write_text("gen-000001\n")


def _folder(index_path: Path) -> None:
    (index_path / CURRENT).mkdir()
    (index_path / CURRENT / "something").write_text("x")


def _generation_link(index_path: Path) -> None:
    elsewhere = index_path.parent / "elsewhere"
    shutil.copytree(live(index_path), elsewhere)
    os.symlink(elsewhere, index_path / "gen-000050-00000000")
    (index_path / CURRENT).unlink()
    os.symlink("gen-000050-00000000", index_path / CURRENT)


@pytest.mark.parametrize("breakage", [_dangling, _loop, _file, _folder, _generation_link],
                         ids=["dangling", "loop", "file", "folder", "generation-link"])
def test_every_kind_of_broken_current_is_damage_that_rebuild_repairs(tmp_path, breakage):
    corpus, index_path = small_corpus(tmp_path / "corpus"), tmp_path / "ix"
    build_index([corpus], index_path)
    if breakage is not _generation_link:
        (index_path / CURRENT).unlink()
    breakage(index_path)
    search = invoke_cli("search", "walrus", "--index", str(index_path))
    assert search.returncode == 4, search.stderr
    assert "is damaged (its 'current' " in search.stderr
    assert search.stderr.rstrip().endswith(f"run `newsearch index --rebuild --index {index_path}`")
    assert invoke_cli("index", "--index", str(index_path)).returncode == 4
    rebuilt = invoke_cli("index", "--rebuild", "--index", str(index_path))  # the remembered corpus
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "5 added" in rebuilt.stdout
    result = invoke_cli("search", "walrus", "--index", str(index_path))
    assert result.returncode == 0 and "(5 articles" in result.stdout, result.stdout
    assert not (index_path.parent / "elsewhere").is_symlink()
    if breakage is _generation_link:
        assert (index_path.parent / "elsewhere" / "newsearch.json").exists()  # the link's target is left alone


def test_tidying_removes_a_linked_generation_and_never_what_it_points_to(tmp_path):
    corpus, index_path, victim = small_corpus(tmp_path / "corpus"), tmp_path / "ix", tmp_path / "victim"
    build_index([corpus], index_path)
    victim.mkdir()
    (victim / "precious.txt").write_text("data")
    os.symlink(victim, index_path / "gen-000009-00000000")
    remove_stale_generations(index_path, live(index_path))
    assert not os.path.lexists(index_path / "gen-000009-00000000")
    assert (victim / "precious.txt").read_text() == "data"
    assert [path.name for path in generations(index_path)] == [live(index_path).name]


def test_the_next_run_removes_the_link_a_switch_killed_before_its_rename_left(tmp_path):
    corpus, index_path = small_corpus(tmp_path / "corpus"), tmp_path / "ix"
    build_index([corpus], index_path)
    generation = live(index_path)
    os.symlink(generation.name, index_path / f".{CURRENT}.tmp")  # what a SIGKILL between symlink and rename leaves
    build_index([corpus], index_path)
    assert not os.path.lexists(index_path / f".{CURRENT}.tmp")
    assert live(index_path) == generation and generation.is_dir()


def test_a_planted_link_is_never_written_through(tmp_path):
    corpus, index_path, victim = small_corpus(tmp_path / "corpus"), tmp_path / "ix", tmp_path / "victim.txt"
    build_index([corpus], index_path)
    victim.write_text("precious")
    (index_path / ".lock").unlink()
    os.symlink(victim, index_path / ".lock")
    os.symlink(victim, live(index_path) / "newsearch.json.tmp")
    write_article(corpus, "new.txt", "Walrus news", "Another walrus.")
    result = invoke_cli("index", str(corpus), "--index", str(index_path))
    assert result.returncode == 1 and "lock file" in result.stderr, result.stderr
    assert victim.read_text() == "precious"
    (index_path / ".lock").unlink()
    assert build_index([corpus], index_path).added == 1  # the stale .tmp link is tidied, not followed
    assert victim.read_text() == "precious"


# -- item 3: the printed fix works as printed -------------------------------------------------------


def change_format(index_path: Path, drop_corpus: bool = False) -> None:
    meta_path = live(index_path) / "newsearch.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = {"schema": 0, "note": "written by a later newsearch"}
    if drop_corpus:
        del meta["corpus"]
    meta_path.write_text(json.dumps(meta))


def printed_command(stderr: str) -> list[str]:
    match = re.search(r"run `(newsearch index [^`]*)`", stderr)
    assert match, stderr
    return shlex.split(match.group(1))[1:]


def test_the_printed_rebuild_after_a_format_change_rebuilds_the_archive_not_the_local_corpus(tmp_path):
    archive, index_path, workdir = small_corpus(tmp_path / "archive"), tmp_path / "my index", tmp_path / "work"
    build_index([archive], index_path)
    write_article(workdir / "corpus", "unrelated.txt", "Unrelated", "Nothing about walruses here.")
    change_format(index_path)
    search = invoke_cli("search", "walrus", "--index", str(index_path), cwd=workdir)
    assert search.returncode == 4
    command = printed_command(search.stderr)
    assert command == ["index", "--rebuild", "--index", str(index_path)]
    rebuilt = invoke_cli(*command, cwd=workdir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "5 added" in rebuilt.stdout and "holds 5 documents" in rebuilt.stdout
    with open_index(index_path) as index:
        assert index.search("walrus").total == 5
        assert index.search("unrelated").total == 0


def test_an_index_that_does_not_remember_its_corpus_is_never_rebuilt_from_a_guess(tmp_path):
    archive, index_path, workdir = small_corpus(tmp_path / "archive"), tmp_path / "ix", tmp_path / "work"
    build_index([archive], index_path)
    write_article(workdir / "corpus", "unrelated.txt", "Unrelated", "Nothing about walruses here.")
    change_format(index_path, drop_corpus=True)
    before = live(index_path)
    search = invoke_cli("search", "walrus", "--index", str(index_path), cwd=workdir)
    assert search.returncode == 4
    assert printed_command(search.stderr) == ["index", "--rebuild", "--index", str(index_path), "CORPUS_PATH..."]
    guess = invoke_cli("index", "--rebuild", "--index", str(index_path), cwd=workdir)
    assert guess.returncode == 1
    assert "does not record which corpus it was built from" in guess.stderr
    assert live(index_path) == before and len(generations(index_path)) == 1
    named = invoke_cli("index", "--rebuild", "--index", str(index_path), str(archive),
                    cwd=workdir)
    assert named.returncode == 0 and "5 added" in named.stdout, named.stderr


# -- item 4: no code runs from an index ------------------------------------------------------------


def plant_in_toc(index_path: Path, marker: Path, part: str) -> None:
    """Rewrite the live table of contents so that its schema (or its segment list) runs a command."""
    planted.plant_in_toc(live(index_path), marker, part)
    # Whoever can write the folder can rewrite the checksums too: they find damage, not attacks.
    set_checksums_aside(live(index_path))


@pytest.mark.parametrize("part", ["schema", "segments"])
def test_a_table_of_contents_that_would_run_code_is_refused_and_runs_nothing(tmp_path, part):
    corpus, index_path, marker = small_corpus(tmp_path / "corpus"), tmp_path / "ix", tmp_path / "PWNED"
    build_index([corpus], index_path)
    plant_in_toc(index_path, marker, part)
    for args in (("search", "walrus"), ("check",), ("stats",), ("index",)):
        result = invoke_cli(*args, "--index", str(index_path))
        assert result.returncode == 4, (args, result.returncode, result.stderr)
        assert "tampered with" in result.stderr and "system" in result.stderr, result.stderr
        assert "--rebuild" in result.stderr
        assert not marker.exists(), args
    with pytest.raises(IndexCorrupt, match="was tampered with: its table of contents names posix.system"):
        open_index(index_path)
    assert not marker.exists()
    assert invoke_cli("index", "--rebuild", "--index", str(index_path)).returncode == 0
    assert not marker.exists()
    assert invoke_cli("search", "walrus", "--index", str(index_path)).returncode == 0


def test_a_normal_index_opens_with_the_allowlist(tmp_path):
    corpus, index_path = small_corpus(tmp_path / "corpus"), tmp_path / "ix"
    build_index([corpus], index_path)
    write_article(corpus, "walrus0.txt", "Walrus report changed", "A walrus was seen again.")
    build_index([corpus], index_path)  # a segment with a deleted document: its set is in the TOC
    with open_index(index_path) as index:
        assert index.search("walrus").total == 5


def test_an_index_folder_every_user_can_write_is_refused_unless_trusted(tmp_path):
    corpus, index_path = small_corpus(tmp_path / "corpus"), tmp_path / "ix"
    build_index([corpus], index_path)
    index_path.chmod(0o777)
    result = invoke_cli("search", "walrus", "--index", str(index_path))
    assert result.returncode == 3
    assert result.stderr == (
        f"Error: refusing to open the index at {index_path}: the index folder is writable by every user, "
        f"who could make newsearch run code of theirs (an index holds pickled data); if you trust them, "
        f"set NEWSEARCH_TRUST_INDEX=1, or fix it: chmod go-w and chown the index folder to its user\n")
    assert invoke_cli("index", str(corpus), "--index", str(index_path)).returncode == 3
    with pytest.raises(IndexUnsafe):
        open_index(index_path)
    trusted = invoke_cli("search", "walrus", "--index", str(index_path), env={TRUST: "1"})
    assert trusted.returncode == 0 and "(5 articles" in trusted.stdout
    index_path.chmod(0o755)
    (live(index_path) / "vocabulary.tsv").chmod(0o666)  # a file of the generation counts too
    result = invoke_cli("search", "walrus", "--index", str(index_path))
    assert result.returncode == 3 and "vocabulary.tsv is writable by every user" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_an_index_folder_owned_by_another_user_is_refused_unless_trusted(tmp_path):
    corpus, index_path = small_corpus(tmp_path / "corpus"), tmp_path / "ix"
    build_index([corpus], index_path)
    for root, dirs, files in os.walk(index_path):
        for name in [root, *(os.path.join(root, entry) for entry in dirs + files)]:
            os.lchown(name, 54321, 54321)
    result = invoke_cli("search", "walrus", "--index", str(index_path))
    assert result.returncode == 3
    assert "the index folder is owned by user 54321, not by you or root" in result.stderr
    assert invoke_cli("search", "walrus", "--index", str(index_path), env={TRUST: "1"}).returncode == 0


# -- item 14: root keeps a user's index the user's ----------------------------------------------


def give_to(folder: Path, uid: int) -> None:
    os.lchown(folder, uid, uid)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def owners(folder: Path) -> set[tuple[int, int]]:
    found = {(os.lstat(folder).st_uid, os.lstat(folder).st_gid)}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            info = os.lstat(os.path.join(root, name))
            found.add((info.st_uid, info.st_gid))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="writing into another user's index needs root")
def test_root_refuses_another_users_index_and_when_trusted_keeps_its_files_the_users(tmp_path, monkeypatch):
    corpus, index_path = small_corpus(tmp_path / "corpus"), tmp_path / "ix"
    build_index([corpus], index_path)
    give_to(index_path, 54321)
    refused = invoke_cli("index", "--rebuild", "--index", str(index_path))
    assert refused.returncode == 3 and "owned by user 54321, not by you or root" in refused.stderr
    assert owners(index_path) == {(54321, 54321)}  # the lock file root opened is the user's too
    monkeypatch.setenv(TRUST, "1")
    build_index([corpus], index_path, rebuild=True)
    write_article(corpus, "walrus9.txt", "Walrus report 9", "A ninth walrus.")
    assert build_index([corpus], index_path).added == 1
    assert owners(index_path) == {(54321, 54321)}
    with open_index(index_path) as index:
        assert index.search("walrus").total == 6
