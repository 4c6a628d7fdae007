"""``matf run --login``: the sign-in flags reach the run's options; what cannot work stops first.

The real command line in a child process, a real SQLite database, secrets
sealed under a real key. The target is a closed loopback port: a run that
passes every check gets its row (with its options) and then ends as
unreachable, so no browser is needed to see what was stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from matf.options import LoginOptions
from matf.secrets.keyring import generate_key, parse_keyring
from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tests.conftest import run_matf
from tests.e2e.test_cli import assert_one_line_error
from tests.secretstore import CREDENTIALS, store
from tests.services import free_port


@pytest.fixture
def target() -> str:
    """An origin nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def key() -> str:
    return generate_key("k1")


def _store(folder: Path, key: str, origin: str, *names: str) -> None:
    engine = get_engine(f"sqlite:///{folder / 'matf.db'}")
    for name in names:
        store(engine, parse_keyring(key), origin, name, CREDENTIALS)


def _runs(folder: Path) -> list[models.Run]:
    if not (folder / "matf.db").exists():
        return []
    with session_scope(get_engine(f"sqlite:///{folder / 'matf.db'}")) as session:
        return list(session.scalars(select(models.Run)))


@pytest.mark.parametrize(
    ("flags", "secrets", "expected"),
    [
        ([], (), LoginOptions()),
        (["--login"], ("login",), LoginOptions(enabled=True)),
        (
            ["--login-url", "{target}/account/login"],
            ("login",),
            LoginOptions(enabled=True, url="{target}/account/login"),
        ),
        (
            ["--logged-in-check", "text=Sign out"],
            ("login",),
            LoginOptions(enabled=True, check="text=Sign out"),
        ),
        (
            ["--as", "admin, user,admin"],
            ("login.admin", "login.user"),
            LoginOptions(enabled=True, roles=("admin", "user")),
        ),
    ],
    ids=["no-flag", "login", "login-url", "logged-in-check", "as-roles"],
)
def test_the_sign_in_flags_are_stored_in_the_run_options(
    tmp_path: Path,
    target: str,
    key: str,
    flags: list[str],
    secrets: tuple[str, ...],
    expected: LoginOptions,
) -> None:
    # Given the secrets each sign-in needs
    _store(tmp_path, key, target, *secrets)
    # When a run is asked to sign in (its target then turns out to be unreachable)
    args = [flag.format(target=target) for flag in flags]
    proc = run_matf(["run", f"{target}/", *args], tmp_path, ENCRYPTION_KEY=key)
    # Then the run got as far as its row, whose options hold the sign-in as asked
    assert_one_line_error(proc, "target unreachable")
    [run] = _runs(tmp_path)
    url = expected.url.format(target=target) if expected.url else None
    assert run.options.login == expected.model_copy(update={"url": url})


@pytest.mark.parametrize("roles", ["Bad Role", "admin,-x", " , "])
def test_a_bad_role_is_refused_in_one_line_before_anything_starts(
    tmp_path: Path, target: str, key: str, roles: str
) -> None:
    proc = run_matf(["run", f"{target}/", "--as", roles], tmp_path, ENCRYPTION_KEY=key)

    assert_one_line_error(proc, "--as")
    assert not (tmp_path / "matf.db").exists()


def test_login_without_its_secret_says_how_to_set_it_and_creates_no_run(
    tmp_path: Path, target: str, key: str
) -> None:
    # Given a secret for another name only
    _store(tmp_path, key, target, "login.admin")
    # When a run signs in with the default login
    proc = run_matf(["run", f"{target}/", "--login"], tmp_path, ENCRYPTION_KEY=key)
    # Then one line names the missing secret and the command that sets it; no run began
    assert_one_line_error(
        proc, "no secret 'login' for", f"'matf secrets set {target} login --json'"
    )
    assert _runs(tmp_path) == []


def test_every_role_needs_its_own_secret(tmp_path: Path, target: str, key: str) -> None:
    _store(tmp_path, key, target, "login.admin")

    proc = run_matf(["run", f"{target}/", "--as", "admin,user"], tmp_path, ENCRYPTION_KEY=key)

    assert_one_line_error(proc, f"'matf secrets set {target} login.user --json'")
    assert _runs(tmp_path) == []


def test_a_secret_that_is_not_credentials_is_refused(tmp_path: Path, target: str, key: str) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'matf.db'}")
    store(engine, parse_keyring(key), target, "login", "just-a-password")

    proc = run_matf(["run", f"{target}/", "--login"], tmp_path, ENCRYPTION_KEY=key)

    assert_one_line_error(proc, "must be an object with a username and a password")
    assert "just-a-password" not in proc.stdout + proc.stderr
    assert _runs(tmp_path) == []


@pytest.mark.parametrize(
    ("login_url", "needle"),
    [
        ("http://127.0.0.1:9/login", "is not on the target's origin"),
        ("/account/login", "is not a full http(s) URL"),
        ("ftp://127.0.0.1/login", "is not a full http(s) URL"),
    ],
)
def test_a_sign_in_page_off_the_target_is_refused(
    tmp_path: Path, target: str, key: str, login_url: str, needle: str
) -> None:
    _store(tmp_path, key, target, "login")

    proc = run_matf(["run", f"{target}/", "--login-url", login_url], tmp_path, ENCRYPTION_KEY=key)

    assert_one_line_error(proc, needle)
    assert _runs(tmp_path) == []


def test_login_without_an_encryption_key_says_what_to_set(tmp_path: Path, target: str) -> None:
    proc = run_matf(["run", f"{target}/", "--login"], tmp_path, ENCRYPTION_KEY="")

    assert_one_line_error(proc, "ENCRYPTION_KEY is not set", "matf secrets keygen")
    assert _runs(tmp_path) == []
