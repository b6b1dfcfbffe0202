"""One index against N shards on a Dask LocalCluster: build time, warm latency and the fan-out overhead.

    .venv/bin/python -m tests.bench.shards                       # BBC, 4 shards, 2 workers
    .venv/bin/python -m tests.bench.shards --corpus 20000 --only build
    .venv/bin/python -m tests.bench.shards --queries 100 --repeats 3 --only search

The one index is built by one process (``build_index``, one job); the shards by the cluster's
workers (one job per shard). Searches are the remembered-fact queries, top 10 with passages (the
default 3), warm (one pass first, not timed), each query run on the one index, on the shards in
this process and on the shards scored by the cluster, in turn. The fan-out overhead is the median
over queries of (time on the cluster - time on the one index); beside it, this process's CPU per
query, and the load averages at the start and the end (the machine is shared: wall times move
with the load). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.corpora import BBC, cache_root
from tests.bench.run import fact_queries
from tests.bench.speed import _percentiles
from tests.bench.synth import synthetic_corpus


def _corpus(name: str) -> Path:
    return BBC if name == "bbc" else synthetic_corpus(int(name))


def _build(corpus: Path, work: Path, shards: int, address: str) -> dict:
    from newsearch import build_index
    from newsearch.parallel import executor_for
    from newsearch.shards import build_sharded

    started = time.perf_counter()
    build_index([corpus], work / "one")
    one = time.perf_counter() - started
    executor = executor_for(f"dask://{address}")
    assert executor is not None
    try:
        started = time.perf_counter()
        build_sharded([corpus], work / "sharded", shards=shards, executor=executor)
        sharded = time.perf_counter() - started
    finally:
        executor.shutdown()
    return {"one_process_s": round(one, 2), "sharded_on_cluster_s": round(sharded, 2),
            "speedup": round(one / sharded, 2)}


def _search(work: Path, client, queries: list[str], repeats: int) -> dict:
    from newsearch.sentences import forget_texts
    from newsearch.shards import ShardedIndex, open_index

    samples: dict[str, list[float]] = {"one": [], "sharded_here": [], "sharded_on_cluster": []}
    cpu: dict[str, list[float]] = {name: [] for name in samples}
    with open_index(work / "one") as one, open_index(work / "sharded") as here, \
            ShardedIndex(work / "sharded", executor=client.get_executor()) as remote:
        indexes = {"one": one, "sharded_here": here, "sharded_on_cluster": remote}
        for rep in range(repeats + 1):
            for query in queries:
                for name, index in indexes.items():
                    forget_texts()  # each reads its articles as new: none reranks from the one before's caches
                    started, used = time.perf_counter(), time.process_time()
                    index.search(query, limit=10)
                    if rep:
                        samples[name].append(time.perf_counter() - started)
                        cpu[name].append(time.process_time() - used)
    result: dict = {name: _percentiles(values) for name, values in samples.items()}
    overhead = [remote - one for remote, one in zip(samples["sharded_on_cluster"], samples["one"])]
    result["fan_out_overhead_p50_ms"] = round(1000 * statistics.median(overhead), 2)
    # This process's CPU (the coordinator's, with the in-process scheduler's; not the workers'):
    # steadier than wall time on a shared machine.
    result["coordinator_cpu_p50_ms"] = {name: round(1000 * statistics.median(values), 2)
                                        for name, values in cpu.items()}
    result["queries"], result["repeats"] = len(queries), repeats
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.shards", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="bbc", help="bbc, or a synthetic corpus's size (20000) [bbc]")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes, one thread each")
    parser.add_argument("--queries", type=int, default=100, help="remembered-fact queries [100]")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the queries [3]")
    parser.add_argument("--only", choices=("build", "search"), help="one stage (search builds untimed)")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    corpus = _corpus(args.corpus)
    work = Path(tempfile.mkdtemp(prefix="shards-", dir=cache_root()))
    figures: dict = {"corpus": args.corpus, "shards": args.shards, "workers": args.workers,
                     "load_average_start": [round(load, 2) for load in os.getloadavg()]}
    try:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0", silence_logs=40) as cluster, Client(cluster) as client:
            address = cluster.scheduler_address.removeprefix("tcp://")
            built = _build(corpus, work, args.shards, address)
            if args.only != "search":
                figures["build"] = built
            if args.only != "build":
                figures["search"] = _search(work, client, fact_queries(args.queries), args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["load_average_end"] = [round(load, 2) for load in os.getloadavg()]
    json.dump(figures, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
