"""A bounded load test of `newsearch serve`, on the loopback interface only (not part of the test suite).

    python -m tests.bench.web_load --index bench-results/web/bbc-index --workers 2 --clients 16 --seconds 30
    python -m tests.bench.web_load --index ... --workers 2 --rebuild ../shared/corpora/bbc-news
    python -m tests.bench.web_load --index ... --workers 2 --titles ../shared/corpora/bbc-news

Starts the server with ``--workers N`` on a free 127.0.0.1 port, runs ``--clients`` closed-loop
clients that each send one search after another over their own keep-alive HTTP/1.1 connection (a
fixed list of queries) for ``--seconds``, and prints requests/s, p50/p95/p99/max latency and the
errors (any status but 200, any failed request). With ``--rebuild CORPUS`` a ``newsearch index
--rebuild`` of that corpus runs while it measures.

The clients share one process and one thread, as coroutines on one asyncio loop writing prepared
request bytes and reading the ``Content-Length`` body back: on a small machine the load generator
competes with the server for the same cores, so it must cost as little as it can, and it says what
it cost. ``client_cpu_ms_per_request``, ``server_cpu_ms_per_request`` (the server process and its
workers, from /proc) and the machine's load averages before and after come with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
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


def search_requests(queries: list[str]) -> list[bytes]:
    return [f"GET /api/search?{urlencode({'q': query, 'limit': 10})} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
            for query in queries]


REQUESTS = search_requests(QUERIES)


class Tally:
    """What the clients saw: one latency per answered request, one line per error."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """Send one request, read its response: (status, body). Only Content-Length bodies, as the server sends."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].split(b"\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in header_lines
                   if line[:15].lower() == b"content-length:"), None)
    if length is None:
        raise ValueError(f"a response without Content-Length: {status_line!r}")
    return int(status_line.split(b" ", 2)[1]), await reader.readexactly(length)


async def client(port: int, requests: list[bytes], start: int, step: int, stop_at: float, tally: Tally) -> None:
    """One closed-loop client: the next request only once the last is answered."""
    number = start
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.perf_counter() < stop_at:
        request = requests[number % len(requests)]
        number += step
        began = time.perf_counter()
        try:
            connection = connection or await asyncio.open_connection("127.0.0.1", port)
            status, body = await asyncio.wait_for(exchange(*connection, request), timeout=30)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ValueError) as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}")
            if connection:
                connection[1].close()
            connection = None
            continue
        tally.latencies.append(time.perf_counter() - began)
        if status != 200:
            tally.errors.append(f"{status} {body[:200]!r}")
    if connection:
        connection[1].close()


async def run_clients(port: int, requests: list[bytes], clients: int, seconds: float, distinct: bool) -> Tally:
    """``distinct``: the clients take turns through ``requests`` (each asked once until all were),
    else each cycles through them from its own start."""
    tally = Tally()
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(client(port, requests, number if distinct else number * 7, clients if distinct else 1,
                                  stop_at, tally) for number in range(clients)))
    return tally


def server_cpu_s(rebuild_pid: int | None) -> float | None:
    """User + system CPU seconds so far of this process's living descendants, the server and its
    workers, but not the rebuild's process tree (None without /proc)."""
    try:
        processes = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                except OSError:  # ended meanwhile
                    continue
                processes[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except OSError:
        return None
    ticks, todo = 0, [child for child, (parent, _) in processes.items() if parent == os.getpid()]
    while todo:
        pid = todo.pop()
        if pid != rebuild_pid:
            ticks += processes[pid][1]
            todo += [child for child, (parent, _) in processes.items() if parent == pid]
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(port: int, requests: list[bytes], clients: int, seconds: float, rebuild: list[str] | None,
            distinct: bool) -> dict:
    load_before = os.getloadavg()
    rebuilding = subprocess.Popen(rebuild, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) if rebuild else None
    rebuild_pid = rebuilding.pid if rebuilding else None
    server_before, own_before = server_cpu_s(rebuild_pid), os.times()
    began = time.perf_counter()
    tally = asyncio.run(run_clients(port, requests, clients, seconds, distinct))
    elapsed = time.perf_counter() - began
    own_after, server_after = os.times(), server_cpu_s(rebuild_pid)
    rebuild_result = None
    if rebuilding:
        _, stderr = rebuilding.communicate()
        rebuild_result = {"exit": rebuilding.returncode, "stderr": stderr.decode()[-300:],
                          "finished_after_s": round(time.perf_counter() - began, 1)}
    ordered = sorted(tally.latencies)
    answered = max(len(ordered), 1)

    def percentile(share: float) -> float | None:
        return round(ordered[int(share * (len(ordered) - 1))] * 1000, 1) if ordered else None

    client_cpu = own_after.user + own_after.system - own_before.user - own_before.system
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    return {
        "requests": len(ordered), "errors": len(tally.errors), "first_errors": tally.errors[:5],
        "requests_per_s": round(len(ordered) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "p95_ms": percentile(0.95), "p99_ms": percentile(0.99), "max_ms": percentile(1.0),
        "client_cpu_ms_per_request": round(client_cpu / answered * 1000, 3),
        "client_cpu_share_of_one_core": round(client_cpu / elapsed, 3),
        "server_cpu_ms_per_request": None if server_cpu is None else round(server_cpu / answered * 1000, 2),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "rebuild": rebuild_result,
    }


async def warm_up(port: int, workers: int) -> None:
    """Every worker opened its index and read the files once (a connection per worker and query)."""
    for request in REQUESTS:
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(workers)]
        for reader, writer in connections:
            await exchange(reader, writer, request)
            writer.close()


def title_queries(corpus: Path) -> list[str]:
    """The two longest words (of letters, in title order) of each title: distinct, everyday queries."""
    queries = []
    for path in sorted(corpus.rglob("*.txt")):
        title = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
        words = [word for word in title.split() if word.isalpha()]
        longest = sorted(sorted(words, key=len, reverse=True)[:2], key=words.index)
        if longest:
            queries.append(" ".join(longest))
    return list(dict.fromkeys(queries))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rebuild", metavar="CORPUS", help="run `newsearch index --rebuild CORPUS` meanwhile")
    parser.add_argument("--titles", type=Path, metavar="CORPUS",
                        help="ask, each once in turn, one query per article title of CORPUS's .txt files (first "
                             "lines; the title's two longest words) instead of cycling the 30 built-in queries: "
                             "then no answer comes from a cache")
    arguments = parser.parse_args()
    queries = title_queries(arguments.titles) if arguments.titles else QUERIES
    if not 1 <= arguments.clients <= 64 or not 0 < arguments.seconds <= 120:
        parser.error("bounded: 1 to 64 clients, at most 120 seconds")
    rebuild = ([sys.executable, "-m", "newsearch", "index", "--rebuild", "--quiet", "--index", str(arguments.index),
                arguments.rebuild] if arguments.rebuild else None)
    with running_server(arguments.index, "--workers", str(arguments.workers)) as base:
        port = int(base.rsplit(":", 1)[1])
        asyncio.run(warm_up(port, arguments.workers))
        result = measure(port, search_requests(queries), arguments.clients, arguments.seconds, rebuild,
                         distinct=arguments.titles is not None)
    print(json.dumps({"workers": arguments.workers, "clients": arguments.clients, "seconds": arguments.seconds,
                      "queries": len(queries),
                      "during_rebuild": bool(rebuild), **result}, indent=1))


if __name__ == "__main__":
    main()
