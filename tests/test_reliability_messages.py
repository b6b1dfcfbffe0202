"""What newsearch says when an index is damaged or the disk is full: the right kind of error (exit 4
for damage, with the command that repairs it), and figures that are true.

Damage is made by hand (a segment or the table of contents deleted, bits of the table of contents
flipped); a full disk is simulated in-process (ENOSPC where the writer saves its vocabulary), as
``test_reliability_disk.test_simulated_enospc_in_process`` does.
"""

from __future__ import annotations

import errno
import os
import random
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.corpora import synthetic_corpus, write_article
from support.processes import invoke_cli

from newsearch import build_index, storage
from newsearch.cli import cli
from newsearch.errors import IndexWriteError

DAMAGED = 4


def small_index(tmp_path: Path, count: int = 6) -> tuple[Path, Path]:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    synthetic_corpus(corpus, count)
    build_index([corpus], index)
    return corpus, index


def live(index: Path) -> Path:
    return index / os.readlink(index / storage.CURRENT)


def assert_damaged_with_the_fix(result, index: Path) -> str:
    """One error line: damaged, exit 4, with the rebuild command that works as printed (``result``: a
    finished process, or a CliRunner result, whose output may also hold Python's warnings)."""
    output, code = ((result.stderr, result.returncode) if hasattr(result, "returncode")
                    else (result.output, result.exit_code))
    assert code == DAMAGED, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output
    assert f"the index at {index} is damaged" in lines[0]
    assert f"run `newsearch index --rebuild --index {shlex.quote(str(index))}`" in lines[0]
    for wrong in ("kept changing", "incompatible", "internal error", "holds no committed index"):
        assert wrong not in lines[0]
    return lines[0]


def test_a_missing_segment_is_damage_with_the_fix_and_the_fix_works(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSEARCH_CORPUS")  # the fix as printed: the corpus the index remembers
    _, index = small_index(tmp_path)
    [segment] = live(index).glob("*.seg")
    segment.unlink()
    for command in (["search", "marker1"], ["index"]):  # a reader, and the writer (under the lock)
        result = invoke_cli(*command, "--index", str(index))
        assert result.returncode == DAMAGED, result
        line = assert_damaged_with_the_fix(result, index)
        assert f"({live(index).name}/{segment.name} is missing)" in line
    repaired = invoke_cli("index", "--rebuild", "--index", str(index))
    assert repaired.returncode == 0, repaired
    assert invoke_cli("search", "marker1", "--index", str(index)).returncode == 0


def test_a_deleted_table_of_contents_is_damage_with_the_fix(tmp_path):
    _, index = small_index(tmp_path)
    for toc in live(index).glob("*.toc"):
        toc.unlink()
    result = invoke_cli("search", "bank", "--index", str(index))
    assert result.returncode == DAMAGED, result
    line = assert_damaged_with_the_fix(result, index)
    assert "has no table of contents" in line


def test_bit_flips_in_the_table_of_contents_are_reported_as_damage_with_the_fix(tmp_path, monkeypatch):
    """Every bit of the header (format and version numbers) and bits across the rest: a flip either
    changes nothing a search sees, or is reported as damage: never as another version, a folder
    that kept changing, or an internal error."""
    monkeypatch.setattr(storage, "OPEN_RETRIES", 3)  # a flipped segment name: missing on every try
    _, index = small_index(tmp_path)
    [toc] = live(index).glob("*.toc")
    original = toc.read_bytes()
    rng = random.Random(11)
    flips = [(offset, bit) for offset in range(16) for bit in range(8)]
    flips += [(rng.randrange(16, len(original)), rng.randrange(8)) for _ in range(60)]
    outcomes = set()
    for offset, bit in flips:
        damaged = bytearray(original)
        damaged[offset] ^= 1 << bit
        toc.write_bytes(bytes(damaged))
        result = CliRunner().invoke(cli, ["search", "bank", "--index", str(index)])
        if result.exit_code in (0, 1) and "Error" not in result.output:
            outcomes.add("unchanged")
            continue
        assert result.exit_code == DAMAGED, (offset, bit, result.output)
        assert_damaged_with_the_fix(result, index)
        outcomes.add("damaged")
    toc.write_bytes(original)
    assert "damaged" in outcomes


def sizes_in(message: str) -> dict[str, int]:
    """The figures of a disk-full message, in bytes: free, needed, articles."""
    def number(text: str) -> int:
        value, unit = text.replace(",", "").split()
        return int(float(value) * {"bytes": 1, "KB": 1e3, "MB": 1e6}[unit])

    size = r"([\d,.]+ (?:bytes|KB|MB))"
    found = re.search(rf"{size} free; it needs about {size} for {size} of articles", message)
    assert found, message
    return {"free": number(found.group(1)), "needed": number(found.group(2)), "articles": number(found.group(3))}


def disk_full(monkeypatch, *args, **kwargs) -> str:
    from newsearch import indexer

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(indexer.Vocabulary, "save", no_space)
        with pytest.raises(IndexWriteError) as failed:
            build_index(*args, **kwargs)
    return str(failed.value)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_disk_full_on_a_first_build_claims_no_previous_index_and_enough_room(tmp_path, monkeypatch):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    synthetic_corpus(corpus, 12)
    message = disk_full(monkeypatch, [corpus], index)
    assert "previous index" not in message
    assert "there was no index yet, and the failed build left nothing behind" in message
    needed = sizes_in(message)["needed"]
    build_index([corpus], index)
    assert needed >= folder_bytes(index)


def test_disk_full_on_an_update_counts_the_files_it_rewrites(tmp_path, monkeypatch):
    """An update writes its new segment and the whole vocabulary again (and may merge segments):
    the room it asks for covers them, not only a multiple of the new articles' size."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    rng = random.Random(3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for number in range(20):  # many distinct words: a vocabulary far larger than one new article
        words = ["".join(rng.choice(letters) for _ in range(9)) for _ in range(1500)]
        write_article(corpus, f"{number:02d}.txt", f"Story {number}", " ".join(words))
    build_index([corpus], index)
    vocabulary = (live(index) / "vocabulary.tsv").stat().st_size
    write_article(corpus, "new.txt", "A short story", "The bank made a profit.")
    message = disk_full(monkeypatch, [corpus], index)
    assert "(the previous index is intact)" in message
    figures = sizes_in(message)
    assert figures["articles"] < 100
    assert figures["needed"] >= vocabulary > 100_000
