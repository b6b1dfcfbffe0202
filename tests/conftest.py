"""Shared fixtures: every test runs offline, with no NLTK data and its own index folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BBC_CORPUS = REPO.parent / "shared" / "corpora" / "bbc-news"


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory, monkeypatch):
    """No NLTK data, and NEWSEARCH_* pointing at fresh temporary folders."""
    empty = tmp_path_factory.mktemp("nltk_data_empty")
    monkeypatch.setenv("NLTK_DATA", str(empty))
    monkeypatch.setenv("NEWSEARCH_INDEX", str(tmp_path_factory.mktemp("default_index") / "index"))
    monkeypatch.setenv("NEWSEARCH_CORPUS", str(tmp_path_factory.mktemp("default_corpus")))
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def bbc_corpus() -> Path:
    """The real BBC articles, read-only; tests that need them skip where they are absent."""
    if not BBC_CORPUS.is_dir():
        pytest.skip(f"BBC corpus not found at {BBC_CORPUS} (see shared/corpora/README.md)")
    return BBC_CORPUS
