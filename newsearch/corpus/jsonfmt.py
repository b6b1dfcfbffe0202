"""JSON (one article, a list, or {"articles"/"items": [...]}) and JSON Lines articles."""

from __future__ import annotations

import json

from .article import Article, ItemProblem, Refused, article_from_fields
from .htmlpage import html_to_text, looks_like_html

_LIST_KEYS = ("articles", "items")


def read_json(text: str) -> tuple[list[Article | ItemProblem], bool]:
    """The articles of a .json file, and whether it holds a list (ids then get '#n')."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"malformed JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise Refused("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise Refused(f"malformed JSON: {exc}") from None
    if isinstance(value, dict):
        listed = next((value[key] for key in _LIST_KEYS if isinstance(value.get(key), list)), None)
        if listed is None:
            return [_article(value)], False
        value = listed
    if not isinstance(value, list):
        raise Refused(f"not an article: the JSON is {_kind(value)}, not an object or a list")
    return [_article(item) for item in value], True


def json_line(line: str, number: int) -> Article | ItemProblem:
    """The article on line `number` of a JSON Lines file; a malformed line is a problem for that line only."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return ItemProblem(f"malformed JSON: line {number}, column {exc.colno}: {exc.msg}")
    except RecursionError:
        return ItemProblem(f"malformed JSON: line {number}: nested too deeply")
    except ValueError as exc:
        return ItemProblem(f"malformed JSON: line {number}: {exc}")
    return _article(value)


def _article(value: object) -> Article | ItemProblem:
    if not isinstance(value, dict):
        return ItemProblem(f"not an article: {_kind(value)}, not an object")
    fields = {key.lower(): item for key, item in value.items()}
    article = article_from_fields(fields)
    if looks_like_html(article.body):
        article.body = html_to_text(article.body)
    return article


def _kind(value: object) -> str:
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list",
             type(None): "null"}
    return kinds.get(type(value), type(value).__name__)
