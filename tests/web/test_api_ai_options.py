"""The AI writer's goals and caps through the API and the dashboard, down to the model.

A real HTTP server around the app (embedded mode) whose ``MISTRAL_SERVER_URL``
is a local server speaking Mistral's API, real Chromium, the real demo site.
Runs of a saved suite never call the model, so the options are checked on them;
one run writes tests from the site and shows the goal reaching the model and
the cap on calls holding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from cli.arguments import parse_options
from matf.llm.prompts import OPEN_MARKER
from matf.options import AiOptions, RunOptions
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import get_run
from tests.apiserver import FINAL, ApiServer, finished
from tests.conftest import server_settings
from tests.mistral_server import FakeMistral
from tests.web.test_dashboard import sign_in

GOAL = "a visitor can subscribe to the newsletter"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    """A model that proposes no test: each page costs one call, never a repair."""
    with FakeMistral(responder=lambda _request: json.dumps({"tests": []})) as server:
        yield server


@pytest.fixture(scope="module")
def server(fake: FakeMistral, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("api-ai")
    settings = server_settings(
        folder, test_retries=0, mistral_api_key="test-key", mistral_server_url=fake.url
    )
    api = ApiServer(settings).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server with no model key: no AI writer."""
    api = ApiServer(server_settings(tmp_path_factory.mktemp("api-no-ai"))).start()
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
        "steps": [
            {"action": "goto", "url": "/lab/ok"},
            {"action": "expect_text", "target": {"role": "heading"}, "text": "Lab"},
        ],
    }
    answer = editor.post("/api/v1/suites", json={"name": "lab", "target": demo, "tests": [test]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _options(api: ApiServer, run_id: str) -> RunOptions:
    with session_scope(get_engine(api.settings.database_url)) as session:
        return get_run(session, run_id).options


def _start(client: httpx.Client, body: dict[str, Any]) -> str:
    answer = client.post("/api/v1/tests/execute", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


def test_the_ai_options_are_stored_on_the_run_as_the_command_line_stores_them(
    server: ApiServer, editor: httpx.Client, suite_id: str
) -> None:
    # Given goals with stray spaces and a blank one, and both caps
    ai = {
        "goals": [f"  {GOAL} ", "", "   ", "a visitor finds the returns policy"],
        "max_llm_calls": 40,
        "max_tokens": 200_000,
    }
    # When runs start with them, with an empty ai object, and with none
    given = _start(editor, {"suite_id": suite_id, "ai": ai})
    empty = _start(editor, {"suite_id": suite_id, "ai": {}})
    absent = _start(editor, {"suite_id": suite_id})
    # Then the run's options hold what `matf run --goal ... --max-llm-calls ...` would store
    assert (
        _options(server, given).ai
        == parse_options(
            {
                "ai": {
                    "goals": [f"  {GOAL} ", "   ", "a visitor finds the returns policy"],
                    "max_calls": 40,
                    "max_tokens": 200_000,
                }
            }
        ).ai
    )
    assert _options(server, given).ai == AiOptions(
        enabled=True,
        goals=(GOAL, "a visitor finds the returns policy"),
        max_calls=40,
        max_tokens=200_000,
    )
    assert _options(server, empty).ai == AiOptions()
    assert _options(server, absent).ai == AiOptions()
    for run_id in (given, empty, absent):
        assert finished(editor, run_id)["status"] == "passed"


def test_a_rerun_keeps_the_ai_options_of_the_original_run(
    server: ApiServer, editor: httpx.Client, suite_id: str
) -> None:
    ai = {"enabled": False, "goals": [GOAL], "max_tokens": 1000}
    original = _start(editor, {"suite_id": suite_id, "ai": ai})
    finished(editor, original)
    answer = editor.post(f"/api/v1/runs/{original}/rerun")
    assert answer.status_code == 202, answer.text
    again = answer.json()["run_id"]
    assert _options(server, again).ai == AiOptions(enabled=False, goals=(GOAL,), max_tokens=1000)
    assert finished(editor, again)["status"] == "passed"


@pytest.mark.parametrize(
    ("ai", "field"),
    [
        ({"goals": [f"goal {i}" for i in range(51)]}, "ai.goals"),
        ({"goals": [GOAL, "x" * 501]}, "ai.goals.1"),
        ({"goals": "one goal, not a list"}, "ai.goals"),
        ({"max_llm_calls": 0}, "ai.max_llm_calls"),
        ({"max_llm_calls": 100_001}, "ai.max_llm_calls"),
        ({"max_tokens": 0}, "ai.max_tokens"),
        ({"max_calls": 5}, "ai.max_calls"),  # the stored name, not the API's
    ],
)
def test_bad_ai_options_are_refused_naming_the_field_and_start_nothing(
    editor: httpx.Client, suite_id: str, ai: dict[str, Any], field: str
) -> None:
    before = editor.get("/api/v1/runs").json()["total"]
    answer = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id, "ai": ai})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert detail.startswith(f"invalid body: {field}: ") and "\n" not in detail
    assert editor.get("/api/v1/runs").json()["total"] == before


def test_goals_without_a_model_key_are_refused(keyless: ApiServer, demo: str) -> None:
    with keyless.client("editor") as client:
        answer = client.post(
            "/api/v1/tests/execute",
            json={"url": demo, "type": "functional", "ai": {"goals": [GOAL]}},
        )
        runs = client.get("/api/v1/runs").json()["total"]
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == (
        "ai.goals needs the AI writer: the server has no MISTRAL_API_KEY"
    )
    assert runs == 0


def test_the_openapi_document_describes_the_ai_options(server: ApiServer) -> None:
    schemas = httpx.get(server.url + "/openapi.json").json()["components"]["schemas"]
    ai = schemas["ExecuteRequest"]["properties"]["ai"]
    assert {"$ref": "#/components/schemas/AiRequest"} in ai["anyOf"] and ai["description"]
    fields = schemas["AiRequest"]["properties"]
    assert set(fields) == {"enabled", "goals", "max_llm_calls", "max_tokens"}
    assert fields["goals"]["maxItems"] == 50 and fields["goals"]["items"]["maxLength"] == 500
    assert all(field["description"] for field in fields.values())
    assert schemas["AiRequest"]["additionalProperties"] is False


def test_goals_reach_the_model_and_the_call_cap_holds(
    fake: FakeMistral, editor: httpx.Client, healthy_demo: str
) -> None:
    # Given a site of five pages, and a run allowed two model calls
    before = len(fake.requests)
    body = {
        "url": healthy_demo,
        "type": "functional",
        "max_pages": 5,
        "ai": {"goals": [GOAL], "max_llm_calls": 2},
    }
    # When it writes its tests
    run = finished(editor, _start(editor, body))
    # Then the model was told the goal, and asked no more than twice
    assert run["status"] == "passed"
    sent = fake.requests[before:]
    assert 1 <= len(sent) <= 2
    for _headers, request in sent:
        assert GOAL in request["messages"][1]["content"].split(OPEN_MARKER)[0]
    # And the run reports the calls it made and the pages the cap left unwritten
    report = editor.get(f"/api/v1/runs/{run['id']}/report/report.json").json()
    llm = report["run"]["llm"]
    assert llm["calls"] == len(sent) and llm["pages"] == 5
    assert any("the run's budget of 2 model calls is spent" in s for s in llm["skipped"])


# -- the dashboard's start form ---------------------------------------------------------


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_the_start_form_sends_goals_and_a_call_cap(
    server: ApiServer, editor: httpx.Client, tab: Page, healthy_demo: str
) -> None:
    sign_in(tab, server.url, "editor")
    # When an editor starts a run with two goals (and a blank line) and a cap on model calls
    form = tab.locator("#start-run")
    form.get_by_label("URL").fill(healthy_demo)
    form.get_by_label("accessibility").uncheck()
    form.get_by_label("Max pages").fill("1")
    form.get_by_label("Goals for the AI writer").fill(
        "a visitor reads the home page\n\n  a visitor finds the catalogue  \n"
    )
    form.get_by_label("Max model calls").fill("3")
    form.get_by_role("button", name="Start run").click()
    # Then the run carries them as the API takes them
    expect(tab).to_have_url(re.compile(r"/runs/r-[\w-]+$"), timeout=30_000)
    run_id = tab.url.rsplit("/", 1)[1]
    assert _options(server, run_id).ai == AiOptions(
        goals=("a visitor reads the home page", "a visitor finds the catalogue"), max_calls=3
    )
    assert finished(editor, run_id)["status"] in FINAL


def test_the_start_form_sends_no_ai_options_when_none_are_given(
    server: ApiServer, editor: httpx.Client, tab: Page, demo: str
) -> None:
    sign_in(tab, server.url, "editor")
    form = tab.locator("#start-run")
    form.get_by_label("URL").fill(demo + "/lab/ok")
    form.get_by_label("accessibility").uncheck()
    form.get_by_label("Max pages").fill("1")
    form.get_by_label("Goals for the AI writer").fill("   \n")
    form.get_by_role("button", name="Start run").click()
    expect(tab).to_have_url(re.compile(r"/runs/r-[\w-]+$"), timeout=30_000)
    run_id = tab.url.rsplit("/", 1)[1]
    assert _options(server, run_id).ai == AiOptions()
    finished(editor, run_id)


def test_without_a_model_key_the_form_offers_no_ai_writer(keyless: ApiServer, tab: Page) -> None:
    sign_in(tab, keyless.url, "editor")
    form = tab.locator("#start-run")
    expect(form.get_by_label("Goals for the AI writer")).to_be_disabled()
    expect(form.get_by_label("Max model calls")).to_be_disabled()
    expect(tab.locator("#ai-writer")).to_contain_text("no MISTRAL_API_KEY")
