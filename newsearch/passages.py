"""Ranked passages with highlight spans: (stored body, query terms) -> Passages.

The roles, as in Whoosh's ``highlight`` module, but over the whole body (Whoosh
stops at 32 KB) and in one linear pass:

* matcher: the body is tokenized once with ``find_terms()``; a token matches when
  its term is a word of the query (weighted, not ``phrase_only``), or when it is
  part of an occurrence of a phrase (the phrase's terms in order, at most
  ``slop`` other tokens between neighbours). A word typed only inside quotes
  matches nowhere else: "Brown" alone is no match for ``"gordon brown"``.
* fragmenter: the sentences of ``split_sentences()`` (only those that hold a
  match are looked for: ``sentence_around()``); a passage is one sentence or a few
  consecutive sentences within ``max_chars``. A sentence longer than
  ``max_chars`` is cut to a window around its matches, at word boundaries.
* scorer: coverage first: the sum of the weights of the distinct terms covered,
  plus, for each phrase that occurs, the weights of its terms again (a phrase's
  ``phrase_only`` terms are covered only by a whole occurrence in the passage). Then a
  bonus, always smaller than the smallest weight (so covering more never loses
  to repeating one word): repeated terms with BM25-like saturation, proximity
  of different matched terms, and a small preference for earlier passages.
* order: best first, ties earlier first; passages never overlap.

Highlights are ``(start, end)`` spans into the passage text, in order, never
overlapping: one per matched word (whole tokens as ``analyze()`` gives them:
"Zelensky's", "captured"), and one per phrase occurrence, from its first word to
its last with whatever separates them in the text ("prime minister",
"e-mail interception", "state of the union"). In a sloppy phrase (``"a b"~2``)
each run of adjacent matched words is one span and the words the slop let in
between are not highlighted ("[North] and South [Korean]"). Spans that overlap
(a word typed both alone and in a phrase, phrases sharing words) are merged.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise

from newsearch.analysis import find_terms
from newsearch.models import Passage
from newsearch.sentences import iter_sentences, sentence_around, split_sentences, word_end, word_start

K1 = 1.2  # saturation of repeated terms, as in BM25
REPEAT_BONUS = 0.4  # shares of the smallest weight; they add up to less than 1
PROXIMITY_BONUS = 0.5
EARLY_BONUS = 0.05

__all__ = ["PassageQuery", "best_passages", "highlight_spans", "lead_passage", "query_terms", "split_sentences"]


@dataclass(frozen=True)
class PassageQuery:
    """What to look for: index terms with weights (IDF, > 0) and phrases.

    Every token whose term is in ``weights`` and not in ``phrase_only`` is
    highlighted, wherever it occurs (so leave a phrase's stopwords out of
    ``weights``); a phrase's terms are highlighted where the phrase occurs, and
    only there when they are in ``phrase_only`` (the words the user typed only
    inside quotes: their weights still count for a phrase occurrence).
    ``phrase_slop[i]`` is how many other tokens may stand between two
    neighbouring terms of ``phrases[i]`` (0 = adjacent, Whoosh's ``slop=1``); an
    empty ``phrase_slop`` means all exact.
    """

    weights: Mapping[str, float]
    phrases: tuple[tuple[str, ...], ...] = ()
    phrase_slop: tuple[int, ...] = ()
    phrase_only: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.phrase_slop and len(self.phrase_slop) != len(self.phrases):
            raise ValueError("phrase_slop needs one value per phrase (or none)")
        if any(slop < 0 for slop in self.phrase_slop) or not all(self.phrases):
            raise ValueError("phrases must be non-empty and slops non-negative")
        if any(weight <= 0 for weight in self.weights.values()):
            raise ValueError("weights must be positive")


@dataclass
class _Matches:
    """The matched tokens of a text, in order, and the phrase occurrences among them."""

    positions: list[int]  # token number in the text
    terms: list[str]
    starts: list[int]
    ends: list[int]
    occurrences: list[tuple[int, int, int]]  # (phrase index, first match, last match)
    alone: list[bool]  # whether the match counts on its own (a word of the query), not only in a phrase
    spans: list[tuple[int, int]]  # of the words and the phrase runs, sorted, overlaps not yet merged


def highlight_spans(text: str, query: PassageQuery) -> list[tuple[int, int]]:
    """The ``(start, end)`` highlight spans of ``text``, in order: one per matched word
    and one per phrase occurrence (see the module docstring)."""
    return _merged(_match(text, query).spans)


def best_passages(
    body: str, query: PassageQuery, *, count: int = 3, max_chars: int = 300,
    found: list[tuple[int, str, int, int]] | None = None,
) -> list[Passage]:
    """The best ``count`` passages of ``body``, best first, never overlapping.

    [] when nothing matches (then show ``lead_passage``). ``score`` is the sum of
    the weights of the distinct terms covered, plus each phrase's weight (the sum
    of its terms' weights) when it occurs, plus a bonus below the smallest weight.
    Passages are at most ``max_chars`` long, unless one matched word is longer.
    ``found``: ``find_terms(body, wanted)`` for a ``wanted`` holding ``query_terms(query)``,
    when the caller has it already (the body is then not read again).
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if count < 1:
        return []
    matches = _match(body, query, found)
    if not matches.terms:
        return []
    scorer = _Scorer(body, query, matches, max_chars)
    chosen = scorer.choose(count)
    spans = _passage_spans(body, scorer, chosen, max_chars)
    return [
        _passage(body, matches, start, end, score)
        for (score, _, _), (start, end) in zip(chosen, spans)
    ]


def lead_passage(body: str, *, max_chars: int = 300) -> Passage | None:
    """The opening sentence(s) of ``body`` (of its first line) within ``max_chars``, without
    highlights; None if ``body`` is blank."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    sentences = iter_sentences(body)
    first = next(sentences, None)
    if first is None:
        return None
    start, end = first
    if end - start > max_chars:
        cut = word_end(body, start, start + max_chars)
        end = start + max_chars if cut is None else cut
    else:
        for sentence_start, sentence_end in sentences:
            if sentence_end - start > max_chars or body.find("\n", end, sentence_start) >= 0:
                break
            end = sentence_end
    return Passage(body[start:end], start, end, 0.0)


# -- matcher -----------------------------------------------------------------------------


def query_terms(query: PassageQuery) -> set[str]:
    """Every term a passage of ``query`` may match: its weighted words and its phrases' terms."""
    return {term for phrase in query.phrases for term in phrase}.union(query.weights)


def _match(text: str, query: PassageQuery, found: list[tuple[int, str, int, int]] | None = None) -> _Matches:
    if found is None:
        found = find_terms(text, query_terms(query))
    chains = _phrase_occurrences(found, query)
    in_phrase = {index for _, chain in chains for index in chain}
    words = {term for term in query.weights if term not in query.phrase_only}
    keep = [i for i, (_, term, _, _) in enumerate(found) if term in words or i in in_phrase]
    renumber = {old: new for new, old in enumerate(keep)}
    return _Matches(
        positions=[found[i][0] for i in keep],
        terms=[found[i][1] for i in keep],
        starts=[found[i][2] for i in keep],
        ends=[found[i][3] for i in keep],
        occurrences=[(phrase, renumber[chain[0]], renumber[chain[-1]]) for phrase, chain in chains],
        alone=[found[i][1] in words for i in keep],
        spans=_spans(found, chains, words),
    )


def _spans(
    found: list[tuple[int, str, int, int]], chains: list[tuple[int, list[int]]], words: set[str]
) -> list[tuple[int, int]]:
    """One span per word of the query and per run of adjacent words of a phrase occurrence,
    sorted (overlaps are merged once a passage has kept the spans wholly inside it)."""
    spans = [(start, end) for _, term, start, end in found if term in words]
    for _, chain in chains:
        run_start = found[chain[0]][2]
        for previous, index in pairwise(chain):
            if found[index][0] != found[previous][0] + 1:  # the slop let other words in
                spans.append((run_start, found[previous][3]))
                run_start = found[index][2]
        spans.append((run_start, found[chain[-1]][3]))
    spans.sort()
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ``spans`` with the overlapping ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _phrase_occurrences(
    found: list[tuple[int, str, int, int]], query: PassageQuery
) -> list[tuple[int, list[int]]]:
    """Each occurrence of a phrase as (phrase number, indexes into ``found``), in text order.

    Working back from the last term, keep the tokens from which the rest of the
    phrase can be completed; then every such token of the first term starts an
    occurrence, and taking the nearest completable next term is always right.
    """
    tokens_of: dict[str, list[tuple[int, int]]] = {}  # term -> (position, index into found)
    for index, (position, term, _, _) in enumerate(found):
        tokens_of.setdefault(term, []).append((position, index))
    occurrences = []
    for number, phrase in enumerate(query.phrases):
        reach = 1 + (query.phrase_slop[number] if query.phrase_slop else 0)
        if any(term not in tokens_of for term in phrase):
            continue
        levels = [tokens_of[phrase[-1]]]  # completable tokens of phrase[t], t from the end
        for term in reversed(phrase[:-1]):
            following = [position for position, _ in levels[-1]]
            levels.append(
                [tok for tok in tokens_of[term] if _next(following, tok[0], reach) is not None]
            )
        levels.reverse()
        positions = [[position for position, _ in level] for level in levels]
        for position, index in levels[0]:
            chain = [index]
            for t in range(1, len(phrase)):
                nearest = _next(positions[t], position, reach)
                assert nearest is not None  # every token kept at level t - 1 has a completable next term
                position, index = levels[t][nearest]
                chain.append(index)
            occurrences.append((number, chain))
    occurrences.sort(key=lambda occurrence: occurrence[1][0])
    return occurrences


def _next(positions: list[int], after: int, reach: int) -> int | None:
    """The index of the first of ``positions`` (sorted) in ``(after, after + reach]``, or None."""
    k = bisect_left(positions, after + 1)
    return k if k < len(positions) and positions[k] <= after + reach else None


# -- fragmenter and scorer -----------------------------------------------------------------


class _Scorer:
    """Scores windows of consecutive units and picks the best non-overlapping ones.

    A unit is a matched sentence that fits in ``max_chars``, or one matched token
    of a longer sentence. A window is a run of units within ``max_chars`` and
    one group: the sentences of one line or paragraph, or the tokens of one long
    sentence. Windows are scored incrementally as they slide, so the work is
    linear in the number of matches.
    """

    def __init__(self, body: str, query: PassageQuery, matches: _Matches, max_chars: int) -> None:
        self.body_length = len(body)
        self.max_chars = max_chars
        weights = query.weights
        self.floor = min(weights.values(), default=1.0)
        self.phrase_weights = [
            sum(weights.get(term, 0.0) for term in set(phrase)) or self.floor
            for phrase in query.phrases
        ]
        # A phrase's terms that count only with a whole occurrence (once per occurrence).
        self.phrase_terms = [
            [(term, weights[term]) for term in dict.fromkeys(phrase)
             if term in query.phrase_only and term in weights]
            for phrase in query.phrases
        ]
        self.match_weights = [weights.get(term, 0.0) for term in matches.terms]
        self.alone = matches.alone
        self.terms = matches.terms
        self._build_units(body, matches)
        self._build_proximity(matches)
        self.occurrences = [
            (phrase, self.unit_of[first], self.unit_of[last])
            for phrase, first, last in matches.occurrences
        ]
        self.ending_in: dict[int, list[int]] = {}
        self.starting_in: dict[int, list[int]] = {}
        for number, (_, first_unit, last_unit) in enumerate(self.occurrences):
            self.ending_in.setdefault(last_unit, []).append(number)
            self.starting_in.setdefault(first_unit, []).append(number)

    def _build_units(self, body: str, matches: _Matches) -> None:
        self.starts: list[int] = []  # unit extent in the body
        self.ends: list[int] = []
        self.groups: list[int] = []  # a window stays in one group: a paragraph or a long sentence
        self.sentence_of: list[tuple[int, int]] = []  # the span of the unit's sentence
        self.first_match: list[int] = []
        self.unit_of: list[int] = []  # match -> unit
        group = previous_end = sentence_start = sentence_end = 0
        was_long = False
        for k, (start, end) in enumerate(zip(matches.starts, matches.ends)):
            same_sentence = start < sentence_end  # the matches are in order
            if not same_sentence:
                sentence_start, sentence_end = sentence_around(body, start, sentence_end)
            sentence = (sentence_start, sentence_end)
            is_long = sentence_end - sentence_start > self.max_chars
            if same_sentence and not is_long:
                self.unit_of.append(len(self.starts) - 1)  # one more match in this sentence
                continue
            if not same_sentence and (
                is_long or was_long or body.find("\n", previous_end, sentence_start) >= 0
            ):
                group += 1  # a new long sentence, line or paragraph
            was_long = is_long
            previous_end = sentence_end
            if is_long:
                self._add_unit(start, end, group, sentence, k)
            else:
                self._add_unit(sentence_start, sentence_end, group, sentence, k)
        self.first_match.append(len(matches.starts))  # so unit u has matches first_match[u:u+2]

    def _add_unit(self, start: int, end: int, group: int, sentence: tuple[int, int], match: int) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.groups.append(group)
        self.sentence_of.append(sentence)
        self.first_match.append(match)
        self.unit_of.append(len(self.starts) - 1)

    def _build_proximity(self, matches: _Matches) -> None:
        """Prefix sums of 1/distance between neighbouring weighted matches of different terms."""
        weighted = [k for k, weight in enumerate(self.match_weights) if weight]
        pair = [0.0] * len(matches.terms)
        for previous, k in zip(weighted, weighted[1:]):
            if matches.terms[previous] != matches.terms[k]:
                pair[k] = 1.0 / (matches.positions[k] - matches.positions[previous])
        self.pair = pair
        self.pair_sums = [0.0]
        for value in pair:
            self.pair_sums.append(self.pair_sums[-1] + value)
        self.next_weighted = [len(pair)] * (len(pair) + 1)  # first weighted match at or after k
        for k in range(len(pair) - 1, -1, -1):
            self.next_weighted[k] = k if self.match_weights[k] else self.next_weighted[k + 1]

    def proximity(self, first: int, stop: int) -> float:
        """Sum of the pair values inside matches[first:stop]."""
        inner = self.pair_sums[stop] - self.pair_sums[first]
        leading = self.next_weighted[first]
        return inner - self.pair[leading] if leading < stop else inner

    def windows(self, lo: int, hi: int) -> Iterator[tuple[float, int, int]]:
        """(score, first unit, last unit) of the longest window starting at each unit of
        units[lo:hi] and staying inside it; windows that cover nothing are left out."""
        window = _Window()
        j = lo  # the window is units[i:j]
        for i in range(lo, hi):
            while j < hi and (j == i or (
                self.groups[j] == self.groups[i] and self.ends[j] - self.starts[i] <= self.max_chars
            )):
                self._enter(window, i, j)
                j += 1
            if window.covered:
                yield self._score(window, i, j), i, j - 1
            self._leave(window, i, j)

    def _enter(self, window: _Window, i: int, unit: int) -> None:
        for k in range(self.first_match[unit], self.first_match[unit + 1]):
            if self.match_weights[k] and self.alone[k]:
                window.count(self.terms[k], self.match_weights[k], 1)
        for number in self.ending_in.get(unit, ()):
            phrase, first_unit, _ = self.occurrences[number]
            if first_unit >= i:
                self._count_occurrence(window, phrase, 1)

    def _leave(self, window: _Window, unit: int, j: int) -> None:
        for k in range(self.first_match[unit], self.first_match[unit + 1]):
            if self.match_weights[k] and self.alone[k]:
                window.count(self.terms[k], self.match_weights[k], -1)
        for number in self.starting_in.get(unit, ()):
            phrase, _, last_unit = self.occurrences[number]
            if last_unit < j:
                self._count_occurrence(window, phrase, -1)

    def _count_occurrence(self, window: _Window, phrase: int, delta: int) -> None:
        """A whole occurrence of a phrase enters (1) or leaves (-1) the window."""
        window.count(phrase, self.phrase_weights[phrase], delta)
        for term, weight in self.phrase_terms[phrase]:
            window.count(term, weight, delta)

    def _score(self, window: _Window, i: int, j: int) -> float:
        closeness = self.proximity(self.first_match[i], self.first_match[j])
        bonus = (
            REPEAT_BONUS * window.repeats / window.base
            + PROXIMITY_BONUS * closeness / (1.0 + closeness)
            + EARLY_BONUS * (1.0 - self.starts[i] / self.body_length)
        )
        return window.base + self.floor * bonus

    def choose(self, count: int) -> list[tuple[float, int, int]]:
        """Up to ``count`` best windows, best first (ties: earlier first), never sharing a unit.

        All windows are scored once; taking one only rescores the few windows just
        before it that reached into it.
        """
        best = {window[1]: window for window in self.windows(0, len(self.starts))}
        heap = [(-score, first, last) for score, first, last in best.values()]
        heapq.heapify(heap)
        taken = [False] * len(self.starts)
        chosen: list[tuple[float, int, int]] = []
        while heap and len(chosen) < count:
            negative, first, last = heapq.heappop(heap)
            if best.get(first) != (-negative, first, last):
                continue  # rescored since, or taken
            chosen.append((-negative, first, last))
            for unit in range(first, last + 1):
                taken[unit] = True
                best.pop(unit, None)
            lo = first
            while (
                lo > 0
                and not taken[lo - 1]
                and self.groups[lo - 1] == self.groups[first]
                and self.ends[first] - self.starts[lo - 1] <= self.max_chars
            ):
                lo -= 1
                best.pop(lo, None)
            for score, unit, end in self.windows(lo, first):
                best[unit] = (score, unit, end)
                heapq.heappush(heap, (-score, unit, end))
        return chosen


class _Window:
    """Term (and phrase) counts of the current window, with its coverage and repeat sums."""

    def __init__(self) -> None:
        self.counts: dict[str | int, int] = {}
        self.covered = 0  # how many terms and phrases are in the window
        self.base = 0.0  # sum of the weights of what is covered
        self.repeats = 0.0  # sum of weight * saturation of the repeats

    def count(self, key: str | int, weight: float, delta: int) -> None:
        before = self.counts.get(key, 0)
        after = before + delta
        self.counts[key] = after
        if before == 0 or after == 0:  # covered now, or no longer
            self.covered += delta
            self.base += weight * delta
        else:
            self.repeats += weight * (_saturation(after) - _saturation(before))


def _saturation(count: int) -> float:
    """0 for one occurrence, rising towards 1 for many (BM25's tf curve, rescaled)."""
    return (count - 1) / (count + K1)


# -- passages -------------------------------------------------------------------------------


def _passage_spans(
    body: str, scorer: _Scorer, chosen: list[tuple[float, int, int]], max_chars: int
) -> list[tuple[int, int]]:
    """Body spans of the chosen windows; windows in a long sentence get context around them."""
    spans: dict[int, tuple[int, int]] = {}
    previous_end = 0
    by_position = sorted(first for _, first, _ in chosen)
    last_of = {first: last for _, first, last in chosen}
    for n, first in enumerate(by_position):
        last = last_of[first]
        start, end = scorer.starts[first], scorer.ends[last]
        sentence_start, sentence_end = scorer.sentence_of[first]
        if sentence_end - sentence_start > max_chars:
            lo = max(sentence_start, previous_end)
            following = by_position[n + 1] if n + 1 < len(by_position) else None
            hi = sentence_end
            if following is not None and scorer.groups[following] == scorer.groups[first]:
                hi = scorer.starts[following]
            start, end = _around(body, start, end, lo, hi, max_chars)
        spans[first] = (start, end)
        previous_end = end
    return [spans[first] for _, first, _ in chosen]


def _around(body: str, start: int, end: int, lo: int, hi: int, max_chars: int) -> tuple[int, int]:
    """Widen ``body[start:end]`` within ``[lo, hi)`` to about ``max_chars``, at word boundaries."""
    slack = max_chars - (end - start)
    if slack <= 0:
        return start, end
    left = max(lo, start - slack // 2)
    right = min(hi, left + max_chars)
    left = max(lo, right - max_chars)  # cut short on the right: more context on the left
    cut = word_end(body, end, right)
    return word_start(body, left, start), end if cut is None else cut


def _passage(body: str, matches: _Matches, start: int, end: int, score: float) -> Passage:
    """The passage ``body[start:end]`` with the highlight spans wholly inside it (a phrase
    occurrence cut by the passage's edge is not highlighted; its query words alone are)."""
    spans = matches.spans
    inside = []
    k = bisect_left(spans, (start, start))
    while k < len(spans) and spans[k][0] < end:
        if spans[k][1] <= end:
            inside.append((spans[k][0] - start, spans[k][1] - start))
        k += 1
    return Passage(body[start:end], start, end, score, tuple(_merged(inside)))
