"""A bounded load test of `newsearch serve`, on the loopback interface only (not part of the test suite).

    python -m tests.bench.web_load --index bench-results/web/bbc-index --workers 2 --clients 16 --seconds 30
    python -m tests.bench.web_load --index ... --workers 2 --rebuild ../shared/corpora/bbc-news

Starts the server with ``--workers N`` on a free 127.0.0.1 port, runs ``--clients`` threads that
each send one search after another (keep-alive, a fixed list of queries) for ``--seconds``, and
prints requests/s, p50/p95/max latency and the errors (any status but 200, any failed request).
With ``--rebuild CORPUS`` a ``newsearch index --rebuild`` of that corpus runs while it measures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support.web import running_server  # noqa: E402

QUERIES = [
    "north korea", "tony blair", "election labour", "oil prices", "mobile phone", "champions league",
    "film award", "interest rates", "music album", "iraq war", "microsoft", "economy growth",
    "chelsea", "tax cuts", "broadband", "\"prime minister\"", "gordon brown budget", "dollar euro",
    "oscar nomination", "rugby england", "terror laws", "games console", "airline", "china exports",
    "yukos", "immigration", "virus software", "box office", "strike", "pension",
]


def client(base_port: int, stop: threading.Event, start: int, latencies: list[float], errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", base_port, timeout=30)
    number = start
    while not stop.is_set():
        path = "/api/search?" + urlencode({"q": QUERIES[number % len(QUERIES)], "limit": 10})
        number += 1
        began = time.perf_counter()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                errors.append(f"{response.status} {body[:200]!r}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", base_port, timeout=30)
            continue
        latencies.append(time.perf_counter() - began)
    connection.close()


def measure(base: str, clients: int, seconds: float, rebuild: list[str] | None) -> dict:
    port = int(base.rsplit(":", 1)[1])
    latencies: list[float] = []
    errors: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(port, stop, number * 7, latencies, errors))
               for number in range(clients)]
    rebuilding = subprocess.Popen(rebuild, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) if rebuild else None
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    rebuild_result = None
    if rebuilding:
        rebuilding.wait()
        rebuild_result = {"exit": rebuilding.returncode, "stderr": rebuilding.stderr.read().decode()[-300:]
                          if rebuilding.stderr else ""}
    ordered = sorted(latencies)
    return {
        "requests": len(latencies), "errors": len(errors), "first_errors": errors[:5],
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1) if ordered else None,
        "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
        "rebuild": rebuild_result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rebuild", metavar="CORPUS", help="run `newsearch index --rebuild CORPUS` meanwhile")
    arguments = parser.parse_args()
    if not 1 <= arguments.clients <= 64 or not 0 < arguments.seconds <= 120:
        parser.error("bounded: 1 to 64 clients, at most 120 seconds")
    rebuild = ([sys.executable, "-m", "newsearch", "index", "--rebuild", "--quiet", "--index", str(arguments.index),
                arguments.rebuild] if arguments.rebuild else None)
    with running_server(arguments.index, "--workers", str(arguments.workers)) as base:
        warm = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=30)
        for query in QUERIES:  # every worker opened its index and read the files once
            for _ in range(arguments.workers):
                warm.request("GET", "/api/search?" + urlencode({"q": query}))
                warm.getresponse().read()
        warm.close()
        result = measure(base, arguments.clients, arguments.seconds, rebuild)
    print(json.dumps({"workers": arguments.workers, "clients": arguments.clients, "seconds": arguments.seconds,
                      "during_rebuild": bool(rebuild), **result}, indent=1))


if __name__ == "__main__":
    main()
