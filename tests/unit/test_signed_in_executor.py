"""Signed-in tests on an executor: started from the sealed state, signed in again on a bounce.

Real parts only: the demo's account area served from 127.0.0.1:0 (its own
app, so a test can end every server session), a real SQLite file where the
credentials and the state are sealed as a run stores them, real Chromium, and
``execute`` on a worker thread as an executor runs it. The session's values
(the cookie, the password) must come back nowhere: not in the result, not in
any file of the artifacts folder (trace entries decompressed), not in a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy import Engine
from werkzeug.serving import make_server

from demo.account import ACCOUNTS, LOGIN_PATH, SESSION_COOKIE, session_store
from demo.app import create_app
from matf.agents import relogin
from matf.agents.login import Credentials, sign_in
from matf.agents.relogin import LoginSession, secret_values, state_values
from matf.browser.pool import close_thread_pool
from matf.pipeline.execute import environment, execute
from matf.pipeline.fanout import ExecutorJob, SealedSecret, SignedIn
from matf.redaction import encoded_forms
from matf.results import TestResult
from matf.secrets.keyring import parse_keyring
from matf.secrets.sealed import sealed_named
from matf.secrets.sessions import open_state, sealed_state_for_executor, store_state
from matf.settings import Settings
from matf.spec import TestSpec, parse_spec
from matf.storage.db import dispose_engines, session_scope
from tests.conftest import make_settings
from tests.secretstore import open_database, store

USER = ACCOUNTS["user"]
WRONG = "Wr0ng-passw0rd-7Qx"  # distinctive: it must show up nowhere
HOUR = 3600.0


class Site:
    """The demo's healthy app on a free loopback port: ``url``, and its server sessions."""

    def __init__(self, app: Flask, url: str) -> None:
        self.app, self.url = app, url

    def drop_sessions(self) -> int:
        return session_store(self.app).clear()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    app = create_app(bugs=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)  # logs each request (werkzeug)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_renewed_states() -> Iterator[None]:
    yield
    relogin.forget_renewed()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield open_database(tmp_path)
    dispose_engines()


def _signed_in(
    browser: Browser, site: Site, engine: Engine, key: str, password: str = USER.password
) -> tuple[SignedIn, dict[str, Any]]:
    """Sign in, seal state and credentials in the database, read them back as a run would."""
    keyring = parse_keyring(key)
    result = sign_in(
        browser, site.url + "/", {"username": USER.username, "password": USER.password}
    )
    assert result.ok and result.storage_state is not None
    store(engine, keyring, site.url, "login", {"username": USER.username, "password": password})
    with session_scope(engine, write=True) as session:
        store_state(session, keyring, site.url, None, result.storage_state, HOUR)
    with session_scope(engine) as session:
        sealed = sealed_state_for_executor(session, site.url, None)
        credentials = sealed_named(session, site.url, "login")
    assert sealed is not None and credentials is not None
    login = SignedIn(
        state=sealed,
        credentials=SealedSecret.model_validate(credentials),
        url=site.url + LOGIN_PATH,
    )
    return login, open_state(keyring, sealed)


def _cookie(state: dict[str, Any]) -> str:
    value: str = next(c["value"] for c in state["cookies"] if c["name"] == SESSION_COOKIE)
    return value


def _spec(
    site: Site, case_id: str, *steps: dict[str, Any], path: str = "/account/orders"
) -> TestSpec:
    heading = {"action": "expect_visible", "target": {"role": "heading", "name": "Your orders"}}
    return parse_spec(
        {
            "id": case_id,
            "name": case_id,
            "url": site.url + path,
            "signed_in": True,
            "steps": [{"action": "goto", "url": path}, *(steps or (heading,))],
        }
    )


def _execute(job: ExecutorJob, settings: Settings) -> TestResult:
    """As an executor thread runs it: its own browsers, closed when the thread is done."""
    with ThreadPoolExecutor(1) as thread:
        try:
            return thread.submit(execute, job, settings).result()
        finally:
            thread.submit(close_thread_pool).result()


def test_a_signed_in_job_opens_the_account_area_and_the_same_job_without_it_bounces(
    browser: Browser, site: Site, engine: Engine, tmp_path: Path, old_entry: str
) -> None:
    login, _state = _signed_in(browser, site, engine, old_entry)
    settings = make_settings(tmp_path, encryption_key=old_entry, test_retries=0)
    job = ExecutorJob(run_id="r-in", spec=_spec(site, "orders"), browser="chromium", login=login)

    signed_in = _execute(job, settings)
    signed_out = _execute(job.model_copy(update={"login": None}), settings)

    assert (signed_in.status, signed_in.attempts, signed_in.session_note) == ("passed", 1, None)
    assert signed_out.status == "failed" and signed_out.session_note is None
    assert "Your orders" in (signed_out.error or "")


def test_the_session_is_in_no_repr_of_the_environment(
    browser: Browser, site: Site, engine: Engine, tmp_path: Path, old_entry: str
) -> None:
    login, state = _signed_in(browser, site, engine, old_entry)
    settings = make_settings(tmp_path, encryption_key=old_entry)
    job = ExecutorJob(run_id="r-repr", spec=_spec(site, "orders"), browser="chromium", login=login)

    env = environment(job, settings)

    assert env.login is not None and env.login.state == state
    assert env.login.credentials is not None and env.login.credentials.password == USER.password
    for shown in (repr(env), repr(env.login), str(job), job.model_dump_json()):
        assert _cookie(state) not in shown and USER.password not in shown


def test_a_dropped_session_is_signed_in_again_once_and_the_run_reuses_the_new_state(
    browser: Browser, site: Site, engine: Engine, tmp_path: Path, old_entry: str
) -> None:
    login, state = _signed_in(browser, site, engine, old_entry)
    settings = make_settings(tmp_path, encryption_key=old_entry, test_retries=0)
    orders = ExecutorJob(run_id="r-re", spec=_spec(site, "orders"), browser="chromium", login=login)
    # Given a site that signed everyone out between the run's sign-in and its tests
    assert site.drop_sessions() >= 1

    first = _execute(orders, settings)
    settings_page = _spec(
        site,
        "settings",
        {"action": "expect_visible", "target": {"role": "heading", "name": "Settings"}},
        path="/account/settings",
    )
    second = _execute(orders.model_copy(update={"spec": settings_page}), settings)

    # Then the first test signed in again and passed on the retry that gave it
    assert first.status == "passed" and first.attempts == 2 and first.error is None
    assert first.session_note == (
        f"the site signed the test out (the sign-in form showed at {site.url}"
        f"{LOGIN_PATH}?next=/account/orders); signed in again and retried"
    )
    assert "Your orders" in first.attempt_errors[0]
    # And the second started from the new state: one attempt, no sign-in of its own
    assert (second.status, second.attempts, second.session_note) == ("passed", 1, None)
    assert site.drop_sessions() == 1  # the executor's one new sign-in, nothing more
    assert _cookie(state) not in first.model_dump_json()


def test_a_re_sign_in_that_is_refused_is_the_tests_error_with_the_sites_reason(
    browser: Browser, site: Site, engine: Engine, tmp_path: Path, old_entry: str
) -> None:
    login, _state = _signed_in(browser, site, engine, old_entry, password=WRONG)
    settings = make_settings(tmp_path, encryption_key=old_entry, test_retries=2)
    job = ExecutorJob(run_id="r-no", spec=_spec(site, "orders"), browser="chromium", login=login)
    site.drop_sessions()

    result = _execute(job, settings)

    assert result.status == "error" and result.attempts == 1  # one re-sign-in, no retries
    assert "signing in again failed: the site refused the credentials" in (result.error or "")
    assert "Wrong username or password" in (result.error or "")
    assert result.session_note is not None and "(wrong_credentials)" in result.session_note
    assert WRONG not in result.model_dump_json()


def test_a_state_that_does_not_open_starts_signed_out_and_says_why(
    browser: Browser, site: Site, engine: Engine, tmp_path: Path, old_entry: str
) -> None:
    login, _state = _signed_in(browser, site, engine, old_entry)
    ciphertext = login.state.ciphertext
    altered = login.state.model_copy(
        update={"ciphertext": ciphertext[:-4] + ("AAAA" if ciphertext[-4:] != "AAAA" else "BBBB")}
    )
    settings = make_settings(tmp_path, encryption_key=old_entry, test_retries=0)
    job = ExecutorJob(
        run_id="r-bad",
        spec=_spec(site, "orders"),
        browser="chromium",
        login=login.model_copy(update={"state": altered}),
    )

    result = _execute(job, settings)

    # The credentials still open: it signs in again, and the note says both things
    assert result.status == "passed" and result.attempts == 2
    note = result.session_note or ""
    assert note.startswith("the signed-in state did not open (")
    assert "the test started signed out; the site signed the test out" in note
    assert note.endswith("signed in again and retried") and "\n" not in note


def test_a_test_of_the_sign_in_page_itself_is_no_bounce(
    browser: Browser, site: Site, engine: Engine, tmp_path: Path, old_entry: str
) -> None:
    login, _state = _signed_in(browser, site, engine, old_entry)
    settings = make_settings(tmp_path, encryption_key=old_entry, test_retries=0)
    site.drop_sessions()  # signed out: the form shows, as this test expects
    missing = {"action": "expect_visible", "target": {"role": "heading", "name": "No such"}}
    spec = _spec(site, "form", missing, path=LOGIN_PATH)
    job = ExecutorJob(run_id="r-form", spec=spec, browser="chromium", login=login)

    result = _execute(job, settings)

    assert result.status == "failed" and result.attempts == 1
    assert result.session_note is None
    assert site.drop_sessions() == 0  # nobody signed in


def _files_hold(folder: Path, needles: set[bytes]) -> tuple[list[str], bool]:
    """Files (zip entries decompressed) under ``folder`` holding a needle; any "[redacted]"."""
    found, redacted = [], False
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        blobs = {path.name: path.read_bytes()}
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                blobs = {f"{path.name}:{n}": archive.read(n) for n in archive.namelist()}
        for name, data in blobs.items():
            redacted = redacted or b"[redacted]" in data
            found += [name for needle in needles if needle in data]
    return found, redacted


def test_the_cookie_leaves_in_no_result_artifact_or_log_line(
    browser: Browser,
    site: Site,
    engine: Engine,
    tmp_path: Path,
    old_entry: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    login, state = _signed_in(browser, site, engine, old_entry)
    cookie = _cookie(state)
    settings = make_settings(tmp_path, encryption_key=old_entry, test_retries=1)
    # Given a test that fails on every attempt, with the cookie in its URL: the
    # server logs it, the result's steps name it, the trace holds it twice over
    path = f"/account/orders?ref={cookie}"
    missing = {"action": "expect_visible", "target": {"role": "heading", "name": "No such"}}
    job = ExecutorJob(
        run_id="r-leak", spec=_spec(site, "leak", missing, path=path), browser="chromium",
        login=login,
    )  # fmt: skip
    caplog.set_level(logging.INFO, logger="werkzeug")

    result = _execute(job, settings)

    assert result.status == "failed" and result.attempts == 2
    assert result.artifacts.trace is not None and result.artifacts.screenshot is not None
    assert result.artifacts.withheld is None
    dumped = result.model_dump_json()
    assert cookie not in dumped and "{{secret:login.cookie.acme_session}}" in dumped
    needles = {form.encode() for form in encoded_forms(cookie)}
    found, redacted = _files_hold(settings.storage_path / "artifacts", needles)
    assert found == [] and redacted  # it was in the trace, and was taken out
    assert (settings.storage_path / "artifacts" / result.artifacts.trace).is_file()
    requests = [r.getMessage() for r in caplog.records if "/account/orders?ref=" in r.getMessage()]
    assert requests, "the server logged the test's requests while the job ran"
    assert not [r for r in caplog.records if cookie in r.getMessage()]


def test_the_session_values_are_the_password_and_the_states_long_values() -> None:
    token = {"access": "eyJhbGciOi.payload.sig"}
    state = {
        "cookies": [
            {"name": "sid", "value": "s3ss10n-cookie-value"},
            {"name": "lang", "value": "en"},  # too short to be a session, and everywhere
        ],
        "origins": [
            {
                "origin": "https://a.test",
                "localStorage": [{"name": "auth", "value": json.dumps(token)}],
            }
        ],
    }
    login = LoginSession(
        run_id="r", role="admin", state=state, credentials=Credentials("ada", "pa55-word")
    )

    values = secret_values(login)

    assert values == {
        "login.admin.password": "pa55-word",
        "login.admin.cookie.sid": "s3ss10n-cookie-value",
        "login.admin.storage.auth": json.dumps(token),
        "login.admin.storage.auth~2": "eyJhbGciOi.payload.sig",  # the token inside the object
    }
    assert state_values(None) == [] and secret_values(None) == {}
    assert "pa55-word" not in repr(login) and "s3ss10n" not in repr(login)
