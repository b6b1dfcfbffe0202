"""The OpenAPI 3.1 description of the API (``GET /api/openapi.json``), made from the parameter tables
the handlers read requests with, so the description cannot drift from what is accepted."""

from __future__ import annotations

from typing import Any

from newsearch.version import __version__
from newsearch.web import parameters as params

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": ["bad_request", "unauthorized", "not_found", "method_not_allowed",
                                            "no_index", "index_unavailable", "timeout", "internal_error"]},
        "message": {"type": "string", "description": "What is wrong and how to fix it, as the CLI says it."},
    }}},
}
ERRORS = {
    "400": "A query or parameter that cannot be used", "401": "The token is missing or wrong (with --token)",
    "404": "No article has this id", "503": "There is no index yet, or it cannot be opened",
    "504": "The search took longer than the time limit",
}
ID = {"name": "id", "in": "path", "required": True, "description": "An article id, as search returns it.",
      "schema": {"type": "string", "maxLength": params.MAX_ID_CHARS}}

# path -> (summary, what the response is, parameter table, takes an id)
ENDPOINTS: tuple[tuple[str, str, str, tuple[params.Parameter, ...], bool], ...] = (
    ("/api/search", "Search: one page of ranked hits", "`newsearch search --format json`, plus `links` "
     "(self, next, previous)", params.SEARCH, False),
    ("/api/articles/{id}", "One whole article", "`newsearch show ID --format json`", params.ARTICLE, True),
    ("/api/related/{id}", "The articles most like one article", "`newsearch related ID --format json`",
     params.RELATED, True),
    ("/api/timeline", "Matching articles per period", "`newsearch timeline --format json`", params.TIMELINE, False),
    ("/api/stats", "What the index holds", "`newsearch stats --json`", (), False),
    ("/api/health", "Whether the server can answer", '`{"status": "ok", "version": ...}`', (), False),
)


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document."""
    paths: dict[str, Any] = {}
    for path, summary, returns, table, takes_id in ENDPOINTS:
        paths[path] = {"get": {
            "summary": summary,
            "parameters": ([ID] if takes_id else []) + [row.schema() for row in table],
            "responses": {
                "200": {"description": f"The JSON document of {returns}.",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                **{status: {"description": text,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                   for status, text in ERRORS.items()},
            },
        }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "newsearch", "version": __version__,
                 "description": "Full-text search of a news archive; the JSON of the newsearch command line."},
        "paths": paths,
        "components": {"schemas": {"Error": ERROR_SCHEMA},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
