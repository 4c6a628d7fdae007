"""Signing in first, through the API and the dashboard's start form, down to the run's options.

A real HTTP server around the app (embedded mode), a real SQLite database,
credentials sealed under a real key, real Chromium for the form. The target
is a closed loopback port: a run the checks let through is stored with its
options and then ends as unreachable, so no site is needed to see them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from matf.options import LoginOptions, RunOptions
from matf.secrets.keyring import generate_key, parse_keyring
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import get_run
from tests.apiserver import ApiServer, finished
from tests.conftest import server_settings
from tests.secretstore import CREDENTIALS, store
from tests.services import free_port
from tests.web.test_dashboard import sign_in

EXECUTE = "/api/v1/tests/execute"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    settings = server_settings(
        tmp_path_factory.mktemp("api-login"), test_retries=0, encryption_key=generate_key("k1")
    )
    api = ApiServer(settings).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server with no ENCRYPTION_KEY: it can keep no credentials."""
    api = ApiServer(server_settings(tmp_path_factory.mktemp("api-login-no-key"))).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def editor(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client("editor") as client:
        yield client


@pytest.fixture
def target() -> str:
    """An origin nothing listens on, new to each test (so are its secrets)."""
    return f"http://127.0.0.1:{free_port()}"


def _secrets(api: ApiServer, origin: str, *names: str) -> None:
    engine = get_engine(api.settings.database_url)
    keyring = parse_keyring(api.settings.encryption_key)
    for name in names:
        store(engine, keyring, origin, name, CREDENTIALS)


def _options(api: ApiServer, run_id: str) -> RunOptions:
    with session_scope(get_engine(api.settings.database_url)) as session:
        return get_run(session, run_id).options


def _total(client: httpx.Client) -> int:
    return int(client.get("/api/v1/runs").json()["total"])


def _started(client: httpx.Client, body: dict[str, Any]) -> str:
    answer = client.post(EXECUTE, json=body)
    assert answer.status_code == 202, answer.text
    run_id = str(answer.json()["run_id"])
    finished(client, run_id)  # unreachable: it ends at once, and leaves nothing in flight
    return run_id


def _refused(client: httpx.Client, body: dict[str, Any]) -> str:
    """The 422 problem's detail for ``body``; no run was created."""
    before = _total(client)
    answer = client.post(EXECUTE, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert _total(client) == before
    detail = str(answer.json()["detail"])
    assert "\n" not in detail
    return detail


def test_a_login_object_is_stored_in_the_run_options(
    server: ApiServer, editor: httpx.Client, target: str
) -> None:
    # Given credentials for two roles
    _secrets(server, target, "login.admin", "login.user")
    login = {
        "enabled": True,
        "url": f"{target}/account/login",
        "check": "text=Sign out",
        "roles": ["admin", "user", "admin"],
    }
    # When a run is started that signs in as both
    run_id = _started(editor, {"url": f"{target}/", "type": "functional", "login": login})
    # Then its options hold the sign-in as `matf run --login-url ... --as admin,user` would
    assert _options(server, run_id).login == LoginOptions(
        enabled=True,
        url=f"{target}/account/login",
        check="text=Sign out",
        roles=("admin", "user"),
    )


def test_a_login_suites_steps_are_stored_in_the_run_options(
    server: ApiServer, editor: httpx.Client, target: str
) -> None:
    _secrets(server, target, "login")
    steps = [
        {"action": "goto", "url": "/sso/login"},
        {"action": "fill", "target": {"label": "Email"}, "value": "{{secret:login.username}}"},
    ]
    body = {"url": f"{target}/", "type": "functional", "login": {"steps": steps}}

    run_id = _started(editor, body)

    assert _options(server, run_id).login == LoginOptions(enabled=True, steps=steps)  # type: ignore[arg-type]


def test_a_login_suite_with_a_sign_in_page_or_another_secret_is_refused(
    editor: httpx.Client, target: str
) -> None:
    goto = {"action": "goto", "url": "/sso/login"}
    both = {"url": f"{target}/login", "steps": [goto]}
    other = {"steps": [{"action": "fill", "target": {"css": "#k"}, "value": "{{secret:api}}"}]}

    refused = [
        _refused(editor, {"url": f"{target}/", "type": "functional", "login": login})
        for login in (both, other)
    ]

    assert refused[0].startswith("invalid body: login: ") and "cannot both be given" in refused[0]
    assert refused[1].startswith("invalid body: login.steps: ") and "'api'" in refused[1]


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        (True, LoginOptions(enabled=True)),
        (False, LoginOptions()),
        ({}, LoginOptions(enabled=True)),
        ({"enabled": False, "roles": ["admin"]}, LoginOptions(roles=("admin",))),
        (None, LoginOptions()),
    ],
    ids=["true", "false", "empty-object", "disabled-object", "null"],
)
def test_login_shorthands_are_read_as_the_object(
    server: ApiServer, editor: httpx.Client, target: str, login: Any, expected: LoginOptions
) -> None:
    _secrets(server, target, "login")

    run_id = _started(editor, {"url": f"{target}/", "type": "functional", "login": login})

    assert _options(server, run_id).login == expected


@pytest.mark.parametrize(
    ("login", "field"),
    [
        ("yes", "login"),
        (1, "login"),
        ([], "login"),
        ({"roles": ["Bad Role"]}, "login.roles.0"),
        ({"roles": "admin"}, "login.roles"),
        ({"roles": [f"r{i}" for i in range(11)]}, "login.roles"),
        ({"url": 5}, "login.url"),
        ({"check": "x" * 501}, "login.check"),
        ({"enabled": "maybe"}, "login.enabled"),
        ({"password": "hunter2"}, "login.password"),
        ({"steps": {"action": "goto"}}, "login.steps"),
        ({"steps": [{"action": "teleport"}]}, "login.steps.0"),
        ({"steps": [{"action": "api_request", "url": "/x"}]}, "login.steps"),
        ({"steps": [{"action": "goto", "url": "/"}] * 51}, "login.steps"),
    ],
)
def test_a_malformed_login_is_a_problem_naming_the_field(
    editor: httpx.Client, target: str, login: Any, field: str
) -> None:
    detail = _refused(editor, {"url": f"{target}/", "type": "functional", "login": login})

    assert detail.startswith(f"invalid body: {field}: ")


def test_a_missing_credentials_secret_is_refused_naming_it(
    server: ApiServer, editor: httpx.Client, target: str
) -> None:
    _secrets(server, target, "login.admin")
    body = {"url": f"{target}/", "type": "functional", "login": {"roles": ["admin", "user"]}}

    detail = _refused(editor, body)

    assert detail.startswith(f"no secret 'login.user' for {target}: ")
    assert f"'matf secrets set {target} login.user --json'" in detail


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://127.0.0.1:9/login", "is not on the target's origin"),
        ("/account/login", "is not a full http(s) URL"),
    ],
)
def test_a_sign_in_page_off_the_target_is_refused(
    server: ApiServer, editor: httpx.Client, target: str, url: str, needle: str
) -> None:
    _secrets(server, target, "login")
    body = {"url": f"{target}/", "type": "functional", "login": {"url": url}}

    assert needle in _refused(editor, body)


def test_without_an_encryption_key_login_is_refused_saying_so(
    keyless: ApiServer, target: str
) -> None:
    with keyless.client("editor") as client:
        body = {"url": f"{target}/", "type": "functional", "login": True}
        detail = _refused(client, body)
    assert "ENCRYPTION_KEY is not set" in detail


def test_the_openapi_document_describes_login(server: ApiServer) -> None:
    document = httpx.get(server.url + "/openapi.json").json()
    schemas = document["components"]["schemas"]
    login = schemas["ExecuteRequest"]["properties"]["login"]
    assert {"type": "boolean"} in login["anyOf"]
    assert {"$ref": "#/components/schemas/TargetLogin"} in login["anyOf"]
    fields = schemas["TargetLogin"]["properties"]
    assert set(fields) == {"enabled", "url", "check", "roles", "steps"}
    assert fields["steps"]["maxItems"] == 50 and "{{secret:login.password}}" in str(fields)
    assert fields["roles"]["items"]["pattern"] and fields["roles"]["maxItems"] == 10
    assert all(field["description"] for field in fields.values())
    assert schemas["TargetLogin"]["additionalProperties"] is False
    responses = document["paths"]["/api/v1/tests/execute"]["post"]["responses"]
    assert "sign-in" in responses["422"]["description"]


# -- the dashboard's start form ---------------------------------------------------------


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _fill(tab: Page, target: str, roles: str) -> None:
    form = tab.locator("#start-run")
    form.get_by_label("URL").fill(f"{target}/")
    form.get_by_label("accessibility").uncheck()
    roles_box = form.get_by_label("as roles, comma-separated, e.g. admin,user")
    expect(roles_box).to_be_disabled()  # until the run signs in
    form.get_by_label("Sign in first").check()
    roles_box.fill(roles)
    form.get_by_role("button", name="Start run").click()


def test_the_start_form_signs_in_as_the_roles_given(
    server: ApiServer, editor: httpx.Client, tab: Page, target: str
) -> None:
    _secrets(server, target, "login.admin", "login.user")
    sign_in(tab, server.url, "editor")
    # When an editor ticks "Sign in first" and names two roles
    _fill(tab, target, " admin, user ,")
    # Then the run carries them as the API takes them
    expect(tab).to_have_url(re.compile(r"/runs/r-[\w-]+$"), timeout=30_000)
    run_id = tab.url.rsplit("/", 1)[1]
    assert _options(server, run_id).login == LoginOptions(enabled=True, roles=("admin", "user"))
    finished(editor, run_id)


def test_the_start_form_shows_a_missing_secret_and_starts_nothing(
    server: ApiServer, editor: httpx.Client, tab: Page, target: str
) -> None:
    before = _total(editor)
    sign_in(tab, server.url, "editor")

    _fill(tab, target, "")

    error = tab.locator("#start-error")
    expect(error).to_contain_text(f"no secret 'login' for {target}")
    expect(error).to_contain_text(f"matf secrets set {target} login --json")
    assert tab.url.rstrip("/") == server.url
    assert _total(editor) == before


def test_without_an_encryption_key_the_form_offers_no_sign_in(
    keyless: ApiServer, tab: Page
) -> None:
    sign_in(tab, keyless.url, "editor")
    form = tab.locator("#start-run")
    expect(form.get_by_label("Sign in first")).to_be_disabled()
    expect(tab.locator("#sign-in")).to_contain_text("no ENCRYPTION_KEY")
