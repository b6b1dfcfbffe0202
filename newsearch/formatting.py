"""Render library results as terminal text or JSON. No index access here."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from newsearch.models import BuildReport
from newsearch.status import CheckReport, IndexStats

JSON_FORMAT_VERSION = 1

# C0/C1 control characters (ESC, BEL, CSI...) and bidi overrides: indexed text is written
# by strangers and must never reach the terminal raw.
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text with control characters and escape sequences made visible and harmless."""
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                else f"\\u{ord(m.group()):04x}", text)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and tuples as plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {key: to_jsonable(item) for key, item in asdict(value).items()}
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def dumps(value: Any) -> str:
    """JSON with non-ASCII escaped, so control characters can never reach a terminal raw."""
    return json.dumps(to_jsonable(value), ensure_ascii=True, sort_keys=False)


def render_build_report(report: BuildReport) -> str:
    """The summary `newsearch index` prints (skips are listed separately as warnings)."""
    kind = "Built" if report.rebuilt else "Updated"
    lines = [
        f"{kind} {terminal_safe(report.index_path)} in {report.duration_s:.1f} s: "
        f"{report.added:,} added, {report.updated:,} updated, {report.deleted:,} deleted, "
        f"{report.unchanged:,} unchanged, {len(report.skipped):,} skipped."
    ]
    by_reason = report.skipped_by_reason()
    if by_reason:
        lines.append("Skipped: " + ", ".join(f"{count:,} {reason}" for reason, count in sorted(by_reason.items())) + ".")
    lines.append(f"The index holds {report.documents:,} documents.")
    return "\n".join(lines)


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
        f"Documents:  {stats.documents:,}",
        f"Dates:      {day(stats.earliest)} to {day(stats.latest)}"
        + (f" ({stats.undated:,} undated)" if stats.undated else ""),
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
