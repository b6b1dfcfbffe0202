"""Sharded indexes on Dask distributed: a LocalCluster of two worker processes (on 127.0.0.1) builds
the shards and scores them; the results equal one index's. Skipped without the `dask` extra."""

from __future__ import annotations

import json
import os
import signal

import pytest
from test_shards import assert_equivalent, generated_searches, write_corpus

from newsearch import build_index
from newsearch.parallel import DaskExecutor, executor_for
from newsearch.shards import MANIFEST, ShardedIndex, build_sharded

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, started once for the module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as local:
        yield local


@pytest.fixture(scope="module")
def on_dask(cluster, tmp_path_factory):
    """(corpus, one index, three shards built on the cluster)."""
    base = tmp_path_factory.mktemp("dask_shards")
    corpus = write_corpus(base / "corpus")
    build_index([corpus], base / "one")
    executor = executor_for(f"dask://{cluster.scheduler_address.removeprefix('tcp://')}")
    assert isinstance(executor, DaskExecutor)
    try:
        report = build_sharded([corpus], base / "sharded", shards=3, executor=executor)
    finally:
        executor.shutdown()
    assert report.documents == 176 and report.added == 176
    return corpus, base / "one", base / "sharded"


def test_shards_built_and_scored_on_dask_equal_one_index(cluster, on_dask):
    _, one, sharded = on_dask
    with distributed.Client(cluster) as client, ShardedIndex(sharded, executor=client.get_executor()) as index:
        assert_equivalent(one, index, generated_searches(40, seed=21))


def test_the_scheduler_from_the_environment(cluster, on_dask, monkeypatch):
    monkeypatch.setenv("NEWSEARCH_DASK_SCHEDULER", cluster.scheduler_address)
    executor = executor_for(None)
    assert isinstance(executor, DaskExecutor)
    try:
        with ShardedIndex(on_dask[2], executor=executor) as index:
            assert index.search("ferry storm").total > 0
    finally:
        executor.shutdown()


def test_a_killed_dask_worker_means_a_completed_retry(cluster, on_dask):
    """Dask runs a dead worker's job again elsewhere (its nanny restarts the worker): the search
    completes, with the same results."""
    _, one, sharded = on_dask
    with distributed.Client(cluster) as client, ShardedIndex(sharded, executor=client.get_executor()) as index:
        index.search("ferry")
        pid = next(iter(client.run(os.getpid).values()))
        os.kill(pid, signal.SIGKILL)
        assert_equivalent(one, index, generated_searches(10, seed=2))
        client.wait_for_workers(2, timeout=60)


@pytest.mark.slow
def test_200_queries_on_dask(cluster, on_dask):
    _, one, sharded = on_dask
    with distributed.Client(cluster) as client, ShardedIndex(sharded, executor=client.get_executor()) as index:
        assert_equivalent(one, index, generated_searches(200, seed=9))


@pytest.mark.slow
def test_an_update_on_dask_rewrites_the_changed_shard(cluster, on_dask, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    executor = executor_for(f"dask://{cluster.scheduler_address.removeprefix('tcp://')}")
    assert executor is not None
    try:
        build_sharded([corpus], tmp_path / "sharded", shards=2, executor=executor)
        before = json.loads((tmp_path / "sharded" / MANIFEST).read_text())
        (corpus / "story-003.json").unlink()
        report = build_sharded([corpus], tmp_path / "sharded", executor=executor)
    finally:
        executor.shutdown()
    after = json.loads((tmp_path / "sharded" / MANIFEST).read_text())
    assert report.deleted == 1
    assert sum(after["states"][name] != before["states"][name] for name in after["shards"]) == 1
