"""A local shop API that publishes its OpenAPI 3.0, 3.1 (YAML) and Swagger 2.0 documents.

The API tests discover checks from these documents and run them against the
same server; some of its endpoints break their documented schema on purpose.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.serving import make_server

from matf.agents.apidiscovery.document import parse_document
from matf.agents.apidiscovery.operation import ApiOperation

DATA = Path(__file__).parent / "data"
SLOW_S = 0.6

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


def broken_items() -> list[dict[str, Any]]:
    """Twelve items, two of which break the documented product schema."""
    items: list[dict[str, Any]] = [
        {"id": n, "name": f"Item {n}", "price": float(n), "description": None, "tags": []}
        for n in range(12)
    ]
    items[2]["price"] = "49.00"  # a string where the schema says number
    items[10]["id"] = "ten"
    return items


def openapi_30() -> dict[str, Any]:
    """The shop's OpenAPI 3.0 document: safe and unsafe, public and secured operations."""
    document: dict[str, Any] = json.loads((DATA / "openapi_30.json").read_text(encoding="utf-8"))
    return document


def swagger_20(host: str) -> dict[str, Any]:
    """The shop's Swagger 2.0 document, served from ``host``."""
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
    """The shop's OpenAPI 3.1 document in YAML, its server on ``origin``."""
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
    """The shop: its home page, its API documents and the API they describe."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # documents keep their order
    _add_documents(app)
    _add_catalogue(app)
    _add_oddities(app)
    return app


def _add_documents(app: Flask) -> None:
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


def _add_catalogue(app: Flask) -> None:
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
        return jsonify({"items": broken_items(), "total": "12"})

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


def _add_oddities(app: Flask) -> None:
    """Endpoints for the checks' failure modes: slow, HTML, missing, refused, redirected."""

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


@contextmanager
def serve_shop() -> Iterator[str]:
    """The shop on a free loopback port, as its origin URL; stopped on exit."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fetch(url: str) -> tuple[bytes, str | None]:
    """The body and content type at ``url``."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers.get("Content-Type")


def document(api: str, path: str) -> dict[str, Any]:
    """The document the shop serves at ``path``, parsed; it must parse."""
    body, ctype = fetch(api + path)
    doc = parse_document(body, ctype)
    assert doc is not None
    return doc


def by_summary(ops: list[ApiOperation], start: str) -> ApiOperation:
    """The one operation whose summary starts with ``start``."""
    found = [op for op in ops if op.summary.startswith(start)]
    assert len(found) == 1, (start, [op.summary for op in ops])
    return found[0]
