"""Filling an operation's parameters from the document's examples, defaults and enums.

Path parameters are always filled; query parameters only when required. A
parameter with no documented value, or one sent elsewhere (a header, a
cookie), skips the operation with a note saying why.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from matf.agents.apidiscovery.document import Document
from matf.agents.apidiscovery.notes import clip
from matf.agents.apidiscovery.operation import TEMPLATE_VAR
from matf.browser.api import MISSING


def fill_parameters(
    ctx: Document, template: str, item: dict[str, Any], op: dict[str, Any], label: str
) -> tuple[str, str] | None:
    """The path with its parameters filled and the query of the required ones, or None."""
    params = _parameters(ctx, item, op, label)
    path_values: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    for (where, name), param in params.items():
        if where != "path" and param.get("required") is not True:
            continue
        shown = f"required {where} parameter {clip(name, 60)!r}"
        if where not in ("path", "query"):
            ctx.notes.add(f"skipped {label}: it needs a {shown}")
            return None
        value = _example_value(ctx, param)
        if value is MISSING:
            ctx.notes.add(f"skipped {label}: no example, default or enum for {shown}")
            return None
        texts = _texts(value)
        if texts is None:
            ctx.notes.add(f"skipped {label}: the example of {shown} is not a plain value")
            return None
        if where == "path":
            path_values[name] = ",".join(quote(t, safe="") for t in texts)
        elif _explode(ctx, param):
            query += [(name, t) for t in texts]
        else:
            query.append((name, _joiner(param).join(texts)))
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in path_values:
            return path_values[name]
        missing.append(name)
        return match.group(0)

    path = TEMPLATE_VAR.sub(fill, template)
    if missing:
        ctx.notes.add(f"skipped {label}: path parameter {{{clip(missing[0], 60)}}} is undocumented")
        return None
    return path, urlencode(query, quote_via=quote)


def _parameters(
    ctx: Document, item: dict[str, Any], op: dict[str, Any], label: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """The path item's and the operation's parameters by (in, name); the operation's win."""
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (item.get("parameters"), op.get("parameters")):
        if not isinstance(source, list):
            continue
        for raw in source:
            param = ctx.deref(raw, f"{label} parameter")
            if (
                isinstance(param, dict)
                and isinstance(param.get("name"), str)
                and isinstance(param.get("in"), str)
            ):
                params[(param["in"], param["name"])] = param
    return params


def _explode(ctx: Document, param: dict[str, Any]) -> bool:
    if ctx.version == "2.0":
        return param.get("collectionFormat") == "multi"
    explode = param.get("explode")
    return explode if isinstance(explode, bool) else param.get("style", "form") == "form"


def _joiner(param: dict[str, Any]) -> str:
    return {"ssv": " ", "tsv": "\t", "pipes": "|", "spaceDelimited": " ", "pipeDelimited": "|"}.get(
        str(param.get("collectionFormat") or param.get("style")), ","
    )


def _example_value(ctx: Document, param: dict[str, Any]) -> Any:
    """A parameter's value: example, examples, its schema's example, default, enum[0]."""
    sources: list[Any] = [param]
    content = param.get("content")
    if isinstance(content, dict):
        sources += [m for m in content.values() if isinstance(m, dict)][:1]
    for source in sources:
        found = _examples_of(ctx, source)
        if found is not MISSING:
            return found
    if ctx.version == "2.0":
        schemas: list[Any] = [param, param.get("schema")]
    else:
        schemas = [param.get("schema")] + [s.get("schema") for s in sources[1:]]
    for raw in schemas:
        schema = ctx.deref(raw, "parameter schema")
        if not isinstance(schema, dict):
            continue
        if schema.get("example") is not None:
            return schema["example"]
        listed = schema.get("examples")
        if isinstance(listed, list) and listed and listed[0] is not None:
            return listed[0]
        if schema.get("default") is not None:
            return schema["default"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and enum[0] is not None:
            return enum[0]
    return MISSING


def _examples_of(ctx: Document, source: dict[str, Any]) -> Any:
    for key in ("example", "x-example"):
        if source.get(key) is not None:
            return source[key]
    examples = source.get("examples")
    if isinstance(examples, dict):
        for raw in examples.values():
            example = ctx.deref(raw, "example")
            if isinstance(example, dict) and example.get("value") is not None:
                return example["value"]
    return MISSING


def _texts(value: Any) -> list[str] | None:
    """A parameter value as the strings a URL carries, or None for objects."""
    values = value if isinstance(value, list) else [value]
    texts: list[str] = []
    for item in values:
        if isinstance(item, bool):
            texts.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            texts.append(str(item))
        else:
            return None
    return texts or None
