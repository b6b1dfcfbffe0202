"""Trials of the limits and messages of issue #13 (items 9 to 13): how often each fault still shows.

Not collected by pytest (tests/test_reliability_limits.py, test_reliability_messages.py,
test_reliability_hostile_files.py, test_reliability_terminal.py and test_reliability_handles.py
hold the fast, exact tests). Run it with any checkout's interpreter from a folder outside any
checkout, so that it imports the newsearch that interpreter has installed (``support/`` comes
from this tree)::

    cd /tmp && /path/to/checkout/.venv/bin/python /path/to/this/tests/reliability_trials_limits.py

(``--items 11,12`` runs some items only, ``--verbose`` reports every trial; about 3 minutes on
the current code and 5.5 on the code before #13's fixes, on 2 busy cores.) The CLI runs in real
processes (forked from one that imported newsearch, ``support/cli_forkserver.py``), each killed
after TIMEOUT_S; item 9 starts a fresh interpreter per run; items 10 and 13 use the API here.
It prints one Markdown row per fault, ``| item | fault | trials | failures |``; what each failure
was goes to stderr. Root can mount a small tmpfs for the disk-full trials; anyone else gets those
trials skipped, with a note. A trial fails when:

- 9, memory: a child ``newsearch index`` of one large article (1, 3 and 9 MB, as paragraphs or as
  one) peaks above 30x the article's size plus the peak of the same command on a tiny article;
- 10, time limit: a search of 64 two-letter prefixes (varied: letters, -n, sort, copies, page)
  on the BBC index takes over the 2 s limit plus a margin and is not marked ``timed_out``
  (``Index.search`` timed after a first search, so opening the index is not counted);
- 11, messages: ``show``/``related`` of an id holding bytes that are not UTF-8 exit 4 (damage) or
  fail internally instead of refusing the id; a missing segment, a deleted or bit-flipped table of
  contents gives anything but "the index at IX is damaged" (exit 4) with the rebuild command that
  repairs it (a flip that changes nothing a search sees passes); a full disk (a first build, an
  update) gives anything but a disk-full message that claims a previous index only where there
  is one, intact, and whose "it needs about N" is true: the same run with N free succeeds;
- 12, terminal: one of the invisible or reordering characters of the issue, put in a title, a
  body, a file name, a folder (the source) and an empty file's name (a warning), reaches
  ``index``, ``search``, ``show``, ``related`` or ``stats``'s output raw (a trial: one character,
  one command);
- 13, handles: a closed ``Index`` (or a finished ``build_index``) still has a file of its index open
  or mapped (/proc/self/fd, /proc/self/maps); an idle ``Index`` still maps a generation that
  rebuilds deleted, after its idle hook (``release_if_replaced``, where the checkout has one);
  two more rows show the same with no call at all (documented: held until the next call) and
  after its next search.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # support/

os.environ["NLTK_DATA"] = tempfile.mkdtemp(prefix="nltk_empty")  # offline, as the tests run
for _name in ("NEWSEARCH_CORPUS", "NEWSEARCH_INDEX"):
    os.environ.pop(_name, None)

from support.cli_forkserver import ForkServer  # noqa: E402
from support.corpora import bbc_paragraphs, large_article, synthetic_corpus, write_article, write_hidden_corpus  # noqa: E402
from support.processes import held  # noqa: E402
from support.trials import Row, print_table  # noqa: E402

from newsearch import Index, build_index, storage  # noqa: E402

BBC = Path(os.environ.get("NEWSEARCH_BBC", Path(__file__).resolve().parents[2] / "shared" / "corpora" / "bbc-news"))
TIMEOUT_S = 120.0  # a command that takes longer is killed and counted as failed
DAMAGED = 4
DAMAGE_MISNAMED = ("kept changing", "incompatible", "internal error", "holds no committed index", "Traceback")


class Cli:
    """``newsearch ARGS`` in real processes forked from one that imported newsearch (fast); a command
    that hangs is killed after TIMEOUT_S and reported as exit -9."""

    def __init__(self, work: Path) -> None:
        work.mkdir(parents=True)
        self.server = ForkServer(work)

    def __call__(self, *args: str | bytes | Path) -> subprocess.CompletedProcess:
        arguments = [arg if isinstance(arg, bytes) else str(arg) for arg in args]
        try:
            result = self.server.run_cli(*arguments, timeout=TIMEOUT_S, text=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(arguments, -9, b"", b"(killed: timed out)")
        return result

    def close(self) -> None:
        self.server.close()


def text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def brief(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}: {text(result.stderr).strip()[-300:]!r}"


def live(index: Path) -> Path:
    return index / os.readlink(index / "current")


# -- 9. memory for one large article --------------------------------------------------------------

MEASURE = """
import atexit, resource, sys
report = sys.argv.pop(1)

def peak():
    with open("/proc/self/status") as status:
        own = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    with open(report, "w") as out:
        out.write(f"{own} {workers}")

atexit.register(peak)
import newsearch.cli
sys.argv = ["newsearch", *sys.argv[1:]]
newsearch.cli.main()
"""


def peak_of_index_run(corpus: Path, index: Path) -> tuple[int, int]:
    """(exit code, peak resident bytes of the process or any of its workers) of ``newsearch index``;
    exit 99 if it skipped the article."""
    report = index.with_name(index.name + ".peak")
    result = subprocess.run([sys.executable, "-c", MEASURE, str(report), "index", str(corpus), "--index", str(index)],
                            capture_output=True, timeout=600)
    if not report.exists():
        return result.returncode, 0
    own, workers = map(int, report.read_text().split())
    return result.returncode or 99 * (b"skipped" in result.stderr), max(own, workers)


def memory_trials(work: Path) -> Row:
    row = Row(9, "one large article (1, 3, 9 MB; paragraphs or one paragraph): peak > 30x size + baseline")
    tiny = work / "tiny"
    write_article(tiny, "small.txt", "A small story", "The minister met the bank's chief about inflation.")
    code, baseline = peak_of_index_run(tiny, work / "tiny-index")
    if code or not baseline:
        row.note = f"no baseline: the tiny build exited {code}"
        return row
    paragraphs = bbc_paragraphs(BBC)
    for megabytes in (1, 3, 9):
        for shape, separator in (("paragraphs", "\n\n"), ("one paragraph", " ")):
            folder = work / f"big{megabytes}{separator == ' '}"
            path = write_article(folder / "corpus", "long.txt", "A very long story",
                                 large_article(paragraphs, megabytes * 1_000_000, separator, megabytes))
            size = path.stat().st_size
            code, peak = peak_of_index_run(folder / "corpus", folder / "index")
            extra = peak - baseline
            row.record(code != 0 or extra > 30 * size,
                       f"{megabytes} MB {shape}: exit {code}, {extra / 1e6:.0f} MB over the baseline "
                       f"({baseline / 1e6:.0f} MB) for {size / 1e6:.1f} MB")
            shutil.rmtree(folder)
    return row


# -- 10. the query time limit ---------------------------------------------------------------------

TIME_LIMIT_S = 2.0
MARGIN_S = 0.5  # what a page may take to finish once the limit is up, on a loaded machine


def prefixes(letters: str) -> str:
    words = [a + b + "*" for a in letters for b in "abcdefghijklmnopqrstuvwxyz"][:64]
    return " ".join(words)


def time_limit_trials(work: Path) -> Row:
    row = Row(10, "64 two-letter prefixes, -n 1000 and variants: over 2 s (+0.5) and not marked timed out")
    if not BBC.is_dir():
        row.note = f"skipped: no BBC corpus at {BBC}"
        return row
    path = work / "bbc-index"
    build_index([BBC], path, jobs=2)
    variants: list[tuple[str, dict]] = [
        ("abc", {"limit": 1000}), ("abc", {"limit": 1000}), ("abc", {"limit": 1000, "sort": "newest"}),
        ("abc", {"limit": 1000, "passages": 0}), ("abc", {"limit": 1000, "collapse": False}),
        ("abc", {"limit": 500}), ("abc", {"limit": 1000, "offset": 1000}), ("def", {"limit": 1000}),
        ("mps", {"limit": 1000}), ("str", {"limit": 1000, "facets": ("source", "year")}),
    ]
    with Index(path) as index:
        index.search("bank")  # opened and warm: what is timed is the search
        for letters, options in variants:
            started = time.monotonic()
            results = index.search(prefixes(letters), **options)
            took = time.monotonic() - started
            row.record(took > TIME_LIMIT_S + MARGIN_S and not results.timed_out,
                       f"{letters} {options}: {took:.1f} s, {len(results.hits)} hits, timed_out={results.timed_out}")
    shutil.rmtree(path)
    return row


# -- 11. messages: bad ids, damage, a full disk ---------------------------------------------------


def small_index(folder: Path, count: int = 6, updated: bool = False) -> tuple[Path, Path]:
    """A synthetic index; ``updated``: with a second segment from an incremental update."""
    corpus, index = folder / "corpus", folder / "index"
    synthetic_corpus(corpus, count)
    build_index([corpus], index)
    if updated:
        write_article(corpus / "gamma", "new.txt", "A later story", "The bank and the football coach. Marker99.")
        build_index([corpus], index)
    return corpus, index


def reading_commands(corpus: Path) -> list[list[str | Path]]:
    return [["search", "bank"], ["show", "alpha/0001.txt"], ["related", "alpha/0001.txt"], ["stats"], ["check"],
            ["index", corpus]]


def damaged_with_the_fix(result: subprocess.CompletedProcess, index: Path) -> bool:
    stderr = text(result.stderr)
    return (result.returncode == DAMAGED and f"the index at {index} is damaged" in stderr
            and f"newsearch index --rebuild --index {shlex.quote(str(index))}" in stderr
            and not any(wrong in stderr for wrong in DAMAGE_MISNAMED))


def bad_id_trials(cli: Cli, work: Path) -> Row:
    row = Row(11, "show/related of an id with bytes not UTF-8: exit 4 (damage) or an internal error")
    _, index = small_index(work / "bad-ids")
    for doc_id in (b"bad\xff", b"hold \xed\xa0\x80", b"\xff", b"caf\xe9.txt", b"alpha/\x80001.txt"):
        for command in ("show", "related"):
            result = cli(command, doc_id, "--index", index)
            stderr = text(result.stderr)
            row.record(result.returncode == DAMAGED or result.returncode < 0 or "Traceback" in stderr
                       or "internal error" in stderr, f"{command} {doc_id!r}: {brief(result)}")
    return row


def damage_trials(cli: Cli, work: Path, fault: str, damage: Callable[[Path], None]) -> Row:
    row = Row(11, f"{fault}: not 'damaged' (exit 4) with the rebuild command")
    for updated in (False, True):
        folder = work / f"{fault.split()[0]}{updated}"
        corpus, index = small_index(folder, updated=updated)
        for command in reading_commands(corpus):
            copy = folder / "copy"
            shutil.copytree(index, copy, symlinks=True)
            damage(live(copy))
            result = cli(*command, "--index", copy)
            row.record(not damaged_with_the_fix(result, copy),
                       f"{'two segments' if updated else 'one segment'}, {command[0]}: {brief(result)}")
            shutil.rmtree(copy)
    return row


def delete_a_segment(generation: Path) -> None:
    sorted(generation.glob("*.seg"))[-1].unlink()


def delete_the_toc(generation: Path) -> None:
    for toc in generation.glob("*.toc"):
        toc.unlink()


def toc_flip_trials(cli: Cli, work: Path) -> Row:
    """Bits of the header (format and version numbers) and across the rest, one flip a trial."""
    row = Row(11, "table of contents bit flip (`search`): neither unchanged nor 'damaged' with the fix")
    _, index = small_index(work / "flips")
    [toc] = live(index).glob("*.toc")
    original = toc.read_bytes()
    rng = random.Random(11)
    flips = [(offset, (offset * 3) % 8) for offset in range(16)]
    flips += [(rng.randrange(16, len(original)), rng.randrange(8)) for _ in range(8)]
    for offset, bit in flips:
        damaged = bytearray(original)
        damaged[offset] ^= 1 << bit
        toc.write_bytes(bytes(damaged))
        result = cli("search", "bank", "--index", index)
        unchanged = result.returncode in (0, 1) and b"Error" not in result.stderr
        row.record(not unchanged and not damaged_with_the_fix(result, index),
                   f"byte {offset} bit {bit}: {brief(result)}")
    toc.write_bytes(original)
    return row


@contextmanager
def tmpfs(folder: Path, size: int) -> Iterator[Path | None]:
    """A tmpfs of ``size`` bytes mounted at ``folder``, or None where this process may not mount one."""
    folder.mkdir(parents=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True).returncode == 0
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def leave_free(disk: Path, free: int) -> None:
    """Shrink the tmpfs at ``disk`` to what it holds plus ``free`` bytes."""
    stats = os.statvfs(disk)
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    subprocess.run(["mount", "-o", f"remount,size={used + free}", str(disk)], check=True)


def files_of(folder: Path) -> dict[Path, tuple[int, int, int]]:
    """Each regular file under ``folder``: (inode, size, modification time)."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            found[path] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return found


def bytes_written(before: dict[Path, tuple[int, int, int]], folder: Path) -> int:
    """The size of the files under ``folder`` that are new or rewritten since ``before``."""
    return sum(stat[1] for path, stat in files_of(folder).items() if before.get(path) != stat)


NEEDED = re.compile(r"it needs about ([\d,.]+) (bytes|KB|MB)")


def needed_bytes(message: str) -> int | None:
    found = NEEDED.search(message)
    if not found:
        return None
    return int(float(found.group(1).replace(",", "")) * {"bytes": 1, "KB": 1e3, "MB": 1e6}[found.group(2)])


def words_corpus(folder: Path, count: int, seed: int) -> None:
    """Articles of many distinct made-up words: a vocabulary far larger than one new article."""
    rng = random.Random(seed)
    for number in range(count):
        words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(9)) for _ in range(1500)]
        write_article(folder, f"{number:02d}.txt", f"Story {number}", " ".join(words))


def fill(cli: Cli, disk: Path, corpus: Path) -> tuple[str, int | None, str]:
    """Index ``corpus`` into ``disk``/index, which is too small: (the message, the room it says it
    needs if it says so, what happened)."""
    result = cli("index", corpus, "--index", disk / "index")
    stderr = text(result.stderr)
    needed = needed_bytes(stderr) if result.returncode == 1 and "disk full" in stderr else None
    return stderr, needed, brief(result)


def enough(cli: Cli, disk: Path, corpus: Path, needed: int | None) -> tuple[bool, str]:
    """Whether the same run succeeds with as much room as the message said it needs."""
    if needed is None:
        return False, "no figure"
    leave_free(disk, needed)
    again = cli("index", corpus, "--index", disk / "index")
    return again.returncode == 0, f"needs {needed}, with that free: exit {again.returncode}"


def disk_full_trials(cli: Cli, work: Path) -> list[Row]:
    """A first build, and an update of one short article (which rewrites the whole vocabulary), on a
    tmpfs too small; then the same run with as much room as the message said it needs."""
    first = Row(11, "disk full (tmpfs), first build: no disk-full figure, it claims a previous index, or "
                    "the room it says it needs is not enough")
    update = Row(11, "disk full (tmpfs), update: no disk-full figure, a false 'previous index is intact', or "
                     "the room it says it needs is not enough")
    for number, (articles, size) in enumerate(((12, 64 << 10), (60, 128 << 10), (200, 512 << 10))):
        corpus = work / f"full-corpus{number}"
        synthetic_corpus(corpus, articles, seed=number)
        with tmpfs(work / f"full{number}", size) as disk:
            if disk is None:
                first.note = update.note = "skipped: cannot mount a tmpfs (not root)"
                return [first, update]
            message, needed, detail = fill(cli, disk, corpus)
            ok, figure = enough(cli, disk, corpus, needed)
            first.record(not ok or "previous index" in message,
                         f"{articles} articles on {size} bytes: {figure}; {detail}")
    for number, (articles, free) in enumerate(((12, 16 << 10), (20, 64 << 10), (30, 4 << 10))):
        corpus, reference = work / f"update-corpus{number}", work / f"update-reference{number}"
        words_corpus(corpus, articles, seed=number)
        build_index([corpus], reference)
        before = files_of(reference)
        with tmpfs(work / f"update{number}", 64 << 20) as disk:
            assert disk is not None
            shutil.copytree(reference, disk / "index", symlinks=True)
            leave_free(disk, free)
            write_article(corpus, "new.txt", "A short story", "The bank made a profit.")
            build_index([corpus], reference)
            written = bytes_written(before, reference)  # by the same update on a roomy disk
            message, needed, detail = fill(cli, disk, corpus)
            kept = cli("search", "story", "--index", disk / "index")
            intact = kept.returncode == 0 and b"A short story" not in kept.stdout
            ok, figure = enough(cli, disk, corpus, needed)
            update.record(not ok or ("previous index is intact" in message and not intact),
                          f"{articles} articles, {free} bytes free ({written} bytes written on a roomy disk): "
                          f"{figure}; previous index searchable: {intact}; {detail}")
    return [first, update]


# -- 12. invisible and reordering characters ------------------------------------------------------

HIDDEN = {"U+200E": "\u200e", "U+200F": "\u200f", "U+061C": "\u061c", "U+200B": "\u200b", "U+200C": "\u200c",
          "U+200D": "\u200d", "U+2060": "\u2060", "U+FEFF": "\ufeff", "U+00AD": "\u00ad",
          "tags U+E0045..": "\U000e0045\U000e0056\U000e0049\U000e004c", "U+2028": "\u2028", "U+2029": "\u2029"}


def terminal_trials(cli: Cli, work: Path) -> Row:
    row = Row(12, "invisible/reordering character (12 kinds) raw in index/search/show/related/stats output")
    for number, (name, hidden) in enumerate(HIDDEN.items()):
        raw = re.compile("[\U000e0000-\U000e007f]" if name.startswith("tags") else re.escape(hidden))
        root = work / f"hidden{number}"
        write_hidden_corpus(root / "corpus" / f"src{hidden}", hidden)
        index = root / "index"
        doc_id = f"src{hidden}/name{hidden}.md"
        runs = [["index", root / "corpus"], ["search", "heron"], ["show", doc_id], ["related", doc_id], ["stats"]]
        for args in runs:
            result = cli(*args, "--index", index)
            found = raw.findall(text(result.stdout)) + raw.findall(text(result.stderr))
            row.record(bool(found) or result.returncode not in (0, 1),
                       f"{name} in {args[0]}: {len(found)} raw; {brief(result)}")
    return row


# -- 13. handles -----------------------------------------------------------------------------------

def handle_index(folder: Path) -> tuple[Path, Path]:
    corpus, path = folder / "corpus", folder / "index"
    write_article(corpus, "one.txt", "Bank profit", "The bank made a profit in the market.")
    write_article(corpus, "two.txt", "Harbour cranes", "The harbour's new cranes are operated remotely.")
    write_article(corpus, "three.txt", "Bank loss", "Another bank made a loss in the market.")
    build_index([corpus], path)
    return corpus, path


def closed_trials(work: Path) -> Row:
    row = Row(13, "a closed Index still has files of its index open or mapped")
    calls: dict[str, Callable[[Index], object]] = {
        "search": lambda index: index.search("bank"),
        "typo": lambda index: index.search("goverment markte"),
        "prefix": lambda index: index.search("mark*"),
        "related": lambda index: index.related("one.txt"),
        "document": lambda index: index.document("two.txt"),
        "all": lambda index: (index.search("banks"), index.related("one.txt"), index.document("two.txt")),
    }
    for name, call in calls.items():
        _, path = handle_index(work / f"closed-{name}")
        index = Index(path)
        call(index)
        index.close()
        row.record(bool(held(path)), f"after {name}: {sorted(held(path))}")
    return row


def update_trials(work: Path) -> Row:
    row = Row(13, "build_index (update, rebuild) returned: files of the index still open or mapped")
    for number, rebuild in enumerate((False, False, True)):
        corpus, path = handle_index(work / f"update-{number}")
        write_article(corpus, "four.txt", "Bank deal", f"A bank deal number {number}.")
        build_index([corpus], path, rebuild=rebuild)
        row.record(bool(held(path)), f"{'rebuild' if rebuild else 'update'}: {sorted(held(path))}")
    return row


def age_retired(path: Path) -> None:
    for marker in path.glob(f"*/{storage.RETIRED_MARKER}"):
        marker.write_text(str(float(marker.read_text()) - storage.RETIRE_GRACE_S - 1))


def idle_trials(work: Path) -> tuple[Row, Row, Row]:
    hooked = Row(13, "an idle Index maps a generation rebuilds deleted, after release_if_replaced() (none before)")
    bare = Row(13, "an idle Index maps a generation rebuilds deleted, with no call at all (documented: until "
                   "its next call)")
    next_call = Row(13, "an idle Index maps a generation rebuilds deleted, after its next search")
    calls: dict[str, Callable[[Index], object]] = {"search": lambda index: index.search("bank"),
                                                   "related": lambda index: index.related("one.txt"),
                                                   "document": lambda index: index.document("two.txt")}
    for rebuilds in (2, 3, 4):
        for name, call in calls.items():
            corpus, path = handle_index(work / f"idle-{rebuilds}-{name}")
            with Index(path) as index:
                call(index)
                for _ in range(rebuilds):
                    build_index([corpus], path, rebuild=True)
                    age_retired(path)  # so the next rebuild deletes the generation this index holds
                gone = sorted(name for name in held(path) if not os.path.exists(name))
                bare.record(bool(gone), f"{rebuilds} rebuilds after {name}: {len(gone)} deleted files held")
                release = getattr(index, "release_if_replaced", None)
                if release is not None:
                    release()
                gone = sorted(name for name in held(path) if not os.path.exists(name))
                hooked.record(bool(gone), f"{rebuilds} rebuilds after {name}, then the idle hook"
                                          f"{'' if release else ' (none)'}: {len(gone)} deleted files held")
                index.search("bank")
                gone = sorted(name for name in held(path) if not os.path.exists(name))
                next_call.record(bool(gone), f"{rebuilds} rebuilds after {name}, then a search: "
                                             f"{len(gone)} deleted files held")
    return hooked, bare, next_call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", default="9,10,11,12,13", help="the items to run, e.g. 11,12")
    parser.add_argument("--verbose", action="store_true", help="every trial's outcome on stderr")
    items = {int(item) for item in parser.parse_args().items.split(",")}
    import newsearch

    print(f"newsearch from {Path(newsearch.__file__).parent}", file=sys.stderr)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="limit-trials") as tmp:
        work = Path(tmp)
        cli = Cli(work / "runs")
        try:
            if 9 in items:
                rows.append(memory_trials(work / "memory"))
            if 10 in items:
                rows.append(time_limit_trials(work / "time"))
            if 11 in items:
                messages = work / "messages"
                rows.append(bad_id_trials(cli, messages))
                rows.append(damage_trials(cli, messages, "missing segment", delete_a_segment))
                rows.append(damage_trials(cli, messages, "deleted table of contents", delete_the_toc))
                rows.append(toc_flip_trials(cli, messages))
                rows += disk_full_trials(cli, messages)
            if 12 in items:
                rows.append(terminal_trials(cli, work / "terminal"))
            if 13 in items:
                rows += [closed_trials(work / "closed"), update_trials(work / "updates"), *idle_trials(work / "idle")]
        finally:
            cli.close()
    print_table(rows)


if __name__ == "__main__":
    main()
