"""What the benchmark runs in child processes, one task per process; each prints one JSON line.

    python -m tests.bench.tasks build-newsearch CORPUS INDEX    # newsearch.build_index(rebuild)
    python -m tests.bench.tasks build-baseline CORPUS INDEX     # raw Whoosh, full build
    python -m tests.bench.tasks update-baseline CORPUS INDEX    # raw Whoosh, incremental recipe
    python -m tests.bench.tasks search-baseline INDEX QUERY     # raw Whoosh, one search with highlights

``seconds`` is the time of the work itself, without interpreter start-up and imports.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    task, *args = argv
    if task == "build-newsearch":
        import newsearch

        corpus, index = args
        started = time.perf_counter()
        report = newsearch.build_index([corpus], index, rebuild=True)
        seconds = time.perf_counter() - started
        result = {"seconds": seconds, "documents": report.documents, "skipped": len(report.skipped)}
    elif task in ("build-baseline", "update-baseline"):
        from tests.bench import baseline

        corpus, index = args
        started = time.perf_counter()
        if task == "build-baseline":
            result = {"documents": baseline.build(Path(corpus), Path(index))}
        else:
            result = baseline.update(Path(corpus), Path(index))
        result["seconds"] = time.perf_counter() - started
    elif task == "search-baseline":
        from tests.bench.baseline import Baseline

        index, query = args
        started = time.perf_counter()
        engine = Baseline(Path(index))
        for doc_id, snippet in engine.with_highlights(query):
            print(doc_id, snippet)
        engine.close()
        result = {"seconds": time.perf_counter() - started}
    else:
        print(f"unknown task {task!r}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
