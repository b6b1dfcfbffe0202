"""Parallel segment writing for full builds (``newsearch index --jobs N``).

The parent reads the corpus and hands validated records to N worker processes
in batches; each worker analyses them and writes one Whoosh segment into the new
generation folder; the parent then commits one table of contents listing every
segment (Whoosh's "multisegment" layout). This reimplements the small part of
Whoosh's ``MpWriter`` we need, because that one orphans its workers (which keep
the lock) when the parent is killed:

* workers are started with the "spawn" method, so they inherit no file
  descriptors (in particular not the writer lock);
* each worker talks to the parent over its own pipe, whose other end only the
  parent holds: when the parent dies, the worker's next read ends at once (no
  shared queues, so no semaphores left behind either);
* workers take no lock and never write the table of contents, so a killed
  build leaves only an abandoned generation, removed by the next run.

It uses Whoosh writer internals (``_lk``, ``_finalize_segment``, ``_commit_toc``),
which is why the whoosh-reloaded version is pinned below 2.8.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import Counter
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.writing import SegmentWriter

from newsearch.segments import NewsSegmentWriter
from newsearch.vocabulary import count_surfaces, known_terms

class WorkerFailed(RuntimeError):
    """An indexing worker died or raised; the build is cancelled."""


BATCH_SIZE = 64
BATCHES_IN_FLIGHT = 2  # per worker: enough to keep it busy, few enough to balance the load
Record = dict[str, Any]


def _worker(generation: str, limitmb: int, pipe: Connection) -> None:
    """Index the batches that arrive on ``pipe`` into one segment; answer each, then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        ix = whoosh_index.open_dir(generation)
        writer = NewsSegmentWriter(ix, _lk=False, limitmb=limitmb)
        counts = count_surfaces(writer.schema)
        while (batch := pipe.recv()) is not None:
            for record in batch:
                writer.add_document(**record)
            pipe.send(("ack", None, None))
        segment = writer._finalize_segment() if writer._added else None
        if segment is None:
            writer._close_segment()
        pipe.send(("done", segment, (counts, known_terms(writer.schema))))
    except EOFError:
        return  # the parent is gone: its build is abandoned
    except BaseException as exc:  # reported to the parent, which cancels the build
        errno_ = exc.errno if isinstance(exc, OSError) else None
        try:
            pipe.send(("error", (errno_, f"{type(exc).__name__}: {exc}"), None))
        except OSError:
            pass


class ParallelSegmentWriter:
    """Feeds records to worker processes; ``commit`` writes the table of contents."""

    def __init__(self, generation: Path, jobs: int, limitmb: int) -> None:
        self.generation = generation
        ix = whoosh_index.open_dir(str(generation))
        self.writer = SegmentWriter(ix, limitmb=16)  # holds Whoosh's lock; writes the TOC
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.workers = []
        for _ in range(jobs):
            ours, theirs = context.Pipe()
            worker = context.Process(target=_worker, args=(str(generation), max(limitmb // jobs, 32), theirs),
                                     daemon=True)
            worker.start()
            theirs.close()
            self.pipes.append(ours)
            self.workers.append(worker)
        self.in_flight = dict.fromkeys(self.pipes, 0)
        self.batch: list[Record] = []
        self.surface_counts: Counter[str] = Counter()
        self.known_terms: dict[str, str] = {}
        self.segments: list[Any] = []

    def add_document(self, **record: Any) -> None:
        self.batch.append(record)
        if len(self.batch) >= BATCH_SIZE:
            self._send(self.batch)
            self.batch = []

    def _send(self, batch: list[Record]) -> None:
        """Give ``batch`` to the least busy worker, waiting while all have enough to do."""
        while True:
            pipe = min(self.pipes, key=self.in_flight.__getitem__)
            if self.in_flight[pipe] < BATCHES_IN_FLIGHT:
                pipe.send(batch)
                self.in_flight[pipe] += 1
                return
            for ready in wait(self.pipes):
                self._receive(ready)  # type: ignore[arg-type]

    def _receive(self, pipe: Connection) -> None:
        try:
            status, payload, vocabulary = pipe.recv()
        except EOFError:
            raise WorkerFailed("an indexing worker died") from None
        if status == "error":
            errno_, message = payload
            if errno_ is not None:
                raise OSError(errno_, message)  # e.g. the disk filled up: reported as such
            raise WorkerFailed(f"an indexing worker failed: {message}")
        self.in_flight[pipe] -= 1
        if status == "done":
            if payload is not None:
                self.segments.append(payload)
            counts, terms = vocabulary
            self.surface_counts.update(counts)
            self.known_terms.update(terms)

    def finish_segments(self) -> None:
        """Send the last batch and wait for every worker's segment and vocabulary counts."""
        if self.batch:
            self._send(self.batch)
            self.batch = []
        for pipe in self.pipes:
            pipe.send(None)
            self.in_flight[pipe] += 1  # the final report
        while any(self.in_flight.values()):
            for ready in wait([pipe for pipe in self.pipes if self.in_flight[pipe]]):
                self._receive(ready)  # type: ignore[arg-type]
        for worker in self.workers:
            worker.join()

    def commit(self) -> None:
        """Commit the workers' segments in one table of contents (after ``finish_segments``)."""
        writer = self.writer
        existing = writer._merge_segments(None, None, False)
        writer._close_segment()
        writer._commit_toc(existing + self.segments)
        writer._finish()

    def cancel(self) -> None:
        """Stop the workers and release Whoosh's lock; the caller removes the generation."""
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()
        for worker in self.workers:
            worker.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()
        try:
            self.writer.cancel()
        except Exception:
            lock = getattr(self.writer, "writelock", None)
            if lock is not None:
                lock.release()
