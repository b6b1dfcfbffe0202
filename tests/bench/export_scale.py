"""Time and peak memory of `newsearch export` over a large index (not part of the test suite).

    python -m tests.bench.export_scale INDEX [--format jsonl] [--out FILE]

Exports every article (``*``) and, to show that memory does not grow with the number of articles,
the first articles of the same index by a query matching few; prints wall time, articles per
second, output size and the peak resident memory of each (sampled from /proc: anonymous memory,
and the pages of the memory-mapped index files read so far), in MiB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _memory(pid: int) -> tuple[int, int]:
    """(anonymous, file-backed) resident KiB of ``pid`` now: the index is memory-mapped, so the
    pages of it that were read count as resident (file-backed, given back under pressure)."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.split()[0] if value.split() else "0"
    return int(fields.get("RssAnon", 0)), int(fields.get("RssFile", 0))


def measure(index: str, query: str, fmt: str, out: Path) -> tuple[float, float, float, float, int]:
    """(seconds, peak RSS, peak anonymous RSS, peak file-backed RSS in MiB, lines written) of one
    export run in a fresh process, its memory sampled every 50 ms (the peaks of the two parts
    may fall at different moments)."""
    command = [sys.executable, "-m", "newsearch", "export", query, "--index", index, "--format", fmt, "-o", str(out)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    anon = mapped = 0
    while process.poll() is None:
        try:
            now_anon, now_mapped = _memory(process.pid)
        except OSError:
            break
        anon, mapped = max(anon, now_anon), max(mapped, now_mapped)
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if process.wait() not in (0, 1):
        raise SystemExit(f"export failed: {process.stderr.read().decode() if process.stderr else ''}")
    with out.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return elapsed, (anon + mapped) / 1024, anon / 1024, mapped / 1024, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "opensearch"])
    parser.add_argument("--small-query", default="title:zyzzyva", help="a query matching few articles")
    parser.add_argument("--middle-query", default="--until=2005", help="a query matching a part of them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for label, query in (("few", args.small_query), ("part", args.middle_query), ("every", "*")):
            out = Path(folder) / f"{label}.{args.format}"
            seconds, rss, anon, mapped, lines = measure(args.index, query, args.format, out)
            size = out.stat().st_size / 1_048_576
            print(f"{label:>5}: {lines:>9,} lines  {seconds:7.1f} s  {lines / seconds:8,.0f} lines/s  "
                  f"{size:8,.1f} MiB written  peak RSS {rss:6.1f} MiB (anonymous {anon:6.1f}, "
                  f"mapped index files {mapped:6.1f})")


if __name__ == "__main__":
    main()
