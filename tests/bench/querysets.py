"""Generate the quality query sets from the BBC corpus, deterministically.

    python -m tests.bench.querysets           # (re)write tests/bench/querysets/*.jsonl
    python -m tests.bench.querysets --check   # exit 1 unless the files are reproduced byte for byte

Four sets of 300 queries, each line one JSON object (keys sorted):

* headline: an article's headline -> that article (run against a body-only index);
* fact:     4-6 distinct content words (lower-cased, alphabetic, >= 3 letters, not
            stopwords) sampled from one body sentence, shuffled -> that article;
* quoted:   5-8 consecutive words of one body sentence in double quotes -> that article
            (the word sequence occurs in no other body, and holds >= 2 content words);
* typo:     a fact query with one typing error in its rarest word of >= 6 letters.

Every record names its ``target`` and ``relevant`` (the target and every article with an
identical body). Offsets (``sentence``, ``span``) are into the body as
``tests.bench.corpora`` reads it.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from tests.bench.corpora import Article, duplicate_groups, read_bbc, sentence_spans

SEED = 20250601
SIZE = 300
FOLDER = Path(__file__).resolve().parent / "querysets"
SETS = ("headline", "fact", "quoted", "typo")

# Function words (and "said"): never sampled as remembered-fact words.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren as at be because been before
being below between both but by can cannot could couldn did didn do does doesn doing don down
during each few for from further had hadn has hasn have haven having he her here hers herself him
himself his how i if in into is isn it its itself just let me mr mrs ms more most mustn my myself
no nor not now of off on once only or other ought our ours ourselves out over own said same says
shan she should shouldn so some such than that the their theirs them themselves then there these
they this those through to too under until up upon very was wasn we were weren what when where
which while who whom why will with won would wouldn yet you your yours yourself yourselves
""".split())

_WORD = re.compile(r"[A-Za-z]+(?:['\u2019-][A-Za-z]+)*")
_FORBIDDEN_IN_QUOTE = re.compile(r"[\"\u201c\u201d()\[\]:;]")


def content_words(sentence: str) -> list[str]:
    """Distinct content words of a sentence, lower-cased, in order of first appearance."""
    seen: dict[str, None] = {}
    for token in _WORD.findall(sentence):
        word = token.lower()
        if word.isalpha() and len(word) >= 3 and word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def word_sequence(text: str) -> str:
    """Lower-cased alphanumeric words joined by single spaces, padded: for phrase look-ups."""
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def make_headline(articles: list[Article], groups: dict[str, list[str]]) -> list[dict]:
    rng = random.Random(SEED + 1)
    chosen = rng.sample([a for a in articles if a.headline], SIZE)
    return [{"qid": f"headline-{n:03d}", "query": a.headline, "target": a.id, "relevant": groups[a.id]}
            for n, a in enumerate(chosen, 1)]


def make_fact_pool(articles: list[Article], groups: dict[str, list[str]], size: int) -> list[dict]:
    rng = random.Random(SEED + 2)
    pool: list[dict] = []
    while len(pool) < size:
        article = rng.choice(articles)
        wanted = rng.randint(4, 6)
        spans = [(s, e) for s, e in sentence_spans(article.body) if len(content_words(article.body[s:e])) >= wanted]
        if not spans:
            continue
        start, end = rng.choice(spans)
        words = rng.sample(content_words(article.body[start:end]), wanted)
        rng.shuffle(words)
        pool.append({"query": " ".join(words), "words": words, "target": article.id, "relevant": groups[article.id],
                     "sentence": [start, end], "sentence_text": article.body[start:end]})
    return pool


def make_fact(pool: list[dict]) -> list[dict]:
    return [dict({k: v for k, v in item.items() if k != "words"}, qid=f"fact-{n:03d}")
            for n, item in enumerate(pool[:SIZE], 1)]


def make_typo(pool: list[dict], articles: list[Article]) -> list[dict]:
    """Fact queries with one edit (swap, drop or replace a letter, never the first) in the
    rarest word of >= 6 letters; the typed form is not a word of the corpus."""
    df: Counter[str] = Counter()
    for article in articles:
        df.update({w.lower() for w in _WORD.findall(article.headline + "\n" + article.body)})
    rng = random.Random(SEED + 3)
    result = []
    for item in pool:
        long_words = [w for w in item["words"] if len(w) >= 6]
        if not long_words:
            continue
        word = min(long_words, key=lambda w: (df[w], -len(w), w))
        typed, edit = _misspell(word, rng, df)
        if typed is None:
            continue
        query = " ".join(typed if w == word else w for w in item["words"])
        record = {k: v for k, v in item.items() if k != "words"}
        record.update(qid=f"typo-{len(result) + 1:03d}", query=query,
                      typo={"word": word, "typed": typed, "edit": edit})
        result.append(record)
        if len(result) == SIZE:
            break
    return result


def _misspell(word: str, rng: random.Random, vocabulary: Counter[str]) -> tuple[str | None, str]:
    for _ in range(20):
        edit = rng.choice(("swap", "drop", "replace"))
        if edit == "swap":
            i = rng.randrange(1, len(word) - 1)
            typed = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif edit == "drop":
            i = rng.randrange(1, len(word))
            typed = word[:i] + word[i + 1:]
        else:
            i = rng.randrange(1, len(word))
            letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != word[i]])
            typed = word[:i] + letter + word[i + 1:]
        if typed != word and typed not in vocabulary:
            return typed, edit
    return None, ""


def make_quoted(articles: list[Article], groups: dict[str, list[str]]) -> list[dict]:
    rng = random.Random(SEED + 4)
    sequences = [(a.id, word_sequence(a.body)) for a in articles]
    result = []
    while len(result) < SIZE:
        article = rng.choice(articles)
        start, end = rng.choice(sentence_spans(article.body))
        sentence = article.body[start:end]
        tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", sentence)]
        n = rng.randint(5, 8)
        if len(tokens) < n:
            continue
        first = rng.randrange(0, len(tokens) - n + 1)
        s, e = tokens[first][0], tokens[first + n - 1][1]
        while s < e and not sentence[s].isalnum():
            s += 1
        while e > s and not sentence[e - 1].isalnum():
            e -= 1
        text = sentence[s:e]
        if _FORBIDDEN_IN_QUOTE.search(text) or len(text.split()) != n or len(content_words(text)) < 2:
            continue
        needle = word_sequence(text)
        holders = {doc_id for doc_id, sequence in sequences if needle in sequence}
        if not holders <= set(groups[article.id]):
            continue  # the words also occur in another article: not a known item
        result.append({"qid": f"quoted-{len(result) + 1:03d}", "query": f'"{text}"', "target": article.id,
                       "relevant": groups[article.id], "sentence": [start, end], "sentence_text": sentence,
                       "span": [start + s, start + e]})
    return result


def generate() -> dict[str, list[dict]]:
    articles = read_bbc()
    groups = duplicate_groups(articles)
    pool = make_fact_pool(articles, groups, 2 * SIZE)
    return {
        "headline": make_headline(articles, groups),
        "fact": make_fact(pool),
        "quoted": make_quoted(articles, groups),
        "typo": make_typo(pool, articles),
    }


def render(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=True) + "\n" for r in records).encode("ascii")


def load(name: str) -> list[dict]:
    """One stored query set."""
    path = FOLDER / f"{name}.jsonl"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python -m tests.bench.querysets` to generate it")
    return [json.loads(line) for line in path.read_text("ascii").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.querysets", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the stored files instead of writing them")
    args = parser.parse_args(argv)
    generated = {name: render(records) for name, records in generate().items()}
    if args.check:
        stale = [name for name, data in generated.items()
                 if not (FOLDER / f"{name}.jsonl").exists() or (FOLDER / f"{name}.jsonl").read_bytes() != data]
        for name in stale:
            print(f"{FOLDER / name}.jsonl differs from what the generator makes", file=sys.stderr)
        if not stale:
            print(f"query sets reproduced byte for byte: {', '.join(SETS)}")
        return 1 if stale else 0
    FOLDER.mkdir(exist_ok=True)
    for name, data in generated.items():
        (FOLDER / f"{name}.jsonl").write_bytes(data)
        lines = data.count(b"\n")
        print(f"wrote {FOLDER / name}.jsonl ({lines} queries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
