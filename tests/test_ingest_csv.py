"""CSV and TSV articles: a header row, the JSON reader's column names, quoted multi-line fields, and
a broken row named by its file and line without losing the rest."""

from __future__ import annotations

import csv
import gzip
import io

import pytest
from support.corpora import read_one, utc

from newsearch.errors import CorpusError
from newsearch.models import Document, SkippedFile


def table(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


def test_common_column_names_and_a_multi_line_field(tmp_path):
    text = table([
        ["Headline", "Author", "Date", "Content", "URL", "Publisher", "Keywords", "ID", "word_count"],
        ["Rates held", "Ann Lee", "2026-11-26T10:00:00-05:00", "The bank held rates.\n\nMarkets rose.",
         "https://example.com/r", "Wire", "economy, rates", "r-1", "4"],
        ["Strike ends", "", "26 November 2026", "<p>Dockers <b>return</b>.</p><p>Ships sail.</p>", "", "", "", "",
         "3"],
    ])
    result = read_one(tmp_path / "news", "data/articles.csv", text)
    assert result.problems == []
    assert result.documents == [
        Document(id="r-1", title="Rates held", body="The bank held rates.\n\nMarkets rose.", path="data/articles.csv",
                 published=utc(2026, 11, 26, 15), source="Wire", url="https://example.com/r", author="Ann Lee",
                 tags=("economy", "rates")),
        Document(id="data/articles.csv#2", title="Strike ends", body="Dockers return.\n\nShips sail.",
                 path="data/articles.csv", published=utc(2026, 11, 26), source="data"),
    ]


@pytest.mark.parametrize("column", ["text", "body", "content", "article"])
def test_every_body_alias_of_the_json_reader(tmp_path, column):
    result = read_one(tmp_path, "a.csv", table([["title", column], ["T", "Story text."]]))
    assert [(d.title, d.body) for d in result.documents] == [("T", "Story text.")]


def test_tsv_and_a_semicolon_csv(tmp_path):
    tsv = read_one(tmp_path / "t", "a.tsv", table([["title", "text"], ["One, two", "Tab; separated"]], "\t"))
    semicolon = read_one(tmp_path / "s", "b.csv", table([["title", "text"], ["One, two", "Semicolons"]], ";"))
    assert [(d.title, d.body) for d in tsv.documents + semicolon.documents] == [
        ("One, two", "Tab; separated"), ("One, two", "Semicolons")]


def test_gzipped_csv(tmp_path):
    data = gzip.compress(table([["title", "body"], ["Zipped", "Inside a gzip file."]]).encode())
    assert [d.body for d in read_one(tmp_path, "a.csv.gz", data).documents] == ["Inside a gzip file."]


def test_broken_rows_are_named_by_line_and_the_rest_is_read(tmp_path):
    text = ('title,text\n'
            'First,"Two\nlines"\n'        # lines 2-3
            'Short row\n'                  # line 4: one field
            '\n'                           # line 5: blank, not an article
            'Third,"Fine"\n'               # line 6
            'Fourth,"never closed\n')      # line 7: a quote open to the end
    result = read_one(tmp_path, "a.csv", text)
    assert [(d.id, d.body) for d in result.documents] == [("a.csv#1", "Two\nlines"), ("a.csv#3", "Fine")]
    assert result.problems == [
        SkippedFile("a.csv#2", "malformed CSV: line 4: 1 fields, the header names 2"),
        SkippedFile("a.csv#4", "malformed CSV: line 7: unexpected end of data"),
    ]


def test_a_body_longer_than_the_csv_modules_default_field_limit(tmp_path):
    body = "word " * 40_000  # 200,000 characters: over csv's 131,072 default
    [document] = read_one(tmp_path, "long.csv", table([["title", "text"], ["Long", body]])).documents
    assert document.body == body.strip()


@pytest.mark.parametrize(("text", "message"), [
    ("Rates held,The bank held rates.\n", r"no header: the first row names none of the columns newsearch reads "
                                          r"\(title, body, published, source, url, author, tags, id, \.\.\.\)"),
    ("title,author\nA,B\n", r"no text column: the header names none of body, text, content, article, "),
    ('title,"text\n', r"malformed CSV: line 1: unexpected end of data"),
])
def test_files_without_a_usable_header_are_refused(tmp_path, text, message):
    with pytest.raises(CorpusError, match=r"^a\.csv: " + message):
        read_one(tmp_path, "a.csv", text)


def test_unreadable_date_is_a_warning_naming_the_row(tmp_path):
    result = read_one(tmp_path, "a.csv", table([["title", "date", "text"], ["A", "someday soon", "Body."]]))
    [document] = result.documents
    assert document.published is None
    assert result.warnings == [SkippedFile("a.csv#1", "unreadable date: 'someday soon': indexed without a date")]
