"""Shared fixtures: every test runs offline, with no NLTK data and its own index folder.

The corpora and indexes that several modules use are built once per session here, under
``tmp_path_factory``, in the same offline environment the tests get. They are read-only: a test
that changes one copies it first (``BuiltIndex.copy_to``), or builds its own. Indexes of article
lists that only one module asserts on stay in that module, beside the articles.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.cli_forkserver import ForkServer
from support.corpora import synthetic_corpus

if TYPE_CHECKING:
    from newsearch.models import BuildReport

REPO = Path(__file__).resolve().parent.parent
BBC_CORPUS = REPO.parent / "shared" / "corpora" / "bbc-news"


def offline_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No NLTK data, and NEWSEARCH_* pointing at fresh temporary folders (undone with ``monkeypatch``)."""
    empty = tmp_path_factory.mktemp("nltk_data_empty")
    monkeypatch.setenv("NLTK_DATA", str(empty))
    monkeypatch.setenv("NEWSEARCH_INDEX", str(tmp_path_factory.mktemp("default_index") / "index"))
    monkeypatch.setenv("NEWSEARCH_CORPUS", str(tmp_path_factory.mktemp("default_corpus")))
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory, monkeypatch):
    """Every test runs in the offline environment."""
    offline_environment(monkeypatch, tmp_path_factory)


@dataclass(frozen=True)
class BuiltIndex:
    """A corpus and its complete index, built once per session; both read-only."""

    corpus: Path
    path: Path
    report: BuildReport  # what its build did

    def copy_to(self, target: Path) -> Path:
        """A private copy of the index at ``target``, up to date with the (unchanged) corpus."""
        shutil.copytree(self.path, target, symlinks=True)
        return target


def _build(tmp_path_factory: pytest.TempPathFactory, name: str, corpus: Path, **options) -> BuiltIndex:
    from newsearch import build_index

    with pytest.MonkeyPatch.context() as monkeypatch:  # built in the environment the tests get
        offline_environment(monkeypatch, tmp_path_factory)
        index = tmp_path_factory.mktemp(name) / "index"
        return BuiltIndex(corpus, index, build_index([corpus], index, **options))


# -- the BBC corpus ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bbc_corpus() -> Path:
    """The real BBC articles, read-only; tests that need them skip where they are absent."""
    if not BBC_CORPUS.is_dir():
        pytest.skip(f"BBC corpus not found at {BBC_CORPUS} (see shared/corpora/README.md)")
    return BBC_CORPUS


@pytest.fixture(scope="session")
def bbc_index(tmp_path_factory, bbc_corpus) -> BuiltIndex:
    """The whole BBC corpus (2,225 articles) indexed by two workers: one segment per worker."""
    return _build(tmp_path_factory, "bbc_index", bbc_corpus, jobs=2)


# -- synthetic corpora (support.corpora.synthetic_corpus) ----------------------------------------


@pytest.fixture(scope="session")
def synthetic_400(tmp_path_factory) -> Path:
    """400 synthetic articles (seed 7), read-only: at the parallel threshold, so a full build of
    them uses worker processes unless told ``--jobs 1``. Not indexed here."""
    folder = tmp_path_factory.mktemp("synthetic_400")
    synthetic_corpus(folder, 400)
    return folder


@pytest.fixture(scope="session")
def synthetic_index(tmp_path_factory) -> BuiltIndex:
    """120 synthetic articles (seed 7; every one holds "bank" and "profit") and their index,
    built in one process."""
    corpus = tmp_path_factory.mktemp("synthetic_120") / "corpus"
    synthetic_corpus(corpus, 120)
    built = _build(tmp_path_factory, "synthetic_120", corpus)
    assert built.report.documents == 120 and not built.report.skipped
    return built


# -- newsearch commands in real processes, without an interpreter start each ---------------------


@pytest.fixture(scope="session")
def cli_server(tmp_path_factory) -> Iterator[ForkServer]:
    """Runs ``newsearch`` commands in processes forked from one that has imported newsearch
    (support/cli_forkserver.py): for tests that need real processes (kills, locks, a crash kept
    out of pytest) but not a fresh interpreter's start. Each command gets the caller's environment."""
    server = ForkServer(tmp_path_factory.mktemp("forked_runs"))
    yield server
    server.close()
