"""Endpoints declared once: the route, who may call it, its models, its OpenAPI entry.

``Api.endpoint`` registers a Flask view on a blueprint and, from the same
declaration, an OpenAPI 3.1 operation. Requests are parsed into pydantic
models at the edge (a bad one is a 422 problem naming the field), responses
are dumped from pydantic models, and the role check runs before the view.
The document can therefore not drift from what the server does, which is
what the schemathesis tests check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from matf.errors import NotFound, UsageError
from web.bodies import json_body
from web.security import authorize

PROBLEM = "Problem"
MAX_ID = 2**63 - 1  # the database's integer
ERROR_STATUSES = {
    400: "Bad request",
    401: "No valid credentials",
    403: "The role may not do this",
    404: "Not found",
    409: "Conflict",
    413: "The body is too large",
    415: "Not JSON",
    422: "Invalid input",
    429: "Too many requests",
    503: "A service MATF needs is down",
}

RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


class RequestInvalid(UsageError):
    """A request's query or body does not match its model."""

    http_status = 422

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass
class Operation:
    rule: str
    method: str
    role: str | None
    summary: str
    tag: str
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    content_type: str | tuple[str, ...] = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)


class Api:
    """The registry of endpoints, and the OpenAPI document made from it."""

    def __init__(self, title: str, version: str) -> None:
        self.title, self.version = title, version
        self.operations: list[Operation] = []

    def endpoint(
        self,
        bp: Blueprint,
        rule: str,
        method: str = "GET",
        *,
        role: str | None = "viewer",
        summary: str,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        content_type: str | tuple[str, ...] = "application/json",
        notes: dict[int, str] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        op = Operation(
            rule,
            method,
            role,
            summary,
            bp.name,
            query,
            body,
            response,
            status,
            _errors(role, query, body, errors),
            content_type,
            notes=notes or {},
        )
        self.operations.append(op)

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(func)
            def view(**path_args: Any) -> Any:
                if role is not None:
                    authorize(role)
                for name, value in path_args.items():
                    if isinstance(value, int) and value > MAX_ID:
                        raise NotFound(f"no such {name.removesuffix('_id')}: {value}")
                kwargs = dict(path_args)
                if query is not None:
                    kwargs["query"] = _parse(query, _query_dict(query), "query")
                if body is not None:
                    kwargs["body"] = _parse(body, _json_body(), "body")
                result = func(**kwargs)
                if isinstance(result, Response):
                    return result
                if isinstance(result, BaseModel):
                    return jsonify(result.model_dump(mode="json")), status
                if result is None:
                    return Response(status=status)  # 204: done, nothing to say
                return result

            bp.add_url_rule(rule, endpoint=func.__name__, view_func=view, methods=[method])
            return view

        return register

    def document(self, prefixes: dict[str, str]) -> dict[str, Any]:
        """The OpenAPI 3.1 document; ``prefixes`` maps blueprint names to URL prefixes."""
        models: set[type[BaseModel]] = set()
        for op in self.operations:
            models.update(m for m in (op.query, op.body, op.response) if m is not None)
        from web.models.common import Problem

        models.add(Problem)
        keyed: list[tuple[type[BaseModel], Literal["validation"]]] = [
            (m, "validation") for m in sorted(models, key=lambda m: m.__name__)
        ]
        _, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
        schemas = top.get("$defs", {})
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            path = prefixes.get(op.tag, "") + _openapi_path(op.rule)
            paths.setdefault(path, {})[op.method.lower()] = _operation(op)
        return {
            "openapi": "3.1.0",
            "info": {
                "title": self.title,
                "version": self.version,
                "description": "MATF's API. Errors are RFC 9457 problem documents.",
            },
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                },
            },
        }


def _errors(
    role: str | None, query: object, body: object, extra: tuple[int, ...]
) -> tuple[int, ...]:
    codes = set(extra) | {429}
    if role is not None:
        codes |= {401, 403}
    if query is not None or body is not None:
        codes.add(422)
    if body is not None:
        codes |= {400, 413, 415}  # bodies.json_body's limits
    return tuple(sorted(codes))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.tag}_{op.method.lower()}_{_slug(op.rule)}",
        "tags": [op.tag],
        "parameters": _path_params(op.rule) + _query_params(op.query),
        "responses": {},
    }
    if op.role is not None:
        out["security"] = [{"bearer": []}, {"apiKey": []}]
        out["description"] = f"Needs the role {op.role} or above."
    else:
        out["security"] = []
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    kinds = (op.content_type,) if isinstance(op.content_type, str) else op.content_type
    content: dict[str, Any] = {}
    for kind in kinds:
        if op.response is not None and kind == "application/json":
            content[kind] = {"schema": _ref(op.response)}
        elif kind == "application/json" and len(kinds) > 1:
            content[kind] = {"schema": {"type": "object"}}  # a file that happens to be JSON
        elif kind != "application/json":
            content[kind] = {"schema": {"type": "string"}}
    default = "OK" if op.status < 300 else "Accepted"
    ok: dict[str, Any] = {"description": op.notes.get(op.status, default)}
    if content:
        ok["content"] = content
    out["responses"][str(op.status)] = ok
    for code in op.errors:
        answer: dict[str, Any] = {
            "description": op.notes.get(code, ERROR_STATUSES.get(code, "Error")),
            "content": {"application/problem+json": {"schema": _ref_name(PROBLEM)}},
        }
        if code == 429:
            answer["headers"] = {"Retry-After": RETRY_AFTER}
        out["responses"][str(code)] = answer
    return out


def _ref_name(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _path_params(rule: str) -> list[dict[str, Any]]:
    params = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 0, "maximum": MAX_ID}
            if converter == "int"
            else {"type": "string"}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _query_params(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "title"},
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _slug(rule: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", _openapi_path(rule).lower()).strip("_") or "root"


def _query_dict(model: type[BaseModel]) -> dict[str, Any]:
    """Query arguments; a list field takes repeated or comma-separated values."""
    out: dict[str, Any] = {}
    for name in request.args:
        values = request.args.getlist(name)
        info = model.model_fields.get(name)
        if info is not None and "list" in str(info.annotation):
            out[name] = [v for value in values for v in value.split(",") if v]
        else:
            out[name] = values[-1]
    return out


def _json_body() -> Any:
    if not request.is_json:
        raise NotJson("send a JSON body with Content-Type: application/json")
    return json_body()


class NotJson(UsageError):
    http_status = 415


def _parse(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or where,
                "message": err["msg"],
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0]
        raise RequestInvalid(
            f"invalid {where}: {first['field']}: {first['message']}", errors
        ) from exc
