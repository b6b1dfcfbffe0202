"""The web tests' news corpus (copies, sources, years, enough hits for pages, one hostile article)
and a real ``newsearch serve`` process on a free loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WIRE = (
    "Dock workers at the port of Rotterdam walked out on Monday in a dispute over automation, halting "
    "container traffic at Europe's largest harbour. The union said cranes operated from remote control "
    "rooms would cost hundreds of jobs within three years. Shipping lines diverted vessels to Antwerp and "
    "Hamburg while talks with the port authority continued late into the night. A spokesman for the "
    "employers said the walkout was illegal and that a court hearing had been requested for Wednesday."
)
# Article text written to attack a page that inserts it as HTML; it must show as these characters.
HOSTILE_TITLE = '<script>window.__pwned = "title"</script>Harbour <img src=x onerror="window.__pwned=\'img\'">'
HOSTILE_BODY = (
    'The harbour master said <a href="javascript:window.__pwned=\'link\'">click here</a> and '
    '<svg onload="window.__pwned=\'svg\'"></svg> nothing else. Reversed: \u202eevil\u202c text.'
)

ARTICLES = [
    dict(id="reuters-port", title="Dock workers strike at Rotterdam", body=WIRE,
         date="2025-03-03T08:00:00Z", source="Reuters"),
    dict(id="ap-port", title="Rotterdam dockers walk out",
         body="ROTTERDAM (AP) - " + WIRE.replace("on Monday", "early on Monday"),
         date="2025-03-03T10:00:00Z", source="AP"),
    # Plain text keeps markup as typed (the JSON reader would turn an HTML body into text); its id is its path.
    dict(id="hostile.txt", title=HOSTILE_TITLE, body=HOSTILE_BODY),
    dict(id="world/ferry", title="Ferry workers stop the harbour",
         body="Ferry workers in the North Sea harbour walked out over pay; the port authority called for talks.",
         date="2024-06-12T10:00:00Z", source="BBC"),
    *(dict(id=f"harbour-{number:02d}", title=f"Harbour report {number}",
           body=f"The harbour of town {number} reported {number} ships at anchor and calm weather for fishing "
                f"boats; the harbour master number {number} expects more traffic.",
           date=f"{2023 + number % 3}-{1 + number % 12:02d}-15T08:00:00Z", source=("BBC", "AP", "Reuters")[number % 3])
      for number in range(1, 15)),
]


def write_corpus(folder: Path, articles: list[dict] = ARTICLES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        if article["id"].endswith(".txt"):
            (folder / article["id"]).write_text(f"{article['title']}\n\n{article['body']}\n", encoding="utf-8")
        else:
            (folder / f"{article['id'].replace('/', '_')}.json").write_text(json.dumps(article), encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@contextmanager
def running_server(index: Path, *options: str, log: Path | None = None) -> Iterator[str]:
    """``newsearch serve`` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    output = open(log, "wb") if log else subprocess.DEVNULL
    server = subprocess.Popen([sys.executable, "-m", "newsearch", "serve", "--index", str(index),
                               "--port", str(port), *options], stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"newsearch serve did not start (exit {server.poll()})") from None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if log:
            output.close()  # type: ignore[union-attr]
