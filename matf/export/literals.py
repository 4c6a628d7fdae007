"""Safe pieces of generated code: string literals, comments, identifiers and JSON data.

Spec strings are untrusted data. They reach the generated code only through
these functions: as Python literals made by ``repr`` (checked with
``ast.literal_eval``), as comments with every non-printable character escaped,
or as identifiers rebuilt from ``[a-z0-9_]``.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from matf.placeholders import PLACEHOLDER

WIDTH = 96  # generated lines are wrapped near this width where the generator can


def literal(text: str) -> str:
    """``text`` as a Python string literal (``repr``, double quotes where possible)."""
    code = repr(text)
    if code.startswith("'") and '"' not in text:
        # repr chose single quotes, so the text holds no quote at all: swap them.
        code = '"' + code[1:-1] + '"'
    if ast.literal_eval(code) != text:  # never trust a literal that does not read back
        raise RuntimeError("could not write a string literal")
    return code


def docstring(text: str) -> str:
    """``text`` as a docstring literal: triple double quotes where that is safe."""
    code = literal(text)
    if code.startswith('"'):  # the text holds no double quote: none can close it early
        code = '"""' + code[1:-1] + '"""'
        if ast.literal_eval(code) != text:
            raise RuntimeError("could not write a docstring")
    return code


def comment(text: str, limit: int = 110) -> str:
    """``text`` made safe for a ``#`` comment: one line, non-printables escaped."""
    safe = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def identifier(text: str) -> str:
    """``text`` reduced to ``[a-z0-9_]``, runs of ``_`` collapsed."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", text.lower())).strip("_")


def secret_variable(name: str) -> str:
    """The environment variable an exported test reads the secret ``name`` from."""
    return "MATF_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def data(
    value: Any, indent: int = 0, secrets: set[str] | None = None, used: int | None = None
) -> str:
    """JSON data as a Python expression, wrapped over lines when long.

    ``indent``: the indentation of the line the expression starts on; ``used``:
    the column it starts at. With ``secrets`` (a set the variables used are
    added to), strings holding ``{{secret:NAME}}`` become ``secret(...)``
    lookups; without it every leaf is a literal and the expression reads back
    with ``ast.literal_eval``.
    """
    flat = flat_data(value, secrets)
    start = indent if used is None else used
    if start + len(flat) <= WIDTH or not isinstance(value, dict | list | tuple):
        return flat
    return _data(value, indent, secrets)


def flat_data(value: Any, secrets: set[str] | None) -> str:
    """JSON data as a Python expression on one line; ``secrets`` as for ``data``."""
    return _data(value, None, secrets)


def _data(value: Any, indent: int | None, secrets: set[str] | None) -> str:
    if isinstance(value, str):
        return secret_string(value, secrets) if secrets is not None else literal(value)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({literal(repr(value))})"
    if isinstance(value, dict):
        items = [(literal(str(k)), v) for k, v in value.items()]
        return _container(
            "{", "}", [f"{k}: " for k, _ in items], [v for _, v in items], indent, secrets
        )
    if isinstance(value, list | tuple):
        return _container("[", "]", ["" for _ in value], list(value), indent, secrets)
    raise TypeError(f"not JSON data: {type(value).__name__}")


def _container(
    open_: str,
    close: str,
    prefixes: list[str],
    values: list[Any],
    indent: int | None,
    secrets: set[str] | None,
) -> str:
    if indent is None or not values:
        inner = ", ".join(
            p + _data(v, None, secrets) for p, v in zip(prefixes, values, strict=True)
        )
        return open_ + inner + close
    pad = " " * (indent + 4)
    lines = [
        pad + p + data(v, indent + 4, secrets, indent + 4 + len(p)) + ","
        for p, v in zip(prefixes, values, strict=True)
    ]
    return open_ + "\n" + "\n".join(lines) + "\n" + " " * indent + close


def secret_string(text: str, secrets: set[str]) -> str:
    """A value that may hold ``{{secret:NAME}}`` placeholders: literals and lookups joined.

    The environment variables looked up are added to ``secrets``.
    """
    parts: list[str] = []
    position = 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > position:
            parts.append(literal(text[position : match.start()]))
        variable = secret_variable(match.group(1))
        secrets.add(variable)
        parts.append(f"secret({literal(variable)})")
        position = match.end()
    if position < len(text) or not parts:
        parts.append(literal(text[position:]))
    return " + ".join(parts)


def check_compiles(text: str, name: str) -> None:
    """Raise ``RuntimeError`` unless ``text`` compiles: a generator bug, never the spec's doing."""
    try:
        compile(text, name, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise RuntimeError(f"matf export wrote invalid Python in {name}: {exc}") from exc
