"""Vectorised query evaluation (``candidates.gather`` on the posting sidecars of ``postings``).

After a random sequence of adds, updates and deletes, built incrementally (each commit a
segment, small ones merged by Whoosh's policy) and then merged into one segment through
the pool path, every sidecar holds exactly Whoosh's postings, and ``gather`` gives the
scores, order and totals of Whoosh's own collectors, its totals being those of a
brute-force reading of the stored texts. ``check`` finds a damaged or missing sidecar,
and threads sharing one ``Index`` get the single-threaded results.
"""

from __future__ import annotations

import random
import shutil
import threading

import numpy as np
import pytest
from support.corpora import WORDS, synthetic_corpus, write_article
from whoosh import collectors

from newsearch import build_index, check_index, open_index
from newsearch.candidates import gather, plain_concepts
from newsearch.compiler import QueryCompiler
from newsearch.errors import IndexCorrupt
from newsearch.postings import EXTENSION, Sidecar, sidecar
from newsearch.query import parse
from newsearch.segments import NewsSegmentWriter
from newsearch.storage import live_generation, open_current, writer_lock

DEPTH = 6
QUERIES = ["market shares", "bank profit market", "football coach film award music", "goverment inflation",
           '"profit bank" market', "marker3 marker17 marker40", "story", "title:story market", "elect* bank"]


def _rounds(corpus, rng, paths):
    """One round of changes: three articles added, three changed, two deleted."""
    for _ in range(3):
        number = len(paths) + 1000
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60)))
        paths.append(write_article(corpus / "gamma", f"{number}.txt", f"Bank profit {rng.choice(WORDS)}",
                                   f"{words} Marker{number}. Market shares {rng.choice(WORDS)}."))
    for path in rng.sample(paths, 3):
        path.write_text(path.read_text(encoding="utf-8") + " ".join(rng.choice(WORDS) for _ in range(9)) + "\n",
                        encoding="utf-8")
    for path in rng.sample(paths, 2):
        path.unlink()
        paths.remove(path)


@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    """An index after six rounds of random changes: several segments, deletions."""
    root = tmp_path_factory.mktemp("vectorised")
    corpus = root / "corpus"
    paths = synthetic_corpus(corpus, 50)
    build_index([corpus], root / "index")
    rng = random.Random(11)
    for _ in range(6):
        _rounds(corpus, rng, paths)
        build_index([corpus], root / "index")
    return root


@pytest.fixture(scope="module")
def merged(changed, tmp_path_factory):
    """The same index merged into one segment by our segment writer (Whoosh's pool path)."""
    root = tmp_path_factory.mktemp("merged")
    shutil.copytree(changed / "index", root / "index", symlinks=True)
    with writer_lock(root / "index"):
        _, ix = open_current(root / "index")
        NewsSegmentWriter(ix).commit(optimize=True)
    return root


def _searcher(root):
    index = open_index(root / "index")
    return index, index._fresh()


def _leaves(searcher):
    return [(leaf.reader(), offset) for leaf, offset in searcher.leaf_searchers()]


def test_the_fixtures_have_segments_deletions_and_a_merge(changed, merged):
    with open_index(changed / "index") as index:
        readers = _leaves(index._fresh().searcher)
        assert len(readers) >= 2
        assert any(reader.has_deletions() for reader, _ in readers)
    with open_index(merged / "index") as index:
        (reader, _), = _leaves(index._fresh().searcher)
        assert not reader.has_deletions()


@pytest.mark.parametrize("which", ["changed", "merged"])
def test_every_sidecar_holds_whoosh_postings(request, which):
    """Every term's postings of live documents (Whoosh's matchers skip deleted ones)."""
    index, snapshot = _searcher(request.getfixturevalue(which))
    with index:
        for reader, _ in _leaves(snapshot.searcher):
            mapped = sidecar(reader)
            assert mapped is not None
            terms = 0
            for fieldname in reader.indexed_field_names():
                for btext in reader.lexicon(fieldname):
                    ids, weights = mapped.postings(fieldname, btext)
                    ours = [(docnum, weight) for docnum, weight in zip(ids.tolist(), weights.astype(float).tolist())
                            if not reader.is_deleted(docnum)]
                    matcher = reader.postings(fieldname, btext)
                    expected = []
                    while matcher.is_active():
                        expected.append((matcher.id(), matcher.weight()))
                        matcher.next()
                    assert ours == expected
                    terms += 1
            assert terms == len(mapped.ends)
            assert mapped.postings("body", b"no-such-term") is None


def _collector_top(searcher, query, allowed):
    collector = searcher.collector(limit=DEPTH)
    chain = collectors.FilterCollector(collector, allow=allowed) if allowed is not None else collector
    searcher.search_with_collector(query, chain)
    return [(score, docnum) for score, docnum in chain.results().top_n]


def _brute_force_total(searcher, concepts, allowed):
    """Live documents whose stored title or body, analysed as indexed, holds a term of a concept."""
    wanted = {(term.fieldname, term.text) for concept in concepts for term in concept.terms}
    total = 0
    for docnum, stored in searcher.iter_docs():
        if allowed is not None and docnum not in allowed:
            continue
        found = {(name, text) for name in ("title", "body")
                 for text in searcher.schema[name].process_text(stored.get(name, ""), mode="index")}
        total += bool(wanted & found)
    return total


@pytest.mark.parametrize("which", ["changed", "merged"])
@pytest.mark.parametrize("restricted", [False, True])
def test_gather_equals_whoosh_and_the_stored_texts(request, which, restricted):
    index, snapshot = _searcher(request.getfixturevalue(which))
    searcher = snapshot.searcher
    with index:
        allowed = set(range(1, searcher.doc_count_all(), 3)) if restricted else None
        for text in QUERIES:
            compiled = QueryCompiler(searcher.reader(), snapshot.vocabulary).compile(parse(text))
            concepts = plain_concepts(compiled)
            found = gather(searcher, concepts, DEPTH, all_words=compiled.all_words_query is not None,
                           allowed=allowed)
            expected = _collector_top(searcher, compiled.query, allowed)
            # The order: the higher score first, ties to the lower document number.
            ranked = sorted(found.scores.items(), key=lambda item: (-item[1], item[0]))
            ours = [docnum for docnum, _ in ranked if docnum in dict((d, s) for s, d in expected)]
            assert ours == [docnum for _, docnum in sorted(expected, key=lambda item: (-item[0], item[1]))]
            for score, docnum in expected:
                assert found.scores[docnum] == pytest.approx(score, rel=1e-12)
            if compiled.all_words_query is not None:
                for score, docnum in _collector_top(searcher, compiled.all_words_query, allowed):
                    assert found.scores[docnum] == pytest.approx(score, rel=1e-12)
                    assert found.covered[docnum] == len(concepts)
            matched = set(searcher.docs_for_query(compiled.query))
            assert found.total == len(matched & allowed if allowed is not None else matched), text
            if all(concept.kind == "terms" for concept in concepts):
                assert found.total == _brute_force_total(searcher, concepts, allowed), text


def _deleted(searcher):
    return {offset + docnum for reader, offset in _leaves(searcher)
            for docnum in range(reader.doc_count_all()) if reader.is_deleted(docnum)}


def _sidecar_place(root):
    """(the segment file, the sidecar's offset in it, its length) of the first segment."""
    from newsearch.postings import _locate

    with open_index(root / "index") as index:
        reader, _ = _leaves(index._fresh().searcher)[0]
        segment = reader.segment()
        return _locate(reader.storage(), segment, segment.make_filename(EXTENSION))


@pytest.mark.parametrize("where", ["ids", "footer"])
def test_check_finds_a_damaged_sidecar(merged, tmp_path, where):
    shutil.copytree(merged / "index", tmp_path / "index", symlinks=True)
    path, offset, length = _sidecar_place(tmp_path)
    assert check_index(tmp_path / "index").documents
    with open(path, "r+b") as handle:
        handle.seek(offset + (40 if where == "ids" else length - 4))
        handle.write(b"\xff\x00\xff\x00")
    with pytest.raises(IndexCorrupt, match="posting sidecar MAIN_[0-9a-z]+.npost (fails its checksum|is not one)"):
        check_index(tmp_path / "index")


def test_a_sidecar_of_another_segment_is_refused(merged):
    path, offset, length = _sidecar_place(merged)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(length,))
    with pytest.raises(ValueError, match="belongs to another segment"):
        Sidecar.parse(data, "x.npost", "MAIN_someotherone", 10 ** 6)


def test_a_segment_without_sidecar_is_searched_the_slow_way_and_check_says_so(changed, merged, tmp_path):
    """A segment merged by Whoosh's own writer has no sidecar: the results of one merged by ours,
    and ``check`` reports it."""
    shutil.copytree(changed / "index", tmp_path / "index", symlinks=True)
    with open_index(merged / "index") as index:
        expected = {text: index.search(text, limit=8) for text in QUERIES}
    with writer_lock(tmp_path / "index"):
        _, ix = open_current(tmp_path / "index")
        ix.writer().commit(optimize=True)
    with open_index(tmp_path / "index") as index:
        (reader, _), = _leaves(index._fresh().searcher)
        assert sidecar(reader) is None
        for text, results in expected.items():
            found = index.search(text, limit=8)
            assert [(hit.id, hit.score) for hit in found.hits] == [(hit.id, hit.score) for hit in results.hits]
            assert found.total == results.total
    with pytest.raises(IndexCorrupt, match=r"has no posting sidecar \(\.npost\)"):
        check_index(tmp_path / "index")
    assert live_generation(tmp_path / "index").exists()


def test_threads_sharing_one_index_get_the_single_threaded_results(changed):
    calls = [("search", text, {}) for text in QUERIES]
    calls += [("search", "market bank", {"sources": ["gamma"]}), ("search", '"bank profit"', {"facets": ["source"]}),
              ("search", "market OR -bank", {}), ("timeline", "market", {}), ("search", "story", {"sort": "newest"})]
    with open_index(changed / "index") as index:
        def run(call):
            name, text, options = call
            return getattr(index, name)(text, **options)

        def key(result):
            if hasattr(result, "hits"):
                return result.total, [(hit.id, hit.score, hit.passages) for hit in result.hits], result.facets
            return result

        expected = [key(run(call)) for call in calls]
        failures: list[str] = []

        def worker(seed):
            order = list(range(len(calls))) * 3
            random.Random(seed).shuffle(order)
            for number in order:
                if key(run(calls[number])) != expected[number]:
                    failures.append(f"{calls[number]} differs in thread {seed}")

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
