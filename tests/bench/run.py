"""The newsearch benchmark: speed and quality against raw Whoosh, in one command.

    python -m tests.bench.run --quick                        # BBC only, a few minutes
    python -m tests.bench.run                                # BBC + 20k + 100k synthetic articles
    python -m tests.bench.run --only quality                 # one stage (build, latency, cold, incremental, quality,
                                                             # ablation)
    python -m tests.bench.run --scale 20000 --skip incremental
    python -m tests.bench.run --scale 1000000 --systems newsearch,fts5,tantivy   # the 1M tier, on request

Writes ``bench-<UTC time>.md`` / ``.json`` (and ``latest.md`` / ``latest.json``,
``quality-misses.jsonl``) into ``--out`` (default ``bench-results/``, git-ignored).
See tests/bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # `python tests/bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import peers, querysets, report, speed  # noqa: E402
from tests.bench.corpora import BBC, REPO, cache_root, count_files, read_bbc, write_body_only_copy  # noqa: E402
from tests.bench.synth import DEFAULT_SEED, common_word, synthetic_corpus  # noqa: E402

STAGES = ("build", "latency", "cold", "facets", "incremental", "threads", "memory", "quality", "ablation")
SPEED_STAGES = ("build", "latency", "cold", "facets", "incremental", "threads", "memory")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description="newsearch benchmark")
    parser.add_argument("--quick", action="store_true",
                        help="BBC only, one build each, fewer latency queries and repetitions")
    parser.add_argument("--scale", default="20000,100000",
                        help="sizes of the synthetic corpora, comma-separated [default: 20000,100000]")
    parser.add_argument("--skip-scale", action="store_true", help="no synthetic corpora (BBC only)")
    parser.add_argument("--systems", default=",".join(peers.SYSTEMS),
                        help=f"comma-separated systems for the speed figures [default: {','.join(peers.SYSTEMS)}]")
    parser.add_argument("--only", default="", help=f"comma-separated stages to run: {', '.join(STAGES)}")
    parser.add_argument("--skip", default="", help="comma-separated stages to leave out")
    parser.add_argument("--out", default="bench-results", help="output folder [default: bench-results/]")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic corpora")
    parser.add_argument("--jobs", default="1,2",
                        help="newsearch's --jobs values in the build stage, comma-separated [default: 1,2]")
    parser.add_argument("--build-repeats", type=int, help="full builds per system and corpus [quick 1, else 3 on BBC]")
    parser.add_argument("--latency-queries", type=int,
                        help="remembered-fact queries for warm latency [100; quick 25]")
    parser.add_argument("--latency-repeats", type=int,
                        help="timed passes over the latency queries [BBC 3, quick and synthetic 1]")
    parser.add_argument("--thread-queries", type=int, default=40, help="queries per thread count [default: 40]")
    parser.add_argument("--cold-runs", type=int, default=7, help="cold search processes per system [default: 7]")
    parser.add_argument("--ablation-queries", type=int,
                        help="queries per quality set in the ablation [all 300; quick 100]")
    parser.add_argument("--keep", action="store_true", help=f"keep the work folder {cache_root()}/run-<pid>")
    args = parser.parse_args(argv)
    args.systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    for name in args.systems:
        if name not in peers.SYSTEMS:
            parser.error(f"unknown system {name!r}: choose from {', '.join(peers.SYSTEMS)}")
    args.stages = _stages(parser, args.only, args.skip)
    try:
        args.jobs = tuple(int(jobs) for jobs in args.jobs.split(",") if jobs.strip())
    except ValueError:
        parser.error(f"--jobs takes whole numbers separated by commas, not {args.jobs!r}")
    if not args.jobs or min(args.jobs) < 1:
        parser.error(f"--jobs needs at least one number of jobs, each 1 or more, not {','.join(map(str, args.jobs))!r}")
    args.sizes = [] if args.quick or args.skip_scale else [int(s) for s in args.scale.split(",") if s.strip()]
    return args


def _stages(parser: argparse.ArgumentParser, only: str, skip: str) -> list[str]:
    def names(text: str) -> list[str]:
        chosen = [name.strip() for name in text.split(",") if name.strip()]
        for name in chosen:
            if name not in STAGES:
                parser.error(f"unknown stage {name!r}: choose from {', '.join(STAGES)}")
        return chosen

    stages = names(only) or list(STAGES)
    return [stage for stage in stages if stage not in names(skip)]


def snapshot_library(work: Path) -> dict:
    """Copy newsearch/ aside and import it from there, here and in every child process.

    The working tree is shared with people editing the library: a long run must measure one
    version throughout, not whatever is on disk when each stage starts.
    """
    source = REPO / "newsearch"
    target = work / "lib"
    shutil.copytree(source, target / "newsearch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = hashlib.sha256()
    for path in sorted((target / "newsearch").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
    # Bytecode, as pip writes it when it installs a package: without it every child process
    # compiles newsearch again (0.1-0.3 s) wherever PYTHONDONTWRITEBYTECODE is set, as here.
    compileall.compile_dir(target / "newsearch", quiet=1)
    sys.path.insert(0, str(target))
    return {"path": str(target), "sha256": digest.hexdigest()[:12]}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fact_queries(count: int) -> list[str]:
    """The first ``count`` remembered-fact queries: 4-6 words, OR'ed by every system."""
    return [record["query"] for record in querysets.load("fact")[:count]]


def run_corpus(runner: speed.Runner, cache: speed.IndexCache, args: argparse.Namespace, name: str, corpus: Path,
               data: dict) -> None:
    quick, stages, synthetic = args.quick, set(args.stages), name != "bbc"
    systems = args.systems
    if "build" in stages:
        repeats = args.build_repeats or (1 if quick or synthetic else 3)
        log(f"{name}: full builds, {repeats} per system and jobs")
        data["build"] = {}
        for system in systems:
            rows = [(row, jobs) for row, _, jobs in speed.build_rows([system], args.jobs)]
            data["build"].update(cache.build(system, corpus, rows, repeats))
            log(f"{name}: {system} built: "
                + ", ".join(f"{row} {data['build'][row]['seconds']:.1f} s" for row, _ in rows))
        if name == "bbc" and "newsearch" in systems and "whoosh" in systems:
            log(f"{name}: full builds with the other core busy, {repeats} per row")
            data["busy"] = speed.busy_builds(runner, corpus, repeats)
    if not stages & set(SPEED_STAGES):
        return
    indexes = {system: cache.ensure(system, corpus) for system in systems}
    if "build" not in stages:  # the figures of the builds that made the cached indexes
        data["build"] = {row: figures for system in systems
                         for row, figures in (cache.builds(system, corpus) or {}).items()}
        data["build_cached"] = True
    if "latency" in stages:
        per_set = args.latency_queries or (25 if quick else 100)
        repeats = args.latency_repeats or (1 if quick or synthetic else 3)
        log(f"{name}: warm latency, {per_set} queries x {repeats}")
        data["latency"] = speed.warm_latency(indexes, fact_queries(per_set), repeats)
    if "cold" in stages:
        log(f"{name}: cold search, {args.cold_runs} processes per system")
        data["cold"] = speed.cold_search(runner, indexes, fact_queries(7), args.cold_runs)
    if "facets" in stages and synthetic:  # BBC articles have no dates
        word = common_word(args.seed)
        log(f"{name}: facets and timeline of {word!r}")
        data["facets"] = speed.facets(indexes, word, count_files(corpus))
    if "incremental" in stages:
        runs = 1 if quick or synthetic else 3
        log(f"{name}: incremental updates, 1 % of the files, {runs} run(s)")
        data["incremental"] = speed.incremental(runner, corpus, indexes, runs, in_place=synthetic)
    if "newsearch" in indexes and "threads" in stages:
        log(f"{name}: threads sharing one Index, {args.thread_queries} queries each")
        data["threads"] = speed.threads(indexes["newsearch"], fact_queries(args.thread_queries))
    if "newsearch" in indexes and "memory" in stages:
        log(f"{name}: memory of a searching process, 300 queries")
        data["memory"] = speed.memory(runner, indexes["newsearch"], fact_queries(300))


def quality_indexes(runner: speed.Runner, systems: tuple[str, ...]) -> dict[str, Path]:
    """``<system>_full`` and ``<system>_body_only`` (for the headline set) for each system (newsearch
    with ``build_index()``'s defaults, baseline = raw Whoosh): from an earlier stage of this run,
    or built now (untimed)."""
    indexes = {}
    body_only = runner.work / "bbc-body-only"
    for system in systems:
        for kind, folder in (("full", runner.work / "bbc"), ("body_only", body_only)):
            path = folder / system
            if not path.exists():  # the work folder is emptied at the start of every run
                corpus = BBC
                if kind == "body_only":
                    log(f"quality: body-only {system} index for the headline set")
                    if not (body_only / "corpus").exists():
                        write_body_only_copy(read_bbc(), body_only / "corpus")
                    corpus = body_only / "corpus"
                else:
                    log(f"bbc: building the {system} index (untimed)")
                command = (runner.task("build-newsearch", str(corpus), str(speed._fresh(path))) if system == "newsearch"
                           else runner.build_command("whoosh", corpus, speed._fresh(path)))
                runner.measure(command)
            indexes[f"{system}_{kind}"] = path
    return indexes


def run_quality(runner: speed.Runner, out: Path) -> dict:
    from tests.bench import quality

    indexes = quality_indexes(runner, ("newsearch", "baseline"))
    sets = {name: querysets.load(name) for name in querysets.SETS}
    log("quality: 4 x 300 queries per system")
    results, misses = quality.evaluate(indexes, sets)
    with open(out / "quality-misses.jsonl", "w", encoding="utf-8") as handle:
        for row in misses:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return results


def run_ablation(runner: speed.Runner, full: dict | None, per_set: int | None) -> dict:
    """The first ``per_set`` queries of each quality set (None: all) with the full ranking and each
    reranking signal off in turn (newsearch only); the quality stage's figures (``full``) are reused
    for the full ranking when the sets are whole."""
    from tests.bench import quality

    indexes = quality_indexes(runner, ("newsearch",))
    whole = {name: querysets.load(name) for name in querysets.SETS}
    sets = {name: records[:per_set] for name, records in whole.items()}
    if any(len(sets[name]) < len(whole[name]) for name in sets):
        full = None
    sizes = sorted({len(records) for records in sets.values()})
    log(f"ablation: 4 x {'/'.join(map(str, sizes))} queries, full ranking{' (from the quality stage)' if full else ''}"
        f" and each signal off in turn")
    return quality.ablation(indexes, sets, full, log)


def guarded(results: dict, name: str, stage: Callable[[], object]) -> None:
    """Run one part; a failure is recorded and reported, and the run goes on."""
    try:
        stage()
    except Exception as exc:  # the other corpora's figures are still worth writing
        log(f"{name}: FAILED: {exc!r}")
        results["errors"].append(f"{name}: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    args = parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runner = speed.Runner(work=cache_root() / f"run-{os.getpid()}")
    if not runner.cli.exists():
        raise SystemExit(f"{runner.cli} not found: install newsearch into this interpreter's venv (pip install -e .)")
    shutil.rmtree(runner.work, ignore_errors=True)
    library = snapshot_library(runner.work)
    runner.pythonpath = library["path"]
    cache = speed.IndexCache(runner)
    skipped = [note for note in map(peers.missing, args.systems) if note]
    args.systems = [system for system in args.systems if not peers.missing(system)]
    results: dict = {"mode": "quick" if args.quick else "full",
                     "command": " ".join(["python -m tests.bench.run", *(argv if argv is not None else sys.argv[1:])]),
                     "stages": args.stages, "systems": args.systems, "machine": report.machine(), "library": library,
                     "corpora": {}, "errors": [], "notes": skipped}
    try:
        corpora = [("bbc", "BBC (real articles)", BBC)]
        for size in args.sizes if set(SPEED_STAGES) & set(args.stages) else ():
            log(f"synthetic corpus of {size:,} articles (seed {args.seed})")
            label = f"synthetic {size:,} (seed {args.seed})"
            corpora.append((f"synth-{size}", label, synthetic_corpus(size, args.seed)))
        for name, label, corpus in corpora:
            data = results["corpora"].setdefault(name, {"label": label, "path": str(corpus)})
            guarded(results, name, functools.partial(run_corpus, runner, cache, args, name, corpus, data))
        if "quality" in args.stages:
            guarded(results, "quality",
                    lambda: results.__setitem__("quality", run_quality(runner, out)))
        if "ablation" in args.stages:
            guarded(results, "ablation",
                    lambda: results.__setitem__("ablation", run_ablation(
                        runner, results.get("quality"),
                        args.ablation_queries or (100 if args.quick else None))))
    finally:
        if not args.keep:
            shutil.rmtree(runner.work, ignore_errors=True)
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["elapsed_s"] = time.perf_counter() - started
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = report.markdown(results)
    for stem in (f"bench-{stamp}", "latest"):
        (out / f"{stem}.md").write_text(text, encoding="utf-8")
        (out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(text)
    log(f"done in {results['elapsed_s'] / 60:.1f} min: {out / f'bench-{stamp}.md'}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
