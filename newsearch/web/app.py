"""The HTTP API and the search page: a Starlette application over one long-lived ``Index``.

Every response body is what the command line prints for the same request, made by the same code:
``Results.to_dict`` (plus ``links`` to the next and previous pages), ``document_json``,
``timeline_json`` and the stats JSON; the options are read by ``options.search_arguments`` and
``options.timeline_arguments``, as ``newsearch search`` and ``timeline`` read theirs. Errors are
``{"error": {"code", "message"}}`` with the message the command line prints.

The ``Index`` is opened on the first request that finds an index (503 until then) and kept: it
follows the indexer's commits and ``--rebuild`` switches on its own, so a cron job updating the
index never needs the server restarted. Handlers are plain functions, run in Starlette's thread
pool; the ``Index`` is safe to share between those threads.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from urllib.parse import urlencode

from starlette.applications import Starlette
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
    """What ``newsearch serve`` was told: the index, the bearer token, the CORS origins, the time limit."""

    index: str | None = None
    token: str | None = None
    cors: tuple[str, ...] = ()
    time_limit: float = DEFAULT_TIME_LIMIT_S
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


Handler = Callable[[Request, SharedIndex], Response]


def create_app(settings: Settings | None = None) -> Starlette:
    """The application: the API under ``/api/`` and the search page at ``/``."""
    settings = settings or Settings()
    shared = SharedIndex(settings)

    def endpoint(handler: Handler) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            try:
                _authorize(request, settings.token)
                return handler(request, shared)
            except ApiError as exc:
                extra = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
                return error_response(exc.status, exc.code, exc.message, extra)
            except NewsearchError as exc:
                status, code = next((status, code) for kind, status, code in ERRORS if isinstance(exc, kind))
                if status == 500:
                    LOG.error("unexpected library error on %s: %s", request.url.path, exc)
                return error_response(status, code, str(exc))
            except Exception as exc:  # a bug: logged here, never a traceback to the client
                LOG.exception("internal error on %s", request.url.path)
                return error_response(500, "internal_error",
                                      f"internal error ({type(exc).__name__}); the server's log has the details")

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
        try:
            shared.get()  # open it now if it exists, so the first search is not the slow one
        except NewsearchError as exc:
            LOG.warning("%s (the API answers 503 until then)", exc)
        releasing = asyncio.create_task(_release_replaced(shared))
        try:
            yield
        finally:
            releasing.cancel()
            shared.close()

    routes = [
        Route("/api/search", endpoint(_search)),
        Route("/api/articles/{id:path}", endpoint(_article)),
        Route("/api/related/{id:path}", endpoint(_related)),
        Route("/api/timeline", endpoint(_timeline)),
        Route("/api/stats", endpoint(_stats)),
        Route("/api/health", endpoint(_health)),
        Route("/api/openapi.json", endpoint(lambda request, shared: json_response(json.dumps(openapi_document())))),
        *(Route(path, page) for path in pages),
    ]
    middleware = [Middleware(CORSMiddleware, allow_origins=settings.cors, allow_methods=["GET"],
                             allow_headers=["Authorization"])] if settings.cors else []
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, 500: http_error})


def app_from_environment() -> Starlette:
    """The application with the settings ``newsearch serve`` left in the environment (one per worker)."""
    return create_app(Settings.from_environment())


async def _release_replaced(shared: SharedIndex) -> None:
    """Release the files of an index state a commit or rebuild replaced, now and then: a worker
    between requests would otherwise keep a deleted generation's space in use (``Index``)."""
    while True:
        await asyncio.sleep(shared.settings.release_every_s)
        try:
            await asyncio.to_thread(shared.release_if_replaced)
        except Exception:  # a failed check must not end the loop; the next request reports the problem
            LOG.exception("releasing a replaced index failed")


# -- handlers -------------------------------------------------------------------------------------


def _authorize(request: Request, token: str | None) -> None:
    if not token:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "this server needs a token: send the header 'Authorization: Bearer TOKEN'")


def _given(request: Request) -> dict[str, list[str]]:
    given: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        given.setdefault(name, []).append(value)
    return given


def _search(request: Request, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.SEARCH, _given(request))
    query = values.pop("q", "")
    style, tags = (values.pop(name, None) for name in params.READING)
    highlighter = chosen_highlighter(style, tags) if style or tags else None
    arguments = search_arguments(**params.keywords(values, params.SEARCH_KEYWORDS))
    if arguments["offset"] + arguments["limit"] > params.MAX_DEPTH:
        raise QueryError(f"results deeper than {params.MAX_DEPTH:,} are not served: narrow the query or the dates "
                         f"instead of asking for offset {arguments['offset']:,}")
    results = _in_time(shared.get().search(query, **arguments), shared)
    return json_response(json.dumps({**results_data(results, highlighter),
                                     "links": _links(request, results, "page" in values)}, ensure_ascii=True))


def _links(request: Request, results: Results, by_page: bool) -> dict[str, str | None]:
    """``self``, ``next`` and ``previous`` pages as paths with their query strings (None past either end)."""
    kept = [(name, value) for name, value in request.query_params.multi_items() if name not in ("page", "offset")]

    def at(offset: int) -> str:
        place = ("page", str(offset // results.limit + 1)) if by_page else ("offset", str(offset))
        return f"{request.url.path}?{urlencode([*kept, place])}"

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


def _article(request: Request, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.ARTICLE, _given(request))
    index = shared.get()
    document = index.document(params.check_id(request.path_params["id"]))
    spans = index.highlight(document.body, values["q"]) if values.get("q") else []
    return json_response(document_json(document, spans))


def _related(request: Request, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.RELATED, _given(request))
    results = _in_time(shared.get().related(params.check_id(request.path_params["id"]), **values), shared)
    return json_response(results_json(results))


def _timeline(request: Request, shared: SharedIndex) -> Response:
    values = params.read_parameters(params.TIMELINE, _given(request))
    query = values.pop("q")
    counts = shared.get().timeline(query, **timeline_arguments(**params.keywords(values, params.TIMELINE_KEYWORDS)))
    return json_response(timeline_json(counts))


def _stats(request: Request, shared: SharedIndex) -> Response:
    params.read_parameters((), _given(request))
    shared.get()  # 503 while there is no index, as for every other call
    return json_response(dumps(index_stats(shared.settings.index)))


def _health(request: Request, shared: SharedIndex) -> Response:
    params.read_parameters((), _given(request))
    shared.get()
    return json_response(json.dumps({"status": "ok", "version": __version__}))

