"""``python -m newsearch`` that stops at a known point of its build, for a signal to land mid-build.

Run as ``python tests/support/paused_cli.py MARKER AFTER ARGS...`` (``support.processes.popen_paused``):
the real command with ARGS, except that the AFTER-th corpus file a build process reads (the command's
own process, or each forked build worker) first creates the file MARKER and then waits up to a minute
before reading on; a worker stops waiting when its parent dies, as if it had been busy with a file.
A test waits for MARKER and sends its signal: a build this small would otherwise be over before a
signal could be aimed at it. If no signal comes, the run goes on and finishes (exit 0).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from newsearch import corpus

PAUSE_S = 60.0


def pause_before_reading(marker: Path, after: int) -> None:
    """Make the ``after``-th ``corpus.read_articles`` call of each process create ``marker``, then wait."""
    read_articles: Callable[..., Any] = corpus.read_articles
    calls = 0

    def paused(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == after:
            parent, deadline = os.getppid(), time.monotonic() + PAUSE_S
            marker.touch()
            while os.getppid() == parent and time.monotonic() < deadline:
                time.sleep(0.01)
        return read_articles(*args, **kwargs)

    corpus.read_articles = paused  # build_jobs reads every file through the module attribute


if __name__ == "__main__":
    # Ctrl-C as it reaches a terminal's foreground command: a shell that started the tests in the
    # background (`bash .ci/run &`, nohup) hands every child SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    pause_before_reading(Path(sys.argv[1]), int(sys.argv[2]))
    sys.argv = ["newsearch", *sys.argv[3:]]
    from newsearch.cli import main

    main()
