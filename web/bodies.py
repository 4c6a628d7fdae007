"""JSON request bodies, read with limits: size, depth and clean UTF-8 text.

Python's parser recurses once per level and has no depth limit of its own, so
a body nested a thousand deep would end in a RecursionError (a 500); a lone
surrogate cannot be stored in SQLite, and a NUL has no business in any field.
Such bodies are refused here, as a 400 naming the problem, before a model or
a view sees them, as are NaN, Infinity and numbers too large for a float
(``1e999``), which would otherwise be stored and answered back as invalid
JSON. The size limit is Flask's ``MAX_CONTENT_LENGTH``: reading a
larger body raises werkzeug's 413, answered as a problem like every error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import current_app, request

from matf.errors import UsageError

MAX_DEPTH = 64
MAX_BYTES = 8 * 1024 * 1024  # MAX_CONTENT_LENGTH: every body, JSON or form
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


class BadBody(UsageError):
    """A body that is not JSON MATF reads: not UTF-8, malformed, too deep, unsafe text."""

    http_status = 400


def json_body() -> Any:
    """The request's JSON body, parsed within the limits above."""
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug's 413
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 (a bad byte at offset {exc.start})") from exc
    try:
        data = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError as exc:
        raise BadBody(f"the body's JSON is nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise BadBody(f"the body is not valid JSON: {str(exc).splitlines()[0]}") from exc
    _check(data)
    return data


def _not_json(token: str) -> Any:
    """Python reads NaN and Infinity, which are not JSON; answering them back would not be."""
    raise BadBody(f"the body is not valid JSON: {token} is not a JSON number")


def _finite(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):  # 1e999: Python reads it as infinity
        raise BadBody(f"the body holds a number too large for a float: {token[:40]}")
    return value


def too_large() -> str:
    """The 413's detail: the limits werkzeug enforced, whichever of them it was."""
    config = current_app.config
    return (
        f"the body is too large: at most {config['MAX_CONTENT_LENGTH']} bytes,"
        f" {config['MAX_FORM_MEMORY_SIZE']} in one form field"
    )


def _check(data: Any) -> None:
    """Refuse nesting past MAX_DEPTH and strings with a NUL or a lone surrogate.

    Iterative, so the check itself cannot run out of stack.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            items = value
        else:
            if isinstance(value, str):
                _check_text(value)
            continue
        if depth > MAX_DEPTH:
            raise BadBody(f"the body's JSON is nested deeper than {MAX_DEPTH} levels")
        stack.extend((item, depth + 1) for item in items)


def _check_text(value: str) -> None:
    found = _UNSAFE.search(value)
    if found is None:
        return
    if found.group() == "\x00":
        raise BadBody("the body holds a NUL character (\\u0000), which no field accepts")
    raise BadBody("the body holds a lone surrogate (\\ud800-\\udfff): it is not Unicode text")
