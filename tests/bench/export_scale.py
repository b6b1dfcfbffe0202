"""Time and peak memory of `newsearch export` over a large index (not part of the test suite).

    python -m tests.bench.export_scale INDEX [--format jsonl] [--out FILE]

Exports every article (``*``) and, to show that memory does not grow with the number of articles,
the first articles of the same index by a query matching few; prints wall time, articles per
second, output size and the peak RSS of each (from ``wait4``'s resource usage, in MiB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(index: str, query: str, fmt: str, out: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, lines written) of one export run in a fresh process."""
    command = [sys.executable, "-m", "newsearch", "export", query, "--index", index, "--format", fmt, "-o", str(out)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"export failed: {process.stderr.read().decode() if process.stderr else ''}")
    with out.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return elapsed, usage.ru_maxrss / 1024, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "opensearch"])
    parser.add_argument("--small-query", default="title:zyzzyva OR marker1", help="a query matching few articles")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for label, query in (("few", args.small_query), ("every", "*")):
            out = Path(folder) / f"{label}.{args.format}"
            seconds, rss, lines = measure(args.index, query, args.format, out)
            size = out.stat().st_size / 1_048_576
            print(f"{label:>5}: {lines:>9,} lines  {seconds:7.1f} s  {lines / seconds:8,.0f} lines/s  "
                  f"{size:8,.1f} MiB written  peak RSS {rss:6.1f} MiB")


if __name__ == "__main__":
    main()
