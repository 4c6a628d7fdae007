"""A documented body schema as a self-contained JSON Schema (draft 2020-12).

Local ``$ref``s are inlined within node, depth and chain budgets (a cycle is cut
to ``{}``); OpenAPI 3.0 and Swagger 2.0 dialects (``nullable``, boolean
``exclusiveMinimum``, ``x-`` keys) are turned into 2020-12; 3.1 schemas are
JSON Schema already and are kept as they are.
"""

from __future__ import annotations

from typing import Any

from matf.agents.apidiscovery.document import MAX_REF_CHAIN, Document
from matf.agents.apidiscovery.notes import clip
from matf.browser.api import MISSING

MAX_SCHEMA_NODES = 50_000  # values in one inlined schema
MAX_SCHEMA_DEPTH = 64
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# JSON Schema keywords whose values are schemas (a map of, a list of, or one).
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"}
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
# OpenAPI 3.0 / Swagger 2.0 schema keywords that are not JSON Schema (or only annotate).
_OAS_ONLY = frozenset({"example", "xml", "discriminator", "externalDocs", "nullable"})


class _TooBig(Exception):
    """A schema over its node budget once inlined."""


def json_schema(ctx: Document, source: Any, label: str) -> dict[str, Any] | None:
    """A self-contained JSON Schema (2020-12) for a documented body schema, or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    converter = _Converter(ctx, label)
    try:
        converted = converter.schema(source, 0, ())
    except _TooBig:
        ctx.notes.add(f"{label}: the response schema is too large to inline; body not checked")
        return None
    if converted is True:
        converted = {}
    elif converted is False:
        converted = {"not": {}}
    if not isinstance(converted, dict):
        ctx.notes.add(f"{label}: the response schema is not an object; body not checked")
        return None
    schema = {"$schema": DRAFT_2020_12, **converted}
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        ctx.notes.add(
            f"{label}: the response schema is not valid JSON Schema "
            f"({clip(' '.join(exc.message.split()), 160)}); body not checked"
        )
        return None
    return schema


class _Converter:
    """Inline ``$ref``s and turn OpenAPI 3.0 / Swagger 2.0 schema dialects into 2020-12."""

    def __init__(self, ctx: Document, label: str) -> None:
        self.ctx = ctx
        self.label = label
        self.legacy = ctx.version != "3.1"
        self.left = MAX_SCHEMA_NODES

    def _tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooBig

    def schema(self, node: Any, depth: int, refs: tuple[str, ...]) -> Any:
        self._tick()
        if depth > MAX_SCHEMA_DEPTH:
            self.ctx.notes.add(f"{self.label}: schema nested too deeply, cut to {{}}")
            return {}
        if not isinstance(node, dict):
            return self.data(node)  # booleans (3.1); anything else fails check_schema
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self.ref(ref, depth, refs)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if self.legacy or not siblings:
                return target  # 3.0 and 2.0 ignore what sits beside a $ref
            rest = self.keywords(siblings, depth, refs)
            rest["allOf"] = [*rest.get("allOf", []), target]
            return rest
        return self.keywords(node, depth, refs)

    def ref(self, ref: str, depth: int, refs: tuple[str, ...]) -> Any:
        shown = clip(ref)
        if not ref.startswith("#/") and ref != "#":
            self.ctx.notes.add(f"{self.label}: $ref {shown} not followed (not in this document)")
            return {}
        if ref in refs:
            self.ctx.notes.add(f"{self.label}: recursive $ref {shown} cut to {{}}")
            return {}
        if len(refs) >= MAX_REF_CHAIN:
            self.ctx.notes.add(f"{self.label}: $ref nesting too deep at {shown}, cut to {{}}")
            return {}
        target = self.ctx.local(ref)
        if target is MISSING:
            self.ctx.notes.add(f"{self.label}: $ref {shown} names nothing in the document")
            return {}
        return self.schema(target, depth + 1, (*refs, ref))

    def keywords(self, node: dict[str, Any], depth: int, refs: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if self.legacy and (key in _OAS_ONLY or key.startswith("x-")):
                continue
            if self.legacy and key == "type" and value == "file":
                continue  # Swagger 2.0 file uploads: any body
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {k: self.schema(v, depth + 1, refs) for k, v in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.schema(v, depth + 1, refs) for v in value]
            elif key == "items" and isinstance(value, list) and self.legacy:
                out["prefixItems"] = [self.schema(v, depth + 1, refs) for v in value]
            elif key in _SCHEMA_ONE:
                out[key] = self.schema(value, depth + 1, refs)
            else:
                out[key] = self.data(value)
        if not self.legacy:
            return out
        for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            exclusive = out.get(flag)
            if exclusive is True and bound in out:
                out[flag] = out.pop(bound)
            elif isinstance(exclusive, bool):
                del out[flag]
        if node.get("nullable") is True or node.get("x-nullable") is True:
            return _nullable(out)
        return out

    def data(self, value: Any) -> Any:
        """A copy of plain data (enum, default, const...), counted against the budget."""
        self._tick()
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0's ``nullable: true`` in JSON Schema: null is allowed too."""
    kind = schema.get("type")
    combined = any(k in schema for k in ("allOf", "anyOf", "oneOf", "not", "if", "const"))
    if combined or not isinstance(kind, str | list):
        return {"anyOf": [schema, {"type": "null"}]}
    if isinstance(kind, str):
        schema["type"] = [kind, "null"] if kind != "null" else kind
    elif "null" not in kind:
        schema["type"] = [*kind, "null"]
    enum = schema.get("enum")
    if isinstance(enum, list) and None not in enum:
        schema["enum"] = [*enum, None]
    return schema
