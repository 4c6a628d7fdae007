"""A run's interaction limits through the API: stored as ``matf run`` stores them, checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from matf.options import MAX_DEPTH, MAX_INTERACTIONS, Limits
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import get_run
from tests.apiserver import ApiServer, finished
from tests.conftest import server_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    api = ApiServer(server_settings(tmp_path_factory.mktemp("api-limits"), test_retries=0)).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def editor(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client("editor") as client:
        yield client


@pytest.fixture(scope="module")
def suite_id(editor: httpx.Client, demo: str) -> str:
    test = {
        "id": "ok",
        "name": "ok page",
        "url": demo + "/lab/ok",
        "steps": [{"action": "goto", "url": "/lab/ok"}],
    }
    answer = editor.post("/api/v1/suites", json={"name": "lab", "target": demo, "tests": [test]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _limits(api: ApiServer, run_id: str) -> Limits:
    with session_scope(get_engine(api.settings.database_url)) as session:
        return get_run(session, run_id).options.limits


def _start(client: httpx.Client, body: dict[str, Any]) -> str:
    answer = client.post("/api/v1/tests/execute", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


def test_interaction_limits_are_stored_on_the_run_or_default(
    server: ApiServer, editor: httpx.Client, suite_id: str
) -> None:
    given = _start(editor, {"suite_id": suite_id, "max_interactions": 0, "max_depth": 3})
    absent = _start(editor, {"suite_id": suite_id})
    assert _limits(server, given) == Limits(max_pages=25, max_interactions=0, max_depth=3)
    assert (_limits(server, absent).max_interactions, _limits(server, absent).max_depth) == (
        MAX_INTERACTIONS,
        MAX_DEPTH,
    )
    for run_id in (given, absent):
        assert finished(editor, run_id)["status"] == "passed"


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"max_interactions": -1}, "max_interactions"),
        ({"max_interactions": 1001}, "max_interactions"),
        ({"max_depth": 0}, "max_depth"),
        ({"max_depth": 11}, "max_depth"),
    ],
)
def test_bad_interaction_limits_are_refused_naming_the_field(
    editor: httpx.Client, suite_id: str, limits: dict[str, int], field: str
) -> None:
    before = editor.get("/api/v1/runs").json()["total"]
    answer = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id, **limits})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith(f"invalid body: {field}: ")
    assert editor.get("/api/v1/runs").json()["total"] == before


def test_the_openapi_document_describes_the_interaction_limits(server: ApiServer) -> None:
    schemas = httpx.get(server.url + "/openapi.json").json()["components"]["schemas"]
    fields = schemas["ExecuteRequest"]["properties"]
    assert fields["max_interactions"]["description"] and fields["max_depth"]["description"]
