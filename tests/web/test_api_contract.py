"""The API does what its OpenAPI document says: Schemathesis against the live server.

The document is generated from the same declarations as the routes
(``web/openapi.py``), so these tests check the generator as much as the views:
answers must match their declared status codes, content types and schemas, and
no input, however odd, may earn a 5xx. Runs never start: the only run target
sent is a private address, which the SSRF guard refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31

from matf.options import Limits, RunOptions
from matf.results import Healing, LocatorChange, TestResult
from matf.secrets.keyring import generate_key
from matf.spec import Locator, TestSpec, retarget
from matf.storage.db import get_engine, session_scope
from matf.storage.healing import list_proposals, record_proposals
from matf.storage.optimizer import list_proposals as list_quarantine
from matf.storage.runs import (
    create_run,
    finish_run,
    get_run,
    record_event,
    record_results,
    save_cases,
)
from matf.storage.suites import create_suite
from tests.apiserver import ApiServer
from tests.conftest import make_settings, server_settings
from tests.optimizer_history import analysed
from web import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
REFUSED_TARGET = "http://10.255.255.1/"
TARGET = "http://127.0.0.1:9/"
EXAMPLES = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A configured server (ENCRYPTION_KEY set) that may reach no target at all."""
    folder = tmp_path_factory.mktemp("contract")
    api = ApiServer(
        server_settings(folder, matf_allowed_targets="", encryption_key=generate_key())
    ).start()
    yield api
    api.stop()


@pytest.fixture
def api_schema(server: ApiServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


def _admin(server: ApiServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.tokens['admin']}"}


def _fuzz(operation: schemathesis.APIOperation, server: ApiServer) -> None:
    """Valid and invalid requests to ``operation``, each answer checked against the document."""
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: keeps the file fast
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        execute = operation.path == "/api/v1/tests/execute"
        if execute and isinstance(case.body, dict) and case.body.get("url") is not None:
            case.body["url"] = REFUSED_TARGET  # whatever else is generated, start nothing
        case.call_and_validate(headers=_admin(server), checks=CHECKS)

    check()


def test_every_operation_keeps_its_contract(
    server: ApiServer, api_schema: schemathesis.BaseSchema, subtests: pytest.Subtests
) -> None:
    # schemathesis.pytest.from_fixture cannot run under pytest 9.2 (it sets Function._nodeid,
    # which pytest removed), so each operation of the live document is one subtest here.
    labels = []
    for result in api_schema.get_all_operations():
        if not isinstance(result, Ok):
            pytest.fail(f"schemathesis cannot read an operation: {result.err()}")
        operation = result.ok()
        labels.append(operation.label)
        with subtests.test(msg=operation.label):
            _fuzz(operation, server)
    assert len(labels) >= 30


# -- the document itself -----------------------------------------------------------------


@pytest.fixture(scope="module")
def document(server: ApiServer) -> dict[str, Any]:
    response = httpx.get(server.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)
    # Each model is itself a valid JSON Schema 2020-12, and every $ref resolves
    for name, model in document["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(model)
        assert name == model.get("title", name)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs <= set(document["components"]["schemas"])
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def test_every_api_route_is_in_the_document(server: ApiServer, document: dict[str, Any]) -> None:
    # Given the routes Flask serves under /api/ (an app built like the served one)
    app = create_app(server.settings, server.runtime)
    served = {
        (method, _openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if path.startswith("/api/")
    }
    # Then each is documented, and the document invents none
    assert served - documented == set()
    assert documented - served == set()


# -- real resources, not just 404s -------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(server: ApiServer) -> dict[str, str]:
    """A finished run with a result and an event, a run still queued, a suite with a case,
    a healing proposal (for a run whose tests are in no saved suite: accepting it is 409),
    and an optimizer analysis with its quarantine proposals."""
    spec = TestSpec.model_validate(
        {
            "id": "home",
            "name": "Home page loads",
            "url": TARGET,
            "steps": [{"action": "goto", "url": "/"}],
        }
    )
    engine = get_engine(server.settings.database_url)
    options = RunOptions(types=("functional",), limits=Limits(max_pages=5))
    with session_scope(engine, write=True) as session:
        done = create_run(session, TARGET, options).id
        save_cases(session, done, [spec])
        result = TestResult(
            run_id=done,
            case_id="home",
            name=spec.name,
            kind="functional",
            category="custom",
            browser="chromium",
            status="failed",
            url=TARGET,
            duration_ms=120,
            error="expected a 2xx answer, got 500",
        )
        record_results(session, [result])
        record_event(
            session, f"{done}:done", "test.finished", "executor", done, {"case_id": "home"}
        )
        finish_run(session, done, "failed", datetime.now(UTC))
        queued = create_run(session, TARGET, options).id
        suite = create_suite(session, "Smoke", TARGET, [spec], "user:admin@example.com").id
        clicks = TestSpec.model_validate(
            {
                "id": "buy",
                "name": "Buy",
                "url": TARGET,
                "steps": [{"action": "click", "target": {"text": "Buy"}}],
            }
        )
        healed = retarget(clicks, 0, Locator.model_validate({"test_id": "buy"}))
        change = LocatorChange(
            step=0,
            action="click",
            before={"text": "Buy", "exact": True},
            after={"test_id": "buy", "exact": True},
            source="alternative",
        )
        healing = Healing(
            outcome="passed",
            changes=[change],
            spec=healed.model_dump(mode="json", exclude_none=True),
        )
        healed_result = TestResult.for_spec(
            clicks, "chromium", done, "failed", error="no element", healing=healing
        )
        record_proposals(session, get_run(session, done), [healed_result])
        [proposal], _total = list_proposals(session, done)
    _suite, detail = analysed(server.settings)
    with session_scope(engine) as session:
        [quarantine, *_others], _total = list_quarantine(session, "pending")
    return {
        "done": done,
        "queued": queued,
        "suite": suite,
        "proposal": proposal.id,
        "analysis": detail["analysis_id"],
        "quarantine": quarantine.id,
    }


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/api/v1/runs", {}),
        ("GET", "/api/v1/runs/{run_id}", {"run_id": "done"}),
        ("GET", "/api/v1/runs/{run_id}", {"run_id": "queued"}),
        ("GET", "/api/v1/runs/{run_id}/status", {"run_id": "done"}),
        ("GET", "/api/v1/runs/{run_id}/results", {"run_id": "done"}),
        ("GET", "/api/v1/runs/{run_id}/events", {"run_id": "done"}),
        ("GET", "/api/v1/runs/{run_id}/artifacts", {"run_id": "done"}),
        ("GET", "/api/v1/runs/{run_id}/report/{name}", {"run_id": "done", "name": "report.json"}),
        ("GET", "/api/v1/runs/{run_id}/report/{name}", {"run_id": "done", "name": "report.html"}),
        ("GET", "/api/v1/runs/{run_id}/report/{name}", {"run_id": "done", "name": "junit.xml"}),
        ("GET", "/api/v1/runs/{run_id}/report/{name}", {"run_id": "done", "name": "report.pdf"}),
        ("GET", "/api/v1/runs/{run_id}/report/{name}", {"run_id": "queued", "name": "junit.xml"}),
        ("POST", "/api/v1/runs/{run_id}/cancel", {"run_id": "done"}),
        ("GET", "/api/v1/trends", {}),
        ("GET", "/api/v1/targets", {}),
        ("GET", "/api/v1/suites", {}),
        ("GET", "/api/v1/suites/{suite_id}", {"suite_id": "suite"}),
        ("GET", "/api/v1/suites/{suite_id}/cases", {"suite_id": "suite"}),
        (
            "GET",
            "/api/v1/suites/{suite_id}/cases/{case_id}",
            {"suite_id": "suite", "case_id": "home"},
        ),
        ("GET", "/api/v1/healing", {}),
        ("GET", "/api/v1/healing/{proposal_id}", {"proposal_id": "proposal"}),
        ("POST", "/api/v1/healing/{proposal_id}/accept", {"proposal_id": "proposal"}),
        ("GET", "/api/v1/optimizer/analysis", {}),
        ("GET", "/api/v1/optimizer/analyses", {}),
        ("GET", "/api/v1/optimizer/analyses/{analysis_id}", {"analysis_id": "analysis"}),
        ("GET", "/api/v1/optimizer/quarantine", {}),
        ("GET", "/api/v1/optimizer/quarantine/{proposal_id}", {"proposal_id": "quarantine"}),
        (
            "POST",
            "/api/v1/optimizer/quarantine/{proposal_id}/reject",
            {"proposal_id": "quarantine"},
        ),
        ("GET", "/api/v1/users", {}),
        ("GET", "/api/v1/keys", {}),
        ("GET", "/api/v1/auth/me", {}),
        ("GET", "/api/v1/system/agents/status", {}),
        ("GET", "/api/v1/system/test-queue", {}),
        ("GET", "/api/v1/system/browser-pool", {}),
        ("GET", "/api/v1/system/health", {}),
        ("GET", "/health", {}),
    ],
)
def test_real_resources_match_the_document(
    server: ApiServer,
    seeded: dict[str, str],
    api_schema: schemathesis.BaseSchema,
    method: str,
    path: str,
    params: dict[str, str],
) -> None:
    values = {name: seeded.get(value, value) for name, value in params.items()}
    case = api_schema[path][method].Case(path_parameters=values)
    response = case.call_and_validate(headers=_admin(server), checks=CHECKS)
    assert response.status_code < 400 or response.status_code == 409, response.text


def test_a_run_on_a_private_address_is_refused_as_documented(
    server: ApiServer, api_schema: schemathesis.BaseSchema
) -> None:
    # The fuzzing above relies on this: no generated run can start
    case = api_schema["/api/v1/tests/execute"]["POST"].Case(
        body={"url": REFUSED_TARGET}, media_type="application/json"
    )
    response = case.call_and_validate(headers=_admin(server), checks=CHECKS)
    assert response.status_code == 422


def test_secrets_without_an_encryption_key_answer_as_documented(tmp_path: Path) -> None:
    # A server without ENCRYPTION_KEY cannot store a secret; it must say so as documented
    server = ApiServer(make_settings(tmp_path, rate_limit="100000 per minute")).start()
    try:
        loaded = schemathesis.openapi.from_url(server.url + "/openapi.json")
        case = loaded["/api/v1/secrets"]["PUT"].Case(
            body={"origin": "https://shop.example.com", "name": "login", "value": {"u": "p"}},
            media_type="application/json",
        )
        # A 5xx is right here (the server is misconfigured), but it must be documented
        response = case.call_and_validate(headers=_admin(server), checks=CHECKS[1:])
    finally:
        server.stop()
    assert response.status_code >= 400
    assert "ENCRYPTION_KEY" in response.json()["detail"]


# -- what the fuzzing found, pinned down -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/keys/{key_id}"),
        ("PATCH", "/api/v1/users/{user_id}"),
    ],
)
def test_an_id_too_big_for_the_database_is_not_found(
    server: ApiServer, api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    # The document allows any integer; SQLite stores 64 bits
    name = path.rsplit("{", 1)[1].rstrip("}")
    body = {"name": "x"} if method == "PATCH" else None
    kwargs: dict[str, Any] = {"path_parameters": {name: 2**64}}
    if body is not None:
        kwargs.update(body=body, media_type="application/json")
    case = api_schema[path][method].Case(**kwargs)
    response = case.call_and_validate(headers=_admin(server), checks=CHECKS)
    assert response.status_code == 404


def test_a_rerun_the_guard_now_refuses_is_refused_as_documented(
    server: ApiServer, seeded: dict[str, str], api_schema: schemathesis.BaseSchema
) -> None:
    # Given a finished run on a loopback target, which this server may not reach
    case = api_schema["/api/v1/runs/{run_id}/rerun"]["POST"].Case(
        path_parameters={"run_id": seeded["done"]}
    )
    # When it is run again, the guard's refusal is a documented answer (the stateful phase found it)
    response = case.call_and_validate(headers=_admin(server), checks=CHECKS)
    assert response.status_code == 422
    assert "loopback" in response.json()["detail"]


@pytest.mark.parametrize("after", [2**63, 2**64])
def test_events_after_an_id_too_big_for_the_database_are_refused_as_documented(
    server: ApiServer, seeded: dict[str, str], api_schema: schemathesis.BaseSchema, after: int
) -> None:
    # Before, the fuzz's ?after=2**64 on a real run reached SQLite and answered 500
    case = api_schema["/api/v1/runs/{run_id}/events"]["GET"].Case(
        path_parameters={"run_id": seeded["done"]}, query={"after": after}
    )
    response = case.call_and_validate(headers=_admin(server), checks=CHECKS)
    assert response.status_code == 422
    assert "after" in response.json()["detail"]


@pytest.mark.parametrize("since", ["yesterday", "2026-13-45", ""])
def test_a_bad_since_filter_is_refused_as_documented(
    server: ApiServer, api_schema: schemathesis.BaseSchema, since: str
) -> None:
    case = api_schema["/api/v1/runs"]["GET"].Case(query={"since": since})
    response = case.call_and_validate(headers=_admin(server), checks=CHECKS)
    assert response.status_code == 422
