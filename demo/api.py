"""The demo shop's documented JSON API and its OpenAPI 3.0 document.

``/api/openapi.json`` documents ``GET /api/products``, ``GET
/api/products/{slug}`` and ``GET /api/stores`` (every page links it with
``<link rel="service-desc">``). With bugs seeded, ``GET /api/products``
breaks its own schema (seeded bug "api-schema"): one product's ``price`` is a
string. ``/api/stats`` (the dashboard's feed, in :mod:`demo.app`) is
deliberately left out of the document.
"""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from demo.catalog import PRODUCTS, PRODUCTS_BY_SLUG, STORES, Product, Store

OPENAPI_PATH: Final = "/api/openapi.json"
SCHEMA_BUG_SLUG: Final = "camp-stove"  # seeded bug "api-schema": its price is a string


def product_json(product: Product, *, price_as_string: bool = False) -> dict[str, Any]:
    """One product as the API answers it; ``price_as_string`` is the seeded schema break."""
    amount = product.price.removeprefix("$")
    price: float | str = amount if price_as_string else float(amount)
    return {"slug": product.slug, "name": product.name, "price": price, "in_stock": True}


def store_json(store: Store) -> dict[str, Any]:
    return {
        "slug": store.slug,
        "name": store.name,
        "address": store.address,
        "city": store.city,
        "phone": store.phone,
        "hours": store.hours,
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 document served at ``/api/openapi.json`` (the same in both modes)."""
    slugs = [p.slug for p in PRODUCTS]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Acme Outfitters API",
            "version": "1.0.0",
            "description": "Read-only catalogue and store data for the Acme Outfitters demo shop.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/products": _list_path(
                "listProducts", "Every product in the catalogue", "The products", "Product"
            ),
            "/api/products/{slug}": _product_path(slugs),
            "/api/stores": _list_path(
                "listStores", "Every store on the store locator", "The stores", "Store"
            ),
        },
        "components": {"schemas": _schemas(slugs)},
    }


def _list_path(operation_id: str, summary: str, description: str, item: str) -> dict[str, Any]:
    """A path whose one ``GET`` answers 200 with an array of ``item`` schemas."""
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "responses": {
                "200": {
                    "description": description,
                    "content": _json_content({"type": "array", "items": _ref(item)}),
                }
            },
        }
    }


def _product_path(slugs: list[str]) -> dict[str, Any]:
    """``GET /api/products/{slug}``: one product, or 404 for an unknown slug."""
    return {
        "get": {
            "operationId": "getProduct",
            "summary": "One product",
            "parameters": [
                {
                    "name": "slug",
                    "in": "path",
                    "required": True,
                    "description": "The product's slug",
                    "schema": {"type": "string", "enum": slugs},
                    "example": slugs[0],
                }
            ],
            "responses": {
                "200": {
                    "description": "The product",
                    "content": _json_content(_ref("Product")),
                },
                "404": {
                    "description": "No product has this slug",
                    "content": _json_content(_ref("Error")),
                },
            },
        }
    }


def _schemas(slugs: list[str]) -> dict[str, Any]:
    """The ``Product``, ``Store`` and ``Error`` schemas the paths refer to."""
    return {
        "Product": {
            "type": "object",
            "required": ["slug", "name", "price", "in_stock"],
            "properties": {
                "slug": {"type": "string", "example": slugs[0]},
                "name": {"type": "string"},
                "price": {"type": "number", "minimum": 0, "example": 89.0},
                "in_stock": {"type": "boolean"},
            },
        },
        "Store": {
            "type": "object",
            "required": ["slug", "name", "address", "city", "phone", "hours"],
            "properties": {
                "slug": {"type": "string"},
                "name": {"type": "string"},
                "address": {"type": "string"},
                "city": {"type": "string"},
                "phone": {
                    "type": "string",
                    "nullable": True,
                    "description": "null where the store has no phone",
                },
                "hours": {"type": "string"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
    }


def make_api_blueprint(bugs: bool) -> Blueprint:
    """The documented API; ``bugs`` seeds the schema break in ``GET /api/products``."""
    api = Blueprint("api", __name__, url_prefix="/api")

    @api.get("/openapi.json")
    def openapi() -> ResponseReturnValue:
        return jsonify(openapi_document())

    @api.get("/products")
    def products() -> ResponseReturnValue:
        return jsonify(
            [product_json(p, price_as_string=bugs and p.slug == SCHEMA_BUG_SLUG) for p in PRODUCTS]
        )

    @api.get("/products/<slug>")
    def product(slug: str) -> ResponseReturnValue:
        item = PRODUCTS_BY_SLUG.get(slug)
        if item is None:
            return jsonify(error=f"no product {slug!r}"), 404
        return jsonify(product_json(item))

    @api.get("/stores")
    def stores() -> ResponseReturnValue:
        return jsonify([store_json(s) for s in STORES])

    return api
