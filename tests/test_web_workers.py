"""`newsearch serve --workers N`: the requests answered by a pool of worker processes, each with its
own index, give the same responses as one process, errors included, and follow rebuilds."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402
from support.web import ARTICLES, write_corpus  # noqa: E402

from newsearch import build_index  # noqa: E402
from newsearch.web.app import Settings, create_app  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REQUESTS = [
    ("/api/search", {"q": "harbour", "limit": "3", "page": "2", "facets": "source,year"}),
    ("/api/search", {"q": "rotterdam", "all": "true", "highlight": "html"}),
    ("/api/search", {"q": "harbour AND (", "limit": "3"}),  # 400 with the parser's message
    ("/api/search", {"q": "harbour", "limit": "nine"}),  # 400 naming the parameter
    ("/api/search", {"q": "harbour", "offset": "6000"}),  # 400: too deep
    ("/api/articles/reuters-port", {"q": "dock workers"}),
    ("/api/articles/no-such-article", {}),  # 404
    ("/api/related/reuters-port", {"limit": "2"}),
    ("/api/timeline", {"q": "harbour", "by": "year"}),
    ("/api/health", {}),
    ("/api/openapi.json", {}),
]


def body(response) -> tuple[int, dict]:
    data = response.json()
    data.pop("elapsed_ms", None)
    return response.status_code, data


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("web_workers")
    build_index([write_corpus(root / "corpus")], root / "index")
    return root / "index"


def test_a_pool_of_workers_answers_as_one_process_does(index):
    with TestClient(create_app(Settings(index=str(index)))) as one, \
            TestClient(create_app(Settings(index=str(index), workers=2))) as pool:
        for path, params in REQUESTS:
            alone, pooled = one.get(path, params=params), pool.get(path, params=params)
            assert body(pooled) == body(alone), path
            assert pooled.headers["content-type"] == alone.headers["content-type"] == "application/json"
        statuses = [pool.get(path, params=params).status_code for path, params in REQUESTS]
    assert statuses == [200, 200, 400, 400, 400, 200, 404, 200, 200, 200, 200]


def test_pool_workers_follow_a_rebuild_and_hold_the_token(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", ARTICLES[:4])
    build_index([corpus], tmp_path / "index")
    with TestClient(create_app(Settings(index=str(tmp_path / "index"), token="s3cret", workers=2))) as pool:
        assert pool.get("/api/search", params={"q": "lighthouse"}).status_code == 401
        asked = {"headers": {"Authorization": "Bearer s3cret"}, "params": {"q": "lighthouse"}}
        assert pool.get("/api/search", **asked).json()["total"] == 0
        write_corpus(corpus, [dict(id="lighthouse", title="New lighthouse", body="A lighthouse for the harbour.",
                                   date="2025-05-01T00:00:00Z", source="BBC")])
        build_index([corpus], tmp_path / "index", rebuild=True)
        # every worker sees it: more calls than workers, all answered from the new index
        assert [pool.get("/api/search", **asked).json()["total"] for _ in range(6)] == [1] * 6


def test_a_pool_on_no_index_answers_503_until_one_is_built(tmp_path):
    with TestClient(create_app(Settings(index=str(tmp_path / "index"), workers=2))) as pool:
        response = pool.get("/api/search", params={"q": "harbour"})
        assert (response.status_code, response.json()["error"]["code"]) == (503, "no_index")
        build_index([write_corpus(tmp_path / "corpus", ARTICLES[:4])], tmp_path / "index")
        assert [pool.get("/api/search", params={"q": "harbour"}).json()["total"] for _ in range(4)] == [4] * 4
