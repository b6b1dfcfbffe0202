"""Quality figures on the stored query sets: MRR@10, Recall@10, passage hit@1.

* A hit is correct when its id is in the query's ``relevant`` list: the target and every
  article whose body is identical to it (the BBC corpus has 136 such pairs). newsearch folds
  near-duplicate copies into one hit by default ("+1 similar"); a copy folded into a hit
  counts as that hit, since the reader sees it there.
* MRR@10: mean over queries of 1/rank of the first correct hit in the top 10 (0 if none).
* Recall@10: share of queries with a correct hit in the top 10 (one relevant body per query).
* passage hit@1 (sets with a source sentence): the top hit is correct AND its top passage
  overlaps the source sentence (any occurrence of its text) by at least half of the shorter of the two spans
  (``overlap >= 0.5 * min(len(passage), len(sentence))``, spans in characters of the stored
  body). ``contained@1`` is the stricter variant: the whole sentence lies inside the passage.
  newsearch's top passage is ``hit.passages[0]`` (``passages=3``); the baseline's is the
  best-scoring fragment of Whoosh's highlighter (ContextFragmenter, order=SCORE, top=1).

``ablation`` measures newsearch alone on every set with the full ranking and with each signal
of ``newsearch.scoring.SIGNALS`` switched off in turn (``open_index(path, ranking=...)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.bench.baseline import Engine as WhooshEngine

PASSAGE_SETS = ("fact", "quoted", "typo")
ABLATION_METRICS = ("mrr10", "passage_hit1")
FULL_RANKING = "full ranking"


def locate(body: str, text: str) -> list[tuple[int, int]]:
    """Every span of ``text`` in ``body`` (a sentence may occur more than once)."""
    found, start = [], body.find(text)
    while start >= 0:
        found.append((start, start + len(text)))
        start = body.find(text, start + 1)
    return found


def passage_verdict(passage: tuple[int, int] | None, sentences: list[tuple[int, int]]) -> tuple[bool, bool]:
    """(overlap hit, contained) of a passage span against any occurrence of the sentence."""
    hit = contained = False
    if passage is None:
        return hit, contained
    ps, pe = passage
    for ss, se in sentences:
        overlap = max(0, min(pe, se) - max(ps, ss))
        hit = hit or (overlap > 0 and overlap >= 0.5 * min(pe - ps, se - ss))
        contained = contained or (ps <= ss and se <= pe)
    return hit, contained


def _summary(rows: list[dict], with_passages: bool) -> dict:
    n = len(rows)
    ranks = [row["rank"] for row in rows]
    summary = {
        "queries": n,
        "mrr10": sum(1 / r for r in ranks if r) / n,
        "recall10": sum(1 for r in ranks if r) / n,
        "hit1": sum(1 for r in ranks if r == 1) / n,
        "errors": sum(1 for row in rows if row.get("error")),
    }
    if with_passages:
        summary["passage_hit1"] = sum(1 for row in rows if row["passage_hit"]) / n
        summary["passage_contained1"] = sum(1 for row in rows if row["passage_contained"]) / n
        summary["sentence_not_found"] = sum(1 for row in rows if row.get("sentence_missing"))
    return summary


def _rank(ids: list[str], relevant: list[str]) -> int | None:
    return next((rank for rank, doc_id in enumerate(ids, 1) if doc_id in relevant), None)


def evaluate_newsearch(index_path: Path, records: list[dict], with_passages: bool,
                       ranking: object = None) -> tuple[dict, list[dict]]:
    """``ranking``: a ``newsearch.scoring.RankingConfig`` (None: the library's default)."""
    import newsearch

    rows = []
    options = {} if ranking is None else {"ranking": ranking}
    with newsearch.open_index(index_path, **options) as index:
        for record in records:
            row: dict = {"qid": record["qid"], "query": record["query"], "target": record["target"]}
            started = time.perf_counter()
            try:
                results = index.search(record["query"], limit=10, passages=3)
            except newsearch.NewsearchError as exc:
                row.update(rank=None, error=str(exc), top=[], passage_hit=False, passage_contained=False)
                rows.append(row)
                continue
            row["ms"] = round(1000 * (time.perf_counter() - started), 1)
            ids = [hit.id for hit in results.hits]
            shown = [[hit.id, *(copy.id for copy in hit.similar)] for hit in results.hits]
            rank = next((rank for rank, group in enumerate(shown, 1) if set(group) & set(record["relevant"])), None)
            row.update(rank=rank, top=ids[:3], passage_hit=False, passage_contained=False)
            if with_passages and row["rank"] == 1:
                top = results.hits[0]
                body = index.document(top.id).body
                sentence = locate(body, record["sentence_text"])
                row["sentence_missing"] = not sentence
                passage = (top.passages[0].start, top.passages[0].end) if top.passages else None
                row["passage"] = top.passages[0].text if top.passages else None
                row["passage_hit"], row["passage_contained"] = passage_verdict(passage, sentence)
            rows.append(row)
    return _summary(rows, with_passages), rows


def evaluate_baseline(index_path: Path, records: list[dict], with_passages: bool) -> tuple[dict, list[dict]]:
    engine = WhooshEngine(index_path)
    rows = []
    try:
        for record in records:
            row: dict = {"qid": record["qid"], "query": record["query"], "target": record["target"]}
            try:
                ids, fragment = engine.ranked_with_top_fragment(record["query"], limit=10)
            except Exception as exc:  # the baseline's parser errors are its own business
                row.update(rank=None, error=repr(exc), top=[], passage_hit=False, passage_contained=False)
                rows.append(row)
                continue
            row.update(rank=_rank(ids, record["relevant"]), top=ids[:3], passage_hit=False, passage_contained=False)
            if with_passages and row["rank"] == 1:
                body = engine.searcher.document(id=ids[0])["body"]
                sentence = locate(body, record["sentence_text"])
                row["sentence_missing"] = not sentence
                row["passage_hit"], row["passage_contained"] = passage_verdict(fragment, sentence)
            rows.append(row)
    finally:
        engine.close()
    return _summary(rows, with_passages), rows


def evaluate(indexes: dict[str, Path], sets: dict[str, list[dict]]) -> tuple[dict, list[dict]]:
    """``indexes``: newsearch/baseline x full/body_only. Headlines run against body-only indexes."""
    results: dict = {}
    misses: list[dict] = []
    for name, records in sets.items():
        kind = "body_only" if name == "headline" else "full"
        with_passages = name in PASSAGE_SETS
        started = time.perf_counter()
        ns_summary, ns_rows = evaluate_newsearch(indexes[f"newsearch_{kind}"], records, with_passages)
        base_summary, base_rows = evaluate_baseline(indexes[f"baseline_{kind}"], records, with_passages)
        timed = [row["ms"] for row in ns_rows if "ms" in row]
        ns_summary["max_query_ms"] = max(timed, default=0.0)
        ns_summary["slowest"] = sorted(({"ms": r["ms"], "query": r["query"]} for r in ns_rows if "ms" in r),
                                       key=lambda item: -item["ms"])[:3]
        results[name] = {"index": kind, "newsearch": ns_summary, "baseline": base_summary,
                         "seconds": time.perf_counter() - started}
        by_qid = {row["qid"]: row for row in base_rows}
        for row in ns_rows:
            if row["rank"] != 1 or (with_passages and not row["passage_hit"]):
                misses.append(dict(row, set=name, baseline_rank=by_qid[row["qid"]]["rank"]))
    return results, misses


def ablation(indexes: dict[str, Path], sets: dict[str, list[dict]], full: dict | None = None,
             log: Callable[[str], None] = lambda message: None) -> dict:
    """Each set's MRR@10 (and passage hit@1) with the full ranking and with each reranking
    signal switched off in turn, and the change against the full ranking.

    ``full``: the quality stage's results on the same sets, reused for the full ranking's row.
    Returns ``{"queries": {set: n}, "signals": {row: {"changes": {field: value}, "seconds": s,
    "sets": {set: {metric, metric_delta}}}}}``, the first row the full ranking.
    """
    from newsearch.scoring import RANKING, SIGNALS

    rows: dict[str, dict] = {}
    for label, changes in [(FULL_RANKING, {}), *SIGNALS.items()]:
        config = RANKING.without(label) if changes else RANKING
        started = time.perf_counter()
        measured: dict[str, dict] = {}
        for name, records in sets.items():
            kind = "body_only" if name == "headline" else "full"
            with_passages = name in PASSAGE_SETS
            if not changes and full and name in full:
                summary = full[name]["newsearch"]
            else:
                summary, _ = evaluate_newsearch(indexes[f"newsearch_{kind}"], records, with_passages, config)
            measured[name] = {metric: summary[metric] for metric in ABLATION_METRICS if metric in summary}
        rows[label] = {"changes": dict(changes), "seconds": time.perf_counter() - started, "sets": measured}
        log(f"ablation: {label} ({rows[label]['seconds']:.0f} s)")
    base = rows[FULL_RANKING]["sets"]
    for row in rows.values():
        for name, figures in row["sets"].items():
            for metric in ABLATION_METRICS:
                if metric in figures:
                    figures[f"{metric}_delta"] = figures[metric] - base[name][metric]
    return {"queries": {name: len(records) for name, records in sets.items()}, "signals": rows}
