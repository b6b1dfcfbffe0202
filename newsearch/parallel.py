"""Parallel segment writing for full builds (``newsearch index --jobs N``).

The parent reads the corpus and hands validated records to N worker processes
in batches; each worker analyses them and writes one Whoosh segment into the new
generation folder; the parent then commits one table of contents listing every
segment (Whoosh's "multisegment" layout). This reimplements the small part of
Whoosh's ``MpWriter`` we need, because that one orphans its workers (which keep
the lock) when the parent is killed:

* workers are started with the "spawn" method, so they inherit no file
  descriptors (in particular not the writer lock);
* a worker exits on its own within a second of its parent's death;
* workers take no lock and never write the table of contents, so a killed
  build leaves only an abandoned generation, removed by the next run.

It uses Whoosh writer internals (``_lk``, ``_finalize_segment``, ``_commit_toc``),
which is why the whoosh-reloaded version is pinned below 2.8.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.writing import SegmentWriter

from newsearch.vocabulary import count_surfaces, known_terms

BATCH_SIZE = 64
PARENT_CHECK_S = 1.0
Record = dict[str, Any]


def _exit_when_orphaned(parent_pid: int) -> None:
    """Watchdog thread: a killed parent may leave a batch half-written in the pipe, and a
    worker reading it would wait forever, so the check cannot live in the main loop only."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S / 2)
    os._exit(1)


def _worker(generation: str, limitmb: int, parent_pid: int, jobs: Any, results: Any) -> None:
    """Index batches of records from ``jobs`` into one segment; put the outcome on ``results``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    try:
        ix = whoosh_index.open_dir(generation)
        writer = SegmentWriter(ix, _lk=False, limitmb=limitmb)
        counts = count_surfaces(writer.schema)
        while (batch := jobs.get()) is not None:
            for record in batch:
                writer.add_document(**record)
        segment = writer._finalize_segment() if writer._added else None
        if segment is None:
            writer._close_segment()
        results.put(("done", segment, (counts, known_terms(writer.schema))))
    except BaseException as exc:  # reported to the parent, which cancels the build
        results.put(("error", f"{type(exc).__name__}: {exc}", None))


class ParallelSegmentWriter:
    """Feeds records to worker processes; ``commit`` writes the table of contents."""

    def __init__(self, generation: Path, jobs: int, limitmb: int) -> None:
        self.generation = generation
        ix = whoosh_index.open_dir(str(generation))
        self.writer = SegmentWriter(ix, limitmb=16)  # holds Whoosh's lock; writes the TOC
        context = multiprocessing.get_context("spawn")
        self.jobs = context.Queue(maxsize=jobs * 4)
        self.results = context.Queue()
        self.batch: list[Record] = []
        self.surface_counts: Counter[str] = Counter()
        self.known_terms: dict[str, str] = {}
        self.segments: list[Any] = []
        self.workers = [
            context.Process(target=_worker, args=(str(generation), max(limitmb // jobs, 32), os.getpid(),
                                                  self.jobs, self.results), daemon=True)
            for _ in range(jobs)
        ]
        for worker in self.workers:
            worker.start()

    def add_document(self, **record: Any) -> None:
        self.batch.append(record)
        if len(self.batch) >= BATCH_SIZE:
            self._flush()

    def _flush(self) -> None:
        while True:
            try:
                self.jobs.put(self.batch, timeout=PARENT_CHECK_S)
                break
            except queue.Full:
                self._check_workers()
        self.batch = []

    def _check_workers(self) -> None:
        for worker in self.workers:
            if not worker.is_alive() and worker.exitcode not in (0, None):
                raise RuntimeError(f"an indexing worker died (exit code {worker.exitcode})")

    def finish_segments(self) -> None:
        """Send the last batch and wait for every worker's segment and vocabulary counts."""
        if self.batch:
            self._flush()
        for _ in self.workers:
            self.jobs.put(None)
        for _ in self.workers:
            status, segment, vocabulary = self._next_result()
            if status == "error":
                raise RuntimeError(f"an indexing worker failed: {segment}")
            if segment is not None:
                self.segments.append(segment)
            counts, terms = vocabulary
            self.surface_counts.update(counts)
            self.known_terms.update(terms)
        for worker in self.workers:
            worker.join()

    def commit(self) -> None:
        """Commit the workers' segments in one table of contents (after ``finish_segments``)."""
        writer = self.writer
        existing = writer._merge_segments(None, None, False)
        writer._close_segment()
        writer._commit_toc(existing + self.segments)
        writer._finish()

    def _next_result(self) -> tuple[str, Any, Any]:
        while True:
            try:
                return self.results.get(timeout=PARENT_CHECK_S)
            except queue.Empty:
                self._check_workers()
                if not any(worker.is_alive() for worker in self.workers):
                    raise RuntimeError("the indexing workers stopped without finishing") from None

    def cancel(self) -> None:
        """Stop the workers and release Whoosh's lock; the caller removes the generation."""
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()
        deadline = time.monotonic() + 5
        for worker in self.workers:
            worker.join(timeout=max(deadline - time.monotonic(), 0.1))
        try:
            self.writer.cancel()
        except Exception:
            lock = getattr(self.writer, "writelock", None)
            if lock is not None:
                lock.release()
