"""Tables instead of lists kept in sync by hand: the corpus readers' table drives scanning,
reading and the messages; CLI choices are the library's constants; shared helpers hold."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import click
import pytest

from newsearch import config, corpus
from newsearch.cli import cli
from newsearch.controlchars import BIDI, C1, FIELD_UNSAFE, TERMINAL_HIDDEN, TERMINAL_UNSAFE, TEXT_UNSAFE
from newsearch.corpus import formats
from newsearch.corpus.article import Article
from newsearch.duplicates import candidate_pairs, pairs_in_buckets
from newsearch.errors import CorpusError
from newsearch.formatting import OutputFormat, render_build_report
from newsearch.models import BuildReport
from newsearch.storage import write_atomically

PACKAGE = Path(__file__).resolve().parent.parent / "newsearch"


# --- The corpus readers' table ---------------------------------------------------------------

def _read_fake(data: bytes) -> formats.Parsed:
    text = data.decode("ascii")
    return [Article(body=text, title="fake: " + text.split()[0])], False


@pytest.fixture
def fake_format(monkeypatch):
    """A made-up format registered the way a new one is added: one entry in the table."""
    monkeypatch.setitem(formats.READERS, ".fake", formats.Reader("Fake", (".fake",), _read_fake))


def test_a_registered_format_is_scanned_read_and_listed(fake_format, tmp_path):
    (tmp_path / "one.fake").write_bytes(b"alpha words")
    (tmp_path / "two.FAKE.gz").write_bytes(gzip.compress(b"beta words"))
    (tmp_path / "three.other").write_bytes(b"gamma")
    found = corpus.scan([tmp_path])
    assert [file.relpath for file in found.files] == ["one.fake", "two.FAKE.gz"]
    assert found.ignored == 1
    documents = [doc for file in found.files for doc in corpus.read_file(file).documents]
    assert [(doc.title, doc.body, doc.id) for doc in documents] == [
        ("fake: alpha", "alpha words", "one.fake"), ("fake: beta", "beta words", "two.FAKE.gz")]
    assert corpus.formats_hint().startswith("newsearch reads .txt, .md, .json, .jsonl, .html, .rss/.atom/.xml, "
                                            ".csv, .tsv, .warc, .fake files")
    assert ".fake files (also gzipped)" in render_build_report(BuildReport(index_path="index"), corpus.formats_hint())


def test_an_unregistered_format_is_neither_scanned_nor_read(tmp_path):
    path = tmp_path / "one.fake"
    path.write_bytes(b"alpha words")
    assert corpus.scan([tmp_path]).files == []
    assert corpus.scan([path]).skipped[0].reason == "unsupported file type: .fake"
    file = corpus.CorpusFile(str(path), "one.fake", tmp_path, 11, 0)
    with pytest.raises(CorpusError, match="one.fake: unsupported file type: .fake"):
        corpus.read_file(file)


def test_suffix_list_and_message_derive_from_the_table():
    assert corpus.SUPPORTED_SUFFIXES == formats.supported_suffixes()
    assert corpus.SUPPORTED_SUFFIXES == set(formats.READERS) | {suffix + ".gz" for suffix in formats.READERS}
    for reader in formats.READERS.values():
        assert all(formats.READERS[suffix] is reader for suffix in (*reader.suffixes, *reader.aliases))
    report = render_build_report(BuildReport(index_path="index"), corpus.formats_hint())
    assert report.endswith("No articles found: newsearch reads .txt, .md, .json, .jsonl, .html, .rss/.atom/.xml, "
                           ".csv, .tsv, .warc files (also gzipped); hidden files are ignored.")


def test_read_has_no_format_if_chain():
    source = (PACKAGE / "corpus" / "read.py").read_text(encoding="utf-8")
    assert not re.search(r"""["']\.(txt|md|json|jsonl|html|xml|rss|atom)["']""", source)
    scan_source = (PACKAGE / "corpus" / "scan.py").read_text(encoding="utf-8")
    assert not re.search(r"""["']\.(txt|md|json|jsonl|html|xml|rss|atom)["']""", scan_source)


# --- Constants defined once ------------------------------------------------------------------

def _option(command: str, name: str) -> click.Option:
    params = cli.commands[command].params
    return next(p for p in params if isinstance(p, click.Option) and name in p.opts)


def test_cli_choices_are_the_library_constants():
    from newsearch.models import PERIODS, SORTS

    formats_ = tuple(f.value for f in OutputFormat)
    for command in ("search", "related"):
        assert tuple(_option(command, "--format").type.choices) == formats_
    assert tuple(_option("search", "--sort").type.choices) == tuple(SORTS)
    assert tuple(_option("timeline", "--by").type.choices) == tuple(PERIODS)
    assert set(_option("show", "--format").type.choices) <= set(formats_)


def click_unset() -> object:
    """What click 8.2+ gives an option without a default (None before)."""
    return click.Option(["--x"]).default


def test_max_bytes_default_is_defined_once():
    import inspect

    from newsearch.indexer import build_index

    assert config.DEFAULT_MAX_BYTES == 10 * 1024 * 1024
    # `index` and build_index take the size the index remembers, else the default
    assert _option("index", "--max-size").default in (None, click_unset())
    assert f"else {config.DEFAULT_MAX_BYTES}" in (_option("index", "--max-size").help or "")
    assert inspect.signature(build_index).parameters["max_bytes"].default is None
    assert corpus.plan([], None).max_bytes == config.DEFAULT_MAX_BYTES
    assert corpus.DEFAULT_MAX_BYTES is config.DEFAULT_MAX_BYTES
    assert inspect.signature(corpus.read_file).parameters["max_bytes"].default == config.DEFAULT_MAX_BYTES
    spelled = [path.name for path in PACKAGE.rglob("*.py") if "10 * 1024 * 1024" in path.read_text(encoding="utf-8")]
    assert spelled == ["config.py"]


def test_searched_fields_are_spelled_only_in_the_schema():
    pattern = re.compile(r"""\(\s*["']title["']\s*,\s*["']body["']\s*\)""")
    spelled = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if pattern.search(path.read_text(encoding="utf-8")))
    assert spelled == ["schema.py"]


# --- One of each helper ----------------------------------------------------------------------

def test_write_atomically_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "data.tsv"
    target.write_text("old\n", encoding="utf-8")
    write_atomically(target, lambda handle: handle.write("new\n"))
    assert target.read_text(encoding="utf-8") == "new\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.tsv"]


def test_write_atomically_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "data.tsv"
    target.write_text("old\n", encoding="utf-8")

    def fail(handle):
        handle.write("half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_atomically(target, fail)
    assert target.read_text(encoding="utf-8") == "old\n"


def test_one_atomic_write_routine():
    writers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if "os.fsync(handle.fileno())" in path.read_text(encoding="utf-8"))
    assert writers == ["storage.py"]


def _members(pattern: re.Pattern[str]) -> set[int]:
    return {code for code in range(0x3000) if pattern.match(chr(code))} | {
        code for code in range(0xD800, 0xE000) if pattern.match(chr(code))}


def test_control_character_classes_differ_only_as_documented():
    text, field, terminal = _members(TEXT_UNSAFE), _members(FIELD_UNSAFE), _members(TERMINAL_UNSAFE)
    c1 = set(range(0x80, 0xA0))
    assert {0x09, 0x0A} & (text | field | terminal) == set()  # tab and newline are text
    assert text - field == c1 | {0x0D}
    assert field <= text
    assert terminal - text == {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
                               0x200E, 0x200F, 0x061C, 0x2028, 0x2029}  # bidi controls and marks, separators
    assert TERMINAL_UNSAFE.match("\U000e0041") and TERMINAL_HIDDEN.match("\u200d") and TERMINAL_HIDDEN.match("\u00ad")
    assert _members(TERMINAL_HIDDEN) & (text | field | terminal) == set()  # removed, not escaped
    assert re.fullmatch(f"[{C1}]+", "".join(map(chr, sorted(c1))))
    assert re.fullmatch(f"[{BIDI}]+", "\u202e\u2066")


def test_only_controlchars_spells_control_character_ranges():
    spelled = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if re.search(r"x00-\\x08|\x00-\x08", path.read_text(encoding="utf-8")))
    # corpus/decode.py keeps its own binary sniffing class (what text files never hold), not a cleaner
    assert spelled == ["controlchars.py", "corpus/decode.py"]
    decode = (PACKAGE / "corpus" / "decode.py").read_text(encoding="utf-8")
    assert len(re.findall(r"x00-\\x08|\x00-\x08", decode)) == 1


def test_lsh_pairs_one_rule_for_both_finders():
    assert pairs_in_buckets([["b", "a"], ["c"], ["c", "a"]]) == {("a", "b"), ("a", "c")}
    big = list(range(10, 0, -1))
    assert pairs_in_buckets([big]) == {(a, b) for a in range(1, 11) for b in range(a + 1, 11)}
    star_and_chain = {(1, b) for b in range(2, 11)} | {(a, a + 1) for a in range(1, 10)}
    assert pairs_in_buckets([big], all_pairs_up_to=8) == star_and_chain
    assert pairs_in_buckets([big[:8]], all_pairs_up_to=8) == {(a, b) for a in range(3, 11) for b in range(a + 1, 11)}
    assert candidate_pairs({"x": ["k1"], "y": ["k1", "k2"], "z": ["k2"]}) == {("x", "y"), ("y", "z")}


def test_the_corpus_package_and_control_characters_stay_free_of_whoosh():
    import subprocess
    import sys

    code = ("import sys, newsearch.corpus, newsearch.controlchars, newsearch.config; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('whoosh', 'nltk')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"
