"""Speed figures, one row per system (``peers.SYSTEMS``; newsearch twice: ``--jobs 1`` and ``--jobs 2``):
builds (time, memory, size), warm and cold query latency, facets and a timeline, incremental
updates; for newsearch also threads sharing one ``Index`` and the memory of a searching process.

Builds, updates and cold searches run in child processes (see ``measure.py``); warm latency and
facets run in this process against one open engine per system, query by query in turn, so that
noise from the shared machine falls on every system alike. Built indexes are kept between runs
(``IndexCache``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from tests.bench import peers
from tests.bench.corpora import REPO, cache_root, copy_tree, corpus_bytes, corpus_files, count_files, tree_bytes
from tests.bench.synth import changed_files


@dataclass
class Runner:
    """How to start child processes: this interpreter, the venv's console script, the repo on sys.path."""

    work: Path
    python: str = sys.executable
    cli: Path = Path(sys.executable).parent / "newsearch"
    pythonpath: str = ""  # a snapshot of the library to import instead of the working tree's

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        paths = [p for p in (self.pythonpath, str(REPO), env.get("PYTHONPATH", "")) if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONWARNINGS"] = "ignore"
        env.pop("NEWSEARCH_INDEX", None)
        env.pop("NEWSEARCH_CORPUS", None)
        return env

    def measure(self, command: list[str]) -> dict:
        """Run ``command`` under ``tests.bench.measure``; its report (wall_s, maxrss_kb, result)."""
        done = subprocess.run([self.python, "-m", "tests.bench.measure", *command], cwd=REPO, env=self.env(),
                              capture_output=True, text=True, check=True)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        if report["returncode"] != 0:
            raise RuntimeError(f"{' '.join(command)} exited {report['returncode']}: {report['stderr']}")
        return report

    def task(self, *args: str) -> list[str]:
        return [self.python, "-m", "tests.bench.tasks", *args]

    def timed(self, command: list[str], ok: tuple[int, ...] = (0,)) -> float:
        """Wall time of one process, its output discarded."""
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - started
        if done.returncode not in ok:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
        return seconds

    # --- one command per system -------------------------------------------------------------

    def build_command(self, system: str, corpus: Path, index: Path, jobs: int = 2) -> list[str]:
        if system == "newsearch":
            return [str(self.cli), "index", str(corpus), "--index", str(index), "--rebuild", "--jobs", str(jobs),
                    "--quiet", "--json"]
        return self.task("build-peer", system, str(corpus), str(index))

    def update_command(self, system: str, corpus: Path, index: Path) -> list[str]:
        if system == "newsearch":
            return [str(self.cli), "index", str(corpus), "--index", str(index), "--quiet", "--json"]
        return self.task("update-peer", system, str(corpus), str(index))

    def search_command(self, system: str, index: Path, query: str) -> list[str]:
        if system == "newsearch":
            return [str(self.cli), "search", query, "--index", str(index), "--color", "never"]
        return self.task("search-peer", system, str(index), query)

    def format_key(self, system: str) -> str:
        """What a system's index depends on: for newsearch, the format fields its newsearch.json
        gets (everything but dates and corpus paths: the probe's folder is new each run, and a key
        holding it built every index anew) from the library measured, read off a one-article index;
        for a peer, its ``VERSION``."""
        if system != "newsearch":
            return peers.peer(system).VERSION
        folder = self.work / "format-probe"
        (folder / "corpus" / "probe").mkdir(parents=True, exist_ok=True)
        (folder / "corpus" / "probe" / "1.txt").write_text("Probe\n\nOne article to read the index format off.\n")
        subprocess.run(self.build_command(system, folder / "corpus", folder / "index"), cwd=REPO, env=self.env(),
                       capture_output=True, check=True)
        meta = json.loads(next((folder / "index").glob("*/newsearch.json")).read_text())
        shutil.rmtree(folder)
        return json.dumps({k: v for k, v in meta.items() if k not in ("corpus", "roots", "created", "updated")},
                          sort_keys=True)


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def build_rows(systems: list[str], newsearch_jobs: tuple[int, ...] = (1, 2)) -> list[tuple[str, str, int]]:
    """(row, system, jobs) of the build figures: newsearch with each of ``newsearch_jobs``, each peer once."""
    rows = []
    for system in systems:
        if system == "newsearch":
            rows += [(f"newsearch --jobs {jobs}", system, jobs) for jobs in newsearch_jobs]
        else:
            rows.append((system, system, 1))
    return rows


class IndexCache:
    """Built indexes kept between runs under ``<bench dir>/indexes/<corpus>/<system>-<key>/``:
    ``index/`` and ``build.json`` (the figures of the builds that made it, written last, so an
    entry without it is incomplete). The key hashes the corpus folder's name (generator version,
    seed, size) and the system's format key: a change to newsearch's index format, or a peer's
    schema or package version, builds anew."""

    def __init__(self, runner: Runner, root: Path | None = None) -> None:
        self.runner, self.root = runner, root or cache_root() / "indexes"
        self.keys: dict[str, str] = {}

    def entry(self, system: str, corpus: Path) -> Path:
        if system not in self.keys:
            self.keys[system] = self.runner.format_key(system)
        digest = hashlib.sha256(f"{corpus.name}\0{self.keys[system]}".encode()).hexdigest()[:12]
        return self.root / corpus.name / f"{system}-{digest}"

    def index(self, system: str, corpus: Path) -> Path:
        return self.entry(system, corpus) / "index"

    def builds(self, system: str, corpus: Path) -> dict | None:
        """The recorded build figures (row -> figures) of a complete entry, else None."""
        record = self.entry(system, corpus) / "build.json"
        return json.loads(record.read_text()) if record.exists() else None

    def build(self, system: str, corpus: Path, rows: list[tuple[str, int]], repeats: int) -> dict:
        """Build ``repeats`` times per (row, jobs), in turn; the last build stays as the entry's index."""
        entry = self.entry(system, corpus)
        (entry / "build.json").unlink(missing_ok=True)
        documents, megabytes = count_files(corpus), corpus_bytes(corpus) / 1e6
        reports: dict[str, list[dict]] = {row: [] for row, _ in rows}
        for _ in range(repeats):
            for row, jobs in rows:
                command = self.runner.build_command(system, corpus, _fresh(entry / "index"), jobs)
                reports[row].append(self.runner.measure(command))
        figures = {}
        for row, measured in reports.items():
            seconds = statistics.median(_duration(report) for report in measured)
            figures[row] = {
                "seconds": seconds, "all_seconds": [_duration(report) for report in measured],
                "docs_per_s": documents / seconds, "mb_per_s": megabytes / seconds,
                "peak_rss_mb": max(r["maxrss_kb"] for r in measured) / 1024,
                "peak_tree_rss_mb": max(r["tree_rss_kb"] for r in measured) / 1024,
                "peak_tree_pss_mb": max(r["tree_pss_kb"] for r in measured) / 1024,
                "index_mb": tree_bytes(entry / "index") / 1e6, "documents": documents, "corpus_mb": megabytes,
                "built": time.strftime("%Y-%m-%d %H:%M"),
            }
        (entry / "build.json").write_text(json.dumps(figures, indent=2))
        return figures

    def ensure(self, system: str, corpus: Path) -> Path:
        """The system's index of ``corpus``: cached, or built now (its figures recorded as a build's)."""
        if self.builds(system, corpus) is None:
            self.build(system, corpus, [(row, jobs) for row, _, jobs in build_rows([system])][-1:], 1)
        return self.index(system, corpus)


def _duration(report: dict) -> float:
    """The build's or update's own time: newsearch's ``duration_s``, a task's ``seconds``, else the process's."""
    result = report.get("result")
    if isinstance(result, dict):
        for key in ("duration_s", "seconds"):
            if isinstance(result.get(key), (int, float)):
                return float(result[key])
    return float(report["wall_s"])


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def at(share: float) -> float:  # nearest-rank percentile
        return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]

    return {"p50_ms": 1000 * at(0.50), "p95_ms": 1000 * at(0.95), "max_ms": 1000 * ordered[-1],
            "mean_ms": 1000 * statistics.fmean(ordered), "samples": len(ordered)}


@contextmanager
def engines(indexes: dict[str, Path]) -> Iterator[dict]:
    opened = {}
    try:
        for system, path in indexes.items():
            opened[system] = peers.open_engine(system, path)
        yield opened
    finally:
        for engine in opened.values():
            engine.close()


def warm_latency(indexes: dict[str, Path], queries: list[str], repeats: int) -> dict:
    """p50/p95 per system, top 10 without and with snippets (newsearch: 3 passages), over
    ``repeats`` passes of ``queries`` after one warm-up pass; systems and variants in turn per query."""
    samples: dict[str, dict[str, list[float]]] = {system: {"plain": [], "snippets": []} for system in indexes}
    errors = {system: 0 for system in indexes}
    slowest: list[tuple[float, str]] = []
    with engines(indexes) as opened:
        for rep in range(repeats + 1):
            gc.collect()
            for query in queries:
                for system, engine in opened.items():
                    for variant, run in (("plain", engine.ids), ("snippets", engine.with_snippets)):
                        getattr(engine, "before_query", lambda: None)()
                        started = time.perf_counter()
                        try:
                            run(query, 10)
                        except Exception:  # a query one system refuses still costs its time
                            errors[system] += 1
                        seconds = time.perf_counter() - started
                        if rep:
                            samples[system][variant].append(seconds)
                            if system == "newsearch" and variant == "snippets":
                                slowest.append((seconds, query))
    result: dict = {system: {variant: _percentiles(values) for variant, values in runs.items()}
                    for system, runs in samples.items()}
    for system, count in errors.items():
        result[system]["errors"] = count
    result["queries"], result["repeats"] = len(queries), repeats
    result["slowest_newsearch"] = [{"ms": round(1000 * s, 1), "query": q} for s, q in sorted(slowest, reverse=True)[:5]]
    return result


def facets(indexes: dict[str, Path], word: str, documents: int, repeats: int = 5) -> dict:
    """Facets source, year, month of the articles matching ``word`` (newsearch: plus its monthly
    timeline); the median of ``repeats`` after one warm-up, and the matches counted."""
    result: dict = {"word": word}
    with engines(indexes) as opened:
        for system, engine in opened.items():
            counts = engine.facets(word)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                engine.facets(word)
                times.append(time.perf_counter() - started)
            matches = sum(counts["source"].values())
            result[system] = {"median_ms": 1000 * statistics.median(times), "matches": matches,
                              "share": matches / documents, "months": len(counts["month"])}
    return result


def cold_search(runner: Runner, indexes: dict[str, Path], queries: list[str], runs: int) -> dict:
    """Median wall time of whole processes: `newsearch search`, and each peer's open-search-print script."""
    times: dict[str, list[float]] = {system: [] for system in indexes}
    for n in range(runs):
        query = queries[n % len(queries)]
        for system, path in indexes.items():
            times[system].append(runner.timed(runner.search_command(system, path, query), ok=(0, 1)))
    return {system: {"median_s": statistics.median(values), "all_s": values} for system, values in times.items()}


def incremental(runner: Runner, corpus: Path, indexes: dict[str, Path], runs: int, in_place: bool,
                seed: int = 99) -> dict:
    """Updates of copies of ``indexes``: a re-run with nothing changed, then with 1 % of the files
    changed (a sentence appended), ``runs`` times each (median kept).

    ``in_place`` (synthetic corpora): the files are changed where they are and put back afterwards
    (``synth.changed_files``); else (BBC, read-only) the corpus is copied and indexed anew first.
    """
    folder = runner.work / "incremental"
    copies = {}
    if not in_place:
        corpus = copy_tree(corpus, folder / "corpus")
    for system, path in indexes.items():
        copies[system] = _fresh(folder / system)
        if in_place:
            shutil.copytree(path, copies[system], symlinks=True)
        else:
            runner.measure(runner.build_command(system, corpus, copies[system]))
    files = [path for _, path in corpus_files(corpus)]
    count = max(1, round(len(files) / 100))
    changed = random.Random(seed).sample(files, min(len(files), count * runs))
    result: dict = {"files": len(files), "changed_files": count, "runs": runs}
    with changed_files(corpus, changed) if in_place else nullcontext():
        for label in ("unchanged", "changed_1pct"):
            wall: dict[str, list[float]] = {system: [] for system in copies}
            inside: dict[str, list[float]] = {system: [] for system in copies}
            for run in range(runs):
                if label == "changed_1pct":
                    for path in changed[run * count:(run + 1) * count]:
                        with open(path, "a", encoding="utf-8") as handle:
                            handle.write(f"\nUpdated: revision {run} of this article, with a correction.\n")
                for system, path in copies.items():
                    report = runner.measure(runner.update_command(system, corpus, path))
                    wall[system].append(report["wall_s"])
                    inside[system].append(_duration(report))
            result[label] = {system: {"process_s": statistics.median(wall[system]),
                                      "inside_s": statistics.median(inside[system])} for system in copies}
    shutil.rmtree(folder, ignore_errors=True)
    return result


def threads(index_path: Path, queries: list[str], counts: tuple[int, ...] = (1, 2, 4)) -> dict:
    """Queries per second of newsearch with 1, 2, 4 threads sharing one ``Index`` (top 10, 3 passages)."""
    import newsearch
    from newsearch.sentences import forget_texts

    result: dict = {"queries": len(queries)}
    with newsearch.open_index(index_path) as index:
        def search(query: str) -> object:
            return index.search(query, limit=10, passages=3)

        for query in queries:  # warm-up
            search(query)
        for count in counts:
            forget_texts()  # each run reads its queries' articles as new (within a run, as they come)
            with ThreadPoolExecutor(count) as pool:
                started = time.perf_counter()
                list(pool.map(search, queries))
                seconds = time.perf_counter() - started
            result[str(count)] = {"queries_per_s": len(queries) / seconds, "seconds": seconds}
    return result


def memory(runner: Runner, index_path: Path, queries: list[str]) -> dict:
    """Memory of a process that opened newsearch's index: after its first query and after all ``queries``."""
    return runner.measure(runner.task("memory-newsearch", str(index_path), json.dumps(queries)))["result"]



@contextmanager
def other_core_busy(runner: Runner) -> Iterator[None]:
    """Another process spinning on one core meanwhile: a machine shared with other work."""
    burner = subprocess.Popen([runner.python, "-c", "while True: pass"])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()


def busy_builds(runner: Runner, corpus: Path, repeats: int) -> dict:
    """Full builds while another process keeps one core busy: raw Whoosh, ``--jobs 1`` and ``--jobs 2``.

    A parallel design can look good on an idle machine and lose when a core is taken
    (Whoosh's own two-process writer went from 1.9x to 0.95x); medians of ``repeats``.
    """
    documents = count_files(corpus)
    target = runner.work / "busy-build"
    rows = build_rows(["newsearch", "whoosh"])
    seconds: dict[str, list[float]] = {row: [] for row, _, _ in rows}
    with other_core_busy(runner):
        for _ in range(repeats):  # in turn, so that the load falls on all alike
            for row, system, jobs in rows:
                seconds[row].append(_duration(runner.measure(runner.build_command(system, corpus, _fresh(target),
                                                                                  jobs))))
    shutil.rmtree(target, ignore_errors=True)
    return {row: {"seconds": statistics.median(times), "all_seconds": times,
                  "docs_per_s": documents / statistics.median(times)} for row, times in seconds.items()}
