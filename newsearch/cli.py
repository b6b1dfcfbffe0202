"""The `newsearch` command: a thin click layer over the library.

Each command resolves its options, calls one library function, and renders the
result; library errors become exit codes here and nowhere else.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from newsearch.config import DEFAULT_MAX_BYTES, DEFAULT_MAX_DELETE, INDEX_ENV
from newsearch.errors import DocumentNotFound, NewsearchError
from newsearch.formatting import HighlightStyle, OutputFormat, terminal_safe
from newsearch.interchange import DEFAULT_BULK_INDEX, ExportFormat, opensearch_mapping
from newsearch.models import PERIODS, SORTS
from newsearch.options import LIMITS, PASSAGE_COUNTS, date_range, long_flag, search_arguments, timeline_arguments
from newsearch.version import __version__

if TYPE_CHECKING:
    from newsearch.storage import LockHolder

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 5  # with --strict: done, but some files were skipped
EXIT_INTERRUPTED = 130

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _CommandFailed(click.ClickException):
    """A library error on its way out: its message, and the exit code its kind of error has."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class _Unexpected(Exception):
    """An exception no library error class covers (a bug), carried past click as its cause:
    click would turn an EOFError into an Abort, which reads as Ctrl-C ("Interrupted.", 130)."""


class NewsearchGroup(click.Group):
    """Translates library errors to messages and exit codes; Ctrl-C exits 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsearchError as exc:
            raise _CommandFailed(str(exc), exc.exit_code) from None
        except EOFError as exc:  # the commands read no input: an EOFError is no Ctrl-D
            raise _Unexpected() from exc

    @staticmethod
    def _safe(message: str) -> str:
        """Messages repeat paths and queries as the user gave them: never raw on a terminal."""
        from newsearch.formatting import terminal_safe

        return terminal_safe(message)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            shown = io.StringIO()  # usage, hint and message, made safe for the terminal as a whole
            exc.show(file=shown)
            click.echo(self._safe(shown.getvalue()), err=True, nl=False)
            sys.exit(exc.code if isinstance(exc, _CommandFailed) else exc.exit_code)
        except (click.Abort, KeyboardInterrupt) as exc:
            # A progress line may be open on a terminal; click has ended it already for an Abort.
            ended = isinstance(exc, click.Abort) or not sys.stderr.isatty()
            click.echo("Interrupted." if ended else "\nInterrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (`| head`): not an error
            sys.exit(EXIT_OK)
        except Exception as exc:  # a bug: say so briefly; the traceback on request
            if os.environ.get("NEWSEARCH_DEBUG"):
                raise
            error = exc.__cause__ if isinstance(exc, _Unexpected) and exc.__cause__ else exc
            click.echo(self._safe(f"Error: internal error ({type(error).__name__}: {error}); "
                                  f"set NEWSEARCH_DEBUG=1 to see the traceback, and please report it"), err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(result if isinstance(result, int) else EXIT_OK)


index_option = click.option(
    "--index", "index_path", envvar=INDEX_ENV, show_envvar=True, metavar="DIR",
    help="Index folder [default: ./index].",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
COLORS = ("auto", "always", "never")
format_option = click.option(
    "--format", "output_format", type=click.Choice([f.value for f in OutputFormat]),
    default=OutputFormat.TEXT.value, show_default=True,
    help="Terminal text, one JSON document, or JSON Lines (one hit per line).",
)
color_option = click.option(
    "--color", type=click.Choice(COLORS), default="auto", show_default=True,
    help="Highlight with colour (auto: on a terminal, unless NO_COLOR is set).",
)
tz_option = click.option(
    "--tz", metavar="ZONE", envvar="NEWSEARCH_TZ", show_envvar=True,
    help="Calendar of --since/--until (today, 2025-01-20T14:00...): UTC, +01:00, Europe/Berlin "
         "[default: the machine's zone].",
)
DATE_HELP = "YYYY, YYYY-MM, YYYY-MM-DD, 2025-01-20T14:00, today, yesterday, or an age: 12h, 7d, 2w, 3m, 1y"
HIGHLIGHTS = [style.value for style in HighlightStyle]
PAGER_ENV = "NEWSEARCH_PAGER"


def reading_options(command: Any) -> Any:
    """--highlight, --highlight-tags and --no-pager: how results are read (search, related, show)."""
    for option in reversed((
        click.option("--highlight", type=click.Choice(HIGHLIGHTS), metavar="STYLE",
                     help="Mark matched words: ansi (bold colour), brackets, html or none [default: ansi on a "
                          "terminal, else brackets]; in JSON, passages then also have 'highlighted'."),
        click.option("--highlight-tags", metavar="OPEN,CLOSE",
                     help="The tags around a match with --highlight html [default: <mark>,</mark>]."),
        click.option("--no-pager", "no_pager", is_flag=True,
                     help=f"Never page: by default a terminal's output goes through ${PAGER_ENV}, else $PAGER, "
                          "else 'less' (with LESS=FRX unless LESS is set)."),
    )):
        command = option(command)
    return command


exact_option = click.option(
    "--exact", is_flag=True, help="Search every word as typed: never correct a typing error.",
)
executor_option = click.option(
    "--executor", "executor_spec", metavar="SPEC",
    help="Where a sharded index's shards are scored: local (this process) or dask://HOST:PORT (a Dask "
         "scheduler whose workers reach the index) [default: local; connecting costs more than one search "
         "saves, so $NEWSEARCH_DASK_SCHEDULER is for builds only].",
)


@contextlib.contextmanager
def _opened_index(index_path: str | None, executor_spec: str | None) -> Iterator[Any]:
    """``open_index``, its shards scored where ``--executor`` says (a sharded index only)."""
    from newsearch.parallel import executor_for
    from newsearch.shards import is_sharded, open_index

    sharded = is_sharded(index_path)
    if executor_spec and executor_spec.strip() != "local" and not sharded:
        raise click.BadParameter("applies to a sharded index only; this one is a single index (drop the option)",
                                 param_hint="'--executor'")
    executor = executor_for(executor_spec) if sharded and executor_spec else None
    try:
        with open_index(index_path, executor=executor) as index:
            yield index
    finally:
        if executor is not None:
            executor.shutdown()


@click.group(cls=NewsearchGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="newsearch")
def cli() -> None:
    """Search news archives: index a folder of articles, then ask it questions.

    \b
    newsearch index corpus/          build or update the index (./index)
    newsearch search "north korea"   ranked articles with highlighted passages
    """


@cli.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@index_option
@click.option("--rebuild", is_flag=True, help="Build a complete new index beside the live one and switch to it.")
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
              help="Wait this long for another running indexer to finish instead of exiting 75.")
@click.option("--strict", is_flag=True, help=f"Exit {EXIT_SKIPPED} when any file was skipped.")
@click.option("--max-size", "max_bytes", type=click.IntRange(min=1), metavar="BYTES",
              help=f"Skip articles larger than this [default: as the index remembers, else {DEFAULT_MAX_BYTES}].")
@click.option("--follow-symlinks/--no-follow-symlinks", default=None,
              help="Follow symlinks that point outside the corpus folder [default: as the index remembers, else no].")
@click.option("--prune", is_flag=True,
              help="Allow this run to delete any number of articles, and to leave out paths the index was built from.")
@click.option("--max-delete", type=click.FloatRange(0, 100), default=100 * DEFAULT_MAX_DELETE, show_default=True,
              metavar="PERCENT", help="Refuse a run that would delete more than this share of the index's articles.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N",
              help="Worker processes for a full build, at most one per core [default: the number of cores].")
@click.option("--shards", type=click.IntRange(min=1), metavar="N",
              help="Create a sharded index of N shards (an existing sharded index keeps its count).")
@click.option("--executor", "executor_spec", metavar="SPEC",
              help="Where the build's jobs run: local (processes here) or dask://HOST:PORT (a Dask scheduler) "
                   "[default: $NEWSEARCH_DASK_SCHEDULER, else local].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no warnings: only the summary.")
@json_option
def index_command(paths: tuple[str, ...], index_path: str | None, rebuild: bool, wait: float, strict: bool,
                  max_bytes: int | None, follow_symlinks: bool | None, prune: bool, max_delete: float,
                  jobs: int | None, shards: int | None, executor_spec: str | None, quiet: bool,
                  as_json: bool) -> int:
    """Index the articles in PATHS (files or folders; default $NEWSEARCH_CORPUS, else the paths the
    index was built from, else ./corpus).

    Incremental: new files are added, changed files updated, removed files deleted.
    Safe to run from cron: one writer at a time (others exit 75), and an
    interrupted run leaves the previous index intact.

    The index remembers its paths and reading options. A run that leaves out one of
    those paths, or would delete more than --max-delete of the articles, changes
    nothing and says what would go (exit 1): --prune allows it; --rebuild with new
    PATHS replaces the paths; naming the old paths and a new one adds it.
    """
    from newsearch.corpus import formats_hint
    from newsearch.formatting import build_report_json, render_build_report, terminal_safe
    from newsearch.indexer import build_index
    from newsearch.parallel import executor_for, usable_cores
    from newsearch.shards import build_sharded, is_sharded

    show_progress = not quiet and not as_json and sys.stderr.isatty()
    progress = _ProgressLine() if show_progress else None
    executor = executor_for(executor_spec)

    def waiting(holder: LockHolder | None) -> None:
        stamp = "" if sys.stderr.isatty() else f"{_now_iso()} "
        who = terminal_safe(holder.describe()) if holder else "another process"
        click.echo(f"{stamp}Waiting up to {wait:g} s for {who}, which is writing the index, to finish.", err=True)

    try:
        if shards is not None or is_sharded(index_path):
            report = build_sharded(paths or None, index_path, shards=shards, rebuild=rebuild, wait=wait,
                                   max_bytes=max_bytes, follow_symlinks=follow_symlinks, prune=prune,
                                   max_delete=max_delete / 100, executor=executor)
        else:
            report = build_index(paths or None, index_path, rebuild=rebuild, wait=wait, max_bytes=max_bytes,
                                 follow_symlinks=follow_symlinks, progress=progress,
                                 jobs=jobs if jobs is not None else usable_cores(), executor=executor,
                                 waiting=None if quiet else waiting, prune=prune, max_delete=max_delete / 100)
    finally:
        if progress:
            progress.finish()
        if executor is not None:
            executor.shutdown()
    if as_json:
        click.echo(build_report_json(report))
    else:
        if not quiet:
            for skipped in report.skipped:
                click.echo(f"warning: skipped {terminal_safe(skipped.path)}: {terminal_safe(skipped.reason)}", err=True)
            for warning in report.warnings:
                click.echo(f"warning: {terminal_safe(warning.path)}: {terminal_safe(warning.reason)}", err=True)
        stamp = "" if sys.stdout.isatty() else f"{_now_iso()} "  # cron's log says when each run happened
        click.echo(stamp + render_build_report(report, formats_hint()))
    return EXIT_SKIPPED if strict and report.skipped else EXIT_OK


@cli.command("stats")
@index_option
@json_option
def stats_command(index_path: str | None, as_json: bool) -> int:
    """Show what the index holds: documents, sources, dates, size, versions."""
    from newsearch.formatting import dumps, render_stats
    from newsearch.shards import index_stats

    stats = index_stats(index_path)
    click.echo(dumps(stats) if as_json else render_stats(stats))
    return EXIT_OK


@cli.command("check")
@index_option
@json_option
def check_command(index_path: str | None, as_json: bool) -> int:
    """Read every file the index relies on (documents, postings, columns, vocabulary, near-duplicate
    pairs); exit 4 naming what is wrong."""
    from newsearch.formatting import dumps, render_check
    from newsearch.shards import check_index

    report = check_index(index_path)
    click.echo(dumps(report) if as_json else render_check(report))
    return EXIT_OK


EXIT_NO_RESULTS = 1


_WORD = "\x00"  # marks an argument as a query word; argv can never contain it


class _QueryCommand(click.Command):
    """A command whose words may start with "-": `newsearch search zelensky -pyongyang`.

    An argument with one dash that is not one of the command's options (`-pyongyang`,
    `-houses`, `-nato`) is a query word (an exclusion), not a cluster of short options;
    an unknown `--option` is still an error.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        params = self.get_params(ctx)
        known = {name for param in params for name in (*param.opts, *param.secondary_opts)}
        known.update(ctx.help_option_names)
        # Options followed by a value: `--recency -1d` is a (wrong) value, not an exclusion.
        with_value = {name for param in params if isinstance(param, click.Option) and not param.is_flag
                      for name in param.opts}
        marked = []
        for position, arg in enumerate(args):
            if arg == "--":
                marked.extend(args[position:])
                break
            is_value = position > 0 and args[position - 1] in with_value
            is_word = (arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and arg not in known
                       and not is_value)
            marked.append(_WORD + arg if is_word else arg)
        return super().parse_args(ctx, marked)


@cli.command("search", cls=_QueryCommand)
@click.argument("words", nargs=-1, metavar="[QUERY]")
@index_option
@click.option("-n", "--limit", type=click.IntRange(*LIMITS), default=10, show_default=True, help="Hits per page.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True, help="Page of results.")
@click.option("--since", metavar="DATE", help=f"Only articles published on or after DATE ({DATE_HELP}).")
@click.option("--until", metavar="DATE", help="Only articles published up to the end of DATE.")
@tz_option
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option("--recency", metavar="HALF_LIFE",
              help="Favour recent articles: scores halve with each HALF_LIFE of age (12h, 30d, 2w, 1y).")
@click.option("--all", "show_all", is_flag=True, help="Show every copy of a republished story, not only the best.")
@click.option("--facets", metavar="NAMES", help="Count all results by source, year and/or month (e.g. source,year).")
@click.option("--passages", type=click.IntRange(*PASSAGE_COUNTS), default=3, show_default=True,
              help="Passages per hit.")
@exact_option
@format_option
@color_option
@reading_options
@executor_option
def search_command(words: tuple[str, ...], index_path: str | None, limit: int, page: int, since: str | None,
                   until: str | None, tz: str | None, sources: tuple[str, ...], sort: str, recency: str | None,
                   show_all: bool, facets: str | None, passages: int, exact: bool, output_format: str,
                   color: str, highlight: str | None, highlight_tags: str | None, no_pager: bool,
                   executor_spec: str | None) -> int:
    """Search the index for QUERY (one quoted argument, or several words); print ranked articles
    with their best passages.

    \b
    Query language (see README):
      north korea soldiers     all words preferred, articles missing one still shown
      "state of the union"     exact phrase ("..."~2 allows 2 words between)
      +required -excluded      must / must not contain
      a OR b, a AND b, ( )     boolean logic
      title: source: author: tag: date:2005-03 date:2005-01-01..2005-03-31
      capt*  zelenksy~  ~2     prefix, fuzzy (distance 1 or 2)

    Copies of one story (republished, syndicated) are folded into the best-ranked one
    ("+2 similar: Reuters, AP"); --all shows them all.

    With no QUERY but filters (--since, --until, --source), or with QUERY *, lists the
    articles they keep, newest first.

    Exit status: 0 results found, 1 no results, 2 query error, 3 no index, 4 incompatible index.
    """
    query = " ".join(word.removeprefix(_WORD) for word in words)
    arguments = search_arguments(limit=limit, page=page, since=since, until=until, sources=sources, sort=sort,
                                 recency=recency, show_all=show_all, facets=facets, passages=passages, exact=exact,
                                 tz=tz, flag=long_flag)
    if arguments["facets"] and output_format == "jsonl":
        raise click.UsageError("--facets needs --format text or json: JSON Lines holds one hit per line")
    with _opened_index(index_path, executor_spec) as index:
        results = index.search(query, **arguments)
    _print_results(results, output_format, _Reading(color, highlight, highlight_tags, not no_pager))
    return EXIT_OK if results.total else EXIT_NO_RESULTS


@cli.command("related")
@click.argument("document_id", metavar="ID")
@index_option
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=10, show_default=True, help="Articles to show.")
@click.option("--before", is_flag=True, help="Only articles published before this one (its background).")
@click.option("--passages", type=click.IntRange(0, 20), default=1, show_default=True, help="Passages per hit.")
@format_option
@color_option
@reading_options
@executor_option
def related_command(document_id: str, index_path: str | None, limit: int, before: bool, passages: int,
                    output_format: str, color: str, highlight: str | None, highlight_tags: str | None,
                    no_pager: bool, executor_spec: str | None) -> int:
    """The articles most like article ID (as shown by `search`), its own copies left out.

    Exit status: 0 articles found, 1 none, 2 ID has no date (with --before), 3 no index.
    """
    with _opened_index(index_path, executor_spec) as index:
        results = _as_shown(lambda id: index.related(id, limit=limit, before=before, passages=passages),
                            document_id)
    _print_results(results, output_format, _Reading(color, highlight, highlight_tags, not no_pager))
    return EXIT_OK if results.hits else EXIT_NO_RESULTS


_Found = TypeVar("_Found")


def _as_shown(find: Callable[[str], _Found], document_id: str) -> _Found:
    """``find(document_id)``, else ``find`` of the id as the terminal showed it (an invisible or
    control character escaped, as ``\\u200b``): a terminal user copies the id as shown."""
    from newsearch.controlchars import terminal_unescape
    try:
        return find(document_id)
    except DocumentNotFound as not_found:
        unescaped = terminal_unescape(document_id)
        if unescaped == document_id:
            raise
        try:
            return find(unescaped)
        except DocumentNotFound:
            raise not_found from None


@cli.command("timeline", cls=_QueryCommand)
@click.argument("words", nargs=-1, required=True, metavar="QUERY")
@index_option
@click.option("--by", "period", type=click.Choice(PERIODS), default="month",
              show_default=True, help="Length of each period (weeks start on Monday).")
@click.option("--since", metavar="DATE", help=f"First period: the one holding DATE ({DATE_HELP}).")
@click.option("--until", metavar="DATE", help="Last period: the one holding the end of DATE.")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--tz", "zone", default="UTC", show_default=True, metavar="ZONE",
              help="Calendar of the periods: UTC, an offset such as +01:00, or a name such as Europe/Berlin.")
@exact_option
@click.option("--format", "output_format", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="A bar chart, one JSON document, or CSV (start,label,count).")
@executor_option
def timeline_command(words: tuple[str, ...], index_path: str | None, period: str, since: str | None,
                     until: str | None, sources: tuple[str, ...], zone: str, exact: bool, output_format: str,
                     executor_spec: str | None) -> int:
    """How many articles match QUERY per day, week, month or year.

    Periods without a match are shown as 0. Exit status: 0 matches counted, 1 none.
    """
    from newsearch.formatting import plural, timeline_bars, timeline_csv, timeline_json, timeline_notes
    query = " ".join(word.removeprefix(_WORD) for word in words)
    arguments = timeline_arguments(by=period, since=since, until=until, sources=sources, tz=zone, exact=exact,
                                   flag=long_flag)
    with _opened_index(index_path, executor_spec) as index:
        counts = index.timeline(query, **arguments)
    if output_format == "json":
        click.echo(timeline_json(counts))
    elif output_format == "csv":
        click.echo(timeline_csv(counts), nl=False)
    else:
        for note in timeline_notes(counts):
            click.echo(note)
        chart = timeline_bars(counts, unicode=sys.stdout.isatty() and _utf8_stdout())
        if chart:
            click.echo(chart)
        if counts.total or not counts.undated:
            undated = f"; {counts.undated:,} undated not shown" if counts.undated else ""
            click.echo(f"{plural(counts.total, 'matching article')} in {plural(len(counts), period)}{undated}.")
        else:
            click.echo(f"{plural(counts.undated, 'matching article')}, none of them dated: no timeline to draw.")
    return EXIT_OK if counts.total or counts.undated else EXIT_NO_RESULTS


class _Reading:
    """How text output is to be read: colour, highlight style and tags, and whether to page."""

    def __init__(self, color: str, highlight: str | None, tags: str | None, page: bool) -> None:
        from newsearch.formatting import chosen_highlighter

        self.explicit = highlight is not None
        self.highlighter = chosen_highlighter(highlight, tags, _use_color(color),
                                              flags=("--highlight", "--highlight-tags"))
        self.page = page

    @property
    def color(self) -> bool:
        return self.highlighter.chosen.value == "ansi"

    def width(self) -> int | None:
        """The terminal's width when writing to one: text is wrapped to it."""
        return shutil.get_terminal_size().columns if sys.stdout.isatty() else None

    def emit(self, text: str) -> None:
        """``text`` through the pager on a terminal (as git does), else printed."""
        command = os.environ.get(PAGER_ENV, os.environ.get("PAGER", "less")).strip()
        if self.page and command and command != "cat" and sys.stdout.isatty():
            try:
                pager = subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE,
                                         env={**os.environ, "LESS": os.environ.get("LESS", "FRX")})
            except (OSError, ValueError):
                pass  # no such pager: print instead
            else:
                assert pager.stdin is not None
                try:
                    pager.stdin.write((text + "\n").encode(sys.stdout.encoding or "utf-8", "replace"))
                    pager.stdin.close()
                except BrokenPipeError:
                    pass  # the reader quit the pager early
                pager.wait()
                return
        click.echo(text, color=self.color)


def _print_results(results: Any, output_format: str, reading: _Reading) -> None:
    from newsearch.formatting import OutputFormat, render_results, results_json, results_jsonl

    if output_format == OutputFormat.JSON.value:
        # json.dumps(results.to_dict()): the API's own shape, passages marked only when asked
        click.echo(results_json(results, reading.highlighter if reading.explicit else None))
    elif output_format == OutputFormat.JSONL.value:
        if results.hits:
            click.echo(results_jsonl(results, reading.highlighter if reading.explicit else None))
    else:
        reading.emit(render_results(results, reading.highlighter, reading.width()))


def _utf8_stdout() -> bool:
    return (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") == "utf8"


@cli.command("show")
@click.argument("document_id", metavar="ID")
@index_option
@click.option("-q", "--query", help="Highlight this query's words in the article.")
@click.option("--format", "output_format", type=click.Choice([OutputFormat.TEXT.value, OutputFormat.JSON.value]),
              default=OutputFormat.TEXT.value, show_default=True)
@click.option("--color", type=click.Choice(COLORS), default="auto", show_default=True)
@reading_options
@executor_option
def show_command(document_id: str, index_path: str | None, query: str | None, output_format: str, color: str,
                 highlight: str | None, highlight_tags: str | None, no_pager: bool, executor_spec: str | None) -> int:
    """Print the whole article ID (as shown by `search`)."""
    from newsearch.formatting import document_json, render_document
    with _opened_index(index_path, executor_spec) as index:
        document = _as_shown(index.document, document_id)
        spans = index.highlight(document.body, query) if query else []
    if output_format == "json":
        click.echo(document_json(document, spans))
    else:
        reading = _Reading(color, highlight, highlight_tags, not no_pager)
        reading.emit(render_document(document, reading.highlighter, spans))
    return EXIT_OK


EXPORT_TIME_LIMIT_S = 3600.0  # listing every match of a large archive may take a while; a search may not


@cli.command("export", cls=_QueryCommand)
@click.argument("words", nargs=-1, metavar="[QUERY]")
@index_option
@click.option("--format", "output_format", type=click.Choice([f.value for f in ExportFormat]),
              default=ExportFormat.JSONL.value, show_default=True,
              help="JSON Lines of whole articles, CSV with a header, or OpenSearch/Elasticsearch _bulk NDJSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE (complete or not at all) instead of standard output.")
@click.option("--since", metavar="DATE", help=f"Only articles published on or after DATE ({DATE_HELP}).")
@click.option("--until", metavar="DATE", help="Only articles published up to the end of DATE.")
@tz_option
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--sort", type=click.Choice(["newest", "oldest"]), default="newest", show_default=True)
@click.option("--fold", is_flag=True, help="One article per story: leave out the copies search folds.")
@exact_option
@click.option("--mapping", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="With --format opensearch: also write the index mapping (PUT /INDEX body) to FILE.")
@click.option("--bulk-index", default=DEFAULT_BULK_INDEX, show_default=True, metavar="NAME",
              help="With --format opensearch: the _index of each bulk action.")
def export_command(words: tuple[str, ...], index_path: str | None, output_format: str, output: str | None,
                   since: str | None, until: str | None, tz: str | None, sources: tuple[str, ...], sort: str,
                   fold: bool, exact: bool, mapping: str | None, bulk_index: str) -> int:
    """Write every article matching QUERY (no page, no cap) as JSON Lines, CSV or OpenSearch bulk.

    QUERY and the filters are read as by `search`; with no QUERY but filters, or with QUERY *,
    every article they keep. Newest first. A progress line is shown on a terminal.

    Exit status: 0 articles written, 1 none matched, 2 query error, 3 no index.
    """
    from newsearch.export import export
    from newsearch.searcher import Index

    if mapping and output_format != ExportFormat.OPENSEARCH.value:
        raise click.UsageError("--mapping goes with --format opensearch")
    query = " ".join(word.removeprefix(_WORD) for word in words)
    dates = date_range(since, until, long_flag, tz)
    show_progress = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
    progress = _ProgressLine("articles") if show_progress else None
    with Index(index_path, time_limit=EXPORT_TIME_LIMIT_S) as index, _output_file(output) as out:
        try:
            with index.matching(query, since=dates[0], until=dates[1], sources=sources,
                                sort="oldest" if sort == "oldest" else "newest", collapse=fold,
                                correct=not exact) as matches:
                written = export(matches, out, format=output_format, bulk_index=bulk_index, progress=progress)
        finally:
            if progress:
                progress.finish()
    if mapping:
        with _output_file(mapping) as out:
            out.write(json.dumps(opensearch_mapping(), indent=2) + "\n")
    if output is not None:
        stamp = "" if sys.stderr.isatty() else f"{_now_iso()} "
        click.echo(f"{stamp}Wrote {written:,} article{'' if written == 1 else 's'} to {output}.", err=True)
    return EXIT_OK if written else EXIT_NO_RESULTS


@contextlib.contextmanager
def _output_file(path: str | None) -> Iterator[TextIO]:
    """Standard output (``path`` None or ``-``), or the file ``path`` written beside it and renamed
    into place when complete: an interrupted export leaves no partial file that looks whole. A path
    that exists and is no regular file, or a symlink (``/dev/stdout``, a pipe), is written through,
    never replaced."""
    if path is None or path == "-":
        yield sys.stdout
        return
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield out
        return
    partial = f"{path}.part"
    with open(partial, "w", encoding="utf-8", newline="") as out:
        try:
            yield out
        except BaseException:
            out.close()
            os.unlink(partial)
            raise
    os.replace(partial, path)


EXIT_NOTHING_NEW = 1
EXIT_WATCH_FAILED = 70  # a run's error: never 0 (new articles) nor 1 (nothing new), whatever its kind
state_option = click.option(
    "--state", envvar="NEWSEARCH_WATCHES", show_envvar=True, metavar="FILE",
    help="The watches' state file [default: watches.json in the index folder, kept across --rebuild].",
)


@cli.group("watch", cls=NewsearchGroup)
def watch_group() -> None:
    """Saved searches that report new articles: add, list, remove, run (from cron).

    \b
    newsearch watch add ferry "ferry strike" --source Reuters
    newsearch watch run --feed-dir feeds/    new or changed articles since the last run
    """


@watch_group.command("add", cls=_QueryCommand)
@click.argument("name")
@click.argument("words", nargs=-1, metavar="QUERY")
@index_option
@state_option
@click.option("--since", metavar="DATE", help=f"Only articles published on or after DATE ({DATE_HELP}; "
                                              "read at each run).")
@click.option("--until", metavar="DATE", help="Only articles published up to the end of DATE.")
@tz_option
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--all", "show_all", is_flag=True, help="Report every copy of a republished story, not only one.")
@exact_option
def watch_add_command(name: str, words: tuple[str, ...], index_path: str | None, state: str | None,
                      since: str | None, until: str | None, tz: str | None, sources: tuple[str, ...], show_all: bool,
                      exact: bool) -> int:
    """Save the search QUERY (with filters) as the watch NAME. Its first run reports every current match."""
    from newsearch.watch import Watch, Watches

    watch = Watch(name=name, query=" ".join(word.removeprefix(_WORD) for word in words), since=since, until=until,
                  tz=tz, sources=sources, show_all=show_all, exact=exact)
    with Watches.open(index_path, state) as watches:
        watches.add(watch)
    click.echo(f"Added watch {terminal_safe(name)}: {terminal_safe(watch.describe())}")
    return EXIT_OK


@watch_group.command("list")
@index_option
@state_option
def watch_list_command(index_path: str | None, state: str | None) -> int:
    """List the watches: name, search, last run."""
    from newsearch.watch import Watches

    with Watches.open(index_path, state) as watches:
        for name in watches.names():
            last = watches.last_run(name)
            when = last.strftime("%Y-%m-%dT%H:%M:%S%z") if last else "never run"
            click.echo(f"{terminal_safe(name)}\t{terminal_safe(watches.get(name).describe())}\t{when}")
    return EXIT_OK


@watch_group.command("remove")
@click.argument("name")
@index_option
@state_option
def watch_remove_command(name: str, index_path: str | None, state: str | None) -> int:
    """Forget the watch NAME and what it has reported (its feed file stays)."""
    from newsearch.watch import Watches

    with Watches.open(index_path, state) as watches:
        watches.remove(name)
    click.echo(f"Removed watch {terminal_safe(name)}.")
    return EXIT_OK


@watch_group.command("run")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@index_option
@state_option
@click.option("--format", "output_format", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
              help="Terminal text, or JSON Lines (one new article per line).")
@click.option("--feed-dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Also write each watch's Atom feed to DIR/NAME.atom (its 50 newest articles).")
def watch_run_command(names: tuple[str, ...], index_path: str | None, state: str | None, output_format: str,
                      feed_dir: str | None) -> int:
    """Print the articles each watch (NAMEs, default all) matches that are new or changed since
    its previous run, then remember them. Safe from cron, beside `newsearch index`.

    Exit status: 0 new articles, 1 nothing new, 70 an error (3 no index, 4 incompatible index).
    """
    from newsearch.formatting import render_watch_report, watch_summary
    from newsearch.interchange import watch_jsonl
    from newsearch.searcher import Index
    from newsearch.watch import Watches

    try:
        with Watches.open(index_path, state) as watches, Index(index_path, time_limit=EXPORT_TIME_LIMIT_S) as index:
            reports = [watches.check(index, name) for name in (names or watches.names())]
            stamp = "" if sys.stdout.isatty() else f"{_now_iso()} "
            for report in reports:
                if output_format == "jsonl":
                    if report.new:
                        click.echo(watch_jsonl(report))
                elif report.new:
                    click.echo(stamp + render_watch_report(report))
                else:
                    click.echo(stamp + watch_summary(report))
            sys.stdout.flush()  # delivered before recorded: a run killed before this point reports them again
            watches.record(reports, feed_dir)
    except NewsearchError as exc:
        raise _CommandFailed(str(exc), exc.exit_code if exc.exit_code not in (EXIT_OK, EXIT_NOTHING_NEW)
                             else EXIT_WATCH_FAILED) from None
    return EXIT_OK if any(report.new for report in reports) else EXIT_NOTHING_NEW


def _now_iso() -> str:
    """The time now as ISO 8601 in the local zone, for summary lines a cron job mails or logs."""
    from datetime import datetime

    return datetime.now().astimezone().isoformat(timespec="seconds")


@cli.command("serve")
@index_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; set --token then).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes, each with its own open index.")
@click.option("--token", envvar="NEWSEARCH_TOKEN", show_envvar=True, metavar="TOKEN",
              help="Require 'Authorization: Bearer TOKEN' on every API call.")
@click.option("--cors", multiple=True, metavar="ORIGIN",
              help="Let pages from ORIGIN (https://example.org) call the API (repeatable; default: none).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
              metavar="SECONDS", help="Answer 504 to a search that takes longer.")
def serve_command(index_path: str | None, host: str, port: int, workers: int, token: str | None,
                  cors: tuple[str, ...], time_limit: float) -> int:
    """Serve the JSON API (/api/search, ...) and a search page (/) over HTTP.

    Needs the web extra: pip install 'newsearch[web]'. The API answers with the JSON the
    commands print; the open index follows `newsearch index` updates without a restart.
    """
    from newsearch.web.server import serve

    serve(index=index_path, host=host, port=port, workers=workers, token=token, cors=cors, time_limit=time_limit)
    return EXIT_OK


def _use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


class _ProgressLine:
    """A one-line progress display on stderr: files (or other things) done, rate, ETA."""

    def __init__(self, unit: str = "files") -> None:
        self.unit = unit
        self.started: float | None = None  # the first call: time spent waiting for a lock is no work
        self.shown = False
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate else 0.0
        percent = 100 * done // max(total, 1)
        bar = ("#" * (percent // 4)).ljust(25)
        click.echo(f"\r[{bar}] {done:,}/{total:,} {self.unit}  {rate:,.0f}/s  ETA {eta:4.0f} s ", nl=False, err=True)
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            click.echo("", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="newsearch")

