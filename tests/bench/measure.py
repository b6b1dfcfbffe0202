"""Run one command as a child and report its wall time and peak memory.

    python -m tests.bench.measure CMD [ARG...]

Prints one JSON line:

* ``wall_s``: the child's wall time;
* ``maxrss_kb``: ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` once the child has been
  waited for. This process has no other child, so it is the peak resident set of the child
  or of its largest descendant (worker processes count once they are reaped), never a sum;
* ``tree_rss_kb``: the largest sum of the resident sets of the child and all its descendants,
  sampled from /proc every 0.2 s (Linux; 0 elsewhere);
* ``tree_pss_kb``: the same with proportional set sizes (smaps_rollup): pages forked workers still
  share with their parent count once, not once per process: what a multi-process build really holds;
* ``returncode``, ``stderr`` (its tail) and ``result``: the command's last stdout line,
  parsed as JSON when it is JSON.

One wrapper process per measurement keeps the peaks of different builds apart.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def tree_memory_kb(root: int) -> tuple[int, int]:
    """(resident, proportional) set sizes of ``root`` and its descendants, summed: the RSS from
    /proc/<pid>/stat, the PSS from /proc/<pid>/smaps_rollup. Forked workers share the parent's
    pages until they write them; the RSS sum counts such a page once per process, the PSS sum once."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0, 0
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(name)] = int(fields[1])
        rss[int(name)] = int(fields[21]) * PAGE_KB
    total_rss, total_pss, stack = 0, 0, [root]
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    while stack:
        pid = stack.pop()
        total_rss += rss.get(pid, 0)
        total_pss += _pss_kb(pid)
        stack.extend(children.get(pid, ()))
    return total_rss, total_pss


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:  # gone meanwhile, or a kernel without smaps_rollup
        pass
    return 0


def main(command: list[str]) -> int:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        peak_tree = peak_pss = 0
        while process.poll() is None:
            tree_rss, tree_pss = tree_memory_kb(process.pid)
            peak_tree, peak_pss = max(peak_tree, tree_rss), max(peak_pss, tree_pss)
            time.sleep(0.2)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = lines[-1]
    print(json.dumps({"wall_s": wall, "maxrss_kb": usage.ru_maxrss, "tree_rss_kb": max(peak_tree, usage.ru_maxrss),
                      "tree_pss_kb": peak_pss,
                      "returncode": process.returncode, "result": result, "stderr": stderr[-2000:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
