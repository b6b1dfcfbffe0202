"""What the benchmark runs in child processes, one task per process; each prints one JSON line.

    python -m tests.bench.tasks build-newsearch CORPUS INDEX        # newsearch.build_index(rebuild), its defaults
    python -m tests.bench.tasks build-peer SYSTEM CORPUS INDEX      # a peer's full build (whoosh, fts5, tantivy)
    python -m tests.bench.tasks update-peer SYSTEM CORPUS INDEX     # a peer's incremental recipe
    python -m tests.bench.tasks search-peer SYSTEM INDEX QUERY      # open, one search with snippets, print
    python -m tests.bench.tasks memory-newsearch INDEX QUERIES_JSON # memory after the first and the last query

``seconds`` is the time of the work itself, without interpreter start-up and imports.
"""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from pathlib import Path

MB = 1024  # smaps figures are in kB
_MAPPING = re.compile(r"[0-9a-f]+-[0-9a-f]+ ")  # the header line of one mapping


def smaps_mb(index_dir: Path) -> dict[str, float]:
    """This process's memory from /proc/self/smaps: ``private_mb`` (private pages of every mapping
    that is not an index file: the heap, anonymous maps, libraries' written pages),
    ``index_mapped_mb`` (resident pages of mappings of files under the index folder: page cache
    the kernel may drop and other processes share) and ``rss_mb``."""
    private = mapped = rss = 0
    in_index = False
    root = str(index_dir.resolve())
    with open("/proc/self/smaps", encoding="utf-8") as handle:
        for line in handle:
            if _MAPPING.match(line):
                fields = line.split(maxsplit=5)
                in_index = len(fields) == 6 and fields[5].strip().startswith(root)
                continue
            name, _, rest = line.partition(":")
            if name in ("Private_Clean", "Private_Dirty") and not in_index:
                private += int(rest.split()[0])
            elif name == "Rss":
                rss += int(rest.split()[0])
                if in_index:
                    mapped += int(rest.split()[0])
    return {"private_mb": private / MB, "index_mapped_mb": mapped / MB, "rss_mb": rss / MB}


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    task, *args = argv
    started = time.perf_counter()
    if task == "build-newsearch":
        import newsearch

        corpus, index = args
        report = newsearch.build_index([corpus], index, rebuild=True)
        result = {"documents": report.documents, "skipped": len(report.skipped)}
    elif task in ("build-peer", "update-peer"):
        from tests.bench.peers import peer

        system, corpus, index = args
        module = peer(system)
        if task == "build-peer":
            result = {"documents": module.build(Path(corpus), Path(index))}
        else:
            result = module.update(Path(corpus), Path(index))
    elif task == "search-peer":
        from tests.bench.peers import open_engine

        system, index, query = args
        engine = open_engine(system, Path(index))
        for doc_id, snippet in engine.with_snippets(query):
            print(doc_id, snippet)
        engine.close()
        result = {}
    elif task == "memory-newsearch":
        import newsearch

        index, queries = args[0], json.loads(args[1])
        result = {"queries": len(queries)}
        with newsearch.open_index(index) as opened:
            for number, query in enumerate(queries, 1):
                opened.search(query, limit=10, passages=3)
                if number == 1:
                    result["first_query"] = smaps_mb(Path(index))
            result["last_query"] = smaps_mb(Path(index))
    else:
        print(f"unknown task {task!r}", file=sys.stderr)
        return 2
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
