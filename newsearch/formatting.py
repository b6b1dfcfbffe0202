"""Render library results as terminal text, JSON or CSV, and timelines as bar charts. No index access here.

This module imports only plain data (``models``) and the standard library: rendering never
loads the index code or Whoosh.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from newsearch.controlchars import TERMINAL_HIDDEN, TERMINAL_UNSAFE
from newsearch.errors import QueryError
from newsearch.models import (
    JSON_FORMAT_VERSION,
    BuildReport,
    CheckReport,
    Document,
    Hit,
    IndexStats,
    Period,
    Results,
    Timeline,
    WatchReport,
    check_period,
    to_jsonable,
)

TIMELINE_FORMAT_VERSION = 1


def terminal_safe(text: str) -> str:
    """Text with control characters and escape sequences made visible and harmless.

    Indexed text is written by strangers: C0/C1 controls (ESC, BEL, CSI...), bidi overrides and
    marks, line separators and tag characters (``controlchars.TERMINAL_UNSAFE``) must never reach
    the terminal raw: they are shown escaped. Zero-width characters and soft hyphens
    (``controlchars.TERMINAL_HIDDEN``) are removed. A byte of a file name that is not UTF-8 is
    shown as ``\\xNN``, as in ids.

    >>> terminal_safe("caf\\udce9 \\u200fx\\u00ad \\U000e0041")
    'caf\\\\xe9 \\\\u200fx \\\\U000e0041'
    """
    if TERMINAL_HIDDEN.search(text):
        text = TERMINAL_HIDDEN.sub("", text)
    return TERMINAL_UNSAFE.sub(_escaped, text)


def terminal_name(text: str) -> str:
    """An id or file path for the terminal: as ``terminal_safe``, but zero-width characters and
    soft hyphens are shown escaped, not removed, so that two names never look the same and
    ``show`` finds the id as shown (``controlchars.terminal_unescape`` reads it back).

    >>> terminal_name("name\u200b.txt")
    'name\\\\u200b.txt'
    """
    return TERMINAL_UNSAFE.sub(_escaped, TERMINAL_HIDDEN.sub(_escaped, text))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, from surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:  # \x80-\xff would read as such a byte
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def plural(count: int, noun: str) -> str:
    """``1 document``, ``2,225 documents``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def dumps(value: Any) -> str:
    """JSON with non-ASCII escaped, so control characters can never reach a terminal raw."""
    return json.dumps(to_jsonable(value), ensure_ascii=True, sort_keys=False)


def render_build_report(report: BuildReport, formats_hint: str = "") -> str:
    """The summary `newsearch index` prints (skips are listed separately as warnings).

    ``formats_hint`` says which files are read (the corpus readers' table), shown when no article was found.
    """
    kind = "Built" if report.rebuilt else "Updated"
    waited = f" (after waiting {report.waited_s:.1f} s for another writer)" if report.waited_s else ""
    lines = [
        f"{kind} {terminal_safe(report.index_path)} in {report.duration_s:.1f} s{waited}: "
        f"{report.added:,} added, {report.updated:,} updated, {report.deleted:,} deleted, "
        f"{report.unchanged:,} unchanged, {len(report.skipped):,} skipped."
    ]
    by_reason = report.skipped_by_reason()
    if by_reason:
        counted = ", ".join(f"{count:,} {reason}" for reason, count in sorted(by_reason.items()))
        lines.append(f"Skipped: {counted}.")
    if report.ignored_types:
        lines.append(f"{plural(sum(report.ignored_types.values()), 'file')} ignored: {_types(report.ignored_types)}.")
    lines.append(f"The index holds {plural(report.documents, 'document')}.")
    if not report.documents and not report.skipped and formats_hint:
        lines.append(f"No articles found: {formats_hint}")
    return "\n".join(lines)


def _types(counts: dict[str, int], shown: int = 6) -> str:
    """'.pdf (3), .docx, .png, …': the commonest file types first, a count where more than one."""
    listed = [terminal_safe(suffix) + (f" ({count:,})" if count > 1 else "") for suffix, count in
              sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:shown]]
    return ", ".join(listed + (["…"] if len(counts) > shown else []))


def build_report_json(report: BuildReport) -> str:
    data = to_jsonable(report)
    data["skipped_by_reason"] = report.skipped_by_reason()
    return json.dumps({"format_version": JSON_FORMAT_VERSION, **data}, ensure_ascii=True)


def render_stats(stats: IndexStats) -> str:
    def day(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d") if value else "-"

    def moment(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"

    lines = [
        f"Index:      {terminal_safe(stats.index_path)} ({stats.generation})",
        f"Corpus:     {terminal_safe(', '.join(stats.corpus)) or '-'}",
        f"Documents:  {stats.documents:,}",
        f"Dates:      {day(stats.earliest)} to {day(stats.latest)}"
        + (f" ({stats.undated:,} undated)" if stats.undated else ""),
        f"Copies:     {plural(stats.duplicates, 'near-duplicate')} of {stats.duplicate_clusters:,} "
        + ("story" if stats.duplicate_clusters == 1 else "stories"),
        f"Size:       {stats.size_bytes / 1_048_576:,.1f} MiB",
        f"Created:    {moment(stats.created)}",
        f"Updated:    {moment(stats.updated)}",
        f"Format:     {stats.format}",
        "Versions:   " + ", ".join(f"{name} {version}" for name, version in stats.versions.items()),
        f"Sources:    {len(stats.sources):,}",
    ]
    width = max((len(name) for name in stats.sources), default=0)
    lines += [f"  {terminal_safe(name).ljust(width)}  {count:>8,}" for name, count in stats.sources.items()]
    return "\n".join(lines)


def render_check(report: CheckReport) -> str:
    return (
        f"OK: {terminal_safe(report.index_path)} ({report.generation}): {report.documents:,} documents "
        f"from {report.files:,} files in {report.segments} segment(s), all readable."
    )


class OutputFormat(str, Enum):
    """How `search` prints its results."""

    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"


class HighlightStyle(str, Enum):
    """How matched words are marked: bold colour, [brackets], HTML tags (the text escaped), or not at all."""

    ANSI = "ansi"
    BRACKETS = "brackets"
    HTML = "html"
    NONE = "none"


DEFAULT_HTML_TAGS = ("<mark>", "</mark>")


@dataclass(frozen=True)
class Highlighter:
    """Marks highlighted spans in the ``style`` given; without one, ANSI bold colour when
    ``color`` (on a terminal), [brackets] elsewhere. ``tags`` open and close a span in HTML."""

    color: bool = False
    style: HighlightStyle | None = None
    tags: tuple[str, str] = DEFAULT_HTML_TAGS

    @property
    def chosen(self) -> HighlightStyle:
        if self.style is not None:
            return self.style
        return HighlightStyle.ANSI if self.color else HighlightStyle.BRACKETS

    def mark(self, text: str) -> str:
        """``text`` (already made plain by ``plain``) as a highlighted span."""
        style = self.chosen
        if style is HighlightStyle.ANSI:
            return f"\x1b[1;33m{text}\x1b[0m"
        if style is HighlightStyle.BRACKETS:
            return f"[{text}]"
        if style is HighlightStyle.HTML:
            return f"{self.tags[0]}{text}{self.tags[1]}"
        return text

    def plain(self, text: str) -> str:
        """Unmarked text as the style writes it: escaped for HTML."""
        return html.escape(text, quote=False) if self.chosen is HighlightStyle.HTML else text

    def render(self, text: str, spans: Iterable[tuple[int, int]], one_line: bool = True, safe: bool = True) -> str:
        """``text`` made terminal-safe (unless ``safe`` is false: for JSON, which escapes it
        itself) and on one line (unless ``one_line`` is false), ``spans`` marked."""
        clean = (_one_line if one_line else terminal_safe) if safe else (lambda part: part)
        out, cursor = [], 0
        for start, end in sorted(spans):
            if start < cursor:
                continue
            out.append(self.plain(clean(text[cursor:start])))
            out.append(self.mark(self.plain(clean(text[start:end]))))
            cursor = end
        out.append(self.plain(clean(text[cursor:])))
        return "".join(out)


def chosen_highlighter(style: str | None, tags: str | None, color: bool = False, *,
                       flags: tuple[str, str] = ("highlight", "highlight_tags")) -> Highlighter:
    """The highlighter for a ``style`` (ansi, brackets, html, none; None: by ``color``) and HTML
    ``tags`` as typed (``"<em>,</em>"``; default <mark>), on the command line or over HTTP;
    QueryError naming the option (``flags``) that cannot be used."""
    try:
        chosen = HighlightStyle(style) if style else None
    except ValueError:
        raise QueryError(f"{flags[0]} must be one of {', '.join(s.value for s in HighlightStyle)}, "
                         f"not {style!r}") from None
    if not tags:
        return Highlighter(color, chosen)
    opening, comma, closing = tags.partition(",")
    if not comma or not opening.strip() or not closing.strip():
        raise QueryError(f"{flags[1]} must be the opening and closing tag separated by a comma, such as "
                         f"'<em>,</em>', not {tags!r}")
    return Highlighter(color, chosen, (opening.strip(), closing.strip()))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def wrap(text: str, width: int, indent: str) -> list[str]:
    """``text`` (one line, ANSI colour allowed) broken at spaces into lines of at most ``width``
    visible characters, each starting with ``indent``: a hanging indent. A word longer than a
    line is never split: it gets a line of its own."""
    room = max(width - len(indent), 20)
    lines: list[str] = []
    line, seen = "", 0
    for word in text.split(" "):
        visible = len(_ANSI.sub("", word))
        if line and seen + 1 + visible > room:
            lines.append(indent + line)
            line, seen = word, visible
        else:
            line, seen = (f"{line} {word}", seen + 1 + visible) if line else (word, visible)
    lines.append(indent + line)
    return lines


_WHITESPACE_RUN = re.compile(r"\s+")


def _one_line(text: str) -> str:
    return terminal_safe(_WHITESPACE_RUN.sub(" ", text))


def _hit_header(hit: Hit, highlighter: Highlighter) -> list[str]:
    title = terminal_safe(" ".join(hit.title.split())) or "(untitled)"
    details = [part for part in (
        terminal_safe(hit.source),
        hit.published.strftime("%Y-%m-%d") if hit.published else "",
        terminal_name(hit.id),
    ) if part]
    head = f"\x1b[1m{title}\x1b[0m" if highlighter.chosen is HighlightStyle.ANSI else title
    return [f"{hit.rank:>3}. {head}", "     " + " · ".join(details)]


def similar_note(hit: Hit) -> str:
    """``+2 similar: ap-port (AP), bbc-port (BBC)``: the ids of the copies folded into a hit (for
    ``newsearch show``), each with its source."""
    named = [terminal_name(copy.id) + (f" ({terminal_safe(copy.source)})" if copy.source else "")
             for copy in hit.similar]
    return f"+{len(hit.similar)} similar: " + ", ".join(named)


FACETS_SHOWN = 10


def render_facets(facets: dict[str, tuple[tuple[str, int], ...]]) -> list[str]:
    """One line per facet, its most frequent values first (the text output shows the top ten)."""
    lines = []
    for name, counts in facets.items():
        shown = ", ".join(f"{terminal_safe(value)} {count:,}" for value, count in counts[:FACETS_SHOWN])
        more = f" (+{len(counts) - FACETS_SHOWN:,} more)" if len(counts) > FACETS_SHOWN else ""
        lines.append(f"By {name}: {shown or '-'}{more}")
    return lines


def _quoted(words: Iterable[str], joiner: str) -> str:
    return joiner.join(repr(terminal_safe(word)) for word in words)


def spelling_notes(results: Results) -> list[str]:
    """What was searched instead of what was typed, and which words no article holds: printed
    before the results, so no one reads them as answers to the words typed."""
    lines = []
    for typed, spellings in results.expansions:
        lines.append(f"Also searched for: {terminal_safe(', '.join(spellings))} (for {terminal_safe(typed)!r})")
    if results.not_found and results.total:
        lines.append(f"No article has {_quoted(results.not_found, ' or ')}: "
                     f"these are results for the other words.")
    return lines


def render_results(results: Results, highlighter: Highlighter, width: int | None = None) -> str:
    """Terminal text: what was searched instead of what was typed (and, above hits, any
    suggestion and time-limit note: notes first, where they do not scroll away), per hit a header
    and its passages, then the count. With ``width``, passages are wrapped to it with a hanging
    indent."""
    lines: list[str] = relaxed_note(results) + spelling_notes(results)
    notes = _late_notes(results)
    if results.hits and notes:
        lines += [*notes, ""]
    indent = "     "
    for hit in results.hits:
        lines += _hit_header(hit, highlighter)
        for passage in hit.passages:
            text = highlighter.render(passage.text, passage.highlights)
            lines += wrap(text, width, indent) if width else [indent + text]
        if hit.similar:
            lines += wrap(similar_note(hit), width, indent) if width else [indent + similar_note(hit)]
        lines.append("")
    if results.hits:
        first = results.hits[0].rank
        shown = f"{first:,}-{results.hits[-1].rank:,}" if len(results.hits) > 1 else f"{first:,}"
        timing = f"{results.elapsed_ms:,.0f} ms"
        count = result_count(results)  # "... (180 articles)" takes the timing inside its brackets
        lines.append(f"{shown} of {count[:-1]}, {timing})" if count.endswith(")") else f"{shown} of {count} ({timing})")
    elif results.total:
        page = results.offset // max(results.limit, 1) + 1
        pages = plural(results.pages, "page")
        lines.append(f"No results on page {page:,}; {result_count(results)} in all, on {pages}.")
    elif results.filtered_out is not None:
        lines.append(f"No results: {terminal_safe(results.filtered_out.message)}.")
    elif results.not_found:
        lines.append(f"No results for {_quoted(results.not_found, ' or ')}.")
    else:
        lines.append("No results.")
    if not results.hits:
        lines += notes
    lines += render_facets(results.facets)
    return "\n".join(lines)


def _late_notes(results: Results) -> list[str]:
    """The time-limit note and the suggestion: above the hits, or after "No results"."""
    lines = []
    if results.timed_out:
        lines.append("The search hit its time limit: results may be incomplete.")
    if results.suggestion and (results.not_found or not results.expansions):  # not what was searched
        lines.append(f"Did you mean: {terminal_safe(results.suggestion)}?")
    return lines


def result_count(results: Results) -> str:
    """``180 results``, or with copies folded ``169 stories (180 articles)``."""
    if results.stories == results.total:
        return plural(results.total, "result")
    stories = results.stories or 0
    return f"{stories:,} stor{'y' if stories == 1 else 'ies'} ({plural(results.total, 'article')})"


def results_json(results: Results, highlighter: Highlighter | None = None) -> str:
    """The stable JSON document (see README, "JSON output"): ``Results.to_dict`` as JSON, with
    ``highlighter`` each passage's text marked as ``highlighted`` too."""
    return json.dumps(results_data(results, highlighter), ensure_ascii=True)


def results_data(results: Results, highlighter: Highlighter | None = None) -> dict[str, Any]:
    """``Results.to_dict``; with ``highlighter``, each passage also has ``highlighted``: its text
    with the matched words marked in that style (``--highlight html``, ``?highlight=html``)."""
    data = results.to_dict()
    if highlighter is not None:
        for hit, shown in zip(results.hits, data["hits"]):
            for passage, out in zip(hit.passages, shown["passages"]):
                out["highlighted"] = highlighter.render(passage.text, passage.highlights, one_line=False, safe=False)
    return data


def relaxed_note(results: Results) -> list[str]:
    """What is said before the hits when an exact phrase matched nothing and its words were searched."""
    if not results.relaxed_phrases:
        return []
    quoted = " or ".join(f'"{terminal_safe(text)}"' for text in results.relaxed_phrases)
    found = ("Showing the articles where its words occur closest together instead." if results.total
             else "No article has its words either.")
    return [f"No article has the exact phrase {quoted}. {found}", ""]


def results_jsonl(results: Results, highlighter: Highlighter | None = None) -> str:
    """One JSON object per hit, one per line; each also says what was searched instead of what was
    typed when something was (``expansions``, ``not_found``, ``relaxed_phrases``, as in JSON).
    With ``highlighter``, passages have ``highlighted`` as in ``results_data``."""
    whole = results.to_dict(with_hits=False)
    searched = {key: whole[key] for key in ("expansions", "not_found", "relaxed_phrases") if whole[key]}
    hits = results_data(results, highlighter)["hits"] if highlighter else [hit.to_dict() for hit in results.hits]
    return "\n".join(json.dumps({"format_version": JSON_FORMAT_VERSION, **hit, **searched}, ensure_ascii=True)
                     for hit in hits)


def document_json(document: Document, spans: Iterable[tuple[int, int]] = ()) -> str:
    """``{"document": {...}, "highlights": [[start, end], ...]}``: one article and the spans of its
    body the query matches (``newsearch show --format json``, ``GET /api/articles/ID``)."""
    return dumps({"document": document, "highlights": [list(span) for span in spans]})


def render_document(document: Document, highlighter: Highlighter, spans: Iterable[tuple[int, int]] = ()) -> str:
    """One whole article, body paragraphs kept, query words marked."""
    details = [part for part in (
        terminal_safe(document.source),
        document.published.strftime("%Y-%m-%d %H:%M UTC") if document.published else "",
        terminal_safe(document.author), terminal_safe(document.url), terminal_name(document.id),
    ) if part]
    lines = [terminal_safe(document.title) or "(untitled)", " · ".join(details), "",
             highlighter.render(document.body, spans, one_line=False)]
    return "\n".join(lines)


# -- timelines ------------------------------------------------------------------------------------

Buckets = Iterable[tuple[date, int]]


def bucket_label(start: date, period: Period | None) -> str:
    """How a period is named: 2025-01-31 (day), 2025-W05 (ISO week), 2025-01 (month), 2025 (year).

    With no period, the ISO date of its first day.
    """
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if period == "month":
        return f"{start.year:04d}-{start.month:02d}"
    if period == "year":
        return f"{start.year:04d}"
    return start.isoformat()


def _period_of(buckets: Buckets | Timeline, period: Period | None) -> Period | None:
    if period is not None:
        check_period(period)
        return period
    return buckets.period if isinstance(buckets, Timeline) else None


def timeline_notes(counted: Timeline) -> list[str]:
    """What a timeline counted instead of what was typed, and the words no article holds."""
    lines = [f"Also counted: {terminal_safe(', '.join(spellings))} (for {terminal_safe(typed)!r})"
             for typed, spellings in counted.expansions]
    if counted.not_found:
        lines.append(f"No article has {_quoted(counted.not_found, ' or ')}.")
    return lines


def timeline_bars(
    buckets: Buckets | Timeline, width: int = 50, *, unicode: bool = True, period: Period | None = None
) -> str:
    """A bar chart, one line per period: label, bar, count (``2025-01  ████████ 12``).

    Bars are proportional to the largest count, rounded, and at least one block long
    for any count above zero; ``unicode=False`` draws them with ``#``. Counts are
    right-aligned after bars padded to ``width``. Lines end without a newline after
    the last; no buckets give "". The labels come from ``period`` (or the
    Timeline's); without either, the ISO date of each period's first day.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, not {width}")
    period = _period_of(buckets, period)
    rows = [(bucket_label(start, period), count) for start, count in buckets]
    if not rows:
        return ""
    block = "\u2588" if unicode else "#"
    largest = max(count for _, count in rows)
    label_width = max(len(label) for label, _ in rows)
    count_width = max(len(str(count)) for _, count in rows)
    lines = []
    for label, count in rows:
        if count < 0:
            raise ValueError(f"counts cannot be negative: {label} has {count}")
        length = 0 if count == 0 else max(1, (2 * count * width + largest) // (2 * largest))
        lines.append(f"{label:<{label_width}}  {block * length:<{width}} {count:>{count_width}}")
    return "\n".join(lines)


def timeline_csv(buckets: Buckets | Timeline, *, period: Period | None = None) -> str:
    """``start,label,count`` with a header line; ``start`` is an ISO date, lines end in "\\n"."""
    period = _period_of(buckets, period)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "label", "count"])
    for start, count in buckets:
        writer.writerow([start.isoformat(), bucket_label(start, period), count])
    return out.getvalue()


def timeline_json(buckets: Buckets | Timeline, *, period: Period | None = None) -> str:
    """One JSON object (keys in this order, only ever growing new ones)::

        {"format_version": 1, "period": "month", "total": 14, "undated": 2, "outside": 0,
         "buckets": [{"start": "2025-01-01", "label": "2025-01", "count": 12}, ...]}

    ``period`` is null when unknown; ``undated`` and ``outside`` are null unless given a Timeline,
    which adds ``expansions`` and ``not_found`` (as in search results) after ``buckets``.
    """
    period = _period_of(buckets, period)
    counts = list(buckets)
    rows = [
        {"start": start.isoformat(), "label": bucket_label(start, period), "count": count}
        for start, count in counts
    ]
    known = buckets if isinstance(buckets, Timeline) else None
    return json.dumps(
        {
            "format_version": TIMELINE_FORMAT_VERSION,
            "period": period,
            "total": sum(count for _, count in counts),
            "undated": known.undated if known is not None else None,
            "outside": known.outside if known is not None else None,
            "buckets": rows,
            **({"expansions": {typed: list(spellings) for typed, spellings in known.expansions},
                "not_found": list(known.not_found)} if known is not None else {}),
        },
        ensure_ascii=True,
    )


# -- saved searches -------------------------------------------------------------------------------

LEAD_CHARS = 200


def watch_summary(report: WatchReport) -> str:
    """``ferry: 2 new articles (4 stories match 'ferry' --source Wire)``."""
    new = plural(len(report.new), "new article")
    stories = f"{report.matched:,} stor{'y' if report.matched == 1 else 'ies'}"
    return f"{terminal_safe(report.name)}: {new} ({stories} match {terminal_safe(report.query)})"


def render_watch_report(report: WatchReport) -> str:
    """A watch run as terminal text: its summary, then per new article its title, details and lead."""
    lines = [watch_summary(report)]
    for number, article in enumerate(report.new, 1):
        document = article.document
        title = terminal_safe(" ".join(document.title.split())) or "(untitled)"
        details = [part for part in (
            terminal_safe(document.source),
            document.published.strftime("%Y-%m-%d %H:%M") if document.published else "",
            terminal_name(document.id), terminal_safe(document.url),
        ) if part]
        if article.similar:
            details.append(f"+{len(article.similar)} similar: " + ", ".join(map(terminal_safe, article.similar)))
        lead = " ".join(document.body.split())
        lead = lead if len(lead) <= LEAD_CHARS else lead[:LEAD_CHARS].rsplit(" ", 1)[0] + " …"
        lines += [f"{number:>3}. {title}" + (" (changed)" if article.changed else ""),
                  "     " + " · ".join(details), "     " + terminal_safe(lead)]
    return "\n".join(lines)
