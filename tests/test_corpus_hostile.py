"""Hostile input: every bad file ends in a CorpusError with a stable reason, fast, in bounded memory."""

from __future__ import annotations

import gzip
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.corpora import read_one

from newsearch.corpus import SUPPORTED_SUFFIXES, read_file, scan
from newsearch.corpus import decode as decode_module
from newsearch.errors import CorpusError

MB = 1024 * 1024


def refusal(root: Path, relpath: str, content: str | bytes, **options) -> str:
    """The CorpusError message for a file that must be refused."""
    with pytest.raises(CorpusError) as caught:
        read_one(root, relpath, content, **options)
    return str(caught.value)


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("empty.txt", b"", "empty"),
    ("blank.md", b" \n\t\r\n ", "empty"),
    ("empty.json", b"", "empty"),
    ("empty.xml", b"\n", "empty"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary: NUL bytes"),
    ("nul.jsonl", b'{"body": "a\x00b"}', "binary: NUL bytes"),
    ("controls.html", bytes(range(1, 9)) * 100, "binary: 800 control characters in the first 800"),
    ("noise.txt.gz", b"hello", "broken gzip: Error -3 while decompressing data: incorrect header check"),
    ("cut.txt.gz", gzip.compress(b"Headline\n\nBody " * 100)[:-30], "broken gzip: truncated"),
])
def test_unusable_file(tmp_path, name, content, reason):
    assert refusal(tmp_path, name, content) == f"{name}: {reason}"


def test_concatenated_gzip_members_are_one_file(tmp_path):
    data = gzip.compress(b"Headline\n\n") + gzip.compress(b"Body text.")
    [document] = read_one(tmp_path, "multi.txt.gz", data).documents
    assert (document.title, document.body) == ("Headline", "Body text.")


def test_size_is_checked_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.txt"
    with open(big, "wb") as handle:
        handle.truncate(50 * MB)  # sparse: 50 MB on paper
    [file] = scan([tmp_path]).files

    def no_reading(*args, **kwargs):
        raise AssertionError("read a file that is over the cap")

    monkeypatch.setattr(decode_module, "_read_capped", no_reading)
    with pytest.raises(CorpusError, match=r"^big\.txt: too large: 52,428,800 bytes > cap 10,485,760$"):
        read_file(file)


def test_size_cap_is_configurable(tmp_path):
    assert refusal(tmp_path, "a.txt", "x" * 2000, max_bytes=1000) == "a.txt: too large: 2,000 bytes > cap 1,000"
    assert read_one(tmp_path, "b.txt", "x" * 1000, max_bytes=1000).documents[0].body == "x" * 1000


def test_gzip_bomb_is_stopped_while_streaming(tmp_path):
    bomb = tmp_path / "bomb.txt.gz"
    zeros = b"\x00" * MB
    with gzip.open(bomb, "wb", compresslevel=6) as handle:
        for _ in range(50):
            handle.write(zeros)
    assert bomb.stat().st_size < MB // 10
    [file] = scan([tmp_path]).files
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(CorpusError) as caught:
            read_file(file, max_bytes=MB)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == "bomb.txt.gz: too large: over cap 1,048,576 bytes once decompressed"
    assert elapsed < 10  # a guard against inflating or expanding it all, not a speed figure
    assert peak < 4 * MB


def test_million_character_token_passes_through(tmp_path):
    token = "x" * 1_000_000
    [document] = read_one(tmp_path, "token.txt", token).documents
    assert document.body == token
    assert document.title == "x" * 100 + "…"


def test_unreadable_file(tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text("Headline\n\nBody.")
    [file] = scan([tmp_path]).files
    real_open = os.open

    def deny(path, flags, *args, **kwargs):
        if str(path).endswith("secret.txt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(CorpusError, match=r"^secret\.txt: unreadable: Permission denied$"):
        read_file(file)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_chmod_000_file(tmp_path):
    (tmp_path / "secret.txt").write_text("Headline\n\nBody.")
    (tmp_path / "secret.txt").chmod(0)
    [file] = scan([tmp_path]).files
    with pytest.raises(CorpusError, match=r"^secret\.txt: unreadable: Permission denied$"):
        read_file(file)


def test_huge_json_integer(tmp_path):
    message = refusal(tmp_path, "n.json", '{"body": ' + "1" * 5000 + "}")
    assert message.startswith("n.json: malformed JSON: Exceeds the limit (4300 digits)")


@pytest.mark.parametrize(("markup", "body"), [
    ("<p>One</p><![foo[ hidden ]]><p>Two</p>", "One\n\nTwo"),  # the stdlib parser asserts on these
    ("<![if !IE]><p>Old</p><![endif]><![CDATA[gone]]>", "Old"),
    ("<!DOCTYPE html [<!ENTITY x 'y'>]><p>Text &x;</p>", "Text &x;"),
])
def test_odd_declarations_in_html(tmp_path, markup, body):
    [document] = read_one(tmp_path, "odd.html", markup).documents
    assert document.body == body


@pytest.mark.parametrize("markup", ["<a " * 200_000, "<a" * 300_000, "<?" * 300_000, "<title>" + "</" * 300_000])
def test_pathological_html_is_linear(tmp_path, markup):
    started = time.perf_counter()
    [document] = read_one(tmp_path, "evil.html", markup).documents
    assert time.perf_counter() - started < 20  # quadratic parsing took minutes; this is a hang guard
    assert document.body


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
              for i in range(1, 10))
    + ']>\n<rss version="2.0"><channel><title>&lol9;</title>'
    + "<item><title>Laugh</title><description>&lol9;</description></item></channel></rss>\n"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<rss version="2.0"><channel><item><description>&xxe;</description></item></channel></rss>'
)


@pytest.mark.parametrize("data", [
    BILLION_LAUGHS.encode("utf-8"),
    BILLION_LAUGHS.replace('version="1.0"?>', 'version="1.0" encoding="utf-16"?>').encode("utf-16"),
    gzip.compress(BILLION_LAUGHS.encode("utf-8")),
    EXTERNAL_ENTITY.encode("utf-8"),
], ids=["utf-8", "utf-16", "gzip", "external"])
def test_xml_entity_declarations_are_refused(tmp_path, data):
    name = "laughs.rss.gz" if data.startswith(b"\x1f\x8b") else "laughs.rss"
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = refusal(tmp_path, name, data)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == f"{name}: entity expansion refused: the file declares XML entities (<!ENTITY)"
    assert elapsed < 10  # a guard against inflating or expanding it all, not a speed figure
    assert peak < 4 * MB


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from(sorted(SUPPORTED_SUFFIXES)), data=st.binary(max_size=2000))
def test_random_bytes_give_documents_or_a_corpus_error(tmp_path, suffix, data):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    [file] = scan([path]).files
    try:
        result = read_file(file)
    except CorpusError as error:
        assert str(error).startswith(f"random{suffix}: ")
    else:
        for document in result.documents:
            assert document.body and document.title


STRUCTURED = st.sampled_from([
    "{", "}", "[", "]", '"', ":", ",", "<", ">", "/", "!", "?", "-", "&amp;", "&#0;", "\\u0000", "\\ud800",
    "\n", "\r", " ", "title", "body", "item", "rss", "channel", "description", "<![CDATA[", "]]>", "---",
    "# ", "Title: ", "é", "\x93", "<!--", "-->", "<p>", "</p>", "<article>", "<script>", "<![", "<!", "[",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".txt", ".md", ".json", ".jsonl", ".html", ".xml"]),
       parts=st.lists(STRUCTURED, max_size=60))
def test_random_markup_gives_documents_or_a_corpus_error(tmp_path, suffix, parts):
    path = tmp_path / f"random{suffix}"
    path.write_bytes("".join(parts).encode("utf-8", "surrogatepass"))
    [file] = scan([path]).files
    try:
        result = read_file(file)
    except CorpusError:
        return
    for document in result.documents:
        assert document.body.strip() == document.body and document.body
        assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in document.body + document.title)
