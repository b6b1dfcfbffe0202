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


def drop_root_bypass_here() -> None:  # pragma: no cover - runs in a forked child (support/cli_forkserver.py)
    """Drop root's permission-bypass capabilities from this process's effective and permitted sets
    (no exec follows, so the bounding set would not do): ``chmod 000`` then applies to it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # (effective, permitted, inheritable) for capabilities 0-31, then 32-63
    if libc.capget(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    keep = ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH)) & 0xFFFFFFFF
    data[0] &= keep
    data[1] &= keep
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def can_drop_root_bypass() -> bool:
    """Whether permissions can be made to apply to a child (root with CAP_SETPCAP, or not root)."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run([sys.executable, "-c", "import os; open('/proc/self/status').read()"],
                           preexec_fn=_drop_file_capabilities, capture_output=True)
    return probe.returncode == 0
