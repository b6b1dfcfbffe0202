"""Near-duplicate candidates of a parallel build verified by its workers: the same pairs and
similarities as the candidates verified one by one in this process."""

from __future__ import annotations

import json
import random
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from newsearch import build_index, duplicate_store
from newsearch.duplicates import band_bytes, band_hashes, duplicate_text, is_near_duplicate, signature, similarity
from newsearch.indexer import PARALLEL_MIN_FILES
from newsearch.storage import current_generation, open_generation

SENTENCES = [
    "The port of Rotterdam handled a record volume of containers this year.",
    "Dockworkers in the city went on strike over automation plans.",
    "Shipping lines said the delays would cost them millions of euros.",
    "The mayor called for talks between the unions and the port authority.",
    "Robots now move most containers on the newest terminals.",
    "Freight rates fell sharply after the holiday season ended.",
    "Farmers protested against new rules on nitrogen emissions near the coast.",
    "The central bank kept interest rates unchanged for a third month.",
    "A late goal gave Feyenoord victory over Ajax in a full stadium.",
    "Coalition talks in The Hague stalled again over housing and taxes.",
    "Engineers began repairs on the storm barrier after the autumn floods.",
    "Tourism in Amsterdam recovered to its level before the pandemic.",
]


def _articles(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Articles of 4-9 sentences drawn from a small pool: many share sentences, some whole stories."""
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        if number % 5 == 4:  # a copy of an earlier story, with a sentence added or changed
            body = articles[rng.randrange(len(articles))]["body"]
            body = body + " " + rng.choice(SENTENCES) if rng.random() < 0.5 else rng.choice(SENTENCES) + " " + body
        else:
            body = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(4, 9)))
        articles.append({"id": f"story-{number:04d}", "title": f"Story {number}", "body": body})
    return articles


def _write(folder: Path, articles: list[dict[str, str]]) -> None:
    folder.mkdir(parents=True)
    for article in articles:
        (folder / f"{article['id']}.json").write_text(json.dumps(article), encoding="utf-8")


def _pairs(index_path: Path) -> set[tuple[str, str, float]]:
    return {(a, b, round(score, 4)) for a, b, score in duplicate_store.load(current_generation(index_path)).pairs}


def _reference(index_path: Path) -> set[tuple[str, str, float]]:
    """The index's candidates verified one by one on the shingle sets of the stored texts."""
    found = set()
    with open_generation(current_generation(index_path), mmap=False).reader() as reader:
        for pair in duplicate_store._PairFinder(reader).candidates():
            (a, first), (b, second) = sorted(
                (fields["id"], duplicate_text(fields["title"], fields["body"]))
                for fields in map(reader.stored_fields, pair))
            if is_near_duplicate(first, second):
                found.add((a, b, round(similarity(first, second), 4)))
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[dict[str, str]]]:
    articles = _articles(PARALLEL_MIN_FILES + 20)
    folder = tmp_path_factory.mktemp("verify") / "corpus"
    _write(folder, articles)
    return folder, articles


def test_a_parallel_build_has_its_workers_verify_the_candidates(corpus, tmp_path, monkeypatch):
    folder, articles = corpus
    monkeypatch.setattr(duplicate_store, "_PARALLEL_CANDIDATES", 1)
    jobs_run = []
    verify = duplicate_store.verify_pairs

    def counted(job: duplicate_store.VerifyJob) -> dict[tuple[str, str], float]:
        jobs_run.append(len(job.pairs))
        return verify(job)

    monkeypatch.setattr(duplicate_store, "verify_pairs", counted)
    with ThreadPoolExecutor(2) as pool:
        build_index([folder], tmp_path / "pooled", jobs=2, executor=pool)
    assert len(jobs_run) == 2 and min(jobs_run) > 0
    monkeypatch.setattr(duplicate_store, "verify_pairs", verify)  # a local worker is sent it by name
    assert len(_reference(tmp_path / "pooled")) > 50
    assert _pairs(tmp_path / "pooled") == _reference(tmp_path / "pooled")
    assert build_index([folder], tmp_path / "local", jobs=2).documents == len(articles)  # forked workers
    # Its own reference: a bucket of many documents gives a chain in document order (``pairs_in_buckets``),
    # and the two builds may number the documents differently.
    assert _pairs(tmp_path / "local") == _reference(tmp_path / "local")


def test_band_bytes_are_the_band_hashes_of_the_signature_packed():
    for article in _articles(40) + [{"title": "Two words", "body": ""}, {"title": "", "body": ""}]:
        text = duplicate_text(article["title"], article["body"])
        hashes = band_hashes(signature(text))
        assert band_bytes(article["title"], article["body"]) == struct.pack(f"<{len(hashes)}I", *hashes)
