"""Parallel full builds (``newsearch index --jobs N``): independent jobs handed to an executor.

A full build is cut into jobs, one per worker: each job is a contiguous slice of
the corpus (balanced by bytes) that one process reads, analyses and writes as one
Whoosh segment into the new generation folder. The parent then commits one table
of contents listing every segment (Whoosh's "multisegment" layout). A job is plain
data and its function is module-level (``build_jobs``), so the same jobs can be
mapped over any ``Executor`` whose workers can reach the generation folder.

``Executor`` is what a build needs of one: ``map`` a module-level function over
picklable jobs, results in job order; cancel what is unfinished when that fails;
report a worker's death as ``WorkerFailed``; ``shutdown`` shaped like
``concurrent.futures.Executor.shutdown``. Two implement it:

* ``FuturesExecutor`` adapts a standard ``concurrent.futures.Executor`` (a
  ``ProcessPoolExecutor``, a ``ThreadPoolExecutor``, Dask's
  ``Client.get_executor()``), which its owner keeps and shuts down;
* ``LocalExecutor``, the default, runs jobs in local worker processes and is safe
  to kill, unlike ``concurrent.futures`` or Whoosh's ``MpWriter`` (whose workers
  outlive a killed parent and keep the lock):

* workers are forked where that is safe (Linux, a process with one thread),
  else spawned: a forked worker starts in milliseconds with what the parent has
  imported, a spawned one spends half a second importing newsearch, Whoosh and
  NLTK again (a fifth of a BBC build). A forked worker closes its copy of the
  writer lock at once (``storage`` registers an at-fork hook), and the build
  takes Whoosh's lock of the new generation only after its workers have started;
* each worker talks to the parent over its own pipe, whose other end only the
  parent holds; a job reports progress over it after every file, and that send
  fails once the parent is gone, so a worker stops within a file of its parent's
  death (it also checks that its parent is still its parent);
* workers take no lock and never write the table of contents, so a killed
  build leaves only an abandoned generation, removed by the next run.

The segment writing uses Whoosh writer internals, all behind ``whoosh_internals``
(checked against the installed Whoosh at import).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from typing import Any, Literal, Protocol, TypeVar, cast

from newsearch.errors import NewsearchError


class WorkerFailed(RuntimeError):
    """An indexing worker died or raised; the build is cancelled."""


JobT = TypeVar("JobT")
ResultT = TypeVar("ResultT")


class Executor(Protocol):
    """Runs a build's jobs: picklable plain data in, plain data out, nothing shared with the caller."""

    def map(self, function: Callable[[JobT], ResultT], jobs: Sequence[JobT],
            progress: Callable[[int], None] | None = None) -> list[ResultT]:
        """``[function(job) for job in jobs]``, run by the executor's workers, in job order.

        ``function`` is module-level (so it pickles); ``progress(n)`` is called, in the
        caller's thread, each time ``n`` more units of work are done. An error a job
        raises is raised here (``NewsearchError`` and ``OSError`` as they are, others as
        ``WorkerFailed``), as is ``WorkerFailed`` when a worker dies; either way, and on
        an interrupt, the jobs not yet finished are cancelled (as far as the executor can
        stop them) before it propagates.
        """
        ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more jobs: let the workers finish and exit, or with ``cancel_futures`` stop them now;
        ``wait`` waits until they have."""
        ...


_progress_pipe: Connection | None = None  # set in a LocalExecutor worker
_parent_pid: int | None = None


def report_progress(done: int = 1) -> None:
    """Tell the executor that ``done`` more units of the current job are finished.

    A no-op outside a ``LocalExecutor`` worker. In one, it is also where a worker
    whose parent has died stops (the send fails, or the parent is no longer ours).
    """
    if _progress_pipe is None:
        return
    if os.getppid() != _parent_pid:
        os._exit(1)  # orphaned: the build it worked for is abandoned
    _progress_pipe.send(("progress", done))


def partition(sizes: Sequence[int], parts: int) -> list[range]:
    """Cut ``range(len(sizes))`` into ``parts`` (at most one per item) contiguous, non-empty slices,
    each cut where the running total of ``sizes`` reaches its share."""
    count = len(sizes)
    parts = min(parts, count)
    if parts <= 0:
        return []
    total = sum(sizes)
    bounds = [0]
    index = running = 0
    for cut in range(1, parts):
        share = total * cut / parts
        while index < count - (parts - cut) and (index == bounds[-1] or running + sizes[index] <= share):
            running += sizes[index]
            index += 1
        bounds.append(index)
    bounds.append(count)
    return [range(start, stop) for start, stop in zip(bounds, bounds[1:])]


def _worker(pipe: Connection, parent_pid: int, parent_ends: Sequence[Connection]) -> None:
    """Run the jobs that arrive on ``pipe``, one at a time, until told to stop or the parent is gone.

    A forked worker holds copies of the parent's ends of every pipe made so far, its own
    included: closed at once, or the death of the parent would never reach the worker
    as the end of its pipe, and an idle worker would wait for a job forever.
    """
    global _progress_pipe, _parent_pid
    for end in parent_ends:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _progress_pipe, _parent_pid = pipe, parent_pid
    try:
        while (task := pipe.recv()) is not None:
            function, job = task
            try:
                result = function(job)
            except (BrokenPipeError, ConnectionResetError, EOFError):
                return  # the parent is gone
            except BaseException as exc:  # reported to the parent, which cancels the build
                pipe.send(("error", _portable(exc)))
                continue
            pipe.send(("done", result))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the parent is gone: its build is abandoned


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as the parent should raise it: our errors and OSErrors (errno kept) as they are."""
    if isinstance(exc, (NewsearchError, OSError)):
        try:
            import pickle

            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:
            pass
        if isinstance(exc, OSError) and exc.errno is not None:
            return OSError(exc.errno, exc.strerror or str(exc))
    return WorkerFailed(f"an indexing worker failed: {type(exc).__name__}: {exc}")


# glibc's mallopt parameters, and what its heap does unless told otherwise: the mmap threshold
# starts at 128 KiB and rises (to 32 MiB on 64-bit) as large blocks are freed, the trim threshold
# twice that; setting either (``MALLOC_TRIM_THRESHOLD_``) stops both rising.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_START, _MMAP_THRESHOLD_MAX = 128 << 10, 32 << 20


@contextmanager
def roomy_heap() -> Iterator[None]:
    """Building in a process started with ``MALLOC_TRIM_THRESHOLD_`` set (a Dask nanny sets 64 KiB
    for its workers, to give memory back between tasks), with glibc's heap as an ordinary process
    has it: fixed low thresholds map and unmap every large block, which cost a shard's build about
    a third more CPU (20,000 articles in 4 shards: 16 s a shard instead of 12). Afterwards the
    thresholds are set back and the free memory given back, as the worker wants."""
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_", "")
    libc = _glibc() if trim.isdigit() else None
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    libc.mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_MAX)
    try:
        yield
    finally:
        libc.mallopt(_M_TRIM_THRESHOLD, int(trim))
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_START)
        libc.malloc_trim(0)


def _glibc() -> Any | None:
    """The C library when it is glibc (its ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start_method() -> Literal["fork", "spawn"]:
    """"fork" where forking is safe, else "spawn".

    Only on Linux (macOS's system libraries are not fork-safe) and only while this
    process has a single thread: a lock another thread holds at the fork would stay
    locked forever in the child.
    """
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


class LocalExecutor:
    """``workers`` worker processes; ``map`` runs a module-level function over jobs, results in job order.

    Jobs report progress with ``report_progress``. A failed ``map`` stops every worker:
    the executor is then finished.
    """

    def __init__(self, workers: int) -> None:
        method = start_method()
        context = multiprocessing.get_context("fork") if method == "fork" else multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        try:
            for _ in range(workers):
                ours, theirs = context.Pipe()
                inherited = (*self.pipes, ours) if method == "fork" else ()
                process = context.Process(target=_worker, args=(theirs, os.getpid(), inherited), daemon=True)
                process.start()
                theirs.close()
                self.pipes.append(ours)
                self.processes.append(process)
        except BaseException:
            self.cancel()
            raise

    def map(self, function: Callable[[JobT], ResultT], jobs: Sequence[JobT],
            progress: Callable[[int], None] | None = None) -> list[ResultT]:
        """``[function(job) for job in jobs]``, run in the workers; ``progress(n)`` for each report."""
        try:
            return self._map(function, jobs, progress)
        except BaseException:
            self.cancel()
            raise

    def _map(self, function: Callable[[JobT], ResultT], jobs: Sequence[JobT],
             progress: Callable[[int], None] | None) -> list[ResultT]:
        results: dict[int, ResultT] = {}
        pending = list(enumerate(jobs))
        busy: dict[Connection, int] = {}
        while pending or busy:
            for pipe in self.pipes:
                if pending and pipe not in busy:
                    number, job = pending.pop(0)
                    try:
                        pipe.send((function, job))
                    except (BrokenPipeError, ConnectionResetError):  # died between two jobs
                        raise WorkerFailed("an indexing worker died") from None
                    busy[pipe] = number
            for ready in wait(list(busy)):
                pipe = cast(Connection, ready)  # wait() returns the very objects it was given
                try:
                    status, payload = pipe.recv()
                except (EOFError, ConnectionResetError):
                    raise WorkerFailed("an indexing worker died") from None
                if status == "progress":
                    if progress:
                        progress(payload)
                elif status == "error":
                    raise payload
                else:
                    results[busy.pop(pipe)] = payload
        return [results[number] for number in range(len(jobs))]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let the workers exit (``cancel_futures``: stop them now) and, with ``wait``, wait for them."""
        if cancel_futures:
            self.cancel()
            return
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        if not wait:
            for pipe in self.pipes:
                pipe.close()  # a worker exits on the None, or on the pipe's end
            return
        for process in self.processes:
            process.join(timeout=10)
        self.cancel()

    def cancel(self) -> None:
        """Stop the workers now."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is None:
            self.shutdown()
        else:
            self.cancel()


class FuturesExecutor:
    """A standard ``concurrent.futures.Executor`` as an ``Executor``; its owner keeps and shuts it down.

    Each job is one ``submit``. Jobs cannot report progress from a pool's workers, so
    ``progress`` is told ``units(job)`` (default 1) when each job finishes. When a job
    fails, a worker dies (``BrokenExecutor``) or the wait is interrupted, the jobs not
    yet started are cancelled; those already running run to their end in the pool and
    their results are dropped.
    """

    def __init__(self, executor: concurrent.futures.Executor, units: Callable[[Any], int] | None = None) -> None:
        self.executor = executor
        self.units = units

    def map(self, function: Callable[[JobT], ResultT], jobs: Sequence[JobT],
            progress: Callable[[int], None] | None = None) -> list[ResultT]:
        """``[function(job) for job in jobs]``, run in the pool, results in job order."""
        futures: dict[concurrent.futures.Future[ResultT], JobT] = {}
        try:
            for job in jobs:
                futures[self.executor.submit(function, job)] = job
            for future in concurrent.futures.as_completed(futures):
                error = future.exception()
                if error is not None:
                    failure = _failure(error)
                    raise failure from (None if failure is error else error)
                if progress:
                    progress(self.units(futures[future]) if self.units else 1)
        except concurrent.futures.BrokenExecutor:
            raise WorkerFailed("an indexing worker died") from None
        finally:
            for future in futures:
                future.cancel()  # a no-op for a finished job
        return [future.result() for future in futures]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down (what its owner does when done with it)."""
        self.executor.shutdown(wait=wait, cancel_futures=cancel_futures)


def _failure(error: BaseException) -> BaseException:
    """What a job's error becomes in the caller: ``WorkerFailed`` for a dead worker, else as from a LocalExecutor."""
    if isinstance(error, concurrent.futures.BrokenExecutor):
        return WorkerFailed("an indexing worker died")
    return _portable(error)


DASK_ENV = "NEWSEARCH_DASK_SCHEDULER"
DASK_SCHEME = "dask://"
DASK_INSTALL = "pip install 'newsearch[dask]'"


class DaskExecutor(FuturesExecutor):
    """The workers of a Dask distributed cluster (``Client.get_executor()``), reached at a scheduler's
    address; ``shutdown`` disconnects from it (the cluster keeps running).

    A worker that dies mid-job is Dask's to handle: it runs the job again on another worker
    (up to its ``allowed-failures``), then reports the job as failed, which ``map`` raises as
    ``WorkerFailed``.
    """

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise NewsearchError(f"running on a Dask cluster ({address}) needs Dask distributed: {DASK_INSTALL}"
                                 ) from None
        try:
            self.client = Client(address, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise NewsearchError(f"cannot reach the Dask scheduler at {address}: {exc}; start one with "
                                 f"`dask scheduler`, or check the address") from None
        super().__init__(self.client.get_executor(pure=False))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Disconnect from the cluster (its workers keep running)."""
        self.client.close()


def dask_client(executor: object) -> Any | None:
    """The Dask ``Client`` behind ``executor`` (a ``DaskExecutor``, or a ``FuturesExecutor`` of
    ``Client.get_executor()``), else None."""
    if isinstance(executor, DaskExecutor):
        return executor.client
    if isinstance(executor, FuturesExecutor) and type(executor.executor).__module__.startswith("distributed."):
        return getattr(executor.executor, "_client", None)  # ClientExecutor keeps its client there
    return None


class Residents:
    """One object of module-level class ``kind`` living in each worker of a Dask cluster (a Dask
    actor), for the state a worker keeps between calls, such as open shards. A call to one goes to
    its worker directly, not through the scheduler: about a millisecond, where a task takes 5-10.

    ``call`` runs ``method`` on every resident at once, each on its own batch. A resident whose
    worker died is gone with it: ``call`` then raises ``WorkerFailed`` (as soon as the scheduler
    misses the worker: a call to it would wait out Dask's 30 s connect timeout), and a new
    ``Residents`` starts fresh ones on the workers there are (Dask's nannies restart the dead).
    """

    # While a call runs, how often the scheduler is asked whether the residents' workers are there.
    WATCH_S = 0.2

    def __init__(self, client: Any, kind: type) -> None:
        self.client = client
        self.workers = set(client.scheduler_info()["workers"])
        # allow_other_workers: a worker that just died may still be listed; its resident goes elsewhere
        self.members = [client.submit(kind, actor=True, pure=False, workers=[worker],
                                      allow_other_workers=True).result() for worker in sorted(self.workers)]
        if not self.members:
            raise WorkerFailed(f"the Dask cluster at {client.scheduler.address} has no workers")

    def __len__(self) -> int:
        return len(self.members)

    def call(self, method: str, batches: Sequence[Any]) -> list[Any]:
        """``[resident.method(batch) ...]``, the residents in parallel, results in their order."""
        async def every() -> list[Any]:
            return list(await asyncio.gather(*(getattr(member, method)(batch)
                                               for member, batch in zip(self.members, batches))))

        # One coroutine on the client's event loop sends every call and waits for every answer: this
        # thread hands over to the loop once, not once per call to send it and once per answer.
        running = asyncio.run_coroutine_threadsafe(every(), self.client.loop.asyncio_loop)
        try:
            return self._result(running)
        except NewsearchError:
            raise
        except Exception as exc:  # Dask's errors for a worker or resident that is gone, a job's others
            raise WorkerFailed(f"a Dask worker failed: {type(exc).__name__}: {exc}") from None
        finally:
            running.cancel()  # a no-op once it is done

    def _result(self, running: concurrent.futures.Future[list[Any]]) -> list[Any]:
        while True:
            try:
                return running.result(timeout=self.WATCH_S)
            except concurrent.futures.TimeoutError:
                gone = self.workers - set(self.client.scheduler_info()["workers"])
                if gone:
                    raise WorkerFailed(f"the Dask worker {min(gone)} is gone") from None


def executor_for(spec: str | None) -> Executor | None:
    """The executor that ``--executor`` (or ``$NEWSEARCH_DASK_SCHEDULER``) names: None for local
    processes (``local``, or neither given), a ``DaskExecutor`` for ``dask://HOST:PORT``.

    The environment variable holds a scheduler address, with or without ``dask://`` or ``tcp://``.
    """
    if spec is None or not spec.strip():
        spec = os.environ.get(DASK_ENV, "").strip()
        if not spec:
            return None
        if "://" not in spec or spec.startswith("tcp://"):
            spec = DASK_SCHEME + spec.removeprefix("tcp://")
    spec = spec.strip()
    if spec == "local":
        return None
    if not spec.startswith(DASK_SCHEME) or not spec[len(DASK_SCHEME):]:
        raise NewsearchError(f"unknown executor {spec!r}: give `local` or `dask://HOST:PORT` (a Dask scheduler's "
                             f"address; Dask is the extra `{DASK_INSTALL}`)")
    return DaskExecutor("tcp://" + spec[len(DASK_SCHEME):])
