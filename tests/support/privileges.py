"""Child processes for which file permissions apply, even when the tests run as root."""

from __future__ import annotations

import os
import subprocess
import sys

CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
PR_CAPBSET_DROP = 24


def _drop_file_capabilities() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Drop root's permission-bypass capabilities from the bounding set, so after exec
    ``chmod 000`` really makes a file unreadable, while the process keeps uid 0 (and so can
    still run the interpreter under /root)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_cli_without_root_bypass(*args: str, env: dict[str, str] | None = None,
                                **kwargs) -> subprocess.CompletedProcess:
    """``run_cli`` in a process for which file permissions apply, even when the tests run as root."""
    return subprocess.run([sys.executable, "-m", "newsearch", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, preexec_fn=_drop_file_capabilities, **kwargs)


def can_drop_root_bypass() -> bool:
    """Whether permissions can be made to apply to a child (root with CAP_SETPCAP, or not root)."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run([sys.executable, "-c", "import os; open('/proc/self/status').read()"],
                           preexec_fn=_drop_file_capabilities, capture_output=True)
    return probe.returncode == 0
