"""Cached sign-ins: sealed per (origin, role), reused within SESSION_TIMEOUT, never in clear.

Real SQLite files built by the migrations, the real demo, real Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine

from demo.account import ACCOUNTS, SESSION_COOKIE
from matf.agents.login import credentials_for, login_secret_name, signed_in_state
from matf.errors import ConfigError, SignInFailed, UsageError
from matf.redaction import encoded_forms
from matf.secrets.keyring import Keyring, Sealed, generate_key, parse_keyring
from matf.secrets.sessions import (
    cached_state,
    forget,
    open_state,
    sealed_state_for_executor,
    sign_ins,
    store_state,
)
from matf.secrets.store import get_secret
from matf.storage.db import dispose_engines, session_scope, sessions_for
from matf.storage.models import SessionState, utcnow
from tests.conftest import make_settings
from tests.secretstore import open_database, store

STATE = {
    "cookies": [
        {
            "name": "sid",
            "value": "c00kie-value-Zq81",
            "domain": "shop.example.com",
            "path": "/",
            "expires": -1,
            "httpOnly": True,
            "secure": True,
            "sameSite": "Lax",
        }
    ],
    "origins": [],
}
ORIGIN = "https://shop.example.com"
HOUR = 3600.0


@pytest.fixture
def keyring(old_entry: str) -> Keyring:
    return parse_keyring(old_entry)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield open_database(tmp_path)
    dispose_engines()


def _store(engine: Engine, keyring: Keyring, role: str | None = None, **kw: object) -> None:
    with session_scope(engine, write=True) as session:
        store_state(session, keyring, ORIGIN, role, STATE, HOUR, **kw)  # type: ignore[arg-type]


def test_a_stored_state_opens_until_it_expires(engine: Engine, keyring: Keyring) -> None:
    _store(engine, keyring)

    with session_scope(engine) as session:
        assert cached_state(session, keyring, ORIGIN + ":443/", None) == STATE
        assert cached_state(session, keyring, ORIGIN, "admin") is None  # another role
        later = utcnow() + timedelta(seconds=HOUR + 1)
        assert cached_state(session, keyring, ORIGIN, None, now=later) is None


def test_a_timeout_shortened_since_makes_an_older_state_stale_but_a_run_still_gets_its_own(
    engine: Engine, keyring: Keyring
) -> None:
    _store(engine, keyring)  # under a one-hour timeout
    later = utcnow() + timedelta(minutes=10)
    with session_scope(engine) as session:
        assert cached_state(session, keyring, ORIGIN, None, now=later, max_age_s=HOUR) == STATE
        assert cached_state(session, keyring, ORIGIN, None, now=later, max_age_s=60) is None
        # the run that signed in sends its state on, whatever its age
        past = utcnow() + timedelta(seconds=HOUR + 1)
        assert sealed_state_for_executor(session, ORIGIN, None, now=past) is None
        sealed = sealed_state_for_executor(session, ORIGIN, None, now=past, live_only=False)
        assert sealed is not None and open_state(keyring, sealed) == STATE


def test_forgetting_a_state_makes_the_next_run_sign_in(engine: Engine, keyring: Keyring) -> None:
    _store(engine, keyring, "admin")
    _store(engine, keyring, "admin")

    with session_scope(engine, write=True) as session:
        assert sign_ins(session, ORIGIN, "admin") == 2
        assert forget(session, ORIGIN, "admin") is True
        assert forget(session, ORIGIN, "admin") is False
        assert cached_state(session, keyring, ORIGIN, "admin") is None


def test_executors_get_the_sealed_bytes_and_open_them_themselves(
    engine: Engine, keyring: Keyring
) -> None:
    _store(engine, keyring, "viewer")

    with session_scope(engine) as session:
        sealed = sealed_state_for_executor(session, ORIGIN, "viewer")
    assert sealed is not None
    travelling = sealed.model_dump_json()  # what the broker would carry
    assert "c00kie" not in travelling and "c00kie" not in repr(sealed)
    assert open_state(keyring, type(sealed).model_validate_json(travelling)) == STATE
    # Bound to its origin and role: moved to another, it does not open.
    with pytest.raises(ConfigError):
        open_state(keyring, sealed.model_copy(update={"role": "admin"}))
    with pytest.raises(ConfigError):
        open_state(keyring, sealed.model_copy(update={"origin": "https://evil.example"}))


def test_a_state_never_opens_as_a_target_secret(engine: Engine, keyring: Keyring) -> None:
    _store(engine, keyring, "login")
    with session_scope(engine) as session:
        row = session.query(SessionState).one()
        sealed = Sealed(row.key_id, row.nonce, row.ciphertext)

    with pytest.raises(ConfigError):
        keyring.open(ORIGIN, "login", sealed)  # the target secrets' purpose


def test_a_state_under_a_key_no_longer_held_is_signed_in_again(
    engine: Engine, keyring: Keyring
) -> None:
    _store(engine, keyring)

    with session_scope(engine) as session:
        assert cached_state(session, parse_keyring(generate_key("new")), ORIGIN, None) is None


def test_a_missing_login_secret_says_which_and_how_to_set_it(
    engine: Engine, keyring: Keyring
) -> None:
    store(engine, keyring, ORIGIN, "login.admin", "not an object")

    with session_scope(engine) as session:
        with pytest.raises(UsageError) as missing:
            credentials_for(session, keyring, ORIGIN, "viewer")
        with pytest.raises(UsageError) as shapeless:
            credentials_for(session, keyring, ORIGIN, "admin")

    assert login_secret_name(None) == "login" and login_secret_name("admin") == "login.admin"
    assert "'login.viewer'" in str(missing.value)
    assert f"matf secrets set {ORIGIN} login.viewer --json" in str(missing.value)
    assert "username and a password" in str(shapeless.value)
    assert "\n" not in str(missing.value) + str(shapeless.value)


def test_session_timeout_is_a_setting_of_one_hour_by_default(tmp_path: Path) -> None:
    assert make_settings(tmp_path).session_timeout_s == HOUR
    assert make_settings(tmp_path, session_timeout="30m").session_timeout_s == 1800
    with pytest.raises(ConfigError, match="SESSION_TIMEOUT"):
        make_settings(tmp_path, session_timeout="soon")


# --- signing in once, on the demo ----------------------------------------------------------


class Browsers:
    """Hands out the module's browser and counts how often a sign-in asked for one."""

    def __init__(self, browser: Browser) -> None:
        self.browser, self.asked = browser, 0

    def __call__(self) -> Browser:
        self.asked += 1
        return self.browser


def _demo_secret(engine: Engine, keyring: Keyring, demo: str, password: str) -> None:
    store(engine, keyring, demo, "login", {"username": "user", "password": password})


def test_a_second_run_within_the_timeout_signs_in_zero_times_and_after_it_once(
    engine: Engine, keyring: Keyring, browser: Browser, demo: str
) -> None:
    _demo_secret(engine, keyring, demo, ACCOUNTS["user"].password)
    browsers, sessions = Browsers(browser), sessions_for(engine)

    first, signed_first = signed_in_state(sessions, keyring, browsers, demo, timeout_s=HOUR)
    again, signed_again = signed_in_state(sessions, keyring, browsers, demo, timeout_s=HOUR)
    later = utcnow() + timedelta(seconds=HOUR + 60)
    _, signed_later = signed_in_state(sessions, keyring, browsers, demo, timeout_s=HOUR, now=later)

    assert (signed_first, signed_again, signed_later) == (True, False, True)
    assert again == first
    assert browsers.asked == 2
    with session_scope(engine) as session:
        assert sign_ins(session, demo, None) == 2


def test_the_session_cookie_never_reaches_the_database_file_in_clear(
    engine: Engine, keyring: Keyring, browser: Browser, demo: str, tmp_path: Path
) -> None:
    _demo_secret(engine, keyring, demo, ACCOUNTS["user"].password)
    sessions = sessions_for(engine)
    state, _ = signed_in_state(sessions, keyring, Browsers(browser), demo, timeout_s=HOUR)
    with session_scope(engine) as session:  # read it back: the WAL holds the write
        assert cached_state(session, keyring, demo, None) == state

    value = next(c["value"] for c in state["cookies"] if c["name"] == SESSION_COOKIE)
    files = [path for path in tmp_path.glob("matf.db*") if path.is_file()]
    assert any(path.name.endswith("-wal") for path in files)  # the write is still in the WAL
    on_disk = b"".join(path.read_bytes() for path in files)
    assert [form for form in encoded_forms(value) if form.encode() in on_disk] == []
    dispose_engines()  # checkpointed into the main file: still nowhere
    on_disk = b"".join(path.read_bytes() for path in tmp_path.glob("matf.db*") if path.is_file())
    assert value.encode() not in on_disk


def test_a_failed_sign_in_stores_nothing_and_says_why(
    engine: Engine, keyring: Keyring, browser: Browser, demo: str
) -> None:
    _demo_secret(engine, keyring, demo, "Wr0ng-passw0rd-7Qx")

    with pytest.raises(SignInFailed) as failed:
        signed_in_state(sessions_for(engine), keyring, Browsers(browser), demo, timeout_s=HOUR)

    assert failed.value.reason == "wrong_credentials"
    assert "Wr0ng-passw0rd-7Qx" not in str(failed.value)
    with session_scope(engine) as session:
        assert sign_ins(session, demo, None) == 0
        assert get_secret(session, keyring, demo, "login") is not None  # the secret stays
