"""The HTTP API (`newsearch serve`) over a fixture index: every endpoint, parameter and error code,
and the same JSON as the command line for the same request."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from click.testing import CliRunner  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from support.processes import held  # noqa: E402
from support.web import ARTICLES, HOSTILE_TITLE, write_corpus  # noqa: E402

from newsearch import build_index  # noqa: E402
from newsearch.cli import cli  # noqa: E402
from newsearch.storage import current_generation  # noqa: E402
from newsearch.web.app import Settings, create_app  # noqa: E402
from newsearch.web.parameters import MAX_CHARS, MAX_DEPTH, MAX_VALUES, RELATED, SEARCH, TIMELINE  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("web_news")
    report = build_index([write_corpus(root / "corpus")], root / "index")
    assert report.documents == len(ARTICLES) and not report.skipped
    return root / "index"


@pytest.fixture(scope="module")
def client(news):
    with TestClient(create_app(Settings(index=str(news)))) as opened:
        yield opened


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(cli, list(args), prog_name="newsearch")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def without_timing(data: dict) -> dict:
    return {key: value for key, value in data.items() if key not in ("elapsed_ms", "links")}


def error_of(response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, body["error"]["code"], body["error"]["message"]


# -- the same JSON as the command line -------------------------------------------------------------

@pytest.mark.parametrize("params, args", [
    ({"q": "harbour"}, ()),
    ({"q": "harbour", "limit": "3", "page": "2"}, ("--limit", "3", "--page", "2")),
    ({"q": "harbour", "limit": "4", "offset": "4"}, ("--limit", "4", "--page", "2")),
    ({"q": "harbour", "since": "2024", "until": "2024"}, ("--since", "2024", "--until", "2024")),
    ({"q": "harbour", "source": ["AP", "BBC"]}, ("--source", "AP", "--source", "BBC")),
    ({"q": "harbour", "sort": "newest", "passages": "1"}, ("--sort", "newest", "--passages", "1")),
    ({"q": "harbour", "facets": "source,Year"}, ("--facets", "source,Year")),
    ({"q": "dock workers automation", "recency": "30d"}, ("--recency", "30d")),
    ({"q": "rotterdam", "all": "true"}, ("--all",)),
    ({"q": "harbur", "exact": "1"}, ("--exact",)),
    ({"q": "harbur"}, ()),
    ({"q": "\"harbour master\" -ferry"}, ()),
    ({"q": "nothingmatchesthis"}, ()),
])
def test_search_is_the_cli_json(client, news, params, args):
    response = client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    api = response.json()
    assert list(api)[0] == "format_version" and list(api)[-1] == "links"
    assert without_timing(api) == without_timing(cli_json("search", params["q"], "--index", str(news),
                                                          "--format", "json", *args))


def test_search_folds_copies_and_links_pages(client):
    folded = client.get("/api/search", params={"q": "rotterdam dock"}).json()
    [hit] = [hit for hit in folded["hits"] if hit["id"] in ("reuters-port", "ap-port")]
    assert [copy["source"] for copy in hit["similar"]] == ["AP" if hit["id"] == "reuters-port" else "Reuters"]
    first = client.get("/api/search", params={"q": "harbour", "limit": "3", "source": "BBC"}).json()
    assert first["links"] == {"self": "/api/search?q=harbour&limit=3&source=BBC&offset=0",
                              "next": "/api/search?q=harbour&limit=3&source=BBC&offset=3", "previous": None}
    stories, seen, link = first["stories"], [], first["links"]["self"]
    while link:  # following next visits every story once
        page = client.get(link).json()
        seen += [hit["id"] for hit in page["hits"]]
        link = page["links"]["next"]
    assert len(seen) == len(set(seen)) == stories > 3
    by_page = client.get("/api/search", params={"q": "harbour", "limit": "5", "page": "2"}).json()["links"]
    assert by_page == {"self": "/api/search?q=harbour&limit=5&page=2", "next": "/api/search?q=harbour&limit=5&page=3",
                       "previous": "/api/search?q=harbour&limit=5&page=1"}


def test_article_related_timeline_stats_are_the_cli_json(client, news):
    index = ("--index", str(news))
    assert client.get("/api/articles/world/ferry").json() == cli_json("show", "world/ferry", *index, "--format", "json")
    highlighted = client.get("/api/articles/world/ferry", params={"q": "harbour"}).json()
    assert highlighted == cli_json("show", "world/ferry", *index, "-q", "harbour", "--format", "json")
    body = highlighted["document"]["body"]
    assert [body[start:end] for start, end in highlighted["highlights"]] == ["harbour"]
    for params, args in (({}, ()), ({"limit": "2", "passages": "0"}, ("-n", "2", "--passages", "0")),
                         ({"before": "yes"}, ("--before",))):
        api = client.get("/api/related/reuters-port", params=params).json()
        assert without_timing(api) == without_timing(cli_json("related", "reuters-port", *index, "--format", "json",
                                                              *args))
    for params, args in (({}, ()), ({"by": "year", "tz": "+05:00", "source": "AP"}, ("--by", "year", "--tz", "+05:00",
                                                                                     "--source", "AP")),
                         ({"since": "2024", "until": "2025", "exact": "true"}, ("--since", "2024", "--until", "2025",
                                                                                "--exact"))):
        api = client.get("/api/timeline", params={"q": "harbour", **params}).json()
        assert api == cli_json("timeline", "harbour", *index, "--format", "json", *args)
    assert client.get("/api/stats").json() == cli_json("stats", *index, "--json")
    assert client.get("/api/health").json()["status"] == "ok"


# -- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, params, message", [
    ("/api/search", {}, "the query is empty: type some words to search for, give a date or source filter to list "
                         "the articles it keeps, or * to list every article"),
    ("/api/search", {"q": "harbour", "limit": "0"}, "limit must be between 1 and 1000, not 0"),
    ("/api/search", {"q": "harbour", "limit": "ten"}, "limit must be a whole number, not 'ten'"),
    ("/api/search", {"q": "harbour", "limit": ["1", "2"]}, "limit is given 2 times; give it once"),
    ("/api/search", {"q": "harbour", "page": "0"}, "page must be at least 1, not 0"),
    ("/api/search", {"q": "harbour", "offset": "-1"}, "offset must be at least 0, not -1"),
    ("/api/search", {"q": "harbour", "page": "2", "offset": "3"}, "give page or offset, not both"),
    ("/api/search", {"q": "harbour", "passages": "21"}, "passages must be between 0 and 20, not 21"),
    ("/api/search", {"q": "harbour", "sort": "best"}, "sort must be one of relevance, newest, oldest, not 'best'"),
    ("/api/search", {"q": "harbour", "since": "last week"},
     "cannot read the date 'last week'; write YYYY, YYYY-MM, YYYY-MM-DD, a time such as 2025-01-20T14:00, today, "
     "yesterday, or an age such as 12h, 7d, 2w, 3m or 1y"),
    ("/api/search", {"q": "harbour", "since": "2025", "until": "2024"},
     "since 2025 is after until 2024: no date is in between"),
    ("/api/search", {"q": "harbour", "facets": "colour"}, "unknown facet 'colour': choose from source, year, month"),
    ("/api/search", {"q": "harbour", "recency": "soon"}, "recency: invalid half-life 'soon'"),
    ("/api/search", {"q": "harbour", "all": "maybe"}, "all must be true or false (or 1 or 0), not 'maybe'"),
    ("/api/search", {"q": "harbour", "lmit": "3"}, "unknown parameter 'lmit': this endpoint takes q, limit, page"),
    ("/api/search", {"q": "harbour", "source": ["x"] * (MAX_VALUES + 1)}, f"source is given {MAX_VALUES + 1} times"),
    ("/api/search", {"q": "x" * (MAX_CHARS + 1)},
     f"q is {MAX_CHARS + 1:,} characters long; the limit is {MAX_CHARS:,}"),
    ("/api/search", {"q": "harbour", "offset": str(MAX_DEPTH)}, f"results deeper than {MAX_DEPTH:,} are not served"),
    ("/api/search", {"q": "harbour", "limit": "1", "page": "99999999999999"}, "page must be a whole number"),
    ("/api/timeline", {"q": "harbour", "by": "decade"}, "by must be one of day, week, month, year, not 'decade'"),
    ("/api/timeline", {"q": "harbour", "tz": "Mars/Olympus"}, "tz: unknown time zone 'Mars/Olympus'"),
    ("/api/related/reuters-port", {"limit": "1001"}, "limit must be between 1 and 1000, not 1001"),
    ("/api/stats", {"verbose": "1"}, "unknown parameter 'verbose': this endpoint takes none"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, path, params, message):
    status, code, said = error_of(client.get(path, params=params))
    assert (status, code) == (400, "bad_request")
    assert said.startswith(message), said


@pytest.mark.parametrize("query", ["colour:red", "-harbour", "abcdef~3", "x*", "date:[notadate to 2006]",
                                   "(" * 2000 + "x" + ")" * 2000])
def test_bad_queries_are_400_with_the_cli_message(client, news, query):
    status, code, message = error_of(client.get("/api/search", params={"q": query}))
    result = CliRunner().invoke(cli, ["search", "--index", str(news), "--", query], prog_name="newsearch")
    assert (status, code, result.exit_code) == (400, "bad_request", 2)
    assert result.stderr == f"Error: {message}\n"


@pytest.mark.parametrize("path", [
    "/api/articles/nope", "/api/related/nope", "/api/articles/../../setup.cfg", "/api/articles/..%2F..%2Fsetup.cfg",
    "/api/articles/%2Fetc%2Fpasswd", "/api/articles//etc/passwd", "/api/articles/world%2F..%2F..%2Findex",
    "/api/articles/%ff%fe", "/api/articles/world/ferry%00", "/api/related/..%5C..%5Cwin.ini",
])
def test_unknown_ids_and_paths_out_of_the_index_are_404(client, path):
    status, code, message = error_of(client.get(path))
    assert (status, code) == (404, "not_found"), message
    assert "Traceback" not in message


def test_ids_are_looked_up_never_opened_as_files(client, news):
    # An id naming a real file beside the index, relative or absolute, is just an unknown id.
    for id in ("../corpus/hostile.txt", str(news.parent / "corpus" / "hostile.txt")):
        assert error_of(client.get(f"/api/articles/{id}"))[:2] == (404, "not_found")
    assert error_of(client.get("/api/articles/" + "a" * 1001))[:2] == (400, "bad_request")
    assert error_of(client.get("/api/related/%ED%A0%80"))[0] in (400, 404)  # a lone surrogate


def test_unknown_routes_and_methods(client):
    assert error_of(client.get("/api/nothing"))[:2] == (404, "not_found")
    assert error_of(client.get("/static/../setup.cfg"))[:2] == (404, "not_found")
    assert error_of(client.get("/static/..%2F..%2Fsetup.cfg"))[:2] == (404, "not_found")
    assert error_of(client.get("/static/web/app.py"))[:2] == (404, "not_found")
    assert error_of(client.post("/api/search", data={"q": "harbour"}))[:2] == (405, "method_not_allowed")


def test_no_index_is_503_until_one_is_built(tmp_path):
    missing = tmp_path / "index"
    with TestClient(create_app(Settings(index=str(missing)))) as client:
        for path in ("/api/search?q=harbour", "/api/articles/hostile.txt", "/api/related/hostile.txt",
                     "/api/timeline?q=harbour", "/api/stats", "/api/health"):
            status, code, message = error_of(client.get(path))
            assert (status, code) == (503, "no_index"), path
            assert message.startswith(f"no index at {missing}: run `newsearch index")
        assert client.get("/").status_code == 200  # the page itself is there
        build_index([write_corpus(tmp_path / "corpus", ARTICLES[:4])], missing)
        assert client.get("/api/search", params={"q": "harbour"}).json()["total"] == 4


def test_the_time_limit_is_504(tmp_path):
    # The clock is read every 64 matches: enough articles that a search reads it.
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "many.jsonl").write_text("\n".join(
        json.dumps({"id": f"n{number}", "title": "Tide", "body": f"Tide table {number} for the harbour."})
        for number in range(200)), encoding="utf-8")
    build_index([tmp_path / "corpus"], tmp_path / "index")
    with TestClient(create_app(Settings(index=str(tmp_path / "index"), time_limit=1e-9))) as client:
        status, code, message = error_of(client.get("/api/search", params={"q": "tide OR harbour", "sort": "newest"}))
    assert (status, code) == (504, "timeout")
    assert message.startswith("the search of 'tide OR harbour' took longer than the time limit (1e-09 s)")


def test_a_token_guards_every_api_call_but_not_the_page(news):
    with TestClient(create_app(Settings(index=str(news), token="s3cret"))) as client:
        for path in ("/api/search?q=harbour", "/api/articles/hostile.txt", "/api/timeline?q=harbour", "/api/stats",
                     "/api/health", "/api/openapi.json"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
                response = client.get(path, headers=headers)
                assert error_of(response)[:2] == (401, "unauthorized"), (path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
            assert client.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/").status_code == 200


def test_cors_is_off_unless_an_origin_is_given(client, news):
    asked = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in client.get("/api/health", headers=asked).headers
    with TestClient(create_app(Settings(index=str(news), cors=("https://example.org",)))) as open_client:
        allowed = open_client.get("/api/health", headers=asked)
        assert allowed.headers["access-control-allow-origin"] == "https://example.org"
        other = open_client.get("/api/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in page.text
    assert client.get("/static/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert "innerHTML" not in client.get("/static/app.js").text
    assert client.get("/static/style.css").status_code == 200


def test_openapi_describes_every_endpoint_and_parameter(client):
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths) == {"/api/search", "/api/articles/{id}", "/api/related/{id}", "/api/timeline", "/api/stats",
                          "/api/health"}
    for path, table in (("/api/search", SEARCH), ("/api/timeline", TIMELINE), ("/api/related/{id}", RELATED)):
        named = [parameter["name"] for parameter in paths[path]["get"]["parameters"]]
        assert named == (["id"] if "{id}" in path else []) + [row.name for row in table]
    sort = next(p for p in paths["/api/search"]["get"]["parameters"] if p["name"] == "sort")
    assert sort["schema"]["enum"] == ["relevance", "newest", "oldest"]


def test_hostile_text_is_returned_as_stored(client):
    hit = client.get("/api/search", params={"q": "harbour master click"}).json()["hits"][0]
    assert (hit["id"], hit["title"]) == ("hostile.txt", HOSTILE_TITLE)


def test_updates_and_rebuilds_are_seen_while_the_server_answers(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", ARTICLES[:4])
    index = tmp_path / "index"
    build_index([corpus], index)
    failures: list[str] = []
    stop = threading.Event()
    with TestClient(create_app(Settings(index=str(index)))) as client:
        def ask() -> None:
            while not stop.is_set():
                response = client.get("/api/search", params={"q": "harbour"})
                if response.status_code != 200:
                    failures.append(response.text)

        asking = [threading.Thread(target=ask) for _ in range(2)]
        for thread in asking:
            thread.start()
        try:
            write_corpus(corpus, [dict(id="lighthouse", title="New lighthouse", body="A lighthouse for the harbour.",
                                       date="2025-05-01T00:00:00Z", source="BBC")])
            build_index([corpus], index)
            assert client.get("/api/articles/lighthouse").status_code == 200
            build_index([corpus], index, rebuild=True)
            build_index([corpus], index, rebuild=True)
            assert client.get("/api/search", params={"q": "lighthouse"}).json()["total"] == 1
        finally:
            stop.set()
            for thread in asking:
                thread.join()
    assert failures == []


def test_an_idle_server_lets_go_of_the_index_a_rebuild_replaced(tmp_path):
    """Else a worker between requests keeps the deleted generation's disk space in use."""
    corpus = write_corpus(tmp_path / "corpus", ARTICLES[:4])
    index = tmp_path / "index"
    build_index([corpus], index)
    first = current_generation(index)

    def holds_first() -> bool:
        return any(name.startswith(f"{first}/") for name in held(index))

    with TestClient(create_app(Settings(index=str(index), release_every_s=0.05))) as client:
        assert client.get("/api/search", params={"q": "harbour"}).json()["total"] == 4
        assert holds_first()
        build_index([corpus], index, rebuild=True)
        deadline = time.monotonic() + 10
        while holds_first() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not holds_first()  # no request came in between
        assert client.get("/api/search", params={"q": "harbour"}).json()["total"] == 4


def test_serve_without_the_web_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "uvicorn", None)
    result = CliRunner().invoke(cli, ["serve"], prog_name="newsearch")
    assert result.exit_code == 1
    assert result.stderr == ("Error: `newsearch serve` needs the web extra, and uvicorn is not installed: "
                             "pip install 'newsearch[web]'\n")
