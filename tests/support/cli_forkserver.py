"""``newsearch`` commands in real processes forked from one that has imported newsearch already.

Starting ``python -m newsearch`` costs about 0.4 s of CPU importing newsearch and its libraries:
more than most of the runs the SIGKILL trials make (tests/test_reliability_crash.py). This server
imports them once and forks a child per command. Each child is a real process (its own pid, locks
and death by SIGKILL) running ``newsearch``'s own entry point with the client's arguments,
environment and working directory; it skips only the imports. Nothing that depends on the
environment is loaded in the server (NLTK reads NLTK_DATA when imported, and analysis imports it
on a first stem, in the child). What the interpreter sets up as it starts (stdout's encoding, from
the locale and PYTHONIOENCODING) is the server's: a test that varies those needs ``run_cli``.

Run as a script (``ForkServer`` starts it): "ready" on stdout once imported, then one JSON
request per line on stdin and the child's pid per line on stdout. The child writes its exit code
to ``status`` beside its output files, last.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path

SERVER = Path(__file__).resolve()


def _child(request: dict) -> None:  # pragma: no cover - runs in the forked child, ends with os._exit
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's handler: not its to run
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        folder = Path(request["folder"])
        for fd, name, flags in ((0, os.devnull, os.O_RDONLY), (1, folder / "stdout", os.O_WRONLY | os.O_CREAT),
                                (2, folder / "stderr", os.O_WRONLY | os.O_CREAT)):
            opened = os.open(name, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = open(0, closefd=False)  # not the server's buffered request pipe
        if request["without_root_bypass"]:
            from privileges import drop_root_bypass_here

            drop_root_bypass_here()
        import newsearch.cli

        sys.argv = [str(Path(newsearch.cli.__file__).with_name("__main__.py")), *request["args"]]
        try:
            newsearch.cli.main()
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        atexit._run_exitfuncs()  # what the interpreter's exit would run
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            Path(request["folder"], "status.tmp").write_text(str(code))
            os.rename(Path(request["folder"], "status.tmp"), Path(request["folder"], "status"))
        finally:
            os._exit(code)


def _reap(_signum: int, _frame: object) -> None:  # pragma: no cover - the server process
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def serve() -> None:  # pragma: no cover - the server process
    import newsearch.cli
    import newsearch.indexer
    import newsearch.status  # noqa: F401 - what `index` and `check` import when they run

    assert "nltk" not in sys.modules
    signal.signal(signal.SIGCHLD, _reap)  # clients watch their child's pidfd: it ends as a zombie, reaped here
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(pid, flush=True)


class ForkedCli:
    """A ``newsearch`` command running in a forked child: the parts of ``subprocess.Popen`` the tests use."""

    def __init__(self, pid: int, folder: Path) -> None:
        self.pid, self.folder, self.returncode = pid, folder, None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # ended and reaped already (its status file says how)
            self._pidfd = None
        self._killed = False

    def _ended(self, timeout: float | None) -> bool:
        if self._pidfd is not None and not select.select([self._pidfd], [], [], timeout)[0]:
            return False
        if self.returncode is None:
            status = self.folder / "status"
            self.returncode = int(status.read_text()) if status.exists() else \
                -signal.SIGKILL if self._killed else -1  # -1: died without exiting, not by our kill
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return True

    def poll(self) -> int | None:
        self._ended(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self._pidfd is not None:
            self._killed = True
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return ((self.folder / "stdout").read_text(encoding="utf-8"),
                (self.folder / "stderr").read_text(encoding="utf-8"))

    def output_bytes(self) -> tuple[bytes, bytes]:
        """stdout and stderr as written, once it has ended."""
        self.wait()
        return (self.folder / "stdout").read_bytes(), (self.folder / "stderr").read_bytes()


class ForkServer:
    """The server process, and ``popen_cli`` / ``run_cli`` that run their command in a child of it.

    Safe to use from several threads; ``close`` stops the server (running children go on).
    """

    def __init__(self, work: Path) -> None:
        self.work, self.count, self.lock = work, 0, threading.Lock()
        self.server = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        assert self.server.stdout is not None
        if self.server.stdout.readline() != "ready\n":  # imported: the first command waits for nothing
            raise RuntimeError(f"the newsearch fork server did not start ({self.server.wait()})")

    def popen_cli(self, *args: str | bytes, env: dict[str, str] | None = None, cwd: Path | None = None,
                  without_root_bypass: bool = False) -> ForkedCli:
        """``newsearch ARGS`` in a forked child; ``without_root_bypass``: file permissions apply to
        it even as root (``support.privileges``)."""
        assert self.server.stdin is not None and self.server.stdout is not None
        with self.lock:
            self.count += 1
            folder = self.work / f"run{self.count}"
            folder.mkdir()
            request = {"args": [os.fsdecode(arg) for arg in args], "env": {**os.environ, **(env or {})},
                       "cwd": str(cwd or Path.cwd()), "folder": str(folder), "without_root_bypass": without_root_bypass}
            self.server.stdin.write(json.dumps(request) + "\n")
            self.server.stdin.flush()
            reply = self.server.stdout.readline()
            if not reply:
                raise RuntimeError(f"the newsearch fork server exited ({self.server.wait()})")
            return ForkedCli(int(reply), folder)

    def run_cli(self, *args: str | bytes, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float | None = None, text: bool = True,
                without_root_bypass: bool = False) -> subprocess.CompletedProcess:
        """As ``support.processes.run_cli``; ``text=False``: stdout and stderr as bytes. After
        ``timeout`` seconds the command is killed and TimeoutExpired raised."""
        process = self.popen_cli(*args, env=env, cwd=cwd, without_root_bypass=without_root_bypass)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        out, err = process.communicate() if text else process.output_bytes()
        return subprocess.CompletedProcess(list(args), process.returncode, out, err)

    def close(self) -> None:
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(timeout=30)


if __name__ == "__main__":
    serve()
