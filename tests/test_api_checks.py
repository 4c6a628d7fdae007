"""API checks with real parts: a local API with its OpenAPI / Swagger documents, real Chromium.

Discovery and schema conversion are pure functions, tested on the documents the
server publishes; ``run_api_request`` sends real requests through a page's
``APIRequestContext``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from flask import Flask, Response, jsonify, redirect, request
from playwright.sync_api import Browser, Page
from werkzeug.serving import make_server

from matf.agents.apidiscovery import discover_documented
from matf.agents.apidiscovery.document import (
    DOC_PATHS,
    MAX_DOC_BYTES,
    candidate_doc_urls,
    parse_document,
)
from matf.agents.apidiscovery.documented import operations_from_document
from matf.agents.apidiscovery.observed import observed_operations
from matf.agents.apidiscovery.operation import ApiOperation, operation_spec
from matf.agents.writer import _Ids
from matf.browser.api import MISSING, ApiStepFailed, resolve_pointer, run_api_request
from matf.browser.errors import StepFailed
from matf.browser.steps import Observed, origin_of, run_step
from matf.errors import SpecError
from matf.spec import ApiRequest, parse_spec

TIMEOUT_MS = 10_000
SLOW_S = 0.6

# -- the API under test ----------------------------------------------------------------

PRODUCTS: list[dict[str, Any]] = [
    {"id": 1, "name": "Trail Pack", "price": 89.5, "description": None, "tags": ["bag"]},
    {"id": 2, "name": "Camp Mug", "price": 12, "description": "Enamel", "tags": []},
    {
        "id": 7,
        "name": "Head Lamp",
        "price": 49.0,
        "description": "Bright",
        "tags": ["light"],
        "updated": "2024-05-01T10:00:00Z",
    },
]


def _broken_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"id": n, "name": f"Item {n}", "price": float(n), "description": None, "tags": []}
        for n in range(12)
    ]
    items[2]["price"] = "49.00"  # a string where the schema says number
    items[10]["id"] = "ten"
    return items


PRODUCT_SCHEMA_30: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "price"],
    "properties": {
        "id": {"type": "integer", "format": "int64"},
        "name": {"type": "string"},
        "price": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        "description": {"type": "string", "nullable": True},
        "tags": {"type": "array", "items": {"type": "string"}},
        "updated": {"type": "string", "format": "date-time", "readOnly": True},
    },
    "example": {"id": 1, "name": "x", "price": 1},
    "xml": {"name": "product"},
}


def openapi_30() -> dict[str, Any]:
    product_list = {"$ref": "#/components/schemas/ProductList"}
    json_ok = {"description": "ok", "content": {"application/json": {"schema": product_list}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shop", "version": "1"},
        "servers": [{"url": "/api"}],
        "paths": {
            "/products": {
                "get": {"operationId": "listProducts", "responses": {"200": json_ok}},
                "post": {"operationId": "createProduct", "responses": {"201": json_ok}},
            },
            "/products/{id}": {
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                        "example": 7,
                    }
                ],
                "get": {
                    "operationId": "getProduct",
                    "responses": {
                        "200": {
                            "description": "one",
                            "content": {
                                "application/json; charset=utf-8": {
                                    "schema": {"$ref": "#/components/schemas/Product"}
                                }
                            },
                        },
                        "404": {"description": "none"},
                    },
                },
                "delete": {"responses": {"204": {"description": "gone"}}},
            },
            "/broken": {"get": {"operationId": "listBroken", "responses": {"200": json_ok}}},
            "/tree": {
                "get": {
                    "operationId": "getTree",
                    "responses": {
                        "200": {
                            "description": "a tree",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Node"}
                                }
                            },
                        }
                    },
                }
            },
            "/search": {
                "get": {
                    "parameters": [
                        {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": json_ok},
                }
            },
            "/sorted": {
                "get": {
                    "operationId": "sortedProducts",
                    "parameters": [{"$ref": "#/components/parameters/Order"}],
                    "responses": {"200": json_ok},
                }
            },
            "/health": {
                "get": {
                    "responses": {
                        "default": {
                            "description": "fine",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    }
                },
                "head": {"responses": {"200": {"description": "fine"}}},
            },
            "/accepted": {
                "get": {
                    "responses": {
                        "204": {"description": "nothing"},
                        "202": {
                            "description": "queued",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"queued": {"type": "boolean"}},
                                        "required": ["queued"],
                                    }
                                }
                            },
                        },
                    }
                }
            },
            "/secure": {"get": {"security": [{"bearerAuth": []}], "responses": {"200": json_ok}}},
            "/partner": {
                "servers": [{"url": "https://partner.example.com/v1"}],
                "get": {"responses": {"200": json_ok}},
            },
            "/remote": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "elsewhere",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "https://schemas.example.com/thing.json"}
                                }
                            },
                        }
                    }
                }
            },
        },
        "components": {
            "schemas": {
                "Product": PRODUCT_SCHEMA_30,
                "ProductList": {
                    "type": "object",
                    "required": ["items", "total"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Product"},
                        },
                        "total": {"type": "integer"},
                    },
                },
                "Node": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "children": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Node"},
                        },
                    },
                },
            },
            "parameters": {
                "Order": {
                    "name": "order",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "enum": ["asc", "desc"]},
                }
            },
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def swagger_20(host: str) -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "info": {"title": "Shop", "version": "1"},
        "host": host,
        "basePath": "/api",
        "schemes": ["http"],
        "produces": ["application/json"],
        "paths": {
            "/products/{id}": {
                "get": {
                    "operationId": "getProduct",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "type": "integer",
                            "x-example": 2,
                        }
                    ],
                    "responses": {
                        "200": {"description": "one", "schema": {"$ref": "#/definitions/Product"}}
                    },
                },
                "delete": {"responses": {"204": {"description": "gone"}}},
            },
            "/products": {
                "get": {
                    "parameters": [
                        {
                            "name": "tag",
                            "in": "query",
                            "required": True,
                            "type": "string",
                            "default": "bag",
                        },
                        {"name": "page", "in": "query", "type": "integer"},
                    ],
                    "responses": {
                        "200": {
                            "description": "all",
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "items": {
                                        "type": "array",
                                        "items": {"$ref": "#/definitions/Product"},
                                    }
                                },
                            },
                        }
                    },
                }
            },
        },
        "definitions": {
            "Product": {
                "type": "object",
                "required": ["id", "name"],
                "x-internal-id": "prod",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "price": {"type": "number", "maximum": 1000, "exclusiveMaximum": True},
                    "description": {"type": "string", "x-nullable": True},
                },
            }
        },
    }


def openapi_31_yaml(origin: str) -> str:
    # Unquoted response codes (integers to YAML) and an unquoted date (a date to YAML).
    return f"""\
openapi: 3.1.0
info: {{title: Shop, version: "1"}}
servers:
  - url: "{origin}/{{base}}"
    variables:
      base: {{default: api}}
paths:
  /changes:
    get:
      operationId: listChanges
      parameters:
        - name: since
          in: query
          required: true
          schema: {{type: string, format: date, default: 2024-01-01}}
      responses:
        200:
          description: changes
          content:
            application/json:
              schema:
                type: object
                required: [since, changes]
                properties:
                  since: {{type: string}}
                  changes:
                    type: array
                    items: {{$ref: "#/components/schemas/Change", description: one change}}
components:
  schemas:
    Change:
      type: object
      required: [id, note]
      properties:
        id: {{type: integer, exclusiveMinimum: 0}}
        note: {{type: [string, "null"]}}
"""


def make_app() -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # documents keep their order

    @app.get("/")
    def index() -> str:
        return (
            "<!doctype html><html><head><title>Shop</title>"
            '<link rel="service-desc" href="/openapi.json"></head><body>'
            '<a href="/docs/swagger.json">API reference</a> <a href="/about">About</a>'
            "</body></html>"
        )

    @app.get("/openapi.json")
    def doc_30() -> Response:
        return jsonify(openapi_30())

    @app.get("/docs/swagger.json")
    def doc_20() -> Response:
        return jsonify(swagger_20(request.host))

    @app.get("/openapi.yaml")
    def doc_31() -> Response:
        origin = request.host_url.rstrip("/")
        return Response(openapi_31_yaml(origin), mimetype="application/yaml")

    @app.get("/api/products")
    def products() -> Response:
        tag = request.args.get("tag")
        items = [p for p in PRODUCTS if tag is None or tag in p["tags"]]
        return jsonify({"items": items, "total": len(items), "meta": {"a/b": 1, "m~n": True}})

    @app.get("/api/products/<int:pid>")
    def product(pid: int) -> Response | tuple[Response, int]:
        found = next((p for p in PRODUCTS if p["id"] == pid), None)
        return jsonify(found) if found else (jsonify({"error": "no such product"}), 404)

    @app.get("/api/broken")
    def broken() -> Response:
        return jsonify({"items": _broken_items(), "total": "12"})

    @app.get("/api/tree")
    def tree() -> Response:
        return jsonify({"name": "root", "children": [{"name": "a", "children": [{"name": 3}]}]})

    @app.get("/api/sorted")
    def sorted_products() -> Response:
        reverse = request.args.get("order") == "desc"
        items = sorted(PRODUCTS, key=lambda p: p["id"], reverse=reverse)
        return jsonify({"items": items, "total": len(items)})

    @app.get("/api/changes")
    def changes() -> Response:
        since = request.args.get("since", "")
        return jsonify({"since": since, "changes": [{"id": 1, "note": None}]})

    @app.route("/api/health", methods=["GET", "HEAD"])
    def health() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.get("/api/accepted")
    def accepted() -> tuple[Response, int]:
        return jsonify({"queued": True}), 202

    @app.get("/api/slow")
    def slow() -> Response:
        time.sleep(SLOW_S)
        return jsonify({"slow": True})

    @app.get("/api/page")
    def page_html() -> Response:
        return Response("<html><body>Not an API</body></html>", mimetype="text/html")

    @app.get("/api/missing")
    def missing() -> tuple[Response, int]:
        return jsonify({"error": "not found"}), 404

    @app.post("/api/echo")
    def echo() -> tuple[Response, int]:
        return jsonify({"received": request.get_json(), "type": request.content_type}), 201

    @app.get("/api/guarded")
    def guarded() -> Response:
        response = Response("refused", status=403, mimetype="text/plain")
        response.headers["x-matf-guard"] = "10.0.0.5 is a private address"
        return response

    @app.get("/api/moved")
    def moved() -> Response:
        return redirect("/api/products", code=302)  # type: ignore[return-value]

    return app


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def fetch(url: str) -> tuple[bytes, str | None]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers.get("Content-Type")


def document(api: str, path: str) -> dict[str, Any]:
    body, ctype = fetch(api + path)
    doc = parse_document(body, ctype)
    assert doc is not None
    return doc


def by_summary(ops: list[ApiOperation], start: str) -> ApiOperation:
    found = [op for op in ops if op.summary.startswith(start)]
    assert len(found) == 1, (start, [op.summary for op in ops])
    return found[0]


# -- discovery: pure functions -----------------------------------------------------------


def test_candidate_doc_urls_linked_first_same_origin_deduplicated() -> None:
    start = "http://shop.test:8080/catalog/"
    urls = candidate_doc_urls(
        start,
        linked=[
            "/docs/swagger.json",  # looks like an API document
            "../about.html",  # does not
            "https://other.test/openapi.json",  # another origin
            "/openapi.json#section",  # a DOC_PATHS entry, linked: comes first, once
            "data/api-v2.yaml",
        ],
        described=["/spec"],
    )
    assert urls[:4] == [
        "http://shop.test:8080/spec",
        "http://shop.test:8080/docs/swagger.json",
        "http://shop.test:8080/openapi.json",
        "http://shop.test:8080/catalog/data/api-v2.yaml",
    ]
    assert len(urls) == len(set(urls))
    assert all(u.startswith("http://shop.test:8080/") for u in urls)
    assert "http://shop.test:8080/about.html" not in urls
    assert {f"http://shop.test:8080{p}" for p in DOC_PATHS} <= set(urls)
    assert len(urls) == 3 + len(DOC_PATHS)


def test_parse_document_reads_json_and_yaml_and_refuses_the_rest(api: str) -> None:
    doc30 = document(api, "/openapi.json")
    assert doc30["openapi"] == "3.0.3"
    doc31 = document(api, "/openapi.yaml")
    responses = doc31["paths"]["/changes"]["get"]["responses"]
    assert list(responses) == ["200"]  # YAML's integer key, as a string
    since = doc31["paths"]["/changes"]["get"]["parameters"][0]["schema"]["default"]
    assert since == "2024-01-01"  # YAML's date, as an ISO string
    assert document(api, "/docs/swagger.json")["swagger"] == "2.0"

    html, ctype = fetch(api + "/")
    assert parse_document(html, ctype) is None
    assert parse_document(b'{"hello": "world"}', "application/json") is None
    assert parse_document(b'{"openapi": "2.5"}', "application/json") is None
    assert parse_document(b"swagger: '1.2'\npaths: {}\n", "application/yaml") is None
    assert parse_document(b"openapi: [unclosed", None) is None
    assert parse_document(b"\xff\xfe not utf-8", None) is None
    big = b'{"openapi": "3.0.0", "x": "' + b"a" * MAX_DOC_BYTES + b'"}'
    assert parse_document(big, "application/json") is None
    laughs = "openapi: 3.0.0\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    assert parse_document(laughs.encode(), "application/yaml") is None  # 10^9 nodes expanded
    assert parse_document(b"openapi: 3.1.0\nswagger: !!python/object:os.system x\n", None) is None


def test_openapi_30_operations_and_notes(api: str) -> None:
    doc = document(api, "/openapi.json")
    ops, notes = operations_from_document(doc, f"{api}/openapi.json", f"{api}/")
    assert sorted(op.summary for op in ops) == [
        "GET /api/accepted",
        "GET /api/broken (listBroken)",
        "GET /api/health",
        "GET /api/products (listProducts)",
        "GET /api/products/{id} (getProduct)",
        "GET /api/remote",
        "GET /api/sorted (sortedProducts)",
        "GET /api/tree (getTree)",
        "HEAD /api/health",
    ]
    assert all(op.source == "openapi" for op in ops)

    listing = by_summary(ops, "GET /api/products (")
    assert (listing.url, listing.expect_status, listing.content_type) == (
        f"{api}/api/products",
        200,
        "application/json",
    )
    one = by_summary(ops, "GET /api/products/{id}")
    assert one.url == f"{api}/api/products/7"  # the path parameter's example
    assert one.template == "/api/products/{id}"
    assert one.content_type == "application/json"  # the media type, without parameters
    assert by_summary(ops, "GET /api/sorted").url == f"{api}/api/sorted?order=asc"  # enum[0]
    assert by_summary(ops, "GET /api/accepted").expect_status == 202  # lowest documented 2xx
    health = by_summary(ops, "GET /api/health")
    assert (health.expect_status, health.content_type, health.json_schema) == (
        "2xx",
        "text/plain",
        None,
    )
    head = by_summary(ops, "HEAD /api/health")
    assert (head.method, head.expect_status, head.json_schema) == ("HEAD", 200, None)

    # $ref inlined, 3.0 dialect converted to 2020-12.
    product = one.json_schema
    assert product is not None
    assert product["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    props = product["properties"]
    assert props["description"]["type"] == ["string", "null"]
    assert props["price"] == {"type": "number", "exclusiveMinimum": 0}
    assert props["updated"]["readOnly"] is True
    assert "example" not in product and "xml" not in product
    assert "$ref" not in json.dumps(listing.json_schema)
    assert listing.json_schema is not None
    assert listing.json_schema["properties"]["items"]["items"]["properties"] == props
    tree = by_summary(ops, "GET /api/tree").json_schema
    assert tree is not None
    assert tree["properties"]["children"]["items"] == {}  # the cycle, cut
    assert by_summary(ops, "GET /api/remote").json_schema == {
        "$schema": "https://json-schema.org/draft/2020-12/schema"
    }

    joined = "\n".join(notes)
    assert "skipped POST /products: generated checks never change data" in notes
    assert "skipped DELETE /products/{id}: generated checks never change data" in notes
    assert (
        "skipped GET /partner: its server https://partner.example.com is not the target's" in notes
    )
    assert (
        "skipped GET /search: no example, default or enum for required query parameter 'q'" in notes
    )
    assert "skipped GET /secure: it needs authentication (bearerAuth)" in notes
    assert "GET /tree: recursive $ref #/components/schemas/Node cut to {}" in notes
    assert re.search(
        r"GET /remote: \$ref https://schemas\.example\.com/thing\.json not followed", joined
    )


def test_swagger_20_operations(api: str) -> None:
    doc = document(api, "/docs/swagger.json")
    ops, notes = operations_from_document(doc, f"{api}/docs/swagger.json", f"{api}/")
    assert [(op.method, op.url, op.expect_status, op.content_type) for op in ops] == [
        ("GET", f"{api}/api/products/2", 200, "application/json"),  # x-example
        ("GET", f"{api}/api/products?tag=bag", 200, "application/json"),  # default
    ]
    product = ops[0].json_schema
    assert product is not None
    assert "x-internal-id" not in product
    assert product["properties"]["price"] == {"type": "number", "exclusiveMaximum": 1000}
    assert product["properties"]["description"] == {"type": ["string", "null"]}
    assert ops[1].json_schema is not None
    inlined = {k: v for k, v in product.items() if k != "$schema"}
    assert ops[1].json_schema["properties"]["items"]["items"] == inlined
    assert notes == ["skipped DELETE /products/{id}: generated checks never change data"]

    # Another host in the document: nothing on the target's origin.
    elsewhere = dict(doc, host="api.partner.test")
    ops, notes = operations_from_document(elsewhere, f"{api}/docs/swagger.json", f"{api}/")
    assert ops == []
    assert (
        "skipped GET /products/{id}: its server http://api.partner.test is not the target's"
        in notes
    )


def test_openapi_31_yaml_operations(api: str) -> None:
    doc = document(api, "/openapi.yaml")
    ops, notes = operations_from_document(doc, f"{api}/openapi.yaml", f"{api}/")
    assert notes == []
    [op] = ops
    assert op.url == f"{api}/api/changes?since=2024-01-01"  # server variable, YAML date default
    assert op.summary == "GET /api/changes (listChanges)"
    schema = op.json_schema
    assert schema is not None
    item = schema["properties"]["changes"]["items"]
    # 3.1 keeps JSON Schema as it is: the $ref's sibling stays, the target joins by allOf.
    assert item["description"] == "one change"
    assert item["allOf"][0]["properties"]["id"] == {"type": "integer", "exclusiveMinimum": 0}
    assert item["allOf"][0]["properties"]["note"] == {"type": ["string", "null"]}


def test_conversion_edge_cases() -> None:
    base = "http://shop.test/"

    def doc_with(schemas: dict[str, Any], response_schema: dict[str, Any], **extra: Any) -> dict:
        return {
            "openapi": "3.0.1",
            "paths": {
                "/x": {
                    "get": {
                        "responses": {
                            "2XX": {
                                "description": "ok",
                                "content": {"application/json": {"schema": response_schema}},
                            }
                        }
                    }
                }
            },
            "components": {"schemas": schemas},
            **extra,
        }

    # nullable beside allOf: wrapped in anyOf; nullable enum: null joins the enum.
    doc = doc_with(
        {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
        {
            "type": "object",
            "properties": {
                "pet": {"allOf": [{"$ref": "#/components/schemas/Pet"}], "nullable": True},
                "size": {"type": "string", "enum": ["s", "m"], "nullable": True},
            },
        },
    )
    [op], notes = operations_from_document(doc, base + "openapi.json", base)
    assert op.expect_status == "2xx"
    assert op.json_schema is not None
    pet = op.json_schema["properties"]["pet"]
    assert pet == {
        "anyOf": [
            {"allOf": [{"type": "object", "properties": {"name": {"type": "string"}}}]},
            {"type": "null"},
        ]
    }
    size = op.json_schema["properties"]["size"]
    assert size == {"type": ["string", "null"], "enum": ["s", "m", None]}

    # An invalid schema is dropped, with a note.
    doc = doc_with({}, {"type": "banana"})
    [op], notes = operations_from_document(doc, base + "openapi.json", base)
    assert op.json_schema is None
    assert any("not valid JSON Schema" in n for n in notes)

    # A schema that explodes when inlined is refused, not expanded.
    fan = {
        f"S{i}": {
            "type": "object",
            "properties": {f"p{j}": {"$ref": f"#/components/schemas/S{i + 1}"} for j in range(10)},
        }
        for i in range(8)
    }
    fan["S8"] = {"type": "string"}
    doc = doc_with(fan, {"$ref": "#/components/schemas/S0"})
    [op], notes = operations_from_document(doc, base + "openapi.json", base)
    assert op.json_schema is None
    assert "GET /x: the response schema is too large to inline; body not checked" in notes

    # Server variables, an unknown one, and the operation cap.
    many = {
        "openapi": "3.0.0",
        "servers": [{"url": "http://shop.test/{v}", "variables": {"v": {"default": "v2"}}}],
        "paths": {
            f"/p{i}": {"get": {"responses": {"200": {"description": "ok"}}}} for i in range(5)
        },
    }
    ops, notes = operations_from_document(many, base + "openapi.json", base, max_ops=3)
    assert [op.url for op in ops] == [f"http://shop.test/v2/p{i}" for i in range(3)]
    assert notes == ["stopped at 3 operations: 2 more safe operations not checked"]
    unknown = dict(many, servers=[{"url": "http://shop.test/{nope}"}])
    ops, notes = operations_from_document(unknown, base + "openapi.json", base)
    assert ops == []
    assert "has an unknown variable" in notes[0]

    # Not a document at all.
    assert operations_from_document({"hello": 1}, base, base) == (
        [],
        ["not an OpenAPI 3.x or Swagger 2.0 document"],
    )


def test_observed_operations_cover_only_what_the_document_does_not(api: str) -> None:
    doc = document(api, "/openapi.json")
    known, _notes = operations_from_document(doc, f"{api}/openapi.json", f"{api}/")
    observed = [
        ("GET", f"{api}/api/products/42", 200, "application/json"),  # documented template
        ("GET", f"{api}/api/products?page=2", 200, "application/json"),  # documented path
        ("GET", f"{api}/api/cart", 200, "application/json; charset=utf-8"),
        ("get", f"{api}/api/cart#again", 200, "application/json"),  # the same call
        ("GET", f"{api}/api/stats?range=7d", 204, ""),
        ("POST", f"{api}/api/cart", 201, "application/json"),  # unsafe
        ("GET", f"{api}/api/gone", 404, "application/json"),  # not a success
        ("GET", "https://cdn.other.test/api/x", 200, "application/json"),  # another origin
        ("GET", f"{api}/api/me?access_token=abc", 200, "application/json"),  # a secret
    ]
    ops = observed_operations(observed, f"{api}/", known)
    assert [(op.url, op.content_type, op.summary) for op in ops] == [
        (f"{api}/api/cart", "application/json", "GET /api/cart (observed)"),
        (f"{api}/api/stats?range=7d", None, "GET /api/stats?range=7d (observed)"),
    ]
    assert all(
        (op.method, op.expect_status, op.json_schema, op.source) == ("GET", "2xx", None, "observed")
        for op in ops
    )


def test_operation_specs_are_valid_specs(api: str) -> None:
    doc = document(api, "/openapi.json")
    ops, _notes = operations_from_document(doc, f"{api}/openapi.json", f"{api}/")
    ids = _Ids()
    specs = [parse_spec(operation_spec(ids, op)) for op in ops]
    assert len({s.id for s in specs}) == len(specs)
    assert all(s.kind == "api" and s.category == "api" for s in specs)
    first = specs[0].steps[0]
    assert isinstance(first, ApiRequest)


def test_json_pointer_resolution() -> None:
    doc = {"a/b": {"m~n": [10, 20]}, "": 1, "list": [{"x": None}]}
    assert resolve_pointer(doc, "") is doc
    assert resolve_pointer(doc, "/a~1b/m~0n/1") == 20
    assert resolve_pointer(doc, "/") == 1
    assert resolve_pointer(doc, "/list/0/x") is None
    assert resolve_pointer(doc, "/list/1") is MISSING
    assert resolve_pointer(doc, "/list/-") is MISSING
    assert resolve_pointer(doc, "/list/01") is MISSING
    assert resolve_pointer(doc, "/a~1b/m~0n/0/deeper") is MISSING
    with pytest.raises(ValueError, match="'~' not followed"):
        resolve_pointer(doc, "/a~2b")


def test_spec_with_an_invalid_json_schema_is_refused() -> None:
    spec = {
        "id": "api-bad-schema",
        "name": "bad schema",
        "kind": "api",
        "category": "api",
        "url": "http://shop.test/",
        "steps": [{"action": "api_request", "url": "/api/x", "json_schema": {"type": "banana"}}],
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert "json_schema is not a valid JSON Schema" in message


# -- run_api_request through real Chromium ---------------------------------------------


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def step(**fields: Any) -> ApiRequest:
    return ApiRequest.model_validate({"action": "api_request", **fields})


LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["items", "total"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "price"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "price": {"type": "number"},
                    "description": {"type": ["string", "null"]},
                },
            },
        },
        "total": {"type": "integer"},
    },
}


def fails(page: Page, api: str, **fields: Any) -> ApiStepFailed:
    with pytest.raises(ApiStepFailed) as caught:
        run_api_request(page, step(**fields), api + "/", TIMEOUT_MS)
    assert isinstance(caught.value, StepFailed)
    return caught.value


def test_conforming_body_passes(page: Page, api: str) -> None:
    check = run_api_request(
        page,
        step(
            url="/api/products",
            content_type="application/json",
            json_schema=LIST_SCHEMA,
            max_time_ms=5000,
            expect_status=200,
        ),
        api + "/",
        TIMEOUT_MS,
    )
    assert check.method == "GET"
    assert check.url == f"{api}/api/products"
    assert check.status == 200
    assert check.content_type == "application/json"
    assert check.duration_ms is not None and 0 < check.duration_ms < 5000
    assert check.schema_errors == []


def test_broken_body_fails_with_json_paths(page: Page, api: str) -> None:
    failure = fails(page, api, url="/api/broken", json_schema=LIST_SCHEMA)
    message = str(failure)
    assert "\n" not in message
    assert message.startswith(f"GET {api}/api/broken: the JSON body does not match the schema")
    assert failure.check.schema_errors == [
        "$.items[2].price: '49.00' is not of type 'number'",
        "$.items[10].id: 'ten' is not of type 'integer'",
        "$.total: '12' is not of type 'integer'",
    ]
    assert "(3 errors)" in message
    assert failure.check.status == 200

    # More than five: the first five by path, then how many more.
    needs_sku = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"required": ["sku"]}}},
    }
    failure = fails(page, api, url="/api/broken", json_schema=needs_sku)
    lines = failure.check.schema_errors
    assert [line.split(":")[0] for line in lines[:5]] == [f"$.items[{i}]" for i in range(5)]
    assert lines[5] == "… and 7 more"
    assert "(12 errors)" in str(failure)


def test_status_exact_or_class(page: Page, api: str) -> None:
    base = api + "/"
    assert run_api_request(page, step(url="/api/accepted", expect_status="2xx"), base, TIMEOUT_MS)
    assert run_api_request(page, step(url="/api/accepted", expect_status=202), base, TIMEOUT_MS)
    failure = fails(page, api, url="/api/accepted", expect_status=201)
    assert str(failure) == f"GET {api}/api/accepted answered HTTP 202, expected 201 " + (
        '({"queued":true})'
    )
    failure = fails(page, api, url="/api/missing")
    assert str(failure).startswith(f"GET {api}/api/missing answered HTTP 404, expected 2xx")
    assert failure.check.status == 404
    check = run_api_request(page, step(url="/api/missing", expect_status=None), base, TIMEOUT_MS)
    assert check.status == 404
    check = run_api_request(page, step(url="/api/missing", expect_status="4xx"), base, TIMEOUT_MS)
    assert check.status == 404
    # A redirect is followed, unless the step expects the redirect itself.
    check = run_api_request(page, step(url="/api/moved", expect_status=200), base, TIMEOUT_MS)
    assert check.status == 200
    check = run_api_request(page, step(url="/api/moved", expect_status=302), base, TIMEOUT_MS)
    assert check.status == 302


def test_content_type(page: Page, api: str) -> None:
    base = api + "/"
    check = run_api_request(
        page, step(url="/api/health", content_type="TEXT/Plain"), base, TIMEOUT_MS
    )
    assert check.content_type == "text/plain; charset=utf-8"
    failure = fails(page, api, url="/api/health", content_type="application/json")
    assert str(failure) == (
        f"GET {api}/api/health answered text/plain; charset=utf-8, expected application/json"
    )


def test_time_budget(page: Page, api: str) -> None:
    failure = fails(page, api, url="/api/slow", max_time_ms=200)
    match = re.fullmatch(
        rf"GET {re.escape(api)}/api/slow answered in (\d+) ms, budget 200 ms", str(failure)
    )
    assert match is not None, str(failure)
    assert int(match.group(1)) >= SLOW_S * 1000
    assert failure.check.duration_ms is not None and failure.check.duration_ms >= SLOW_S * 1000


def test_expect_json_pointers(page: Page, api: str) -> None:
    base = api + "/"
    passing = [
        {"pointer": "/total", "equals": 3},
        {"pointer": "/items/2/price", "equals": 49},  # 49.0 is 49 in JSON
        {"pointer": "/items/0/name", "equals": "Trail Pack"},
        {"pointer": "/items/0/description"},  # present, null
        {"pointer": "/items/3", "exists": False},
        {"pointer": "/meta/a~1b", "equals": 1},
        {"pointer": "/meta/m~0n", "equals": True},
    ]
    check = run_api_request(page, step(url="/api/products", expect_json=passing), base, TIMEOUT_MS)
    assert check.status == 200

    failure = fails(
        page, api, url="/api/products", expect_json=[{"pointer": "/total", "equals": 4}]
    )
    assert str(failure) == f"GET {api}/api/products: JSON pointer /total is 3, expected 4"
    failure = fails(
        page, api, url="/api/products", expect_json=[{"pointer": "/meta/a~1b", "equals": True}]
    )
    assert str(failure).endswith("JSON pointer /meta/a~1b is 1, expected true")
    failure = fails(page, api, url="/api/products", expect_json=[{"pointer": "/items/9/id"}])
    assert str(failure).endswith("JSON pointer /items/9/id is missing")
    failure = fails(
        page, api, url="/api/products", expect_json=[{"pointer": "/meta", "exists": False}]
    )
    assert str(failure).endswith(
        'JSON pointer /meta is present ({"a/b": 1, "m~n": true}), expected it absent'
    )


def test_non_json_body_with_a_schema(page: Page, api: str) -> None:
    failure = fails(page, api, url="/api/page", json_schema={"type": "object"})
    assert str(failure).startswith(
        f"GET {api}/api/page: the body is not JSON (text/html; charset=utf-8: Expecting value"
    )
    assert failure.check.status == 200
    failure = fails(page, api, url="/api/health", method="HEAD", expect_json=[{"pointer": ""}])
    assert str(failure) == (
        f"HEAD {api}/api/health: the body is empty (text/plain; charset=utf-8), not JSON"
    )


def test_post_with_a_json_body(page: Page, api: str) -> None:
    check = run_api_request(
        page,
        step(
            method="POST",
            url="/api/echo",
            body={"name": "Mug", "qty": 2},
            expect_status=201,
            expect_json=[
                {"pointer": "/received", "equals": {"qty": 2, "name": "Mug"}},
                {"pointer": "/type", "equals": "application/json"},
            ],
        ),
        api + "/",
        TIMEOUT_MS,
    )
    assert (check.method, check.status) == ("POST", 201)
    # A string body is sent as JSON too, not as text.
    run_api_request(
        page,
        step(
            method="POST",
            url="/api/echo",
            body="plain",
            expect_json=[{"pointer": "/received", "equals": "plain"}],
        ),
        api + "/",
        TIMEOUT_MS,
    )


def test_guard_refusal_says_so(page: Page, api: str) -> None:
    failure = fails(page, api, url="/api/guarded", expect_status=None)
    assert str(failure) == (f"{api}/api/guarded was not visited: 10.0.0.5 is a private address")
    assert failure.check.status == 403


def test_unreachable_host_is_a_failure_with_its_check(page: Page) -> None:
    failure = fails(page, "http://127.0.0.1:9", url="/api/x", max_time_ms=100)
    assert str(failure).startswith("GET http://127.0.0.1:9/api/x got no answer: ")
    assert failure.check.status is None and failure.check.duration_ms is not None


def test_discovered_checks_run_against_the_site(page: Page, api: str) -> None:
    found = discover_documented(
        page.request, f"{api}/", ["/docs/swagger.json"], TIMEOUT_MS, described=["/openapi.json"]
    )
    assert found.document_url == f"{api}/openapi.json"
    assert "skipped POST /products: generated checks never change data" in found.notes
    ids = _Ids()
    outcomes: dict[str, str] = {}
    for op in found.operations:
        spec = parse_spec(operation_spec(ids, op))
        [api_step] = spec.steps
        assert isinstance(api_step, ApiRequest)
        try:
            run_api_request(page, api_step, spec.url, TIMEOUT_MS)
            outcomes[op.summary] = "passed"
        except ApiStepFailed as exc:
            outcomes[op.summary] = str(exc)
    broken = outcomes.pop("GET /api/broken (listBroken)")
    assert "$.items[2].price: '49.00' is not of type 'number'" in broken
    assert "$.total: '12' is not of type 'integer'" in broken
    # The recursive schema was cut at its cycle: a bad name deep in the tree goes unseen.
    assert outcomes["GET /api/tree (getTree)"] == "passed"
    remote = outcomes.pop("GET /api/remote")
    assert "answered HTTP 404" in remote
    assert set(outcomes.values()) == {"passed"}, outcomes

    # Without links, the usual paths find the document too; YAML and Swagger parse as well.
    found = discover_documented(page.request, f"{api}/", [], TIMEOUT_MS)
    assert found.document_url == f"{api}/openapi.json"
    found = discover_documented(page.request, f"{api}/", ["/docs/swagger.json"], TIMEOUT_MS)
    assert found.document_url == f"{api}/docs/swagger.json"
    assert len(found.operations) == 2


def test_yaml_document_checks_pass(page: Page, api: str) -> None:
    body, ctype = fetch(f"{api}/openapi.yaml")
    doc = parse_document(body, ctype)
    assert doc is not None
    yaml.safe_load(body)  # the fixture itself is plain YAML
    ops, _notes = operations_from_document(doc, f"{api}/openapi.yaml", f"{api}/")
    spec = parse_spec(operation_spec(_Ids(), ops[0]))
    [api_step] = spec.steps
    assert isinstance(api_step, ApiRequest)
    check = run_api_request(page, api_step, spec.url, TIMEOUT_MS)
    assert check.status == 200


def test_run_step_records_the_check_even_when_it_fails(page: Page, api: str) -> None:
    seen = Observed(origin=origin_of(api))
    run_step(page, step(url="/api/products"), api + "/", seen, TIMEOUT_MS)
    with pytest.raises(ApiStepFailed):
        run_step(
            page, step(url="/api/broken", json_schema=LIST_SCHEMA), api + "/", seen, TIMEOUT_MS
        )
    assert [(c.url, c.status, len(c.schema_errors)) for c in seen.api] == [
        (f"{api}/api/products", 200, 0),
        (f"{api}/api/broken", 200, 3),
    ]
