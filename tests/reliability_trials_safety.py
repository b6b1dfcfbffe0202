"""Trials of the faults of issue #13 items 1, 2, 3, 4, 7, 8 and 14: how often what must never
happen happens (a hang, a file outside the index removed or written, the archive replaced, code
run from an index, an article lost or truncated, wrong ids, a user locked out of their index).

Not collected by pytest (the tests/test_reliability_*.py files hold the fast, exact tests); run
with any checkout's interpreter, as root (items 4 and 14 use a second user, uid 1234, through
``setpriv``), so that the same trials measure the code before and after::

    .venv/bin/python tests/reliability_trials_safety.py
    cd /tmp && /path/to/other/venv/bin/python /path/to/tests/reliability_trials_safety.py

The second form measures the newsearch installed in that venv (a cwd outside any checkout, so
that the installed copy is the one imported); tests/support always comes from this file's tree.
Every command runs through the CLI in a child process with a timeout (a hang is killed and counted
as a failure). Prints one Markdown table row per fault; the reason for each failure goes to stderr.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # support/

if __name__ == "__main__":  # not when pytest's --doctest-modules imports this file
    os.environ["NLTK_DATA"] = tempfile.mkdtemp(prefix="nltk_empty")  # offline, as the tests run
    os.chmod(os.environ["NLTK_DATA"], 0o755)  # for the second user too
    for name in ("NEWSEARCH_CORPUS", "NEWSEARCH_INDEX", "NEWSEARCH_TRUST_INDEX"):
        os.environ.pop(name, None)

from support.corpora import write_article  # noqa: E402
from support.planted import plant_in_toc  # noqa: E402
from support.readers import stored_documents  # noqa: E402
from support.trials import Row, print_table  # noqa: E402

from newsearch import build_index, open_index, storage  # noqa: E402

TIMEOUT_S = 15.0  # a run here takes a second or two, even on a busy machine
USER = 1234  # the other user of items 4 and 14
AS_USER = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups"]
TRUST = "NEWSEARCH_TRUST_INDEX"


@dataclass
class Done:
    """A child's end: its exit code, None when it hung and was killed."""

    code: int | None
    stdout: str
    stderr: str

    @property
    def hung(self) -> bool:
        return self.code is None


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        user: bool = False) -> Done:
    """A child process, killed with its whole group after TIMEOUT_S."""
    child = subprocess.Popen((AS_USER if user else []) + command, cwd=cwd, env={**os.environ, **(env or {})},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=TIMEOUT_S)
        return Done(child.returncode, out, err)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        return Done(None, out, err)


def cli(*args: str | Path, **kwargs: object) -> Done:
    return run([sys.executable, "-m", "newsearch", *map(str, args)], **kwargs)  # type: ignore[arg-type]


def cli_with(setup: str, *args: str | Path, **kwargs: object) -> Done:
    """The CLI in a child that first runs ``setup`` (a fault-injection hook; ``ARGS`` holds the
    command's arguments)."""
    main = "\nimport sys\nfrom newsearch.cli import main\nsys.argv = ['newsearch', *ARGS]\nmain()\n"
    code = f"ARGS = {[str(arg) for arg in args]!r}\n{setup}{main}"
    return run([sys.executable, "-c", code], **kwargs)  # type: ignore[arg-type]


def outcome(done: Done, what: str, allowed: tuple[int, ...] = (0,)) -> list[str]:
    if done.hung:
        return [f"{what} hung (killed after {TIMEOUT_S:.0f} s)"]
    if done.code not in allowed:
        last = done.stderr.strip().splitlines()[-1:] or [""]
        return [f"{what} exit {done.code}: {last[0][:160]}"]
    return []


def titles(index_path: Path) -> dict[str, str]:
    """title -> id of every article the live generation holds ({} when it cannot be read)."""
    try:
        stored = stored_documents(index_path) or frozenset()
    except Exception:  # noqa: BLE001 - an unreadable index holds nothing usable
        return {}
    return {title: doc_id for doc_id, title in stored}


def fresh(work: Path, name: str) -> Path:
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def live(index_path: Path) -> Path:
    return index_path / os.readlink(index_path / "current")


def articles(corpus: Path, names: Sequence[str], version: str = "v1") -> None:
    for name in names:
        write_article(corpus, name, f"{Path(name).stem} {version}", f"The walrus {name} {version} swims by the pier.")


# -- 1. a corpus file swapped for a FIFO or a folder after the scan ----------------------------------

SWAP = """
import builtins, os
from newsearch import corpus
VICTIM, KIND, MOMENT, OUTSIDE = {victim!r}, {kind!r}, {moment!r}, {outside!r}
swapped = []

def swap():
    if not swapped:
        swapped.append(1)
        os.unlink(VICTIM)
        if KIND == "FIFO":
            os.mkfifo(VICTIM)
        elif KIND == "folder":
            os.mkdir(VICTIM)
        else:  # a link to a file outside the corpus
            os.symlink(OUTSIDE, VICTIM)

def opened(path):
    name = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""
    if MOMENT == "as the reads begin" and name.endswith(".txt") and name != VICTIM:  # another corpus file
        swap()
    if MOMENT == "as it is opened" and name == VICTIM:  # by whichever open the code uses
        swap()

real_scan, real_os_open, real_open = corpus.scan, os.open, builtins.open

def scan(*args, **kwargs):
    found = real_scan(*args, **kwargs)
    if MOMENT == "after the scan":
        swap()
    return found

def os_open(path, *args, **kwargs):
    opened(path)
    return real_os_open(path, *args, **kwargs)

def builtin_open(path, *args, **kwargs):
    opened(path)
    return real_open(path, *args, **kwargs)

corpus.scan, os.open, builtins.open = scan, os_open, builtin_open
"""
MOMENTS = ("after the scan", "as the reads begin", "as it is opened")


NAMES = ("a.txt", "b.txt", "c.txt", "d.txt")


@dataclass
class SwapTrial:
    mode: str  # "update" or "rebuild"
    victim: str  # the file swapped
    moment: str  # when (MOMENTS)
    folder: Path
    corpus: Path
    index_path: Path

    def run(self, outside: str = "", kind: str = "symlink") -> Done:
        """The indexing run during which the victim is swapped for a ``kind`` (to ``outside``, a link)."""
        flags = ["--rebuild"] if self.mode == "rebuild" else []
        return cli_with(SWAP.format(victim=str(self.corpus / self.victim), kind=kind, moment=self.moment,
                                    outside=outside),
                        "index", self.corpus, "--index", self.index_path, "--quiet", *flags)


def swap_trials(work: Path, label: str) -> Iterator[SwapTrial]:
    """Each mode, victim and moment of the race: four articles indexed, then every file changed (so
    each must be read again); the trial's folder is removed once the caller is done with it."""
    for mode in ("update", "rebuild"):
        for victim in ("a.txt", "d.txt"):
            for moment in MOMENTS:
                folder = fresh(work, label)
                corpus, index_path = folder / "corpus", folder / "ix"
                articles(corpus, NAMES)
                build_index([corpus], index_path)
                articles(corpus, NAMES, "v2")
                yield SwapTrial(mode, victim, moment, folder, corpus, index_path)
                shutil.rmtree(folder)


def swapped_files(work: Path, kind: str) -> Row:
    row = Row(1, f"corpus file replaced by a {kind} after the scan (update or rebuild; hang, run aborted, "
                 "indexed version lost, next run fails)")
    for trial in swap_trials(work, "swap"):
        victim, mode = trial.victim, trial.mode
        done = trial.run(kind=kind)
        problems = outcome(done, f"{mode} ({trial.moment}, {victim})")
        held = titles(trial.index_path)
        others = {f"{Path(name).stem} v2" for name in NAMES if name != victim}
        if not done.hung and not others <= held.keys():
            problems.append(f"other articles not updated: {sorted(held)}")
        versions = {f"{Path(victim).stem} v1", f"{Path(victim).stem} v2"}
        if mode == "update" and not done.hung and not versions & held.keys():
            problems.append(f"{victim}'s indexed version lost")
        again = cli("index", trial.corpus, "--index", trial.index_path, "--quiet")
        problems += outcome(again, "next run")
        if kind == "fifo" and not again.hung and mode == "update" and not versions & titles(trial.index_path).keys():
            problems.append(f"next run lost {victim}'s indexed version")
        row.record_problems(problems)
    return row


def swapped_for_link(work: Path) -> Row:
    """Not in the issue, the same race: a link the scan would have skipped (it leads outside the
    corpus) swapped in after the scan."""
    row = Row(1, "corpus file replaced by a symlink to a file outside the corpus after the scan: "
                 "the outside file indexed")
    for trial in swap_trials(work, "link"):
        outside = trial.folder / "outside.txt"
        write_article(trial.folder, "outside.txt", "Outside secret", "The walrus secret kept outside the corpus.")
        done = trial.run(outside=str(outside))
        problems = outcome(done, f"{trial.mode} ({trial.moment}, {trial.victim})")
        if "Outside secret" in titles(trial.index_path):
            problems.append(f"{trial.mode} ({trial.moment}): {trial.victim} indexed with the text of {outside}")
        row.record_problems(problems)
    return row


# -- 2. a broken `current`: nothing outside the index folder touched, --rebuild repairs ------------


def snapshot(folder: Path, skip: tuple[Path, ...]) -> dict[str, object]:
    """Every path under ``folder`` but ``skip``, with its type and content."""
    found: dict[str, object] = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if Path(root, name) not in skip]
        for name in dirs + files:
            path = Path(root, name)
            if path in skip:
                continue
            info = os.lstat(path)
            found[str(path.relative_to(folder))] = (
                os.readlink(path) if os.path.islink(path) else path.read_bytes() if path.is_file() else info.st_mode)
    return found


def _parent(index_path: Path, victim: Path, generation: Path) -> None:
    os.symlink("..", index_path / "current")


def _elsewhere(index_path: Path, victim: Path, generation: Path) -> None:
    os.symlink(victim, index_path / "current")


def _elsewhere_generation(index_path: Path, victim: Path, generation: Path) -> None:
    """Another folder holding a copy of the live generation (and the bait): an update could use it."""
    shutil.copytree(generation, victim, dirs_exist_ok=True)
    os.symlink(victim, index_path / "current")


def _dangling(index_path: Path, victim: Path, generation: Path) -> None:
    os.symlink("gen-000099-deadbeef", index_path / "current")


def _file(index_path: Path, victim: Path, generation: Path) -> None:
    (index_path / "current").write_text(generation.name + "\n")


def _folder(index_path: Path, victim: Path, generation: Path) -> None:
    (index_path / "current").mkdir()
    (index_path / "current" / "something.tmp").write_text("x")


def _loop(index_path: Path, victim: Path, generation: Path) -> None:
    os.symlink("current", index_path / "current")


Breakage = Callable[[Path, Path, Path], None]
BROKEN_CURRENT: dict[str, Breakage] = {
    "pointing at '..'": _parent,
    "absolute, at another folder": _elsewhere,
    "absolute, at a copy of a generation elsewhere": _elsewhere_generation,
    "dangling": _dangling,
    "a file": _file,
    "a folder": _folder,
    "a loop": _loop,
}


def printed_rebuild(stderr: str) -> list[str] | None:
    """The rebuild command a message prints, as the shell would split it."""
    match = re.search(r"run `(newsearch index [^`]*)`", stderr)
    return shlex.split(match.group(1))[1:] if match else None


def broken_current(work: Path, kind: str, breakage: Breakage) -> Row:
    row = Row(2, f"`current` {kind}: a file outside the index removed or written, or --rebuild does not repair")
    for trial in ("new article, update, then --rebuild CORPUS", "the rebuild the message prints"):
        folder = fresh(work, "broken")
        corpus, outer, victim, elsewhere = folder / "corpus", folder / "outer", folder / "victim", folder / "cwd"
        index_path = outer / "ix"
        articles(corpus, [f"w{number}.txt" for number in range(5)])
        build_index([corpus], index_path)
        for bait in (outer, victim, folder):
            bait.mkdir(exist_ok=True)
            (bait / "important.tmp").write_text("keep me")
            (bait / "_MAIN_3.toc.keep").write_text("keep me too")
            (bait / "_MAIN_1.toc").write_text("not an index's")
        elsewhere.mkdir()
        generation = live(index_path)
        (index_path / "current").unlink()
        breakage(index_path, victim, generation)
        before = snapshot(folder, (index_path, corpus))
        problems = []
        if trial.startswith("new article"):
            articles(corpus, ["w9.txt"])
        if trial.endswith("CORPUS"):
            problems += outcome(cli("index", corpus, "--index", index_path, "--quiet"), "update", (0, 1, 2, 3, 4))
            rebuild = ["index", str(corpus), "--rebuild", "--index", str(index_path), "--quiet"]
        else:
            search = cli("search", "walrus", "--index", index_path)
            problems += outcome(search, "search", (0, 1, 2, 3, 4))
            rebuild = printed_rebuild(search.stderr) or ["index", str(corpus), "--rebuild", "--index", str(index_path)]
        problems += outcome(cli(*rebuild, cwd=elsewhere), f"`newsearch {shlex.join(rebuild)}`")
        after = snapshot(folder, (index_path, corpus))
        rewritten = {name for name in before if after.get(name) not in (None, before[name])}
        changed = sorted(set(before) ^ set(after) | rewritten)
        if changed:
            problems.append(f"outside the index: {changed} removed, written or added")
        inside = os.path.realpath(index_path / "current")
        expected = {f"w{number} v1" for number in range(5)} | ({"w9 v1"} if trial.startswith("new") else set())
        if os.path.dirname(inside) != os.path.realpath(index_path) or set(titles(index_path)) != expected:
            problems.append("not repaired: `current` " + (
                "leads outside" if os.path.dirname(inside) != os.path.realpath(index_path) else
                f"holds {sorted(titles(index_path))}"))
        problems += outcome(cli("search", "walrus", "--index", index_path), "search after the rebuild")
        row.record_problems(problems)
        shutil.rmtree(folder)
    return row


# -- 3. the advice after a format change, run as printed from a folder with another corpus/ ------


def format_change(work: Path) -> tuple[Row, Row]:
    replaced = Row(3, "format change, printed rebuild run from a folder holding another corpus/: archive replaced")
    useless = Row(3, "format change: printed rebuild fails as printed, or leaves the index unusable")
    for path_name in ("ix", "my index", "news-ix"):
        for edit in ("older schema", "no format recorded"):
            folder = fresh(work, "format")
            archive, index_path, workdir = folder / "archive", folder / path_name, folder / "work"
            names = [f"w{number}.txt" for number in range(5)]
            articles(archive, names)
            build_index([archive], index_path)
            articles(workdir / "corpus", ["unrelated.txt"])
            meta_path = live(index_path) / "newsearch.json"
            meta = json.loads(meta_path.read_text())
            if edit == "older schema":
                meta["format"] = {"schema": 0, "note": "written by another newsearch"}
            else:
                del meta["format"]
            meta_path.write_text(json.dumps(meta))
            shown = index_path if path_name != "news-ix" else Path("..", path_name)  # a relative --index too
            search = cli("search", "walrus", "--index", shown, cwd=workdir)
            advice = printed_rebuild(search.stderr)
            problems = outcome(search, "search", (3, 4))
            if advice is None:
                problems.append(f"no rebuild command printed: {search.stderr.strip()[:160]}")
                useless.record_problems(problems)
                replaced.record_problems([])
                continue
            rebuilt = cli(*advice, cwd=workdir)
            held = titles(index_path)
            expected = {f"w{number} v1" for number in range(5)}
            replaced.record_problems(
                [f"`newsearch {shlex.join(advice)}` exit {rebuilt.code}: the index holds {sorted(held)}"]
                if held and set(held) != expected else [])
            problems += outcome(rebuilt, f"`newsearch {shlex.join(advice)}`")
            if set(held) != expected:
                problems.append(f"the index holds {sorted(held)}")
            problems += outcome(cli("search", "walrus", "--index", index_path), "search after the rebuild")
            useless.record_problems(problems)
            shutil.rmtree(folder)
    return replaced, useless


# -- 4. code in a table of contents; folders other users can write ---------------------------------

COMMANDS = (("search", "walrus"), ("check",), ("stats",), ("show", "w0.txt"), ("related", "w0.txt"),
            ("index", "CORPUS", "--quiet"), ("api",))


def command(args: tuple[str, ...], corpus: Path, index_path: Path) -> Done:
    if args == ("api",):
        code = "import sys, newsearch\nwith newsearch.open_index(sys.argv[1]) as ix: ix.search('walrus')"
        return run([sys.executable, "-c", code, str(index_path)])
    return cli(*[str(corpus) if arg == "CORPUS" else arg for arg in args], "--index", index_path)


def plant(generation: Path, marker: Path, part: str) -> None:
    """What a writer of the folder does: the table of contents rewritten to run a command when
    unpickled, and the checksums (where the code keeps them) set aside so that they find nothing."""
    plant_in_toc(generation, marker, part)
    set_aside = getattr(storage, "set_checksums_aside", None)
    if set_aside is not None:
        set_aside(generation)


def planted_toc(work: Path, part: str) -> Row:
    pickled = "segment list" if part == "segments" else part
    row = Row(4, f"table of contents whose pickled {pickled} writes a marker file: marker written")
    folder = fresh(work, "planted")
    corpus, index_path, marker = folder / "corpus", folder / "ix", folder / "PWNED"
    articles(corpus, [f"w{number}.txt" for number in range(5)])
    build_index([corpus], index_path)
    plant(live(index_path), marker, part)
    for args in COMMANDS:
        done = command(args, corpus, index_path)
        problems = outcome(done, " ".join(args), (0, 1, 2, 3, 4))
        if marker.exists():
            problems.append(f"`{' '.join(args)}` ran the planted code")
            marker.unlink()
        row.record_problems(problems)
    shutil.rmtree(folder)
    return row


def as_user(action: Callable[..., None], *args: object) -> None:
    """``action(*args)`` in a forked child running as USER (everything it needs is imported already)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(USER)
            os.setuid(USER)
            action(*args)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - a refused write is the attacker's problem
            os._exit(1)
    os.waitpid(pid, 0)


def _everyone_writes_folders(index_path: Path) -> None:
    for path in (index_path, live(index_path)):
        path.chmod(0o777)


def _group_writes_folders(index_path: Path) -> None:
    for path in (index_path, live(index_path)):
        os.chown(path, 0, USER)  # a group USER is in
        path.chmod(0o775)


def _everyone_writes_toc(index_path: Path) -> None:
    for path in live(index_path).glob("*.toc"):
        path.chmod(0o666)


WRITABLE: dict[str, Callable[[Path], None]] = {
    "index and generation folders writable by every user": _everyone_writes_folders,
    "index and generation folders writable by a group with another member": _group_writes_folders,
    "table of contents writable by every user": _everyone_writes_toc,
}


def writable_folders(work: Path) -> tuple[Row, Row]:
    ran = Row(4, f"folder other users can write, table of contents planted by uid {USER}: marker written")
    opened = Row(4, "folder other users can write (nothing planted): opened without a refusal")
    for how, loosen in WRITABLE.items():
        for args in COMMANDS[:3]:
            folder = fresh(work, "writable")
            folder.chmod(0o755)
            corpus, index_path, marker = folder / "corpus", folder / "ix", folder / "PWNED"
            articles(corpus, [f"w{number}.txt" for number in range(5)])
            build_index([corpus], index_path)
            loosen(index_path)
            done = command(args, corpus, index_path)
            opened.record_problems([f"{how}: `{' '.join(args)}` exit 0"] if done.code == 0
                                   else outcome(done, " ".join(args), (1, 2, 3, 4)))
            as_user(plant, live(index_path), marker, "schema")
            done = command(args, corpus, index_path)
            problems = outcome(done, " ".join(args), (0, 1, 2, 3, 4))
            if marker.exists():
                problems.append(f"{how}: `{' '.join(args)}` ran the planted code")
            ran.record_problems(problems)
            shutil.rmtree(folder)
    return ran, opened


# -- 7. a file rewritten in place while it is read ------------------------------------------------

REWRITE = """
import os
VICTIM, PART, MTIME = {victim!r}, {part!r}, {mtime!r}
real_open = os.open

def opening(path, *args, **kwargs):  # the first open of the victim finds it half rewritten
    if os.fspath(path) == VICTIM and PART is not None:
        with open(VICTIM, "r+b") as handle:
            handle.truncate(0)
            handle.write(PART)
        os.utime(VICTIM, ns=(MTIME, MTIME))
        globals()["PART"] = None
    return real_open(path, *args, **kwargs)

os.open = opening
"""
T0 = 1_700_000_000 * 10**9


def long_body(word: str) -> str:
    sentences = (f"The {word} heron waits by the river, still, for fish number {n}." for n in range(80))
    return " ".join(sentences) + " The end."


def body_of(index_path: Path, doc_id: str) -> str | None:
    try:
        with open_index(index_path) as index:
            return index.document(doc_id).body
    except Exception:  # noqa: BLE001 - a lost article
        return None


def rewritten_while_read(work: Path) -> Row:
    row = Row(7, "file rewritten in place while read (then completed): indexed truncated for good")
    for mode in ("update", "rebuild"):
        for final in ("same text", "new text"):
            for fraction in (0.1, 0.5, 0.9):
                folder = fresh(work, "rewrite")
                corpus, index_path = folder / "corpus", folder / "ix"
                articles(corpus, ["a.txt", "b.txt"])
                write_article(corpus, "heron.txt", "Heron", long_body("old"))
                build_index([corpus], index_path)
                heron = corpus / "heron.txt"
                write_article(corpus, "heron.txt", "Heron", long_body("grey"))  # complete when the run starts
                os.utime(heron, ns=(T0, T0))
                complete = heron.read_bytes() if final == "same text" else f"Heron\n\n{long_body('blue')}\n".encode()
                part = complete[:int(len(complete) * fraction)]
                flags = ["--rebuild"] if mode == "rebuild" else []
                done = cli_with(REWRITE.format(victim=str(heron), part=part, mtime=T0 + 10**11),
                                "index", corpus, "--index", index_path, "--quiet", *flags)
                problems = outcome(done, f"{mode} while rewritten")
                heron.write_bytes(complete)  # the writer finishes
                os.utime(heron, ns=(T0 + 2 * 10**11, T0 + 2 * 10**11))
                problems += outcome(cli("index", corpus, "--index", index_path, "--quiet"), "next run")
                body = body_of(index_path, "heron.txt")
                expected = complete.decode().split("\n\n", 1)[1].strip()
                if body != expected:
                    problems.append(f"heron.txt indexed as {len(body or '')} of {len(expected)} characters "
                                    f"({fraction:.0%} written, {final}, {mode})")
                row.record_problems(problems)
                shutil.rmtree(folder)
    return row


# -- 8. file names that are not UTF-8 -----------------------------------------------------------------

NAME_SETS: tuple[tuple[tuple[bytes, ...], tuple[bytes, ...]], ...] = (
    ((b"caf\xe9.txt",), (b"caf\xe8.txt", b"caf.txt")),
    ((b"caf\xe9.txt", b"caf\xe8.txt"), (b"caf.txt",)),
    ((b"caf.txt",), (b"caf\xe9.txt", b"caf\xe8.txt")),
    ((b"caf\xe9.txt",), (b"caf\\xe9.txt", b"caf\xc3\xa9.txt")),
    ((b"d\xe9p/a.txt",), (b"d\xe8p/a.txt", b"dp/a.txt")),
    ((b"\xff\xfe.txt",), (b"\xfe\xff.txt", b"ff fe.txt")),
    ((b"x\xc3(.txt",), (b"x(.txt", b"x\xc3.txt")),
    ((b"caf\xe9.txt", b"caf\xe9 2.txt"), (b"caf 2.txt", b"caf\xe8 2.txt")),
)


def write_named(corpus: Path, names: tuple[bytes, ...], written: list[bytes]) -> None:
    """Files of the given byte names, each an article titled by its number in ``written``."""
    for name in names:
        path = os.path.join(os.fsencode(corpus), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(f"Story {len(written)}\n\nA cafe story number {len(written)}.\n".encode())
        written.append(name)


def odd_names(work: Path) -> Row:
    row = Row(8, "file names that are not UTF-8 (caf\\xe9/caf\\xe8/caf.txt ...): an article lost, ids not unique "
                 "or not stable, a run or check fails")
    for first, second in NAME_SETS:
        folder = fresh(work, "names")
        corpus, index_path = folder / "corpus", folder / "ix"
        written: list[bytes] = []
        problems: list[str] = []
        corpus.mkdir()
        write_named(corpus, first, written)
        problems += outcome(cli("index", corpus, "--index", index_path, "--quiet"), "first run")
        write_named(corpus, second, written)
        problems += outcome(cli("index", corpus, "--index", index_path, "--quiet"), "update")
        expected = {f"Story {number}" for number in range(len(written))}
        stored = stored_documents(index_path) or frozenset()
        ids = titles(index_path)
        if ({title for _id, title in stored} != expected or len(stored) != len(written)
                or len({doc_id for doc_id, _title in stored}) != len(stored)):
            problems.append(f"after the update: {sorted(stored)}")
        problems += outcome(cli("index", corpus, "--rebuild", "--index", index_path, "--quiet"), "rebuild")
        if titles(index_path) != ids:
            problems.append(f"the rebuild changed the ids: {sorted(titles(index_path).items())}")
        problems += outcome(cli("check", "--index", index_path), "check after the rebuild")
        row.record_problems(problems)
        shutil.rmtree(folder)
    return row


# -- 14. root writes into another user's index ----------------------------------------------------

ROOT_ACTIONS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("index", "CORPUS", "--rebuild"), {}),
    (("index", "CORPUS", "--rebuild"), {TRUST: "1"}),
    (("index", "CORPUS"), {}),
    (("index", "CORPUS"), {TRUST: "1"}),
    (("check",), {}),
    (("search", "walrus"), {}),
)


def give(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in [root, *(os.path.join(root, entry) for entry in dirs + files)]:
            os.lchown(name, USER, USER)


def not_users(folder: Path) -> list[str]:
    return sorted(str(Path(root, name).relative_to(folder)) for root, dirs, files in os.walk(folder)
                  for name in dirs + files if os.lstat(Path(root, name)).st_uid != USER)


def backdate_retired(index_path: Path) -> None:
    """As if the grace period of retired generations had passed (the user's later cron runs)."""
    for marker in index_path.glob("*/.retired"):
        marker.write_text(str(time.time() - 3600))  # in place: the owner stays


def root_in_users_index(work: Path) -> Row:
    row = Row(14, f"root runs a command on the index of uid {USER}: that user's later runs fail, "
                  "or root's files stay in the index")
    for args, env in ROOT_ACTIONS:
        folder = fresh(work, "owner")
        folder.chmod(0o755)
        corpus, index_path = folder / "corpus", folder / "ix"
        articles(corpus, [f"w{number}.txt" for number in range(4)])
        give(folder)
        what = " ".join(args) + (" (trusted)" if env else "")
        problems = outcome(cli("index", corpus, "--index", index_path, "--quiet", user=True), "the user's build")
        articles(corpus, ["w4.txt"])
        give(corpus)
        problems += outcome(cli(*[str(corpus) if arg == "CORPUS" else arg for arg in args], "--index", index_path,
                                env=env), f"root's {what}", (0, 1, 2, 3, 4))
        for number in (5, 6):  # the user's next cron runs, each after an article more
            backdate_retired(index_path)
            articles(corpus, [f"w{number}.txt"])
            give(corpus)
            problems += outcome(cli("index", corpus, "--index", index_path, "--quiet", user=True),
                                f"the user's update after root's {what}")
        searched = cli("search", "walrus", "--index", index_path, "--limit", "20", user=True)
        problems += outcome(searched, "the user's search")
        if not searched.hung and searched.code == 0 and "w6 v1" not in searched.stdout:
            problems.append("the user's updates are not in the index")
        left = not_users(index_path)
        if left:
            problems.append(f"after root's {what}, not the user's: {left[:4]}")
        row.record_problems(problems)
        shutil.rmtree(folder)
    return row


def trials(work: Path, items: set[int]) -> Iterator[Row]:
    root = os.geteuid() == 0
    if 1 in items:
        yield swapped_files(work, "FIFO")
        yield swapped_files(work, "folder")
        yield swapped_for_link(work)
    if 2 in items:
        for kind, breakage in BROKEN_CURRENT.items():
            yield broken_current(work, kind, breakage)
    if 3 in items:
        yield from format_change(work)
    if 4 in items:
        yield planted_toc(work, "schema")
        yield planted_toc(work, "segments")
        if root:
            yield from writable_folders(work)
    if 7 in items:
        yield rewritten_while_read(work)
    if 8 in items:
        yield odd_names(work)
    if 14 in items and root:
        yield root_in_users_index(work)


def main() -> None:
    import argparse

    import newsearch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", default="1,2,3,4,7,8,14", help="which items of #13 to try (default: all)")
    items = {int(item) for item in parser.parse_args().items.split(",")}

    print(f"newsearch from {Path(newsearch.__file__).parent}", file=sys.stderr)
    started = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="safety-trials") as tmp:
        Path(tmp).chmod(0o755)  # the second user reaches its folders
        for row in trials(Path(tmp), items):
            rows.append(row)
            print(f"{row.line()}  ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    print_table(rows)


if __name__ == "__main__":
    main()
