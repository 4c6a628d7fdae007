"""No input earns a 5xx: every operation of /openapi.json, sent what an attacker would send.

A hand-written fuzz, no generator: each attack (deep nesting, huge strings,
invalid or overlong UTF-8, UTF-16, lone surrogates, NUL and other control
characters, odd numbers, duplicate keys, wrong types, bad content types,
hostile headers and path segments) goes to every operation the live document
lists, as admin so that every operation reads its input. Each answer must be
below 500, and every 4xx under /api/ a problem document with a ``detail``;
nothing may be logged as an internal error. The server runs with production
settings (real secrets, ``MATF_ENV=production``), so no development shortcut
hides a failure.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from matf.options import Limits, RunOptions
from matf.results import Healing, LocatorChange, RunStatus, TestResult
from matf.secrets.keyring import generate_key
from matf.spec import Locator, TestSpec, retarget
from matf.storage.db import get_engine, session_scope
from matf.storage.healing import list_proposals, record_proposals
from matf.storage.runs import create_run, finish_run, get_run, record_results, save_cases
from matf.storage.suites import create_suite
from tests.apiserver import ApiServer
from tests.conftest import server_settings
from tests.fuzzing import (
    ATTACKS,
    EVIL_QUERY_VALUES,
    EVIL_SEGMENTS,
    JSON,
    PATH_VALUES,
    SPEC,
    VALID_BODIES,
    Op,
    Probe,
)
from web import create_app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """Production settings: real secrets, no allowed private target, a limit out of the way."""
    settings = server_settings(
        tmp_path_factory.mktemp("fuzz"),
        matf_env="production",
        jwt_secret=secrets.token_urlsafe(48),
        encryption_key=generate_key(),
        matf_allowed_targets="",
    )
    api = ApiServer(settings).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def real_ids(server: ApiServer) -> dict[str, str]:
    """A finished run with a result and a healing proposal, and a suite with a case."""
    target = "http://127.0.0.1:9/"  # refused by this server's guard: a rerun starts nothing
    spec = TestSpec.model_validate({**SPEC, "url": target})
    options = RunOptions(types=("functional",), limits=Limits(max_pages=5))
    with session_scope(get_engine(server.settings.database_url), write=True) as session:
        run = create_run(session, target, options).id
        save_cases(session, run, [spec])
        healed = retarget(spec, 1, Locator.model_validate({"test_id": "buy"}))
        change = LocatorChange(
            step=1,
            action="click",
            before={"role": "button", "name": "Buy", "exact": True},
            after={"test_id": "buy", "exact": True},
            source="alternative",
        )
        healing = Healing(
            outcome="passed",
            changes=[change],
            spec=healed.model_dump(mode="json", exclude_none=True),
        )
        result = TestResult.for_spec(
            spec, "chromium", run, "failed", error="no element", healing=healing
        )
        record_results(session, [result])
        finish_run(session, run, RunStatus.FAILED, datetime.now(UTC))
        record_proposals(session, get_run(session, run), [result])
        [proposal], _total = list_proposals(session, run)
        suite = create_suite(session, "Smoke", target, [spec], "user:admin@example.com").id
    return {"run_id": run, "suite_id": suite, "case_id": "home", "proposal_id": str(proposal.id)}


@pytest.fixture(scope="module")
def operations(server: ApiServer, real_ids: dict[str, str]) -> list[Op]:
    """The document's operations; path parameters name real resources, except to delete."""
    document = httpx.get(server.url + "/openapi.json", timeout=30).json()
    ops = []
    for path, item in document["paths"].items():
        for method, spec in item.items():
            params = spec.get("parameters", [])
            real = {**real_ids, "name": "report.json"} if method != "delete" else {}
            path_params = {
                p["name"]: real.get(p["name"], PATH_VALUES.get(p["schema"].get("type"), "x"))
                for p in params
                if p["in"] == "path"
            }
            query = [p["name"] for p in params if p["in"] == "query"]
            op = Op(method.upper(), path, path_params, query, None)
            if "requestBody" in spec:
                op.body = VALID_BODIES[op.key]  # a new body operation needs a valid body here
                ref = spec["requestBody"]["content"][JSON]["schema"]["$ref"].rsplit("/", 1)[1]
                op.fields = list(document["components"]["schemas"][ref]["properties"])
            ops.append(op)
    assert len(ops) >= 40
    return ops


def _send(client: httpx.Client, probe: Probe, token: str) -> httpx.Response:
    headers: dict[str, Any] = {}
    if probe.auth:
        headers["Authorization"] = f"Bearer {token}"
    if probe.content_type is not None and probe.content is not None:
        headers["Content-Type"] = probe.content_type
    headers.update(probe.headers)
    return client.request(
        probe.method or probe.op.method,
        probe.url,
        content=probe.content,
        params=probe.params,
        headers=headers,
    )


def _verdict(probe: Probe, response: httpx.Response) -> str | None:
    """Why this answer is wrong, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:200]}"
    if 400 <= status < 500 and probe.op.path.startswith("/api/"):
        kind = response.headers.get("content-type", "")
        if kind != "application/problem+json":
            return f"{status} as {kind!r}: {response.text[:200]}"
        if (probe.method or probe.op.method) != "HEAD" and not response.json().get("detail"):
            return f"{status} without a detail"
    if "json" in response.headers.get("content-type", "") and response.content:
        try:  # strict JSON: no NaN or Infinity echoed back
            json.loads(response.content, parse_constant=_not_json)
        except ValueError as exc:
            return f"{status} with invalid JSON ({exc}): {response.text[:200]}"
    return None


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _run(server: ApiServer, ops: list[Op], attack: Callable[[Op], list[Probe]]) -> int:
    failures: list[str] = []
    sent = 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for op in ops:
            for probe in attack(op):
                response = _send(client, probe, server.tokens["admin"])
                sent += 1
                wrong = _verdict(probe, response)
                if wrong is not None:
                    shown = (probe.content or b"")[:80]
                    failures.append(
                        f"{probe.method or op.method} {probe.url[:120]} {probe.params!r:.120} "
                        f"{probe.headers!r:.120} {probe.content_type} {shown!r}: {wrong}"
                    )
    assert failures == [], "\n".join(failures)
    return sent


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
def test_no_input_earns_a_server_error(
    server: ApiServer,
    operations: list[Op],
    attack: Callable[[Op], list[Probe]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # When the attack goes to every operation of the document
    sent = _run(server, operations, attack)
    # Then each answer was below 500 (a problem if 4xx), and nothing was logged as a crash
    assert sent >= len(operations)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- the dashboard: pages, the sign-in form, the docs -------------------------------------

PAGE_QUERIES = ["offset", "status", "target", "run", "next", "page"]


def _pages(server: ApiServer, real_ids: dict[str, str]) -> list[str]:
    """Every GET rule outside /api/, path parameters filled with real ids."""
    app = create_app(server.settings, server.runtime)
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/ws", "/static/")) or "GET" not in (rule.methods or ()):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:\w+:)?{name}>", real_ids.get(name, "x"), url)
        urls.append(url)
    return urls


def test_no_dashboard_input_earns_a_server_error(
    server: ApiServer, real_ids: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    pages = _pages(server, real_ids)
    assert len(pages) >= 10
    failures = []
    cookies = {"matf_session": server.tokens["admin"]}
    with httpx.Client(base_url=server.url, timeout=60, cookies=cookies) as client:
        requests = [
            (f"{page}?{name}={value}", None)
            for page in pages
            for name in PAGE_QUERIES
            for value in EVIL_QUERY_VALUES
        ]
        requests += [
            (f"{page.rsplit('/', 1)[0]}/{segment}", None)
            for page in pages
            for segment in EVIL_SEGMENTS
            if page.count("/") > 1
        ]
        form = [
            {"email": value, "password": value, "next": value}
            for value in [
                "\x00",
                "x" * 100_000,
                "/\r\n/x",
                "/%0d%0aSet-Cookie:x=1",
                "\\\\evil",
            ]
        ]
        for url, _ in requests:
            response = client.get(url)
            if response.status_code >= 500:
                failures.append(f"GET {url[:120]}: {response.status_code}")
        for data in form:
            response = client.post("/login", data=data)
            if response.status_code >= 500:
                failures.append(f"POST /login {data!r:.120}: {response.status_code}")
        for body in (
            b"email=%ff%fe&password=%00",
            b"email=%ed%a0%80&next=%ed%a0%80",
            b"\xff\xfe",
            b"&&&==&%",
            b"email=" + b"a" * 10,
        ):
            response = client.post(
                "/login",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            if response.status_code >= 500:
                failures.append(f"POST /login {body!r:.120}: {response.status_code}")
    assert failures == [], "\n".join(failures)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("page", ["/runs", "/suites", "/healing"])
@pytest.mark.parametrize("offset", [str(2**64), "-1", "x"])
def test_a_list_page_takes_any_offset(server: ApiServer, page: str, offset: str) -> None:
    # Before, ?offset=2**64 reached SQLite's OFFSET and answered 500
    cookies = {"matf_session": server.tokens["admin"]}
    with httpx.Client(base_url=server.url, timeout=30, cookies=cookies) as client:
        response = client.get(page, params={"offset": offset})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {"Sec-WebSocket-Version": "99", "Sec-WebSocket-Key": "x"}),
        ("", {}),  # no key, no version
        ("", {"Sec-WebSocket-Version": "13"}),  # no key
        (f"?after={2**64}", {"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "x"}),
        ("?after=-1", {}),
    ],
)
def test_a_websocket_handshake_it_cannot_take_is_a_bad_request(
    server: ApiServer, caplog: pytest.LogCaptureFixture, query: str, headers: dict[str, str]
) -> None:
    # Before, wsproto's refusal of the handshake (and SQLite's of the id) answered 500
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", **headers}
    with server.client("admin") as client:  # the fuzz deactivates the viewer (user 1)
        response = client.get("/ws" + query, headers=upgrade)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_a_number_json_cannot_hold_is_a_bad_request(server: ApiServer, number: str) -> None:
    # Before, PUT /budgets stored 1e999 as infinity and answered "lcp_ms": Infinity (not JSON)
    body = '{"url": "https://shop.example.com/", "budgets": {"lcp_ms": ' + number + "}}"
    with server.client("admin") as client:
        response = client.put("/api/v1/budgets", content=body, headers={"Content-Type": JSON})
        saved = client.get("/api/v1/budgets", params={"url": "https://shop.example.com/"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert number.lstrip("-") in response.json()["detail"]
    assert "Infinity" not in saved.text and "NaN" not in saved.text
