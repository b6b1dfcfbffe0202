"""The machine, the targets, and the Markdown table of one benchmark run."""

from __future__ import annotations

import os
import platform
import sqlite3
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
        "packages": {name: version(name) for name in ("newsearch", "whoosh-reloaded", "nltk", "click", "tantivy")}
        | {"sqlite": sqlite3.sqlite_version},
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


def _peaks(build: dict) -> str:
    """A build's peak memory: all its processes' PSS (older records: "—"), their RSS, the largest RSS."""
    pss = f"{build['peak_tree_pss_mb']:,.0f}" if "peak_tree_pss_mb" in build else "—"
    return f"{pss}; {build['peak_tree_rss_mb']:,.0f}; {build['peak_rss_mb']:,.0f}"


def _pair(figures: dict | None) -> str:
    return f"{figures['p50_ms']:.1f} / {figures['p95_ms']:.1f}" if figures else "—"


def _rows(data: dict) -> list[tuple[str, str]]:
    """(row label, system) in the table's order: newsearch --jobs 1 and 2, then each peer."""
    build = data.get("build") or {}
    measured = {*(data.get("latency") or {}), *(data.get("cold") or {}), *(row.split(" ")[0] for row in build)}
    systems = [system for system in SYSTEM_ORDER if system in measured]
    rows = []
    for system in systems:
        if system == "newsearch":
            jobs = [(row, system) for row in ("newsearch --jobs 1", "newsearch --jobs 2") if row in build]
            rows += jobs or [("newsearch", system)]
        else:
            rows.append((system, system))
    return rows


SYSTEM_ORDER = ("newsearch", "whoosh", "fts5", "tantivy")
SYSTEM_LABELS = {"whoosh": "raw Whoosh", "fts5": "SQLite FTS5", "tantivy": "tantivy"}


def _speed_table(name: str, data: dict) -> list[str]:
    """One row per system (newsearch once per ``--jobs``); figures a system shares between its rows
    (an index is searched the same whichever build made it) are shown on each."""
    build, latency, cold = data.get("build") or {}, data.get("latency") or {}, data.get("cold") or {}
    facets, incremental = data.get("facets") or {}, (data.get("incremental") or {}).get("changed_1pct", {})
    if not (build or latency or cold or facets or incremental):
        return []
    fts5_p95 = (latency.get("fts5") or {}).get("plain", {}).get("p95_ms")
    table = Table(["system", "build docs/s", "peak memory MB (all PSS; all RSS; largest RSS)", "index MB",
                   "warm p50 / p95 ms", "p95 / FTS5", "+ passages p50 / p95 ms", "cold search s",
                   "facets + timeline ms", "1 % update s"])
    for row, system in _rows(data):
        made = build.get(row) or {}
        warm = latency.get(system) or {}
        plain = warm.get("plain", {}).get("p95_ms")
        found = facets.get(system)
        update = incremental.get(system)
        table.add(
            SYSTEM_LABELS.get(row, f"`{row}`" if row != "newsearch" else row),
            f"{made['docs_per_s']:,.0f}" if made else "—",
            _peaks(made) if made else "—",
            f"{made['index_mb']:,.0f}" if made else "—",
            _pair(warm.get("plain")), _ratio(plain, fts5_p95) if fts5_p95 and plain else "—",
            _pair(warm.get("snippets")),
            f"{cold[system]['median_s']:.3f}" if system in cold else "—",
            f"{found['median_ms']:,.0f}" if found else "—",
            f"{update['process_s']:.1f} ({update['inside_s']:.1f})" if update else "—",
        )
    notes = []
    if build:
        first = next(iter(build.values()))
        built = min(figures.get("built", "?") for figures in build.values())
        when = f"; built {built} (cached: this run did not build)" if data.get("build_cached") else ""
        notes.append(f"Build: {first['documents']:,} articles, {first['corpus_mb']:.0f} MB; time inside the process, "
                     f"median of {len(first['all_seconds'])}{when}. newsearch: `newsearch index --rebuild --jobs N`; "
                     "tantivy chooses its own indexing threads.")
    if latency:
        notes.append(f"Warm: {latency['queries']} remembered-fact queries (4–6 words, OR) × {latency['repeats']}, "
                     "top 10; "
                     "\"+ passages\": newsearch 3 passages, peers their own snippets (Whoosh `highlights`, FTS5 "
                     "`snippet()`, tantivy `SnippetGenerator`). Cold: median of whole processes, open + search + "
                     "print.")
    if facets:
        shares = ", ".join(f"{SYSTEM_LABELS.get(s, s)} {facets[s]['share']:.0%}" for s in SYSTEM_ORDER if s in facets)
        notes.append(f"Facets: source, year, month of the articles matching `{facets['word']}` ({shares} of the "
                     "articles), median of 5; newsearch also computes its monthly timeline, for the peers the month "
                     "counts are the timeline.")
    if incremental:
        inc = data["incremental"]
        notes.append(f"Update: {inc['changed_files']:,} files changed, on a copy of each index: the process (and the "
                     "work inside it).")
    threads, memory = data.get("threads"), data.get("memory")
    if threads:
        rates = [f"{count} thread{'s' if count != '1' else ''} {threads[count]['queries_per_s']:.1f} q/s"
                 for count in ("1", "2", "4")]
        notes.append(f"newsearch threads sharing one `Index` ({threads['queries']} queries, 3 passages): "
                     f"{', '.join(rates)} ({_ratio(threads['4']['queries_per_s'], threads['1']['queries_per_s'])} "
                     "at 4; target ≥ 1.5×).")
    if memory:
        def line(point: dict) -> str:
            return (f"{point['private_mb']:,.0f} MB private + {point['index_mapped_mb']:,.0f} MB of index files "
                    f"mapped (RSS {point['rss_mb']:,.0f} MB)")

        notes.append(f"newsearch searching process: after its first query {line(memory['first_query'])}; after "
                     f"{memory['queries']} queries {line(memory['last_query'])}.")
    busy = data.get("busy")
    if busy:
        rates = [f"{SYSTEM_LABELS.get(row, row)} {figures['docs_per_s']:,.0f} docs/s" for row, figures in busy.items()]
        notes.append(f"Builds with another process busy on one core: {', '.join(rates)}.")
    return [table.render(), *("- " + note for note in notes), _targets(name, data)]


def _targets(name: str, data: dict) -> str:
    """Issue 14's targets that this corpus's figures can judge."""
    size = (next(iter((data.get("build") or {}).values()), None) or {}).get("documents", 0)
    build, latency = data.get("build") or {}, data.get("latency") or {}
    checks: list[tuple[str, bool | None]] = []
    ns = latency.get("newsearch", {}).get("snippets", {}).get("p95_ms")
    fts5 = latency.get("fts5", {}).get("plain", {}).get("p95_ms")
    if ns is not None and size >= 100_000:
        limit = 30 if size < 1_000_000 else 100
        checks.append((f"warm p95 with 3 passages {ns:.0f} ms ≤ {limit} ms", ns <= limit))
    if ns is not None and fts5:
        checks.append((f"warm p95 with 3 passages ≤ 0.5× FTS5 p95 without snippets: {ns / fts5:.2f}×",
                       ns <= 0.5 * fts5))
    one, two, whoosh = build.get("newsearch --jobs 1"), build.get("newsearch --jobs 2"), build.get("whoosh")
    if two and size >= 100_000:
        checks.append((f"`--jobs 2` {two['docs_per_s']:,.0f} docs/s ≥ 2,500", two["docs_per_s"] >= 2500))
    if one and two:
        ratio = two["docs_per_s"] / one["docs_per_s"]
        checks.append((f"`--jobs 2` ≥ 1.6× `--jobs 1`: {ratio:.2f}×", ratio >= 1.6))
    if two and whoosh:
        ratio = two["index_mb"] / whoosh["index_mb"]
        checks.append((f"index size ≤ 1.3× raw Whoosh: {ratio:.2f}×", ratio <= 1.3))
    if two and size >= 1_000_000:
        checks.append((f"1M build {two['seconds'] / 60:.1f} min ≤ 12 min", two["seconds"] <= 720))
        kind = "PSS" if "peak_tree_pss_mb" in two else "RSS"
        peak = two[f"peak_tree_{kind.lower()}_mb"]
        checks.append((f"1M build peak memory ({kind}, all processes) {peak:,.0f} MB ≤ 2 GB", peak <= 2 * GB))
    facets = (data.get("facets") or {}).get("newsearch")
    if facets and size >= 1_000_000:
        checks.append((f"facets + timeline {facets['median_ms']:.0f} ms ≤ 250 ms", facets["median_ms"] <= 250))
    cold = (data.get("cold") or {}).get("newsearch")
    if cold:
        limit = 0.5 if size >= 1_000_000 else 0.35
        checks.append((f"cold `newsearch search` {cold['median_s']:.2f} s ≤ {limit} s", cold["median_s"] <= limit))
    threads = data.get("threads")
    if threads:
        ratio = threads["4"]["queries_per_s"] / threads["1"]["queries_per_s"]
        checks.append((f"4 threads ≥ 1.5× 1 thread: {ratio:.2f}×", ratio >= 1.5))
    memory = data.get("memory")
    if memory and size >= 1_000_000:
        private = memory["last_query"]["private_mb"]
        checks.append((f"private memory after {memory['queries']} queries {private:,.0f} MB ≤ 600 MB",
                       private <= 600))
    incremental = data.get("incremental", {}).get("unchanged", {}).get("newsearch")
    if incremental and name == "bbc":
        checks.append((f"no-change `newsearch index` re-run {incremental['process_s']:.2f} s ≤ 0.5 s",
                       incremental["process_s"] <= 0.5))
    if not checks:
        return ""
    return "Targets: " + "; ".join(f"{text} {_verdict(ok)}" for text, ok in checks) + "."


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
    for note in results.get("notes", []):
        lines += ["", f"Note: {note}"]
    for name, data in results.get("corpora", {}).items():
        tables = _speed_table(name, data)
        if tables:
            lines += ["", f"## Speed: {data['label']}", "", *(part for part in tables if part)]
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
