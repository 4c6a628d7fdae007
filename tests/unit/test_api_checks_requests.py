"""API checks through real Chromium: ``run_api_request`` against a local shop API.

Each check sends a real request through a page's ``APIRequestContext``; the
shop (``tests.apidocs``) answers, slowly, wrongly or not at all where a test
needs it to. Discovered checks run against the same shop end to end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page

from matf.agents.apidiscovery import discover_documented
from matf.agents.apidiscovery.document import parse_document
from matf.agents.apidiscovery.documented import operations_from_document
from matf.agents.apidiscovery.operation import operation_spec
from matf.agents.writer import _Ids
from matf.browser.api import MISSING, ApiStepFailed, resolve_pointer, run_api_request
from matf.browser.errors import StepFailed
from matf.browser.steps import Observed, origin_of, run_step
from matf.errors import SpecError
from matf.spec import ApiRequest, parse_spec
from tests.apidocs import SLOW_S, fetch, serve_shop

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serve_shop() as url:
        yield url


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
