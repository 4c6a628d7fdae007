"""Checks from API documents: OpenAPI 3.0, 3.1 and Swagger 2.0 operations, schemas, notes.

``operations_from_document`` is a pure function, tested on the documents a
local shop publishes (``tests.apidocs``) and on small documents built here;
observed calls get checks only where no documented operation covers them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from matf.agents.apidiscovery.documented import operations_from_document
from matf.agents.apidiscovery.observed import observed_operations
from matf.agents.apidiscovery.operation import operation_spec
from matf.agents.writer import _Ids
from matf.spec import ApiRequest, parse_spec
from tests.apidocs import by_summary, document, serve_shop

BASE = "http://shop.test/"


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serve_shop() as url:
        yield url


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


def doc_with(
    schemas: dict[str, Any], response_schema: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """A 3.0 document with one GET whose 2XX body has ``response_schema``."""
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


def test_nullable_beside_all_of_is_wrapped_and_a_nullable_enum_takes_null() -> None:
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
    [op], notes = operations_from_document(doc, BASE + "openapi.json", BASE)
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


def test_an_invalid_schema_is_dropped_with_a_note() -> None:
    doc = doc_with({}, {"type": "banana"})
    [op], notes = operations_from_document(doc, BASE + "openapi.json", BASE)
    assert op.json_schema is None
    assert any("not valid JSON Schema" in n for n in notes)


def test_a_schema_that_explodes_when_inlined_is_refused() -> None:
    fan = {
        f"S{i}": {
            "type": "object",
            "properties": {f"p{j}": {"$ref": f"#/components/schemas/S{i + 1}"} for j in range(10)},
        }
        for i in range(8)
    }
    fan["S8"] = {"type": "string"}
    doc = doc_with(fan, {"$ref": "#/components/schemas/S0"})
    [op], notes = operations_from_document(doc, BASE + "openapi.json", BASE)
    assert op.json_schema is None
    assert "GET /x: the response schema is too large to inline; body not checked" in notes


def test_server_variables_an_unknown_one_and_the_operation_cap() -> None:
    many = {
        "openapi": "3.0.0",
        "servers": [{"url": "http://shop.test/{v}", "variables": {"v": {"default": "v2"}}}],
        "paths": {
            f"/p{i}": {"get": {"responses": {"200": {"description": "ok"}}}} for i in range(5)
        },
    }
    ops, notes = operations_from_document(many, BASE + "openapi.json", BASE, max_ops=3)
    assert [op.url for op in ops] == [f"http://shop.test/v2/p{i}" for i in range(3)]
    assert notes == ["stopped at 3 operations: 2 more safe operations not checked"]
    unknown = dict(many, servers=[{"url": "http://shop.test/{nope}"}])
    ops, notes = operations_from_document(unknown, BASE + "openapi.json", BASE)
    assert ops == []
    assert "has an unknown variable" in notes[0]


def test_what_is_not_a_document_gives_no_operations() -> None:
    assert operations_from_document({"hello": 1}, BASE, BASE) == (
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
