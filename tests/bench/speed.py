"""Speed figures: builds (time, memory, size), warm and cold query latency, incremental re-runs.

Builds and cold searches run in child processes (see ``measure.py``); warm latency runs in
this process against one open ``newsearch.Index`` and one open Whoosh searcher, query by
query in turn, so that noise from the shared machine falls on both systems alike.
"""

from __future__ import annotations

import gc
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.bench.corpora import REPO, copy_tree, corpus_bytes, count_files, tree_bytes


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

    def has_jobs(self) -> bool:
        done = subprocess.run([str(self.cli), "index", "--help"], env=self.env(), capture_output=True, text=True)
        return "--jobs" in done.stdout


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def builds(runner: Runner, name: str, corpus: Path, repeats: int) -> dict:
    """Full builds of ``corpus`` by both systems, ``repeats`` times each (median kept)."""
    documents = count_files(corpus)
    megabytes = corpus_bytes(corpus) / 1e6
    ns_index, base_index = runner.work / name / "newsearch", runner.work / name / "baseline"
    runs: dict[str, list[dict]] = {"newsearch": [], "baseline": []}
    for _ in range(repeats):  # alternate, so that a noisy minute hurts both
        runs["newsearch"].append(runner.measure(runner.task("build-newsearch", str(corpus), str(_fresh(ns_index)))))
        runs["baseline"].append(runner.measure(runner.task("build-baseline", str(corpus), str(_fresh(base_index)))))
    result: dict = {"documents": documents, "corpus_mb": megabytes, "repeats": repeats,
                    "indexes": {"newsearch": str(ns_index), "baseline": str(base_index)}}
    for system, reports in runs.items():
        seconds = statistics.median(r["result"]["seconds"] for r in reports)
        result[system] = {
            "seconds": seconds, "all_seconds": [r["result"]["seconds"] for r in reports],
            "docs_per_s": documents / seconds, "mb_per_s": megabytes / seconds,
            "peak_rss_mb": max(r["maxrss_kb"] for r in reports) / 1024,
            "peak_tree_rss_mb": max(r["tree_rss_kb"] for r in reports) / 1024,
            "wall_s": statistics.median(r["wall_s"] for r in reports),
            "index_mb": tree_bytes(ns_index if system == "newsearch" else base_index) / 1e6,
            "indexed": reports[-1]["result"]["documents"],
        }
    result["jobs"] = _jobs_builds(runner, name, corpus, documents, megabytes, repeats)
    return result


def _jobs_builds(runner: Runner, name: str, corpus: Path, documents: int, megabytes: float, repeats: int) -> dict:
    """``newsearch index --jobs N`` for N = 1, 2, when the CLI has the option; else n/a."""
    if not runner.has_jobs():
        return {"available": False}
    result: dict = {"available": True}
    target = runner.work / name / "newsearch-jobs"
    for jobs in (1, 2):
        reports = []
        for _ in range(repeats):
            _fresh(target)
            reports.append(runner.measure([str(runner.cli), "index", str(corpus), "--index", str(target), "--rebuild",
                                           "--jobs", str(jobs), "--quiet", "--json"]))
        seconds = statistics.median(_duration(r) for r in reports)
        result[str(jobs)] = {"seconds": seconds, "docs_per_s": documents / seconds, "mb_per_s": megabytes / seconds,
                             "peak_rss_mb": max(r["maxrss_kb"] for r in reports) / 1024,
                             "peak_tree_rss_mb": max(r["tree_rss_kb"] for r in reports) / 1024,
                             "index_mb": tree_bytes(target) / 1e6}
    shutil.rmtree(target, ignore_errors=True)
    return result


@contextmanager
def other_core_busy(runner: Runner) -> Iterator[None]:
    """Another process spinning on one core meanwhile: a machine shared with other work."""
    burner = subprocess.Popen([runner.python, "-c", "while True: pass"])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()


def busy_builds(runner: Runner, name: str, corpus: Path, repeats: int) -> dict:
    """Full builds while another process keeps one core busy: raw Whoosh, ``--jobs 1`` and ``--jobs 2``.

    A parallel design can look good on an idle machine and lose when a core is taken
    (Whoosh's own two-process writer went from 1.9x to 0.95x); medians of ``repeats``.
    """
    documents = count_files(corpus)
    base_index, ns_index = runner.work / name / "busy-baseline", runner.work / name / "busy-newsearch"
    seconds: dict[str, list[float]] = {"baseline": [], "1": [], "2": []}
    with other_core_busy(runner):
        for _ in range(repeats):  # in turn, so that the load falls on all alike
            report = runner.measure(runner.task("build-baseline", str(corpus), str(_fresh(base_index))))
            seconds["baseline"].append(report["result"]["seconds"])
            for jobs in ("1", "2"):
                report = runner.measure([str(runner.cli), "index", str(corpus), "--index", str(_fresh(ns_index)),
                                         "--jobs", jobs, "--quiet", "--json"])
                seconds[jobs].append(_duration(report))
    shutil.rmtree(base_index, ignore_errors=True)
    shutil.rmtree(ns_index, ignore_errors=True)
    return {run: {"seconds": statistics.median(times), "all_seconds": times,
                  "docs_per_s": documents / statistics.median(times)} for run, times in seconds.items()}


def _duration(report: dict) -> float:
    result = report.get("result")
    if isinstance(result, dict) and isinstance(result.get("duration_s"), (int, float)):
        return float(result["duration_s"])
    return float(report["wall_s"])


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def at(share: float) -> float:  # nearest-rank percentile
        return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]

    return {"p50_ms": 1000 * at(0.50), "p95_ms": 1000 * at(0.95), "max_ms": 1000 * ordered[-1],
            "mean_ms": 1000 * statistics.fmean(ordered), "samples": len(ordered)}


def warm_latency(ns_index: Path, base_index: Path, queries: list[str], repeats: int) -> dict:
    """p50/p95 per system over ``repeats`` passes of ``queries`` after one warm-up pass."""
    import newsearch
    from tests.bench.baseline import Baseline

    index, base = newsearch.open_index(ns_index), Baseline(base_index)
    runs = {
        "newsearch": lambda q: index.search(q, limit=10, passages=3),
        "baseline_plain": lambda q: base.ids(q, limit=10),
        "baseline_highlights": lambda q: base.with_highlights(q, limit=10),
    }
    samples: dict[str, list[float]] = {name: [] for name in runs}
    slowest: list[tuple[float, str]] = []
    errors: dict[str, int] = {name: 0 for name in runs}
    try:
        for rep in range(repeats + 1):
            gc.collect()
            for query in queries:
                for name, run in runs.items():
                    started = time.perf_counter()
                    try:
                        run(query)
                    except Exception:  # a query one system refuses still costs its time
                        errors[name] += 1
                    seconds = time.perf_counter() - started
                    if rep:
                        samples[name].append(seconds)
                        if name == "newsearch":
                            slowest.append((seconds, query))
    finally:
        index.close()
        base.close()
    result = {name: _percentiles(values) for name, values in samples.items()}
    result["errors"] = errors
    result["queries"] = len(queries)
    result["repeats"] = repeats
    result["slowest_newsearch"] = [{"ms": round(1000 * s, 1), "query": q} for s, q in sorted(slowest, reverse=True)[:5]]
    return result


def cold_search(runner: Runner, ns_index: Path, base_index: Path, queries: list[str], runs: int) -> dict:
    """Median wall time of whole processes: `newsearch search` and a baseline script."""
    times: dict[str, list[float]] = {"newsearch": [], "baseline": []}
    for n in range(runs):
        query = queries[n % len(queries)]
        times["newsearch"].append(runner.timed([str(runner.cli), "search", query, "--index", str(ns_index),
                                                "--color", "never"], ok=(0, 1)))
        times["baseline"].append(runner.timed(runner.task("search-baseline", str(base_index), query)))
    return {name: {"median_s": statistics.median(values), "all_s": values} for name, values in times.items()}


def incremental(runner: Runner, source: Path, runs: int, seed: int = 99) -> dict:
    """Re-runs on a copy of ``source``: nothing changed, then 1 % of the files changed."""
    folder = runner.work / "incremental"
    corpus = copy_tree(source, folder / "corpus")
    ns_index, base_index = _fresh(folder / "newsearch"), _fresh(folder / "baseline")
    runner.measure(runner.task("build-newsearch", str(corpus), str(ns_index)))
    runner.measure(runner.task("build-baseline", str(corpus), str(base_index)))
    cli = [str(runner.cli), "index", str(corpus), "--index", str(ns_index), "--quiet", "--json"]
    files = sorted(p for p in corpus.rglob("*.txt"))
    changed_count = max(1, round(len(files) / 100))
    rng = random.Random(seed)
    result: dict = {"files": len(files), "changed_files": changed_count}
    for label in ("unchanged", "changed_1pct"):
        ns_wall, ns_library, base_wall, base_work = [], [], [], []
        for run in range(runs):
            if label == "changed_1pct":
                for path in rng.sample(files, changed_count):
                    with open(path, "a", encoding="utf-8") as handle:
                        handle.write(f"\nUpdated: revision {run} of this article, with a correction.\n")
            report = runner.measure(cli)
            ns_wall.append(report["wall_s"])
            ns_library.append(_duration(report))
            report = runner.measure(runner.task("update-baseline", str(corpus), str(base_index)))
            base_wall.append(report["wall_s"])
            base_work.append(report["result"]["seconds"])
        result[label] = {
            "newsearch_process_s": statistics.median(ns_wall), "newsearch_build_index_s": statistics.median(ns_library),
            "baseline_process_s": statistics.median(base_wall), "baseline_work_s": statistics.median(base_work),
            "runs": runs,
        }
    shutil.rmtree(folder, ignore_errors=True)
    return result
