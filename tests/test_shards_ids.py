"""An article id held by files of two shards is kept where one index keeps it, build after build.

One index keeps the first file in scan order on a full build, the file that already holds an id on
an update, and lets a refused copy take the id once its owner is gone (the refused file, holding
nothing, is read again on every run). The sharded index must keep the same articles and report the
same skipped copies, whether its shards are built here, by local worker processes or on Dask.
A full build gives the same scores too; an update that wrote a copy its shard then deletes leaves
it counted as a deleted article (as a replaced one is) until Whoosh merges its segment: there the
hits, their order and the totals are compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from newsearch import build_index
from newsearch.models import BuildReport
from newsearch.parallel import Executor, LocalExecutor
from newsearch.shards import MANIFEST, build_sharded, open_index, shard_of


def _named(prefix: str, shard: int, taken: set[str]) -> str:
    """A file name of ``prefix`` that the path hash routes to ``shard`` (of 2)."""
    name = next(f"{prefix}{number}.json" for number in range(100)
                if shard_of(f"{prefix}{number}.json", 2) == shard and f"{prefix}{number}.json" not in taken)
    taken.add(name)
    return name


def _write(corpus: Path, name: str, doc_id: str, words: str) -> None:
    (corpus / name).write_text(json.dumps({"id": doc_id, "title": f"Ferry {name}", "body": f"A ferry {words}."}))


def _kept(report: BuildReport) -> tuple[list[str], int, int, int]:
    return sorted(item.path for item in report.skipped), report.added, report.deleted, report.documents


@pytest.fixture(params=["here", "local"])
def executor(request) -> Iterator[Executor | None]:
    """This process, or local worker processes (``test_shards_dask`` runs the same on Dask)."""
    if request.param == "here":
        yield None
    else:
        with LocalExecutor(2) as local:
            yield local


def test_an_id_in_files_of_two_shards_is_kept_as_one_index_keeps_it(tmp_path, executor):
    keeps_ids_as_one_index(tmp_path, executor)


def keeps_ids_as_one_index(tmp_path: Path, executor: Executor | None) -> None:
    """Build, update and rebuild a corpus with one id in several files; compare with one index."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    taken: set[str] = set()
    first, second = _named("1-", 0, taken), _named("2-", 1, taken)  # scan order: first, then second
    for number in range(6):
        _write(corpus, _named("5-", number % 2, taken), f"filler-{number}", "filler")
    _write(corpus, first, "same", "first copy")
    _write(corpus, second, "same", "second copy")
    _write(corpus, _named("3-", 1, taken), "other", "a second article of its own")
    one, sharded = tmp_path / "one", tmp_path / "sharded"

    def step(rebuild: bool = False, exact: bool = False) -> None:
        single = build_index([corpus], one, rebuild=rebuild)
        report = build_sharded([corpus], sharded, shards=2, executor=executor, rebuild=rebuild)
        assert _kept(report) == _kept(single)
        with open_index(one) as expected, open_index(sharded) as got:
            for query in ("ferry", "copy", "filler"):
                hits, wanted = got.search(query, limit=50), expected.search(query, limit=50)
                if rebuild or exact:
                    assert replace(hits, elapsed_ms=0) == replace(wanted, elapsed_ms=0), query
                assert [hit.id for hit in hits.hits] == [hit.id for hit in wanted.hits], query
                assert (hits.total, hits.stories) == (wanted.total, wanted.stories), query
            assert got.document("same") == expected.document("same")

    step(rebuild=True)  # a full build keeps the first in scan order
    assert json.loads((sharded / MANIFEST).read_text())["claims"] == {"same": [first, "shard-000"]}
    step(exact=True)  # nothing changed: the refused copy is read again, and refused again
    early = _named("0-", 1, taken)
    _write(corpus, early, "same", "early copy")  # first in scan order, but the id is held already
    step()
    _write(corpus, first, "same", "first copy, edited")  # the owner's update keeps it the owner
    step()
    (corpus / first).unlink()  # the owner gone: the first refused copy in scan order takes the id
    step()
    _write(corpus, first, "same", "first copy is back")  # too late: the id is held
    step()
    step(rebuild=True)  # scan order again
    assert json.loads((sharded / MANIFEST).read_text())["claims"] == {"same": [early, "shard-001"]}
