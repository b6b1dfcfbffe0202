"""Trials of the faults of issue #13 items 5 and 6: how often each gives silently wrong results.

Not collected by pytest (tests/test_reliability_side_files.py holds the fast, exact tests); run
with any checkout's interpreter, so that the same trials measure the code before and after::

    .venv/bin/python tests/reliability_trials.py [--kills 50]

A trial fails when the answers to a fixed set of probes (searches with folded copies, typo
corrections and prefixes, documents, related articles: ``support.probes.answers``) differ from
those of a sound index while nothing reports damage: no IndexCorrupt from opening or searching,
and ``check_index`` passes. Each fault's reference is the same index without the fault (for a
kill, the same update run to its end). Prints one Markdown table row per fault.
"""

from __future__ import annotations

import argparse
import errno
import inspect
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # support/

os.environ["NLTK_DATA"] = tempfile.mkdtemp(prefix="nltk_empty")  # offline, as the tests run
os.environ.pop("NEWSEARCH_CORPUS", None)

from support.corpora import WORDS, write_article  # noqa: E402
from support.probes import answers  # noqa: E402

from newsearch import IndexCorrupt, build_index, check_index, open_index  # noqa: E402
from newsearch import duplicate_store as duplicate_store_module  # noqa: E402

# Each trial updates a copy of one index from a copy of its corpus, at another path: newer code
# refuses that unless told (--prune); older code, measured for the "before" column, has no such option.
MOVED = {"prune": True} if "prune" in inspect.signature(build_index).parameters else {}
QUERIES = ("market", "football coach", "bank inflation", "walrus", "harbour cranes", "goverment", "inflaton",
           "foot*", "mark*", '"energy deal"', "police OR court")
ARTICLES = 40
STORIES = 10  # articles 0..STORIES-1 each have a copy: article i + STORIES


def story(rng: random.Random, number: int) -> str:
    sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(12)]
    return " ".join(sentences) + f" Marker{number}."


def make_corpus(folder: Path, seed: int = 3) -> None:
    rng = random.Random(seed)
    bodies = [story(rng, number) for number in range(ARTICLES)]
    for number, body in enumerate(bodies):
        original = number - STORIES if STORIES <= number < 2 * STORIES else None
        text = bodies[original] + " Agencies contributed." if original is not None else body
        write_article(folder, f"news/{number:03d}.txt", f"Story {original if original is not None else number}", text)


def ids(folder: Path) -> tuple[str, ...]:
    return tuple(path.relative_to(folder).as_posix() for path in sorted(folder.rglob("*.txt")))[:12]


def observed(index_path: Path, probe_ids: tuple[str, ...], queries: tuple[str, ...] = QUERIES) -> tuple[str, object]:
    """('error', name) if opening or searching raises, else ('answers', them)."""
    try:
        return "answers", answers(index_path, queries, probe_ids)
    except IndexCorrupt:
        return "error", "IndexCorrupt"
    except Exception as exc:  # noqa: BLE001 - anything but damage is a finding
        return "error", type(exc).__name__


def check_passes(index_path: Path) -> bool:
    try:
        check_index(index_path)
        return True
    except Exception:  # noqa: BLE001 - IndexCorrupt; older checkouts raised Whoosh's own errors too
        return False


class Tally:
    def __init__(self, name: str) -> None:
        self.name, self.trials, self.silent, self.checked, self.found, self.same, self.other = name, 0, 0, 0, 0, 0, 0

    def record(self, index_path: Path, expected: object, probe_ids: tuple[str, ...],
               queries: tuple[str, ...] = QUERIES) -> None:
        self.trials += 1
        kind, value = observed(index_path, probe_ids, queries)
        passes = check_passes(index_path)
        if kind == "answers" and value == expected:
            self.same += 1
        elif kind == "error" and value == "IndexCorrupt":
            self.found += 1
        elif kind == "answers":
            self.silent += passes
            self.checked += not passes
        else:
            self.other += 1

    def row(self) -> str:
        return (f"| {self.name} | {self.trials} | {self.silent} | {self.checked} | {self.found} | {self.same} "
                f"| {self.other} |")


def live(index_path: Path) -> Path:
    return index_path / os.readlink(index_path / "current")


def copy_of(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def killed_after_commit(corpus: Path, index_path: Path) -> int:
    """An update in a child that exits where the pairs would be written (right after Whoosh's commit)."""
    pid = os.fork()
    if pid == 0:
        try:
            duplicate_store_module.refresh = lambda *args, **kwargs: os._exit(137)
            build_index([corpus], index_path, **MOVED)
        finally:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def mutate(corpus: Path, rng: random.Random, trial: int) -> None:
    """Rewrite some articles that have copies into new stories (some copies of each other), delete one, add a copy."""
    paths = sorted(corpus.rglob("*.txt"))
    fresh = story(rng, 1000 + trial)
    for path in rng.sample([p for p in paths if int(p.stem) < 2 * STORIES], 3):
        write_article(corpus, path.relative_to(corpus).as_posix(), "Rewritten", rng.choice((fresh, story(rng, trial))))
    rng.choice(paths[2 * STORIES:]).unlink(missing_ok=True)
    source = rng.choice([p for p in paths if p.exists()])
    write_article(corpus, f"news/copy{trial}.txt", "A copy", source.read_text().split("\n", 2)[2] + " Wire.")


def kill_trials(work: Path, base: Path, corpus: Path, count: int) -> Tally:
    tally = Tally(f"killed right after Whoosh's commit (then searched; {count} updates)")
    for trial in range(count):
        folder = work / f"kill{trial}"
        trial_corpus = copy_of(corpus, folder / "corpus")
        mutate(trial_corpus, random.Random(trial), trial)
        reference = copy_of(base, folder / "reference")
        build_index([trial_corpus], reference, **MOVED)
        probe_ids = ids(trial_corpus)
        expected = answers(reference, QUERIES, probe_ids)
        index_path = copy_of(base, folder / "ix")
        assert killed_after_commit(trial_corpus, index_path) == 137
        tally.record(index_path, expected, probe_ids)
        shutil.rmtree(folder)
    return tally


def disk_full_after_commit(work: Path, base: Path, corpus: Path) -> Tally:
    """A full disk where the pairs are written: the message must not say the previous index is intact."""
    tally = Tally("disk full right after Whoosh's commit: message says 'previous index is intact'")
    folder = work / "enospc"
    trial_corpus = copy_of(corpus, folder / "corpus")
    write_article(trial_corpus, "news/new.txt", "Walrus colony doubles", "The walrus colony doubled. " * 5)
    index_path = copy_of(base, folder / "ix")
    save = duplicate_store_module.save

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    duplicate_store_module.save = disk_full
    try:
        build_index([trial_corpus], index_path, **MOVED)
        message = ""
    except Exception as exc:  # noqa: BLE001
        message = str(exc)
    finally:
        duplicate_store_module.save = save
    tally.trials = 1
    with open_index(index_path) as index:
        committed = [hit.id for hit in index.search("walrus").hits] == ["news/new.txt"]
    if committed and "previous index is intact" in message:
        tally.silent = 1
    else:
        tally.same = 1
    shutil.rmtree(folder)
    return tally


def damage_trials(work: Path, base: Path, corpus: Path, name: str, count: int,
                  damage: Callable[[Path, int, random.Random], None]) -> Tally:
    tally = Tally(name)
    probe_ids = ids(corpus)
    expected = answers(base, QUERIES, probe_ids)
    for trial in range(count):
        index_path = copy_of(base, work / f"damage{trial}")
        damage(live(index_path), trial, random.Random(trial))
        tally.record(index_path, expected, probe_ids)
        shutil.rmtree(index_path)
    return tally


def flip_in(pattern: str, count: int) -> Callable[[Path, int, random.Random], None]:
    def flip(generation: Path, trial: int, rng: random.Random) -> None:
        [path] = [generation / name for name in os.listdir(generation) if re.fullmatch(pattern, name)]
        data = bytearray(path.read_bytes())
        bit = (len(data) * 8 * trial) // count + 3
        data[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(data))
    return flip


def garble(filename: str) -> Callable[[Path, int, random.Random], None]:
    """Damage that keeps most of the file readable: a line dropped, two lines' fields swapped, a
    byte flipped, a field replaced by another line's."""
    def damage(generation: Path, trial: int, rng: random.Random) -> None:
        path = generation / filename
        header, lines = ([], path.read_text().splitlines(keepends=True))
        if lines and lines[0].startswith("#"):
            header, lines = lines[:1], lines[1:]
        if not lines:
            return
        kind = trial % 4
        at = rng.randrange(len(lines))
        if kind == 0:
            del lines[at]
        elif kind == 1:
            other = rng.randrange(len(lines))
            a, b = lines[at].rstrip("\n").split("\t"), lines[other].rstrip("\n").split("\t")
            a[-1], b[-1] = b[-1], a[-1]
            lines[at], lines[other] = "\t".join(a) + "\n", "\t".join(b) + "\n"
        elif kind == 2:
            fields = lines[at].rstrip("\n").split("\t")
            fields[0] = lines[rng.randrange(len(lines))].split("\t")[0 if filename == "vocabulary.tsv" else 1]
            lines[at] = "\t".join(fields) + "\n"
        else:
            text = bytearray("".join(lines).encode())
            text[rng.randrange(len(text))] ^= 1 << rng.randrange(7)
            path.write_bytes(("".join(header)).encode() + bytes(text))
            return
        path.write_text("".join(header + lines))
    return damage


def poisoned_stems(work: Path, base: Path, corpus: Path, count: int, invalid_utf8: bool) -> Tally:
    """A stem changed (or made invalid UTF-8), an article using the word added, the vocabulary
    repaired: the new article must be found as a sound index finds it, or the update refuse."""
    tally = Tally("stem not UTF-8, then an update" if invalid_utf8 else "wrong stem, update, vocabulary repaired")
    words = ["market", "football", "inflation", "election", "energy", "police", "growth", "player"][:count]
    for trial, word in enumerate(words):
        folder = work / f"stem{trial}"
        trial_corpus = copy_of(corpus, folder / "corpus")
        write_article(trial_corpus, "news/added.txt", f"Added {word}", f"A {word} story unlike the others. " * 4)
        reference = copy_of(base, folder / "reference")
        build_index([trial_corpus], reference, **MOVED)
        probe_ids = ids(trial_corpus)
        expected = answers(reference, QUERIES + (word,), probe_ids)
        index_path = copy_of(base, folder / "ix")
        vocabulary = live(index_path) / "vocabulary.tsv"
        sound = vocabulary.read_bytes()
        line = re.search(rb"^" + word.encode() + rb"\t\d+\t(\w+)$", sound, re.MULTILINE)
        assert line is not None, word
        wrong = b"\xff" + line.group(1)[1:] if invalid_utf8 else b"zzz" + line.group(1)[3:]
        vocabulary.write_bytes(sound[:line.start(1)] + wrong + sound[line.end(1):])
        # A fresh process, as cron runs it: this one has every word's stem cached already.
        update = subprocess.run([sys.executable, "-m", "newsearch", "index", str(trial_corpus), "--index",
                                 str(index_path), "--quiet"], capture_output=True, text=True)
        if update.returncode:  # 4: damage found; else, e.g., the update blaming an article
            tally.trials += 1
            tally.found += update.returncode == 4
            tally.other += update.returncode != 4
            print(f"{tally.name}: exit {update.returncode}: {update.stderr.strip()}", file=sys.stderr)
        else:
            if not invalid_utf8:  # repaired by hand
                vocabulary = live(index_path) / "vocabulary.tsv"
                sound_line = b"\t" + line.group(1) + b"\n"
                vocabulary.write_bytes(vocabulary.read_bytes().replace(b"\t" + wrong + b"\n", sound_line))
            tally.record(index_path, expected, probe_ids, QUERIES + (word,))
        shutil.rmtree(folder)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="side-trials") as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        make_corpus(corpus)
        base = work / "base"
        build_index([corpus], base, jobs=1)
        rows = [
            kill_trials(work, base, corpus, options.kills),
            disk_full_after_commit(work, base, corpus),
            damage_trials(work, base, corpus, "segment bit flip", 24, flip_in(r"MAIN_\w+\.seg", 24)),
            damage_trials(work, base, corpus, "table of contents bit flip", 12, flip_in(r"_MAIN_\d+\.toc", 12)),
            damage_trials(work, base, corpus, "duplicates.tsv garbled", 12, garble("duplicates.tsv")),
            damage_trials(work, base, corpus, "vocabulary.tsv garbled", 12, garble("vocabulary.tsv")),
            poisoned_stems(work, base, corpus, 5, invalid_utf8=False),
            poisoned_stems(work, base, corpus, 5, invalid_utf8=True),
        ]
    print("| fault | trials | wrong answers, check passes | wrong answers, check exit 4 "
          "| refused (IndexCorrupt, exit 4) | answers unchanged | other error |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row.row())


if __name__ == "__main__":
    main()
