"""One API operation a check can send, and the spec that checks it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

MAX_OPERATIONS = 100

TEMPLATE_VAR = re.compile(r"\{([^{}/]+)\}")  # a variable in a path or server URL template


@dataclass(frozen=True)
class ApiOperation:
    """One request a check can send, and what a healthy answer looks like."""

    method: str  # upper case
    url: str  # absolute, path parameters filled
    expect_status: int | str  # e.g. 200, or "2xx" when undocumented
    content_type: str | None  # e.g. "application/json"
    json_schema: dict[str, Any] | None = field(hash=False)  # JSON Schema 2020-12 of the body
    source: str  # "openapi" or "observed"
    summary: str  # e.g. "GET /api/products (listProducts)"
    template: str = ""  # the URL path template, e.g. "/api/products/{id}"


class IdMaker(Protocol):
    """What gives each spec its id, unique within a suite."""

    def make(self, prefix: str, text: str) -> str: ...


def operation_spec(ids: IdMaker, op: ApiOperation) -> dict[str, object]:
    """A spec (as data, for ``parse_spec``) that checks one operation."""
    parts = urlsplit(op.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    step: dict[str, object] = {
        "action": "api_request",
        "method": op.method,
        "url": op.url,
        "expect_status": op.expect_status,
    }
    if op.content_type:
        step["content_type"] = op.content_type
    if op.json_schema is not None:
        step["json_schema"] = op.json_schema
    return {
        "id": ids.make("api", f"{op.method}-{path}"),
        "name": f"API {op.summary} answers {op.expect_status}"[:300],
        "kind": "api",
        "category": "api",
        "url": op.url,
        "steps": [step],
        "tags": ["api", op.source],
    }
