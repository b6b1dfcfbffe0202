"""Sharded indexes on Dask distributed: a LocalCluster of two worker processes (on 127.0.0.1) builds
the shards and scores them; the results equal one index's. Skipped without the `dask` extra."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import time

import pytest
from test_shards import assert_equivalent, generated_searches, write_corpus
from test_shards_ids import keeps_ids_as_one_index

from newsearch import build_index
from newsearch.parallel import DaskExecutor, executor_for
from newsearch.shards import MANIFEST, ShardedIndex, build_sharded, check_index

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


def test_an_id_in_files_of_two_shards_is_kept_as_one_index_keeps_it_on_dask(cluster, tmp_path):
    executor = executor_for(f"dask://{cluster.scheduler_address.removeprefix('tcp://')}")
    try:
        keeps_ids_as_one_index(tmp_path, executor)
    finally:
        assert executor is not None
        executor.shutdown()


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


def pause_reading(marker: str, after: int) -> None:
    """(Run in each worker) make the ``after``-th file a worker reads wait (five minutes at most, until
    ``marker`` is removed), in the first worker to get there only, which writes its pid to ``marker``:
    a known point of a build to kill it at. Only one read ever waits: a later run's reads never do."""
    import time as clock

    from newsearch import corpus

    read = getattr(corpus, "unpaused_read_articles", corpus.read_articles)
    corpus.unpaused_read_articles = read  # type: ignore[attr-defined]
    calls = 0

    def paused(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == after:
            try:
                os.close(os.open(f"{marker}.taken", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return read(*args, **kwargs)
            mine = f"{marker}.{os.getpid()}"
            with open(mine, "w") as handle:
                handle.write(str(os.getpid()))
            os.link(mine, marker)
            # Long enough for any loaded machine: the test decides when it reads on.
            deadline = clock.monotonic() + 300
            while os.path.exists(marker) and clock.monotonic() < deadline:
                clock.sleep(0.01)
        return read(*args, **kwargs)

    corpus.read_articles = paused


def test_a_dask_worker_killed_mid_build_means_a_completed_retry(cluster, on_dask, tmp_path):
    """The worker building a shard dies mid-build: Dask runs the shard's job again on a live worker,
    which removes the dead job's generation and builds the shard; the index equals one index."""
    corpus, one, _ = on_dask
    marker = tmp_path / "paused"
    with distributed.Client(cluster) as client:
        client.run(pause_reading, str(marker), 20)
        executor = executor_for(f"dask://{cluster.scheduler_address.removeprefix('tcp://')}")
        assert executor is not None
        try:
            with concurrent.futures.ThreadPoolExecutor(1) as thread:
                build = thread.submit(build_sharded, [corpus], tmp_path / "sharded", shards=3, executor=executor)
                deadline = time.monotonic() + 60
                while not marker.exists():
                    assert not build.done() and time.monotonic() < deadline, build.result()
                    time.sleep(0.01)
                os.kill(int(marker.read_text()), signal.SIGKILL)
                report = build.result(timeout=120)
        finally:
            executor.shutdown()
        client.wait_for_workers(2, timeout=60)
        client.run(unpause_reading)
    assert report.documents == 176 and report.added == 176
    assert check_index(tmp_path / "sharded").documents == 176
    with ShardedIndex(tmp_path / "sharded") as index:
        assert_equivalent(one, index, generated_searches(20, seed=4))


def unpause_reading() -> None:
    from newsearch import corpus

    corpus.read_articles = getattr(corpus, "unpaused_read_articles", corpus.read_articles)


def test_a_killed_client_leaves_its_dask_job_stopped_by_the_next_run(cluster, on_dask, tmp_path):
    """`newsearch index --executor dask://` killed while a worker builds a shard: the job runs on
    without its client, until the next run takes the index's lock; it then stops, leaving its shard
    as it was, and the next run (waiting for that shard's lock) completes."""
    from support.processes import popen_cli

    corpus, one, _ = on_dask
    index, marker = tmp_path / "sharded", tmp_path / "paused"
    build_sharded([corpus], index, shards=3)
    before = json.loads((index / MANIFEST).read_text())["states"]
    address = f"dask://{cluster.scheduler_address.removeprefix('tcp://')}"
    with distributed.Client(cluster) as client:
        client.run(pause_reading, str(marker), 20)
        try:
            process = popen_cli("index", str(corpus), "--rebuild", "--quiet", "--executor", address,
                                "--index", str(index))
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.01)
            pid = int(marker.read_text())
            [paused] = [name for name in before if json.loads((index / name / ".lock").read_text())["pid"] == pid]
            process.kill()
            process.communicate()
            with ShardedIndex(index) as searched:  # every shard as it was
                assert_equivalent(one, searched, generated_searches(5, seed=8))
            following = popen_cli("index", str(corpus), "--quiet", "--executor", address, "--index", str(index))
            deadline = time.monotonic() + 60
            while _lock_holder(index) != following.pid:  # the next run holds the lock
                assert following.poll() is None and time.monotonic() < deadline, following.communicate()
                time.sleep(0.01)
            marker.unlink()  # the abandoned job reads on
            _out, err = following.communicate(timeout=120)
            assert following.returncode == 0, err
        finally:
            client.run(unpause_reading)
    after = json.loads((index / MANIFEST).read_text())["states"]
    assert after[paused] == before[paused], "the abandoned job finished its shard: it never stopped"
    assert check_index(index).documents == 176
    with ShardedIndex(index) as searched:
        assert_equivalent(one, searched, generated_searches(10, seed=6))


def _lock_holder(index) -> int | None:
    """The pid the index's lock file names (None while it is being rewritten)."""
    try:
        return json.loads((index / ".lock").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_the_cli_scores_a_sharded_index_on_dask_as_it_does_here(cluster, on_dask):
    """`newsearch search --executor dask://...` prints what the search in this process prints; on a
    single index the option is refused, naming it."""
    from click.testing import CliRunner

    from newsearch.cli import cli

    _, one, sharded = on_dask
    address = f"dask://{cluster.scheduler_address.removeprefix('tcp://')}"
    runner = CliRunner()
    for command in (["search", "ferry storm", "--format", "json"], ["timeline", "ferry", "--format", "json"]):
        here = runner.invoke(cli, [*command, "--index", str(sharded)])
        there = runner.invoke(cli, [*command, "--index", str(sharded), "--executor", address])
        assert here.exit_code == there.exit_code == 0, (here.output, there.output)
        timed = [json.loads(here.output), json.loads(there.output)]
        for printed in timed:
            printed.pop("elapsed_ms", None)
        assert timed[0] == timed[1]
    refused = runner.invoke(cli, ["search", "ferry", "--index", str(one), "--executor", address])
    assert refused.exit_code == 2 and "'--executor'" in refused.output and "sharded index only" in refused.output
