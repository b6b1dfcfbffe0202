"""Running the application: uvicorn in front of N worker processes, each with its own ``Index``."""

from __future__ import annotations

import ipaddress
import os
import sys

from newsearch.errors import NewsearchError

INSTALL_HINT = "pip install 'newsearch[web]'"


def check_installed() -> None:
    """NewsearchError saying how to install the web extra when it is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise NewsearchError(f"`newsearch serve` needs the web extra, and {exc.name or 'a part of it'} is not "
                             f"installed: {INSTALL_HINT}") from None


def serve(*, index: str | None, host: str, port: int, workers: int, token: str | None, cors: tuple[str, ...],
          time_limit: float) -> None:
    """Serve the API and the page on ``host:port`` until interrupted."""
    check_installed()
    import uvicorn

    from newsearch.web.app import SETTINGS_ENV, Settings

    if not token and not _is_loopback(host):
        print(f"warning: listening on {host} without --token: anyone who can reach it can search the index",
              file=sys.stderr)
    # One uvicorn process holds the connections and hands each request to the next free one of the
    # application's worker processes (app.WorkerPool); it builds the application from the environment.
    os.environ[SETTINGS_ENV] = Settings(index, token, cors, time_limit, workers).to_environment()
    uvicorn.run("newsearch.web.app:app_from_environment", factory=True, host=host, port=port, workers=1,
                log_level="info", server_header=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
