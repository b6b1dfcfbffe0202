"""The index format: every version that changes what an index holds is part of it, so a change asks for a rebuild."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from newsearch import analysis, duplicates, open_index, schema
from newsearch.errors import IndexIncompatible
from newsearch.indexer import build_index
from newsearch.storage import CURRENT, META_FILE


def _corpus(folder: Path) -> Path:
    for name, title, body in [("a.txt", "Budget vote delayed", "Ministers delayed the budget vote again."),
                              ("b.txt", "Cup final tonight", "The cup final kicks off tonight in Cardiff.")]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    return folder


def test_the_format_names_the_schema_analysis_duplicates_and_postings_versions():
    assert schema.FORMAT == (f"newsearch-schema-{schema.SCHEMA_VERSION}-analysis-{analysis.ANALYSIS_VERSION}"
                             f"-duplicates-{duplicates.DUPLICATES_VERSION}-postings-{schema.POSTINGS_VERSION}")


def test_an_index_records_its_format(tmp_path):
    build_index([_corpus(tmp_path / "corpus")], tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / CURRENT / META_FILE).read_text())
    assert meta["format"] == schema.FORMAT


# A newsearch whose band keys differ (DUPLICATES_VERSION bumped) must not read the index's keys:
# opening it or updating it asks for a rebuild, exactly as a schema or analysis change does.
OTHER_DUPLICATES_VERSION = """
import sys
from newsearch import duplicates
duplicates.DUPLICATES_VERSION += 1  # before newsearch.schema computes the format
from newsearch import build_index, open_index
from newsearch.errors import IndexIncompatible
corpus, index = sys.argv[1:]
for attempt in (lambda: open_index(index), lambda: build_index([corpus], index)):
    try:
        attempt()
    except IndexIncompatible as exc:
        print(exc)
    else:
        print("accepted")
print(build_index([corpus], index, rebuild=True).added)
"""


def test_an_index_with_other_band_keys_asks_for_a_rebuild(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    index = tmp_path / "ix"
    build_index([corpus], index)
    result = subprocess.run([sys.executable, "-c", OTHER_DUPLICATES_VERSION, str(corpus), str(index)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    newer = schema.FORMAT.replace(f"-duplicates-{duplicates.DUPLICATES_VERSION}",
                                  f"-duplicates-{duplicates.DUPLICATES_VERSION + 1}")
    message = (f"the index at {index} was built by another version of newsearch ({schema.FORMAT}; "
               f"this version reads {newer}): run `newsearch index --rebuild --index {index}`")
    assert result.stdout.splitlines() == [message, message, "2"]
    # The rebuilt index is the other version's: this one asks for a rebuild in turn.
    assert json.loads((index / CURRENT / META_FILE).read_text())["format"] == newer
    with pytest.raises(IndexIncompatible, match=f"this version reads {schema.FORMAT}"):
        open_index(index)
