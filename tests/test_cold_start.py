"""A one-off `newsearch search` loads only what a search needs: not the corpus readers, the writer,
or NLTK (the stems of the words it ranks come from the index's vocabulary file)."""

import subprocess
import sys

RUN_AND_LIST_MODULES = """
import atexit, sys
from newsearch.cli import main
atexit.register(lambda: print("LOADED", *sorted(sys.modules), file=sys.stderr))
main()  # reads sys.argv as the console script does
"""

NOT_FOR_SEARCH = ("newsearch.corpus", "newsearch.indexer", "newsearch.build_jobs", "newsearch.segments",
                  "newsearch.inverter", "nltk", "dateutil", "feedparser")


def test_a_search_loads_no_reader_writer_or_stemmer(synthetic_index):
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, "search", "--index", str(synthetic_index.path),
         "bank profit", "--limit", "3", "--format", "jsonl"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    loaded = result.stderr.rpartition("LOADED ")[2].split()
    assert "newsearch.searcher" in loaded and "whoosh.searching" in loaded
    unneeded = [name for name in loaded if name.split(".")[0] in NOT_FOR_SEARCH
                or any(name == prefix or name.startswith(prefix + ".") for prefix in NOT_FOR_SEARCH)]
    assert not unneeded, f"a search imported {unneeded}"
