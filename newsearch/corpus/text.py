"""Plain text and Markdown articles: optional metadata block, headline, body."""

from __future__ import annotations

import re

from .article import HEADER_KEYS, HEADLINE_LENGTH, Article, article_from_fields, title_from_text

_FRONT_MATTER_LINES = 200
_HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z _-]{0,30}?)\s*:[ \t]*(.*)")
_YAML_KEY = re.compile(r"([A-Za-z_][\w -]{0,60}?)\s*:(?:[ \t]+(.*))?")
_YAML_ITEM = re.compile(r"\s*-[ \t]+(.*)")


def read_text(text: str, *, markdown: bool) -> Article:
    """One article from a .txt or .md file's text (already decoded and cleaned).

    A leading metadata block (front matter between '---' lines, or known 'Key: value' lines then a
    blank line) gives the fields it names. Without a title: a Markdown heading, else a short first
    line followed by a blank line, is the headline and the rest the body; otherwise the title comes
    from the first sentence and the body is all the text.
    """
    fields, rest = _front_matter(text) or _header_block(text) or ({}, text)
    rest = rest.strip("\n")
    article = article_from_fields(fields, body="")
    if article.title:
        title, body = article.title, rest
    else:
        title, body = (_markdown_heading(rest) if markdown else None) or _headline(rest)
    if markdown:
        title, body = _inline(title), strip_markdown(body)
    article.body = body.strip()
    article.title = " ".join(title.split()) or title_from_text(article.body)
    return article


def _front_matter(text: str) -> tuple[dict[str, object], str] | None:
    """YAML-style front matter: 'key: value', 'key: [a, b]', '- item' lists and one level of nesting."""
    if not text.startswith("---\n"):
        return None
    lines = text.split("\n", _FRONT_MATTER_LINES + 1)
    fields: dict[str, object] = {}
    key = None
    for number, line in enumerate(lines[1:_FRONT_MATTER_LINES + 1], start=1):
        if line.rstrip() in ("---", "..."):
            return (fields, "\n".join(lines[number + 1:])) if fields else None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _YAML_ITEM.fullmatch(line)
        pair = _YAML_KEY.fullmatch(line.strip())
        nested = line[0].isspace()
        current = fields.get(key) if key else None
        if item and key and (isinstance(current, list) or current == ""):
            fields[key] = (current or []) + [_unquote(item.group(1))]
        elif pair and key and nested and (isinstance(current, dict) or current == ""):
            fields[key] = {**(current or {}), _key(pair.group(1)): _yaml_value(pair.group(2))}
        elif pair and not nested:
            key = _key(pair.group(1))
            fields[key] = _yaml_value(pair.group(2))
        else:
            return None
    return None


def _key(name: str) -> str:
    """'Published At' -> 'published_at'."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _yaml_value(value: str | None) -> object:
    value = (value or "").strip()
    if value.startswith("[") and value.endswith("]"):
        return [_unquote(part.strip()) for part in value[1:-1].split(",") if part.strip()]
    return _unquote(value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _header_block(text: str) -> tuple[dict[str, object], str] | None:
    """'Key: value' lines of known keys, then a blank line; 'Note: ...' prose is not a header."""
    block, blank, rest = text.partition("\n\n")
    if not blank or not block.strip() or len(block) > 64 * 1024:
        return None
    fields: dict[str, object] = {}
    for line in block.split("\n"):
        match = _HEADER_LINE.fullmatch(line.strip())
        key = _key(match.group(1)) if match else ""
        if match is None or key not in HEADER_KEYS:
            return None
        fields[key] = match.group(2).strip()
    return fields, rest


def _headline(text: str) -> tuple[str, str]:
    """(title, body): a short first line followed by a blank line is the headline."""
    first, blank, rest = text.partition("\n\n")
    if blank and "\n" not in first and len(first.strip()) <= HEADLINE_LENGTH and rest.strip():
        return first.strip(), rest
    return "", text


# --- Markdown --------------------------------------------------------------------------------

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_RULE = re.compile(r" {0,3}([-*_=])[ \t]*(?:\1[ \t]*){2,}")
_LINK_DEFINITION = re.compile(r" {0,3}\[[^\]\n]{1,500}\]:\s*\S+.*")
_QUOTE = re.compile(r" {0,3}(?:>[ \t]?)+")
# Spans are bounded so a hostile line cannot make the patterns quadratic.
_INLINE = (
    (re.compile(r"!\[([^\]\n]{0,500})\]\([^)\n]{0,2000}\)"), r"\1"),
    (re.compile(r"\[([^\]\n]{1,500})\]\([^)\n]{0,2000}\)"), r"\1"),
    (re.compile(r"\[([^\]\n]{1,500})\]\[[^\]\n]{0,500}\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^>\s]{1,2000})>"), r"\1"),
    (re.compile(r"`([^`\n]{1,2000})`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)([^\n]{1,500}?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^\n]{1,500}?)(?<=[^\s*])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])([^\n]{1,500}?)(?<=[^\s_])_(?![\w_])"), r"\1"),
)


def _markdown_heading(text: str) -> tuple[str, str] | None:
    """(title, rest) when the text opens with an ATX ('# Title') or setext ('Title\\n===') heading."""
    first, _, rest = text.partition("\n")
    atx = _ATX.match(first)
    if atx:
        return _strip_closing_hashes(first[atx.end():]), rest
    second, _, after = rest.partition("\n")
    if first.strip() and _SETEXT.fullmatch(second):
        return first.strip(), after
    return None


def _strip_closing_hashes(heading: str) -> str:
    heading = heading.strip()
    bare = heading.rstrip("#")
    if bare != heading and (not bare or bare[-1] in " \t"):
        return bare.strip()
    return heading


def strip_markdown(text: str) -> str:
    """Markdown made readable as plain text: markers, link targets and fences removed."""
    lines = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            lines.append(line)
            continue
        if _RULE.fullmatch(line) or _LINK_DEFINITION.fullmatch(line):
            continue
        quote = _QUOTE.match(line)
        if quote:
            line = line[quote.end():]
        atx = _ATX.match(line)
        if atx:
            line = _strip_closing_hashes(line[atx.end():])
        lines.append(_inline(line))
    return "\n".join(lines)


def _inline(line: str) -> str:
    if not any(mark in line for mark in "[*_`<"):
        return line
    for pattern, replacement in _INLINE:
        line = pattern.sub(replacement, line)
    return line
