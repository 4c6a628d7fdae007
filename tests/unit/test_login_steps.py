"""Signing in with a login suite: a two-page sign-in in real Chromium, cached in real SQLite.

The form finder cannot pass a sign-in whose username and password are on two
pages; the login suite's steps can. Every failure is one reason and one line,
and the password is in none of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from pydantic import ValidationError
from sqlalchemy import Engine

from matf.agents.login import sign_in, signed_in_state
from matf.agents.loginsteps import _SignInObserved, step_origins
from matf.browser.errors import Conclusive
from matf.browser.observed import origin_of
from matf.errors import LoginUnusable, SignInFailed, SpecError
from matf.loginsuite import load_login_steps
from matf.options import LoginOptions
from matf.secrets.keyring import Keyring, parse_keyring
from matf.secrets.sessions import sign_ins
from matf.spec import Goto
from matf.storage.db import dispose_engines, session_scope, sessions_for
from tests.secretstore import open_database, store
from tests.services import LoopbackHttpServer
from tests.sso_site import CREDENTIALS, LOGIN_STEPS, PASSWORD, SESSION, SsoSiteHandler
from tests.unit.test_login_sessions import Browsers

HOUR = 3600.0
STEPS = LoginOptions(steps=LOGIN_STEPS).steps  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LoopbackHttpServer(SsoSiteHandler) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture
def keyring(old_entry: str) -> Keyring:
    return parse_keyring(old_entry)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield open_database(tmp_path)
    dispose_engines()


def test_the_form_finder_cannot_sign_in_over_two_pages(browser: Browser, site: str) -> None:
    result = sign_in(browser, site + "/sso/home", CREDENTIALS)

    assert not result.ok and result.reason == "form_not_found"


def test_the_login_steps_sign_in_over_two_pages_once_and_the_state_is_reused(
    engine: Engine, keyring: Keyring, browser: Browser, site: str
) -> None:
    # Given the credentials as the target secret login
    store(engine, keyring, site, "login", CREDENTIALS)
    browsers, sessions = Browsers(browser), sessions_for(engine)
    # When the run signs in with the steps, twice
    state, signed = signed_in_state(
        sessions, keyring, browsers, site + "/sso/home", timeout_s=HOUR, steps=STEPS
    )
    again, signed_again = signed_in_state(
        sessions, keyring, browsers, site + "/sso/home", timeout_s=HOUR, steps=STEPS
    )
    # Then it signed in once, sealed the session, and the second run reused it
    assert (signed, signed_again) == (True, False) and again == state
    assert browsers.asked == 1
    assert [c["value"] for c in state["cookies"] if c["name"] == "sso_sid"] == [SESSION]
    with session_scope(engine) as session:
        assert sign_ins(session, site, None) == 1
    # And the state opens the signed-in pages
    context = browser.new_context(storage_state=state)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        page.goto(site + "/sso/orders")
        assert page.url == site + "/sso/orders" and "No orders yet" in page.inner_text("body")
    finally:
        context.close()


def _failure(engine: Engine, keyring: Keyring, browser: Browser, site: str, steps: object) -> str:
    checked = LoginOptions(steps=steps).steps  # type: ignore[arg-type]
    with pytest.raises(SignInFailed) as failed:
        signed_in_state(
            sessions_for(engine),
            keyring,
            Browsers(browser),
            site + "/sso/home",
            timeout_s=HOUR,
            steps=checked,
            timeout_ms=2_000,
        )
    message = str(failed.value)
    assert "\n" not in message and PASSWORD not in message
    with session_scope(engine) as session:
        assert sign_ins(session, site, None) == 0
    return f"{failed.value.reason}: {message}"


def test_a_step_that_fails_names_itself_and_stores_nothing(
    engine: Engine, keyring: Keyring, browser: Browser, site: str
) -> None:
    store(engine, keyring, site, "login", CREDENTIALS)
    steps = [*LOGIN_STEPS[:3], {**LOGIN_STEPS[3], "target": {"label": "Passphrase"}}]

    found = _failure(engine, keyring, browser, site, steps)

    assert found.startswith("steps_failed: login step 4 (fill label 'Passphrase'")
    assert "{{secret:login.password}}" in found


def test_a_wrong_password_fails_the_check_with_the_sites_words(
    engine: Engine, keyring: Keyring, browser: Browser, site: str
) -> None:
    store(engine, keyring, site, "login", {**CREDENTIALS, "password": "not-" + PASSWORD})

    found = _failure(engine, keyring, browser, site, LOGIN_STEPS[:5])

    assert found.startswith("check_failed: after the login steps a password field still shows")
    assert "Wrong password." in found and "not-" not in found


def test_a_logged_in_check_that_does_not_show_fails_the_sign_in(
    engine: Engine, keyring: Keyring, browser: Browser, site: str
) -> None:
    store(engine, keyring, site, "login", CREDENTIALS)
    with pytest.raises(SignInFailed) as failed:
        signed_in_state(
            sessions_for(engine),
            keyring,
            Browsers(browser),
            site + "/sso/home",
            timeout_s=HOUR,
            steps=STEPS,
            logged_in_check="text=Welcome back",
            timeout_ms=2_000,
        )
    assert failed.value.reason == "check_failed"
    assert "'text=Welcome back' is not visible" in str(failed.value)


def test_credentials_go_only_to_the_target_and_the_origins_the_steps_open() -> None:
    target = "https://shop.example.com/app/"
    steps = (
        Goto(action="goto", url="https://id.example.net/authorize"),
        Goto(action="goto", url="/x"),
    )
    origins = step_origins(target, steps)
    seen = _SignInObserved(
        origin="https://shop.example.com",
        secrets={"login.password": PASSWORD},
        origins=origins,
    )

    assert origins == {origin_of("https://shop.example.com/"), origin_of("https://id.example.net/")}
    assert seen.fill("{{secret:login.password}}", to="https://id.example.net/pw") == PASSWORD
    assert seen.fill("{{secret:login.password}}", to="https://shop.example.com/") == PASSWORD
    with pytest.raises(Conclusive, match="https://evil.example"):
        seen.fill("{{secret:login.password}}", to="https://evil.example/collect")


# --- the login suite file ---------------------------------------------------------------


def _spec(steps: list[dict[str, object]]) -> dict[str, object]:
    return {"id": "login", "name": "Sign in", "url": "https://shop.example.com/", "steps": steps}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "login.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_a_suite_of_one_test_or_one_spec_gives_its_steps(tmp_path: Path) -> None:
    suite = _write(tmp_path, {"version": 1, "tests": [_spec(LOGIN_STEPS)]})
    assert load_login_steps(suite) == STEPS
    assert load_login_steps(_write(tmp_path, _spec(LOGIN_STEPS))) == STEPS


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("{nope", "is not JSON"),
        (
            {"version": 1, "tests": [_spec(LOGIN_STEPS), {**_spec(LOGIN_STEPS), "id": "b"}]},
            "2 tests",
        ),
        (_spec([{"action": "check_accessibility"}]), "step 1 (check_accessibility) cannot sign in"),
        (
            _spec([{"action": "fill", "target": {"css": "#k"}, "value": "{{secret:api_key}}"}]),
            "names the secret 'api_key'",
        ),
        (_spec([{"action": "teleport"}]), "steps.0"),
        (_spec([{"action": "goto", "url": "/"}] * 51), "at most 50 steps"),
    ],
    ids=["not-json", "two-tests", "a-check", "another-secret", "unknown-action", "too-many"],
)
def test_a_bad_login_suite_is_one_line_naming_the_problem(
    tmp_path: Path, data: object, needle: str
) -> None:
    with pytest.raises(SpecError) as bad:
        load_login_steps(_write(tmp_path, data))

    assert needle in str(bad.value) and "login.json" in str(bad.value)
    assert "\n" not in str(bad.value)


def test_steps_and_a_sign_in_page_cannot_both_be_given() -> None:
    with pytest.raises(ValidationError, match="cannot both be given"):
        LoginOptions(url="https://shop.example.com/login", steps=STEPS)


def test_the_run_checks_refuse_steps_with_a_sign_in_page(tmp_path: Path) -> None:
    from tasks.control import check_login
    from tests.conftest import make_settings

    login = LoginOptions.model_construct(
        enabled=True, url="https://shop.example.com/login", check=None, roles=(), steps=STEPS
    )
    with pytest.raises(LoginUnusable, match="cannot both be given"):
        check_login(make_settings(tmp_path), "https://shop.example.com/", login)
