"""The machine, the targets, and the Markdown table of one benchmark run."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata

from tests.bench.corpora import REPO

GB = 1024.0  # MB


def machine() -> dict:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(memory_gb, 1) if memory_gb else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "packages": {name: version(name) for name in ("newsearch", "whoosh-reloaded", "nltk", "click")},
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_library": bool(git("status", "--porcelain", "--", "newsearch")),
        "loadavg_start": list(os.getloadavg()),
    }


# --- formatting helpers ------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("pass" if ok else "**FAIL**")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "n/a"


class Table:
    def __init__(self, header: list[str]) -> None:
        self.lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def add(self, *cells: object) -> None:
        self.lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")

    def render(self) -> str:
        return "\n".join(self.lines)


def _speed_table(name: str, data: dict) -> list[str]:
    build = data.get("build")
    table = Table(["figure", "newsearch", "baseline", "newsearch / baseline", "target", "pass"])
    big = name.endswith("100000")
    if build:
        ns, base = build["newsearch"], build["baseline"]
        jobs = build["jobs"]
        ratio = ns["docs_per_s"] / base["docs_per_s"]
        if jobs.get("available"):  # build_index() then uses one worker per core by default
            label, target, verdict = "build, `build_index()` with its defaults", "—", "—"
        else:
            label, target, verdict = "build, 1 process (`build_index()` as is)", "≥ 1.3×", _verdict(ratio >= 1.3)
        table.add(label, f"{ns['docs_per_s']:.0f} docs/s, {ns['mb_per_s']:.2f} MB/s",
                  f"{base['docs_per_s']:.0f} docs/s, {base['mb_per_s']:.2f} MB/s", f"{ratio:.2f}×", target, verdict)
        for count, goal in (("1", 1.3), ("2", 2.2)):
            if jobs.get("available"):
                run = jobs[count]
                jratio = run["docs_per_s"] / base["docs_per_s"]
                table.add(f"build, `newsearch index --jobs {count}`",
                          f"{run['docs_per_s']:.0f} docs/s, {run['mb_per_s']:.2f} MB/s",
                          f"{base['docs_per_s']:.0f} docs/s", f"{jratio:.2f}×", f"≥ {goal}×", _verdict(jratio >= goal))
            else:
                table.add(f"build, `--jobs {count}`", "n/a (no `--jobs` option)", f"{base['docs_per_s']:.0f} docs/s",
                          "n/a", f"≥ {goal}×", "n/a")
        busy = build.get("busy")
        if busy:
            for count in ("1", "2"):
                bratio = busy[count]["docs_per_s"] / busy["baseline"]["docs_per_s"]
                table.add(f"build, `--jobs {count}`, another process busy on one core",
                          f"{busy[count]['docs_per_s']:.0f} docs/s", f"{busy['baseline']['docs_per_s']:.0f} docs/s",
                          f"{bratio:.2f}×", "—", "—")
        memory_rows = [("peak build memory (all processes; largest one)", ns)]
        if jobs.get("available"):
            memory_rows.append(("peak build memory, `--jobs 2`", jobs["2"]))
        for label, run in memory_rows:
            table.add(label, f"{run['peak_tree_rss_mb']:.0f} MB; {run['peak_rss_mb']:.0f} MB",
                      f"{base['peak_tree_rss_mb']:.0f} MB; {base['peak_rss_mb']:.0f} MB",
                      _ratio(run["peak_tree_rss_mb"], base["peak_tree_rss_mb"]), "≤ 1 GB" if big else "—",
                      _verdict(run["peak_tree_rss_mb"] <= GB) if big else "—")
        size_ratio = ns["index_mb"] / base["index_mb"]
        table.add("index size on disk", f"{ns['index_mb']:.1f} MB", f"{base['index_mb']:.1f} MB", f"{size_ratio:.2f}×",
                  "≤ 1.2×", _verdict(size_ratio <= 1.2))
    latency = data.get("latency")
    if latency:
        ns, plain, high = latency["newsearch"], latency["baseline_plain"], latency["baseline_highlights"]
        label = f"{latency['queries']} queries × {latency['repeats']}"
        for stat in ("p50_ms", "p95_ms"):
            ratio = ns[stat] / plain[stat]
            target = "≤ 0.5×" if big and stat == "p95_ms" else "—"
            table.add(f"warm query {stat[:3]}, top-10 + 3 passages vs baseline without snippets ({label})",
                      f"{ns[stat]:.1f} ms", f"{plain[stat]:.1f} ms", f"{ratio:.2f}×", target,
                      _verdict(ratio <= 0.5) if target != "—" else "—")
        for stat in ("p50_ms", "p95_ms"):
            ratio = ns[stat] / high[stat]
            target = "≤ 1.0×" if name == "bbc" and stat == "p95_ms" else "—"
            table.add(f"warm query {stat[:3]} vs baseline with `hit.highlights`", f"{ns[stat]:.1f} ms",
                      f"{high[stat]:.1f} ms", f"{ratio:.2f}×", target, _verdict(ratio <= 1.0) if target != "—" else "—")
    cold = data.get("cold")
    if cold:
        ns, base = cold["newsearch"]["median_s"], cold["baseline"]["median_s"]
        table.add(f"cold `newsearch search` process, median of {len(cold['newsearch']['all_s'])}", f"{ns:.3f} s",
                  f"{base:.3f} s", _ratio(ns, base), "≤ 0.35 s", _verdict(ns <= 0.35))
    incremental = data.get("incremental")
    if incremental:
        same, changed = incremental["unchanged"], incremental["changed_1pct"]
        table.add(f"re-run, nothing changed: `newsearch index` process (median of {same['runs']})",
                  f"{same['newsearch_process_s']:.3f} s", f"{same['baseline_process_s']:.3f} s",
                  _ratio(same["newsearch_process_s"], same["baseline_process_s"]), "≤ 0.5 s",
                  _verdict(same["newsearch_process_s"] <= 0.5))
        table.add("re-run, nothing changed: time inside the process", f"{same['newsearch_build_index_s']:.3f} s",
                  f"{same['baseline_work_s']:.3f} s", _ratio(same["newsearch_build_index_s"], same["baseline_work_s"]),
                  "—", "—")
        table.add(f"re-run, {incremental['changed_files']} files (1 %) changed: process",
                  f"{changed['newsearch_process_s']:.3f} s", f"{changed['baseline_process_s']:.3f} s",
                  _ratio(changed["newsearch_process_s"], changed["baseline_process_s"]), "—", "—")
    if len(table.lines) == 2:
        return []
    return [table.render()]


QUALITY_TARGETS = {("headline", "mrr10"): 0.82, ("fact", "mrr10"): 0.97, ("fact", "passage_hit1"): 0.95,
                   ("quoted", "mrr10"): 0.95, ("typo", "mrr10"): 0.90}
METRIC_NAMES = {"mrr10": "MRR@10", "recall10": "Recall@10", "hit1": "hit@1", "passage_hit1": "passage hit@1",
                "passage_contained1": "passage contains sentence@1"}
SET_NAMES = {"headline": "(a) headline → article, body-only index", "fact": "(b) remembered fact",
             "quoted": "(c) quoted span", "typo": "(d) remembered fact with a typo"}


def _quality_table(quality: dict) -> str:
    table = Table(["query set (300 each)", "metric", "newsearch", "baseline", "target", "pass"])
    for name, data in quality.items():
        for metric, label in METRIC_NAMES.items():
            if metric not in data["newsearch"]:
                continue
            value, base = data["newsearch"][metric], data["baseline"][metric]
            target = QUALITY_TARGETS.get((name, metric))
            table.add(SET_NAMES.get(name, name), label, f"{value:.3f}", f"{base:.3f}",
                      f"≥ {target}" if target else "—", _verdict(value >= target) if target else "—")
        errors = data["newsearch"]["errors"], data["baseline"]["errors"]
        if any(errors):
            table.add(SET_NAMES.get(name, name), "queries that raised", errors[0], errors[1], "—", "—")
    return table.render()


SHORT_SET_NAMES = {"headline": "(a) headline", "fact": "(b) fact", "quoted": "(c) quoted", "typo": "(d) typo"}
ABLATION_METRICS = {"mrr10": "MRR@10", "passage_hit1": "passage hit@1"}


def _ablation_table(ablation: dict) -> str:
    rows = ablation["signals"]
    first = next(iter(rows.values()))["sets"]
    columns = [(name, metric) for name, figures in first.items() for metric in ABLATION_METRICS if metric in figures]
    table = Table(["switched off", "configuration", *(f"{SHORT_SET_NAMES.get(name, name)} {ABLATION_METRICS[metric]}"
                                                      for name, metric in columns)])
    for label, row in rows.items():
        changes = ", ".join(f"`{field}={value!r}`" for field, value in row["changes"].items()) or "the defaults"
        cells = []
        for name, metric in columns:
            figures = row["sets"][name]
            delta = figures[f"{metric}_delta"]
            change = "±0" if delta == 0 else f"{delta:+.3f}"  # +0.000: moved by less than 0.0005
            cells.append(f"{figures[metric]:.3f}" if not row["changes"] else f"{figures[metric]:.3f} ({change})")
        table.add("nothing (full ranking)" if not row["changes"] else label, changes, *cells)
    return table.render()


def markdown(results: dict) -> str:
    info = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    lines = [
        f"# newsearch benchmark ({results['mode']})",
        "",
        f"{info['date']} · {info['cores']} cores ({info['cores_usable']} usable) · {info['cpu'] or 'cpu unknown'} · "
        f"{info['memory_gb']} GB · Python {info['python']} · {packages} · commit {info['git_commit']}"
        + (" (library modified)" if info["git_dirty_library"] else "")
        + f" · load average {info['loadavg_start'][0]:.2f} at start, {info.get('loadavg_end', [0])[0]:.2f} at end"
        + f" · {results['elapsed_s'] / 60:.1f} min",
        "",
        f"Command: `{results['command']}` · library measured: a copy of `newsearch/` taken at the start "
        f"(sha256 {results.get('library', {}).get('sha256', '?')})",
    ]
    for error in results.get("errors", []):
        lines += ["", f"**Stage failed**: {error}"]
    for name, data in results.get("corpora", {}).items():
        tables = _speed_table(name, data)
        if tables:
            build = data.get("build") or {}
            size = f" ({build['documents']:,} articles, {build['corpus_mb']:.1f} MB)" if build else ""
            lines += ["", f"## Speed: {data['label']}{size}", "", *tables]
    if results.get("quality"):
        lines += ["", "## Quality: BBC (2,225 articles)", "", _quality_table(results["quality"])]
    if results.get("ablation"):
        sizes = sorted(set(results["ablation"].get("queries", {}).values()))
        counted = f"the first {'/'.join(map(str, sizes))} queries of each set" if sizes else "every query set"
        lines += ["", "## Ablation: each reranking signal switched off in turn (BBC, newsearch)",
                  "", f"On {counted}: each figure, and in brackets its change against the full ranking "
                  "(`newsearch.scoring.SIGNALS`; tests/bench/README.md says what each row switches off).",
                  "", _ablation_table(results["ablation"])]
    return "\n".join(lines) + "\n"
