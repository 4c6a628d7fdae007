"""The operations an OpenAPI 3.x / Swagger 2.0 document describes, as checks.

Each safe operation (GET, HEAD) on the target's origin becomes an
``ApiOperation``; everything else is skipped with a note saying why. Generated
checks never change data: unsafe methods are always skipped.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from matf.agents.apidiscovery.document import Document, document_version
from matf.agents.apidiscovery.notes import Notes, clip
from matf.agents.apidiscovery.operation import MAX_OPERATIONS, TEMPLATE_VAR, ApiOperation
from matf.agents.apidiscovery.parameters import fill_parameters
from matf.agents.apidiscovery.responses import expected_status, success_body
from matf.agents.apidiscovery.schema import json_schema
from matf.browser.steps import origin_of

_METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace", "query")
_SAFE = ("get", "head")


def operations_from_document(
    doc: dict[str, Any], doc_url: str, start_url: str, max_ops: int = MAX_OPERATIONS
) -> tuple[list[ApiOperation], list[str]]:
    """The safe operations of ``doc`` on the target's origin, and notes on what was skipped."""
    notes = Notes()
    version = document_version(doc)
    if version is None:
        return [], ["not an OpenAPI 3.x or Swagger 2.0 document"]
    ctx = Document(doc, version, notes)
    target = origin_of(start_url)
    limit = max(0, min(max_ops, MAX_OPERATIONS))
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        notes.add("the document lists no paths")
        return [], notes.result()
    doc_base = _swagger_base(doc, doc_url) if version == "2.0" else None
    operations: list[ApiOperation] = []
    over = 0
    for template, raw_item in paths.items():
        if not isinstance(template, str) or not template.startswith("/"):
            notes.add(f"skipped path {clip(str(template))!r}: a path must start with '/'")
            continue
        item = ctx.deref(raw_item, f"path {clip(template)}")
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            label = f"{method.upper()} {clip(template)}"
            if method not in _SAFE:
                why = (
                    "only GET and HEAD are checked"
                    if method in ("options", "trace")
                    else "generated checks never change data"
                )
                notes.add(f"skipped {label}: {why}")
                continue
            if len(operations) >= limit:
                over += 1
                continue
            if version == "2.0":
                base = doc_base
            else:
                base = _server_base(ctx, [op, item, doc], doc_url, label)
            if base is None:
                continue
            if origin_of(base) != target:
                notes.add(f"skipped {label}: its server {_origin_text(base)} is not the target's")
                continue
            built = _operation(ctx, method, template, item, op, base, label)
            if built is not None:
                operations.append(built)
    if over:
        notes.add(f"stopped at {limit} operations: {over} more safe operations not checked")
    return operations, notes.result()


def _origin_text(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _server_base(
    ctx: Document, owners: list[dict[str, Any]], doc_url: str, label: str
) -> str | None:
    """The base URL of an operation (3.x): the nearest ``servers[0]``, else the document's."""
    for owner in owners:
        servers = owner.get("servers")
        if isinstance(servers, list) and servers:
            server = servers[0]
            if not isinstance(server, dict) or not isinstance(server.get("url"), str):
                ctx.notes.add(f"skipped {label}: its server has no URL")
                return None
            url = server["url"]
            variables = server.get("variables")
            if not isinstance(variables, dict):
                variables = {}

            def fill(match: re.Match[str], variables: dict[str, Any] = variables) -> str:
                var = variables.get(match.group(1))
                default = var.get("default") if isinstance(var, dict) else None
                return str(default) if isinstance(default, str | int | float) else match.group(0)

            url = TEMPLATE_VAR.sub(fill, url)
            if TEMPLATE_VAR.search(url):
                ctx.notes.add(f"skipped {label}: server URL {clip(url)} has an unknown variable")
                return None
            base = urljoin(doc_url, url)
            if urlsplit(base).scheme not in ("http", "https"):
                ctx.notes.add(f"skipped {label}: server URL {clip(base)} is not http(s)")
                return None
            return base
    return urljoin(doc_url, "/")


def _swagger_base(doc: dict[str, Any], doc_url: str) -> str:
    """The base URL of a Swagger 2.0 document: ``schemes`` + ``host`` + ``basePath``."""
    parts = urlsplit(doc_url)
    host = doc.get("host") if isinstance(doc.get("host"), str) and doc.get("host") else parts.netloc
    base_path = doc.get("basePath") if isinstance(doc.get("basePath"), str) else "/"
    schemes = [s for s in doc.get("schemes") or [] if s in ("http", "https")]
    if not schemes or parts.scheme in schemes:
        scheme = parts.scheme
    else:
        scheme = "https" if "https" in schemes else schemes[0]
    return f"{scheme}://{host}/{str(base_path).lstrip('/')}"


def _operation(
    ctx: Document,
    method: str,
    template: str,
    item: dict[str, Any],
    op: dict[str, Any],
    base: str,
    label: str,
) -> ApiOperation | None:
    """The check for one safe operation, or None (with a note) when it cannot be made."""
    security = op.get("security", ctx.data.get("security"))
    if (
        isinstance(security, list)
        and security
        and not any(isinstance(req, dict) and not req for req in security)
    ):
        names = sorted({str(k) for req in security if isinstance(req, dict) for k in req})
        ctx.notes.add(f"skipped {label}: it needs authentication ({', '.join(names) or '?'})")
        return None
    filled = fill_parameters(ctx, template, item, op, label)
    if filled is None:
        return None
    path, query = filled
    base_path = urlsplit(base).path.rstrip("/")
    url = base.rstrip("/") + path + (f"?{query}" if query else "")
    full_template = base_path + template
    expected = expected_status(op.get("responses"))
    if expected is None:
        ctx.notes.add(f"skipped {label}: no success response documented")
        return None
    status, response_key = expected
    response = ctx.deref(op["responses"][response_key], f"{label} response")
    content_type, schema_source = success_body(ctx, op, response)
    schema: dict[str, Any] | None = None
    if schema_source is not None and method == "get":
        schema = json_schema(ctx, schema_source, label)
    op_id = op.get("operationId")
    summary = f"{method.upper()} {clip(full_template)}"
    if isinstance(op_id, str) and op_id.strip():
        summary += f" ({clip(op_id.strip(), 80)})"
    return ApiOperation(
        method=method.upper(),
        url=url,
        expect_status=status,
        content_type=content_type,
        json_schema=schema,
        source="openapi",
        summary=summary,
        template=full_template,
    )
