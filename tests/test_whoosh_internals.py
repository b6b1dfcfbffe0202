"""``newsearch.whoosh_internals``: the one module that touches Whoosh's private names.

Three things are checked here: the fence (no other module of the package uses a private
name of Whoosh), the version check made when the module is imported, and each function
of the module against what Whoosh's public API gives. These tests, with the equivalence
tests the module's docstring lists (in ``test_segments.py``, ``test_candidates.py`` and
``test_parallel.py``), are the module's contract: they must pass on every Whoosh version
the module accepts.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import whoosh
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.filedb.filestore import FileStorage
from whoosh.matching import ListMatcher, WrappingMatcher
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter

import newsearch
from newsearch import build_index, whoosh_internals
from newsearch.compiler import VerifiedPhrase
from newsearch.errors import NewsearchError, UnsupportedWhoosh
from newsearch.segments import NewsSegmentWriter
from newsearch.storage import remove_stale_generations
from newsearch.whoosh_internals import (
    check_whoosh,
    commit_segments,
    field_lengths_bytes,
    finish_segment,
    latest_generation,
    posting_blocks,
    unlocked_writer,
)

PACKAGE = Path(newsearch.__file__).parent
FENCED = PACKAGE / "whoosh_internals.py"

# Private names of our own that other modules of the package may use, by file and expression.
OWN_PRIVATE = {
    ("analysis.py", "term_filter._cache"),  # NewsTermFilter's cache of stems
    ("analysis.py", "_QUERY_FILTER._cache"),
    ("parallel.py", "os._exit"),  # the standard library's exit without cleanup
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _whoosh_classes(module_name: str, class_name: str) -> list[type]:
    """The Whoosh classes a class of the package inherits from (none: it is ours alone)."""
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not isinstance(cls, type):
        return []
    return [klass for klass in cls.__mro__ if klass.__module__.split(".")[0] == "whoosh"]


def _whoosh_has(classes: list[type], name: str) -> bool:
    """Whether one of these Whoosh classes has ``name``, or one of its methods reads or sets it."""
    for klass in classes:
        if name in vars(klass):
            return True
        for value in vars(klass).values():
            code = getattr(getattr(value, "__func__", value), "__code__", None)
            if code is not None and name in code.co_names:
                return True
    return False


def _violations(path: Path, package: Path = PACKAGE) -> list[str]:
    """Uses of Whoosh's private names in one module of a package, as ``package/file.py:line: what``."""
    relative = path.relative_to(package).as_posix()
    module_name = f"{package.name}." + relative[:-3].replace("/", ".").removesuffix(".__init__")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []

    def report(node: ast.AST, what: str) -> None:
        found.append((node.lineno, f"{package.name}/{relative}:{node.lineno}: {what}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
                continue  # checked below, against the Whoosh classes the class inherits
            if (relative, ast.unparse(node)) not in OWN_PRIVATE:
                report(node, ast.unparse(node))
        elif isinstance(node, ast.keyword) and node.arg and _private(node.arg):
            report(node, f"keyword argument {node.arg}=")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "whoosh":
            for alias in node.names:
                if _private(alias.name):
                    report(node, f"from {node.module} import {alias.name}")
    # In a class that inherits from Whoosh: its own attributes and methods are ours, Whoosh's are not.
    for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
        whoosh_bases = _whoosh_classes(module_name, cls.name)
        if not whoosh_bases:
            continue
        for node in ast.walk(cls):
            name = None
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in ("self", "cls")):
                name = node.attr
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = node.name
            if name and _private(name) and _whoosh_has(whoosh_bases, name):
                report(node, f"{cls.name} uses Whoosh's {name}")
    return [problem for _, problem in sorted(found)]


def test_no_module_but_whoosh_internals_touches_whoosh_private_names():
    found = [problem for path in sorted(PACKAGE.rglob("*.py")) if path != FENCED for problem in _violations(path)]
    assert found == [], "Whoosh's private names belong in newsearch/whoosh_internals.py:\n" + "\n".join(found)


def test_the_fence_check_finds_each_kind_of_use(tmp_path, monkeypatch):
    package = tmp_path / "leakypackage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "leaky.py").write_text(
        "from whoosh.writing import SegmentWriter\n"
        "from whoosh.index import _DEF_INDEX_NAME\n"
        "\n"
        "class Leaky(SegmentWriter):\n"
        "    def _flush_segment(self):\n"
        "        self._mine = self._added\n"
        "\n"
        "def f(writer, ix):\n"
        "    writer._commit_toc([])\n"
        "    return SegmentWriter(ix, _lk=False)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _violations(package / "leaky.py", package) == [
        "leakypackage/leaky.py:2: from whoosh.index import _DEF_INDEX_NAME",
        "leakypackage/leaky.py:5: Leaky uses Whoosh's _flush_segment",
        "leakypackage/leaky.py:6: Leaky uses Whoosh's _added",
        "leakypackage/leaky.py:9: writer._commit_toc",
        "leakypackage/leaky.py:10: keyword argument _lk=",
    ]


# -- The version check ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [(2, 8, 0), (2, 7, 4), (3, 0, 0)])
def test_a_version_outside_the_pinned_series_is_refused(version):
    found = ".".join(map(str, version))
    with pytest.raises(UnsupportedWhoosh) as error:
        check_whoosh(version)
    assert str(error.value) == (f"newsearch uses Whoosh internals tested with whoosh-reloaded 2.7.5; found Whoosh "
                                f"{found}. Install 'whoosh-reloaded==2.7.5'.")
    assert isinstance(error.value, NewsearchError) and isinstance(error.value, ImportError)


def test_a_later_release_of_the_series_is_accepted_while_it_has_every_name():
    check_whoosh(whoosh.__version__)
    check_whoosh((2, 7, 9))


def test_a_missing_private_name_is_named(monkeypatch):
    monkeypatch.delattr(W3LeafMatcher, "_next_block")
    monkeypatch.delattr(SegmentWriter, "_commit_toc")
    with pytest.raises(UnsupportedWhoosh) as error:
        check_whoosh((2, 7, 6))
    assert str(error.value) == (
        "newsearch uses Whoosh internals tested with whoosh-reloaded 2.7.5; Whoosh 2.7.6 lacks "
        "W3LeafMatcher._next_block, SegmentWriter._commit_toc. Install 'whoosh-reloaded==2.7.5'.")


class _Probed:
    def __init__(self) -> None:
        self._set_here = [item for item in range(2)]

    def read(self) -> object:
        return [self._set_in_a_comprehension for _ in range(1)]


def _takes(ix: object, _lk: bool = True) -> None:
    pass


def test_methods_attributes_and_keywords_are_each_probed_their_way():
    check_whoosh((2, 7, 5), methods=[(_Probed, ("read",))],
                 attributes=[(_Probed, ("_set_here", "_set_in_a_comprehension"))], keywords=[(_takes, "_lk")])
    with pytest.raises(UnsupportedWhoosh, match=r"lacks _Probed._set_here, _Probed._gone, _takes\(_nope=...\)\. Inst"):
        check_whoosh((2, 7, 5), methods=[(_Probed, ("_set_here",))], attributes=[(_Probed, ("_gone",))],
                     keywords=[(_takes, "_nope")])


def test_every_private_name_the_module_uses_is_probed():
    tree = ast.parse(FENCED.read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and _private(node.attr)}
    used |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and _private(node.name)}
    used |= {node.arg for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg and _private(node.arg)}
    probed = {name for table in (whoosh_internals._METHODS, whoosh_internals._ATTRIBUTES) for _, names in table
              for name in names}
    probed |= {name for _, name in whoosh_internals._KEYWORDS}
    own = {"_codes", "_uses", "_describe"}  # the module's own helpers
    assert used - own - probed == set()


MESSAGE = ("newsearch uses Whoosh internals tested with whoosh-reloaded 2.7.5; found Whoosh 2.8.0. "
           "Install 'whoosh-reloaded==2.7.5'.")
UNTESTED = "import whoosh; whoosh.__version__ = (2, 8, 0)\n"


def test_an_untested_whoosh_fails_the_library_at_import_with_the_fix_in_the_message():
    script = UNTESTED + (
        "try:\n"
        "    from newsearch import build_index\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout, run.stderr) == (0, f"UnsupportedWhoosh {MESSAGE}\n", "")


def test_an_untested_whoosh_fails_the_cli_with_the_fix_in_the_message(tmp_path):
    script = UNTESTED + "from newsearch.cli import main\nmain()\n"
    (tmp_path / "corpus").mkdir()
    run = subprocess.run([sys.executable, "-c", script, "index", str(tmp_path / "corpus"), "--index",
                          str(tmp_path / "ix")], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout) == (1, "")
    # "Error: <message>" once the CLI's error path no longer imports the index code (issue #11, item 1);
    # until then the error is raised again while the first is shown, and Python prints it.
    assert run.stderr.endswith(f"{MESSAGE}\n")


# -- Each function against Whoosh's public API --------------------------------------------------


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """An index of 300 short articles (a common word has several posting blocks) plus an update."""
    root = tmp_path_factory.mktemp("internals")
    corpus = root / "corpus"
    corpus.mkdir()
    for number in range(300):
        words = " ".join(["election"] * (1 + number % 5) + ["vote"] * (number % 3) + [f"marker{number}"])
        (corpus / f"{number:03d}.txt").write_text(f"Story {number}\n\n{words} and more {words}.\n", encoding="utf-8")
    build_index([corpus], root / "ix")
    (corpus / "late.txt").write_text("Late story\n\nA late election.\n", encoding="utf-8")
    (corpus / "007.txt").unlink()
    build_index([corpus], root / "ix")
    ix = whoosh_index.open_dir(str(root / "ix" / "current"))
    yield ix
    ix.close()


def _walked(matcher, values):
    postings = []
    while matcher.is_active():
        postings.append((matcher.id(), matcher.weight(), matcher.value() if values else None))
        matcher.next()
    return postings


def _unwrapped(matcher):
    while isinstance(matcher, WrappingMatcher):
        matcher = matcher.child
    return matcher


@pytest.mark.parametrize("values", [False, True])
def test_posting_blocks_hold_the_postings_a_matcher_walks(index, values):
    several = 0
    with index.searcher() as searcher:
        for leaf, _ in searcher.leaf_searchers():
            reader = leaf.reader()
            for fieldname, text in [("body", b"elect"), ("body", b"vote"), ("title", b"stori"), ("body", b"marker12")]:
                if (fieldname, text) not in reader:
                    continue
                matcher = _unwrapped(reader.postings(fieldname, text))
                assert type(matcher) is W3LeafMatcher
                blocks = list(posting_blocks(matcher, values))
                got = [(docnum, weight, value if values else None)
                       for ids, weights, block_values in blocks
                       for docnum, weight, value in zip(ids, weights, block_values if values else [None] * len(ids))]
                assert got == _walked(_unwrapped(reader.postings(fieldname, text)), values)
                several += len(blocks) > 1
                if not values:
                    assert all(block_values == () for _, _, block_values in blocks)
    assert several  # the first segment's common words take several blocks


def test_posting_blocks_walk_any_other_matcher_in_one_block():
    matcher = ListMatcher([1, 4, 9], [1.0, 2.0, 3.0], values=[b"a", b"b", b"c"])
    assert list(posting_blocks(matcher, True)) == [([1, 4, 9], [1.0, 2.0, 3.0], [b"a", b"b", b"c"])]
    matcher = ListMatcher([2, 3], [1.0, 1.0])
    assert list(posting_blocks(matcher, False)) == [([2, 3], [1.0, 1.0], [])]


def test_field_lengths_bytes_are_the_lengths_whoosh_reads_one_by_one(index):
    with index.searcher() as searcher:
        for leaf, _ in searcher.leaf_searchers():
            reader = leaf.reader()
            size = reader.doc_count_all()
            for fieldname in ("body", "title"):
                encoded = field_lengths_bytes(reader, fieldname, size)
                assert encoded is not None and len(encoded) == size
                assert [byte_to_length(byte) for byte in encoded] == \
                    [reader.doc_field_length(docnum, fieldname) for docnum in range(size)]
            assert field_lengths_bytes(reader, "nosuchfield", size) is None
            assert field_lengths_bytes(reader, "body", size + 3)[size:] == bytes(3)  # past the column: zero
        assert field_lengths_bytes(searcher.reader(), "body", searcher.doc_count_all()) is None  # a MultiReader


def test_latest_generation_is_the_index_generation(index, tmp_path):
    storage = index.storage
    assert latest_generation(storage, "MAIN") == index.latest_generation() >= 1
    assert latest_generation(FileStorage(str(tmp_path)), "MAIN") == -1


def _record(number):
    return {"id": f"d{number}", "path": f"d{number}.txt", "title": f"Title {number}", "body": f"body words {number}"}


def test_workers_segments_committed_by_the_lock_holder(tmp_path, index):
    ix = whoosh_index.create_in(str(tmp_path), index.schema)
    segments = []
    for part in range(2):
        writer = unlocked_writer(NewsSegmentWriter, ix, limitmb=16)
        assert writer.writelock is None
        for number in range(part * 3, part * 3 + 3):
            writer.add_document(**_record(number))
        segments.append(finish_segment(writer))
    assert finish_segment(unlocked_writer(NewsSegmentWriter, ix, limitmb=16)) is None
    holder = SegmentWriter(ix)
    commit_segments(holder, segments)
    assert holder.is_closed
    SegmentWriter(ix).cancel()  # the lock was released
    reopened = whoosh_index.open_dir(str(tmp_path))
    assert reopened.latest_generation() == 1
    with reopened.searcher() as searcher:
        assert len(searcher.leaf_searchers()) == 2
        assert sorted(fields["id"] for fields in searcher.all_stored_fields()) == [f"d{n}" for n in range(6)]
        assert [hit["id"] for hit in searcher.search(wq.Term("body", "5"))] == ["d5"]


def test_a_wrapping_query_subclass_is_rewrapped_through_its_own_hook():
    phrase = VerifiedPhrase(wq.And([wq.Term("body", "bank"), wq.Term("body", "profit")]), "body", ("bank", "profit"))
    boosted = phrase.with_boost(2.0)
    assert type(boosted) is VerifiedPhrase and boosted.sequence == ("bank", "profit")
    assert boosted.child == phrase.child.with_boost(2.0)
    assert phrase.normalize() == phrase
    assert "rewrap" in vars(VerifiedPhrase) and "_rewrap" not in vars(VerifiedPhrase)


def test_the_tidy_of_a_live_generation_removes_a_segment_no_table_of_contents_names(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Story\n\nAn election.\n", encoding="utf-8")
    build_index([corpus], tmp_path / "ix")
    live = (tmp_path / "ix" / "current").resolve()
    before = sorted(path.name for path in live.iterdir())
    ix = whoosh_index.open_dir(str(live))
    writer = unlocked_writer(NewsSegmentWriter, ix, limitmb=16)
    writer.add_document(**_record(1))
    orphan = finish_segment(writer)  # what a worker killed before the commit leaves
    assert any(path.name.startswith(orphan.segment_id()) for path in live.iterdir())
    remove_stale_generations(tmp_path / "ix", live)
    assert sorted(path.name for path in live.iterdir()) == before
