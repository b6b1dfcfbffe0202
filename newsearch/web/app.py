"""The HTTP API and the search page: a Starlette application over one long-lived ``Index``.

Every response body is what the command line prints for the same request, made by the same code:
``Results.to_dict`` (plus ``links`` to the next and previous pages), ``document_json``,
``timeline_json`` and the stats JSON; the options are read by ``options.search_arguments`` and
``options.timeline_arguments``, as ``newsearch search`` and ``timeline`` read theirs. Errors are
``{"error": {"code", "message"}}`` with the message the command line prints.

The ``Index`` is opened on the first request that finds an index (503 until then) and kept: it
follows the indexer's commits and ``--rebuild`` switches on its own, so a cron job updating the
index never needs the server restarted. Handlers are plain functions of a ``Call`` (the request as
plain data): with one worker they run in Starlette's thread pool, where the ``Index`` is safe to
share between threads; with ``workers`` > 1 in a ``WorkerPool`` of processes, each with its own.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsearch.errors import (
    DocumentNotFound,
    IndexCorrupt,
    IndexIncompatible,
    IndexNotFound,
    IndexUnreadable,
    NewsearchError,
    QueryError,
)
from newsearch.formatting import chosen_highlighter, document_json, dumps, results_data, results_json, timeline_json
from newsearch.models import Results
from newsearch.options import search_arguments, timeline_arguments
from newsearch.searcher import DEFAULT_TIME_LIMIT_S, Index
from newsearch.status import index_stats
from newsearch.version import __version__
from newsearch.web import parameters as params
from newsearch.web.openapi import openapi_document

SETTINGS_ENV = "NEWSEARCH_SERVE_SETTINGS"  # how `serve` hands its settings to each worker process
LOG = logging.getLogger("newsearch.web")
JSON_TYPE = "application/json"
# The page loads only its own script and style and talks only to this server: even text that slipped
# into the page as HTML could run no script and fetch nothing.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATIC = {  # URL path -> (file in newsearch/web/static, media type): only these are served
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}


@dataclass(frozen=True)
class Settings:
    """What ``newsearch serve`` was told: the index, the bearer token, the CORS origins, the time limit,
    the worker processes."""

    index: str | None = None
    token: str | None = None
    cors: tuple[str, ...] = ()
    time_limit: float = DEFAULT_TIME_LIMIT_S
    workers: int = 1
    # How often an idle worker lets go of an index state a rebuild replaced: well inside the
    # retired generation's grace period, so its disk space is freed when the rebuild deletes it.
    release_every_s: float = 30.0

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> Settings:
        values = json.loads(os.environ.get(SETTINGS_ENV) or "{}")
        return cls(**{**values, "cors": tuple(values.get("cors", ()))})


class ApiError(Exception):
    """An error response: its HTTP status, stable code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Library errors -> (status, code), the first class that matches wins.
ERRORS: tuple[tuple[type[NewsearchError], int, str], ...] = (
    (QueryError, 400, "bad_request"),
    (DocumentNotFound, 404, "not_found"),
    (IndexNotFound, 503, "no_index"),
    (IndexUnreadable, 503, "index_unavailable"),
    (IndexIncompatible, 503, "index_unavailable"),
    (IndexCorrupt, 503, "index_unavailable"),
    (NewsearchError, 500, "internal_error"),
)
STATUS_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(json.dumps({"error": {"code": code, "message": message}}), status, headers)


def json_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON_TYPE, headers={**PAGE_HEADERS, **(headers or {})})


class SharedIndex:
    """The worker's one ``Index``, opened when first asked for while an index exists."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._index: Index | None = None
        self._opening = threading.Lock()

    def get(self) -> Index:
        if self._index is None:
            with self._opening:
                if self._index is None:
                    self._index = Index(self.settings.index, time_limit=self.settings.time_limit)
        return self._index

    def release_if_replaced(self) -> None:
        if self._index is not None:
            self._index.release_if_replaced()

    def close(self) -> None:
        with self._opening:
            if self._index is not None:
                self._index.close()
                self._index = None


@dataclass(frozen=True)
class Call:
    """What a handler reads of its request, as plain data a worker process can be handed."""

    path: str
    id: str  # the {id} of /api/articles/{id} and /api/related/{id}
    items: tuple[tuple[str, str], ...]  # the query parameters, repeated ones repeated

    @classmethod
    def of(cls, request: Request) -> Call:
        return cls(request.url.path, request.path_params.get("id", ""), tuple(request.query_params.multi_items()))


Handler = Callable[[Call, SharedIndex], Response]


def respond(handler: Handler, call: Call, shared: SharedIndex) -> Response:
    """The handler's response, or the JSON error its failure maps to (never a traceback)."""
    try:
        return handler(call, shared)
    except ApiError as exc:
        return _error_of(exc)
    except NewsearchError as exc:
        status, code = next((status, code) for kind, status, code in ERRORS if isinstance(exc, kind))
        if status == 500:
            LOG.error("unexpected library error on %s: %s", call.path, exc)
        return error_response(status, code, str(exc))
    except Exception as exc:  # a bug: logged here, never a traceback to the client
        LOG.exception("internal error on %s", call.path)
        return error_response(500, "internal_error",
                              f"internal error ({type(exc).__name__}); the server's log has the details")


def _error_of(exc: ApiError) -> Response:
    extra = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, extra)


class WorkerPool:
    """``settings.workers`` processes, each with its own ``Index``, answering calls from one queue.

    Every request goes to the next free worker, in the order they came. uvicorn's own workers would
    each answer only the connections they accepted, and one accepts most of a burst: measured with
    16 keep-alive clients, one worker held 13 of them and their requests waited 2.5 times as long.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn: a fork of this process would copy its event loop and threads mid-flight
        return ProcessPoolExecutor(self.settings.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(self.settings,))

    async def started(self) -> None:
        """Once every worker process is running and has opened the index: a pool starts a process for
        each call that finds none idle, so one call per worker, all at once, starts them all now."""
        await asyncio.gather(*(asyncio.wrap_future(self._pool.submit(_started)) for _ in range(self.settings.workers)))

    async def answer(self, handler: Handler, call: Call) -> Response:
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(_in_worker, handler, call))
        except BrokenProcessPool:  # a worker died (killed, out of memory): new ones for the next calls
            LOG.error("a worker process ended while answering %s; starting new ones", call.path)
            if self._pool is pool:
                self._pool = self._start()
                pool.shutdown(wait=False)
            return error_response(500, "internal_error", "a worker process ended while answering; "
                                                         "the server's log has the details")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_WORKER: dict[str, SharedIndex] = {}  # a pool worker's own index, set when it starts


def _start_worker(settings: Settings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's: it shuts the pool down
    threading.Thread(target=_end_with_server, daemon=True).start()
    shared = _WORKER["shared"] = SharedIndex(settings)
    _open_now(shared)
    # What is alive now (the open index, the imported modules) stays: full collections need not walk
    # it again (measured on BBC: a 31-38 ms pause every ~400 searches without, none with).
    gc.freeze()
    threading.Thread(target=_release_replaced, args=(shared, threading.Event()), daemon=True).start()


def _end_with_server() -> None:
    """Exit when the server process is gone (killed): the pool's queue would keep the worker waiting forever."""
    server = multiprocessing.parent_process()
    if server is not None:
        multiprocessing.connection.wait([server.sentinel])
        signal.raise_signal(signal.SIGTERM)


def _started() -> None:
    """Nothing: a first call, which starts the workers."""


def _in_worker(handler: Handler, call: Call) -> Response:
    return respond(handler, call, _WORKER["shared"])


def _open_now(shared: SharedIndex) -> None:
    """Open the index now if it exists, so the first search is not the slow one."""
    try:
        shared.get()
    except NewsearchError as exc:
        LOG.warning("%s (the API answers 503 until then)", exc)


def create_app(settings: Settings | None = None) -> Starlette:
    """The application: the API under ``/api/`` and the search page at ``/``."""
    settings = settings or Settings()
    shared = SharedIndex(settings)
    pools: list[WorkerPool] = []  # with workers > 1: the pool, from startup to shutdown

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                _authorize(request, settings.token)
            except ApiError as exc:
                return _error_of(exc)
            call = Call.of(request)
            if pools:
                return await pools[0].answer(handler, call)
            return await run_in_threadpool(respond, handler, call, shared)

        return run

    pages = {path: ((resources.files("newsearch.web") / "static" / name).read_bytes(), media)
             for path, (name, media) in STATIC.items()}

    def page(request: Request) -> Response:
        body, media = pages[request.url.path]
        return Response(body, media_type=media, headers=PAGE_HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        message = f"no such page: {request.url.path}" if status == 404 else str(detail)
        return error_response(status, STATUS_CODES.get(status, "error"), message)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.workers > 1:
            pools.append(WorkerPool(settings))
            await pools[0].started()
            try:
                yield
            finally:
                pools.pop().close()
            return
        await asyncio.to_thread(_open_now, shared)
        stop = threading.Event()
        releasing = threading.Thread(target=_release_replaced, args=(shared, stop), daemon=True)
        releasing.start()
        try:
            yield
        finally:
            stop.set()
            releasing.join()
            shared.close()

    routes = [
        Route("/api/search", endpoint(_search)),
        Route("/api/articles/{id:path}", endpoint(_article)),
        Route("/api/related/{id:path}", endpoint(_related)),
        Route("/api/timeline", endpoint(_timeline)),
        Route("/api/stats", endpoint(_stats)),
        Route("/api/health", endpoint(_health)),
        Route("/api/openapi.json", endpoint(_openapi)),
        *(Route(path, page) for path in pages),
    ]
    middleware = [Middleware(CORSMiddleware, allow_origins=settings.cors, allow_methods=["GET"],
                             allow_headers=["Authorization"])] if settings.cors else []
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, 500: http_error})


def app_from_environment() -> Starlette:
    """The application with the settings ``newsearch serve`` left in the environment (one per worker)."""
    return create_app(Settings.from_environment())


def _release_replaced(shared: SharedIndex, stop: threading.Event) -> None:
    """Release the files of an index state a commit or rebuild replaced, now and then until ``stop``:
    a worker between requests would otherwise keep a deleted generation's space in use (``Index``)."""
    while not stop.wait(shared.settings.release_every_s):
        try:
            shared.release_if_replaced()
        except Exception:  # a failed check must not end the loop; the next request reports the problem
            LOG.exception("releasing a replaced index failed")


# -- handlers -------------------------------------------------------------------------------------


def _authorize(request: Request, token: str | None) -> None:
    if not token:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "this server needs a token: send the header 'Authorization: Bearer TOKEN'")


def _given(call: Call) -> dict[str, list[str]]:
    given: dict[str, list[str]] = {}
    for name, value in call.items:
        given.setdefault(name, []).append(value)
    return given


def _search(call: Call, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.SEARCH, _given(call))
    query = values.pop("q", "")
    style, tags = (values.pop(name, None) for name in params.READING)
    highlighter = chosen_highlighter(style, tags) if style or tags else None
    arguments = search_arguments(**params.keywords(values, params.SEARCH_KEYWORDS))
    if arguments["offset"] + arguments["limit"] > params.MAX_DEPTH:
        raise QueryError(f"results deeper than {params.MAX_DEPTH:,} are not served: narrow the query or the dates "
                         f"instead of asking for offset {arguments['offset']:,}")
    results = _in_time(shared.get().search(query, **arguments), shared)
    return json_response(json.dumps({**results_data(results, highlighter),
                                     "links": _links(call, results, "page" in values)}, ensure_ascii=True))


def _links(call: Call, results: Results, by_page: bool) -> dict[str, str | None]:
    """``self``, ``next`` and ``previous`` pages as paths with their query strings (None past either end)."""
    kept = [(name, value) for name, value in call.items if name not in ("page", "offset")]

    def at(offset: int) -> str:
        place = ("page", str(offset // results.limit + 1)) if by_page else ("offset", str(offset))
        return f"{call.path}?{urlencode([*kept, place])}"

    following = results.offset + results.limit
    has_next = following < (results.stories or 0) and following + results.limit <= params.MAX_DEPTH
    return {
        "self": at(results.offset),
        "next": at(following) if has_next else None,
        "previous": at(max(results.offset - results.limit, 0)) if results.offset > 0 else None,
    }


def _in_time(results: Results, shared: SharedIndex) -> Results:
    if results.timed_out:
        raise ApiError(504, "timeout", f"the search of {results.query!r} took longer than the time limit "
                                       f"({shared.settings.time_limit:g} s); narrow the query or its dates")
    return results


def _article(call: Call, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.ARTICLE, _given(call))
    index = shared.get()
    document = index.document(params.check_id(call.id))
    spans = index.highlight(document.body, values["q"]) if values.get("q") else []
    return json_response(document_json(document, spans))


def _related(call: Call, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.RELATED, _given(call))
    results = _in_time(shared.get().related(params.check_id(call.id), **values), shared)
    return json_response(results_json(results))


def _timeline(call: Call, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.TIMELINE, _given(call))
    query = values.pop("q")
    counts = shared.get().timeline(query, **timeline_arguments(**params.keywords(values, params.TIMELINE_KEYWORDS)))
    return json_response(timeline_json(counts))


def _stats(call: Call, shared: SharedIndex) -> Response:
    params.read_parameters((), _given(call))
    shared.get()  # 503 while there is no index, as for every other call
    return json_response(dumps(index_stats(shared.settings.index)))


def _health(call: Call, shared: SharedIndex) -> Response:
    params.read_parameters((), _given(call))
    shared.get()
    return json_response(json.dumps({"status": "ok", "version": __version__}))


def _openapi(call: Call, shared: SharedIndex) -> Response:
    return json_response(json.dumps(openapi_document()))
