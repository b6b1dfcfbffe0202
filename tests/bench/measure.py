"""Run one command as a child and report its wall time and peak memory.

    python -m tests.bench.measure CMD [ARG...]

Prints one JSON line: ``wall_s``, ``maxrss_kb`` (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``
after the child has been waited for: this process has no other child, so it is the child's own
peak resident set, or that of its largest descendant), ``returncode`` and ``result`` (the
command's last stdout line, parsed as JSON when it is JSON). One such wrapper process per
measurement keeps the peaks of different builds apart.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(command: list[str]) -> int:
    started = time.perf_counter()
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in process.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = lines[-1]
    print(json.dumps({"wall_s": wall, "maxrss_kb": usage.ru_maxrss, "returncode": process.returncode,
                      "result": result, "stderr": process.stderr[-2000:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
