"""JSON, JSON Lines, HTML and RSS/Atom articles."""

from __future__ import annotations

import gzip
import json

import pytest
from support.corpora import only, read_one, utc

from newsearch.errors import CorpusError
from newsearch.models import Document, SkippedFile

# --- JSON --------------------------------------------------------------------------------------

def test_json_single_article_with_every_field(tmp_path):
    article = {
        "headline": "Rates held", "text": "The bank held rates.", "published_at": "2026-11-26T10:00:00-05:00",
        "publisher": {"name": "Wire"}, "link": "https://example.com/r", "byline": ["Ann Lee", {"name": "Bo Chan"}],
        "keywords": "economy, rates", "uuid": "r-1", "extra": {"ignored": True},
    }
    document = only(read_one(tmp_path / "news", "econ/rates.json", json.dumps(article)))
    assert document == Document(
        id="r-1", title="Rates held", body="The bank held rates.", path="econ/rates.json",
        published=utc(2026, 11, 26, 15), source="Wire", url="https://example.com/r",
        author="Ann Lee, Bo Chan", tags=("economy", "rates"))


def test_json_single_article_without_metadata(tmp_path):
    document = only(read_one(tmp_path / "news", "plain.json", '{"body": "Only a body. Nothing else here."}'))
    assert document == Document(id="plain.json", title="Only a body", body="Only a body. Nothing else here.",
                                path="plain.json", source="news")


def test_json_list_ids_are_numbered_and_odd_values_coerced(tmp_path):
    articles = [
        {"title": 2026, "content": ["First paragraph.", "Second paragraph."], "id": 17, "tags": ["a", {"term": "b"}]},
        {"title": "Second", "article": "<p>Some <b>bold</b> text.</p><p>More &amp; more.</p>", "date": 1_700_000_000},
        {"title": "No body", "body": ""},
        "not an object",
    ]
    result = read_one(tmp_path / "news", "list.json", json.dumps(articles))
    assert result.documents == [
        Document(id="17", title="2026", body="First paragraph.\n\nSecond paragraph.", path="list.json",
                 source="news", tags=("a", "b")),
        Document(id="list.json#2", title="Second", body="Some bold text.\n\nMore & more.", path="list.json",
                 published=utc(2023, 11, 14, 22, 13, 20), source="news"),
    ]
    assert result.problems == [
        SkippedFile("list.json#3", "no text: the article has no body text"),
        SkippedFile("list.json#4", "not an article: a string, not an object"),
    ]


@pytest.mark.parametrize("key", ["articles", "items"])
def test_json_object_with_a_list_of_articles(tmp_path, key):
    data = json.dumps({"feed": "x", key: [{"title": "A", "body": "a"}, {"title": "B", "body": "b"}]})
    result = read_one(tmp_path, "wrapped.json", data)
    assert [(d.id, d.title, d.body) for d in result.documents] == [
        ("wrapped.json#1", "A", "a"), ("wrapped.json#2", "B", "b")]


def test_json_duplicate_ids_in_one_file_are_problems(tmp_path):
    data = json.dumps([{"id": "x", "body": "one"}, {"id": "x", "body": "two"}])
    result = read_one(tmp_path, "dup.json", data)
    assert [d.body for d in result.documents] == ["one"]
    assert result.problems == [SkippedFile("dup.json#2", "duplicate id: x")]


def test_json_control_characters_and_lone_surrogates_are_removed(tmp_path):
    data = '{"title": "Bad\\u0000 \\ud800title\\r\\n", "body": "Line\\r\\nnext\\u0007 \\udfff end"}'
    document = only(read_one(tmp_path, "c.json", data))
    assert (document.title, document.body) == ("Bad title", "Line\nnext  end")


@pytest.mark.parametrize(("content", "reason"), [
    ('{"title": "x",\n "body": "y"\n "id": 1}', "malformed JSON: line 3, column 2: Expecting ',' delimiter"),
    ('{"title": "No body"}', "no text: the article has no body text"),
    ("[]", "empty: no articles"),
    ("42", "not an article: the JSON is a number, not an object or a list"),
    ('[{"title": "a"}, {"title": "b"}]', "no text: the article has no body text (and 1 more)"),
    ("[" * 100_000 + "]" * 100_000, "malformed JSON: nested too deeply"),
])
def test_unusable_json_file(tmp_path, content, reason):
    with pytest.raises(CorpusError) as caught:
        read_one(tmp_path, "bad.json", content)
    assert str(caught.value) == f"bad.json: {reason}"


def test_jsonl_malformed_line_is_a_problem_for_that_line_only(tmp_path):
    lines = ['{"title": "One", "body": "first"}', "", '{"title": "Two", "body": ', "   ",
             '{"guid": "g-3", "title": "Three", "text": "third"}', "[1, 2]", '{"title": "Five"}']
    result = read_one(tmp_path / "news", "day.jsonl", "\n".join(lines) + "\n")
    assert [(d.id, d.title, d.body, d.path) for d in result.documents] == [
        ("day.jsonl#1", "One", "first", "day.jsonl"), ("g-3", "Three", "third", "day.jsonl")]
    assert result.problems == [
        SkippedFile("day.jsonl#2", "malformed JSON: line 3, column 26: Expecting value"),
        SkippedFile("day.jsonl#4", "not an article: a list, not an object"),
        SkippedFile("day.jsonl#5", "no text: the article has no body text"),
    ]


def test_ndjson_gz(tmp_path):
    data = gzip.compress(b'{"title": "A", "body": "a"}\n{"title": "B", "body": "b"}\n')
    result = read_one(tmp_path, "x.ndjson.gz", data)
    assert [(d.id, d.title) for d in result.documents] == [("x.ndjson.gz#1", "A"), ("x.ndjson.gz#2", "B")]


def test_jsonl_with_no_usable_line(tmp_path):
    with pytest.raises(CorpusError) as caught:
        read_one(tmp_path, "bad.jsonl", "nope\nnope again\n")
    assert str(caught.value) == "bad.jsonl: malformed JSON: line 1, column 1: Expecting value (and 1 more)"


# --- HTML --------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>Storm hits coast | Daily Planet</title>
<meta property="og:title" content="Storm hits coast">
<meta property="og:site_name" content="Daily Planet">
<meta property="og:url" content="https://planet.example/storm">
<meta property="article:published_time" content="2026-11-26T10:00:00+01:00">
<meta property="article:tag" content="weather"><meta property="article:tag" content="coast">
<meta name="author" content="Lois Lane">
<style>body { color: red }</style>
<script>var x = "<p>not text</p>";</script>
</head>
<body>
<header><nav><a href="/">Home</a> <a href="/world">World</a></nav></header>
<aside>Most read: something else</aside>
<article>
  <header><h1>Storm hits coast</h1><time datetime="2020-01-01">old</time></header>
  <p>Winds of   100 mph were
  recorded on Tuesday.</p>
  <p>Residents were told to stay indoors &amp; keep away from the sea.<br>Schools closed.</p>
  <form><input name="q"> Subscribe to our newsletter</form>
  <ul><li>Power cut</li><li>Trains stopped</li></ul>
</article>
<footer>Copyright Daily Planet</footer>
</body></html>
"""


def test_html_article_with_metadata(tmp_path):
    document = only(read_one(tmp_path / "site", "world/storm.html", PAGE))
    assert document == Document(
        id="world/storm.html", title="Storm hits coast",
        body=("Winds of 100 mph were recorded on Tuesday.\n\n"
              "Residents were told to stay indoors & keep away from the sea.\n\nSchools closed.\n\n"
              "Power cut\n\nTrains stopped"),
        path="world/storm.html", published=utc(2026, 11, 26, 9), source="Daily Planet",
        url="https://planet.example/storm", author="Lois Lane", tags=("weather", "coast"))


def test_html_without_metadata_uses_main_title_and_time(tmp_path):
    page = ("<html><head><title>Page title</title></head><body><nav>Menu</nav>"
            "<main><p>Main text.</p><p><time datetime='2026-11-26'>26 Nov</time> report.</p></main>"
            "<div>Outside main.</div></body></html>")
    document = only(read_one(tmp_path / "site", "p.htm", page))
    assert (document.title, document.body, document.published, document.source) == (
        "Page title", "Main text.\n\n26 Nov report.", utc(2026, 11, 26), "site")


def test_html_fragment_title_from_h1_body_from_everything(tmp_path):
    page = "<h1>Big <em>news</em></h1><p>First.</p><div>Second <span>part</span>.</div>unclosed <p>tags"
    document = only(read_one(tmp_path, "frag.html", page))
    assert (document.title, document.body) == ("Big news", "Big news\n\nFirst.\n\nSecond part.\n\nunclosed\n\ntags")


def test_html_declared_charset_is_used(tmp_path):
    page = ('<html><head><meta charset="windows-1251"><title>Новости</title></head>'
            "<body><p>Привет, мир.</p></body></html>")
    document = only(read_one(tmp_path, "ru.html", page.encode("windows-1251")))
    assert (document.title, document.body) == ("Новости", "Привет, мир.")


def test_html_without_body_text_is_refused(tmp_path):
    page = "<html><head><title>Empty</title><script>x()</script></head><body><nav>Menu</nav></body></html>"
    with pytest.raises(CorpusError, match=r"^empty\.html: no text: the article has no body text$"):
        read_one(tmp_path, "empty.html", page)


# --- RSS and Atom ------------------------------------------------------------------------------

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>World News</title>
  <link>https://news.example/</link>
  <item>
    <title>Storm hits coast</title>
    <link>https://news.example/storm</link>
    <guid isPermaLink="false">storm-2026</guid>
    <pubDate>Thu, 26 Nov 2026 10:00:00 +0100</pubDate>
    <dc:creator>Lois Lane</dc:creator>
    <category>weather</category><category>coast</category>
    <description>Short summary.</description>
    <content:encoded><![CDATA[<p>Winds of <b>100 mph</b>.</p><p>Schools closed.</p>]]></content:encoded>
  </item>
  <item>
    <title>Markets calm</title>
    <description>Shares were flat &amp; quiet.</description>
  </item>
  <item>
    <title>Headline only</title>
    <link>https://news.example/only</link>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Tech Log</title>
  <id>urn:uuid:feed</id>
  <updated>2026-11-26T12:00:00Z</updated>
  <entry>
    <title type="html">Chips &amp;lt;faster&amp;gt;</title>
    <id>urn:uuid:1</id>
    <link href="https://tech.example/1"/>
    <updated>2026-11-26T12:00:00Z</updated>
    <published>2026-11-25T08:30:00-08:00</published>
    <author><name>Ada</name></author>
    <summary type="text">Plain &lt;summary&gt;</summary>
  </entry>
  <entry>
    <title>Second</title>
    <id>urn:uuid:2</id>
    <updated>2026-11-26T13:00:00Z</updated>
    <content type="html">&lt;p&gt;Para one.&lt;/p&gt;&lt;p&gt;Para two.&lt;/p&gt;</content>
  </entry>
</feed>
"""


def test_rss_items_are_articles(tmp_path):
    result = read_one(tmp_path / "feeds", "world.rss", RSS)
    assert result.documents == [
        Document(id="storm-2026", title="Storm hits coast", body="Winds of 100 mph.\n\nSchools closed.",
                 path="world.rss", published=utc(2026, 11, 26, 9), source="World News",
                 url="https://news.example/storm", author="Lois Lane", tags=("weather", "coast")),
        Document(id="world.rss#2", title="Markets calm", body="Shares were flat & quiet.", path="world.rss",
                 source="World News"),
    ]
    assert result.problems == [SkippedFile("world.rss#3", "no text: the item has no content or summary")]


def test_atom_entries_are_articles(tmp_path):
    result = read_one(tmp_path, "tech.atom", ATOM)
    assert result.problems == []
    assert result.documents == [
        Document(id="urn:uuid:1", title="Chips <faster>", body="Plain <summary>", path="tech.atom",
                 published=utc(2026, 11, 25, 16, 30), source="Tech Log", url="https://tech.example/1",
                 author="Ada"),
        Document(id="urn:uuid:2", title="Second", body="Para one.\n\nPara two.", path="tech.atom",
                 published=utc(2026, 11, 26, 13), source="Tech Log"),
    ]


def test_feed_gz(tmp_path):
    result = read_one(tmp_path, "feed.xml.gz", gzip.compress(RSS.encode("utf-8")))
    assert [d.id for d in result.documents] == ["storm-2026", "feed.xml.gz#2"]


def test_broken_feed_keeps_the_items_it_could_read(tmp_path):
    broken = RSS.replace("</channel>\n</rss>", "<item><title>Cut off")  # unclosed: not well-formed
    result = read_one(tmp_path, "broken.xml", broken)
    assert [d.title for d in result.documents] == ["Storm hits coast", "Markets calm"]


@pytest.mark.parametrize(("content", "reason"), [
    ("this is not xml at all", "broken XML: <unknown>:2:0: syntax error"),
    ('<?xml version="1.0"?><config><a>1</a></config>', "not a feed: no RSS or Atom root element"),
    ("<rss version='2.0'><channel><title>Empty</title></channel></rss>", "empty: the feed has no items"),
])
def test_unusable_feed(tmp_path, content, reason):
    with pytest.raises(CorpusError) as caught:
        read_one(tmp_path, "bad.xml", content)
    assert str(caught.value) == f"bad.xml: {reason}"
