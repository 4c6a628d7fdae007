"""Credentials: tokens, signing in, and accounts made on the command line.

Every refusal of credentials is a 401 problem document with
``WWW-Authenticate: Bearer``, whatever was wrong with them, so a client learns
nothing from the difference. Servers are real (werkzeug on loopback), the CLI
runs as a child process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from matf.auth import create_user, issue_token
from matf.storage.db import get_engine, session_scope
from matf.storage.models import User
from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import make_settings, run_matf
from web.security import KeyCache

SECRET = secrets.token_urlsafe(48)
DAY_S = 24 * 3600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server whose JWT secret the tests know, so they can forge tokens with it."""
    folder = tmp_path_factory.mktemp("auth")
    settings = make_settings(
        folder,
        jwt_secret=SECRET,
        rate_limit="100000 per minute",
        matf_allowed_targets="127.0.0.1",
    )
    api = ApiServer(settings).start()
    yield api
    api.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user: User, role: str = "admin", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": user.uid,
        "tv": user.token_version,
        "role": role,
        "iat": now,
        "exp": now + 3600,
        **extra,
    }


def _handmade(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand: ``key`` signs it with HMAC-SHA256 whatever the header says."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{_b64(signature)}"


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="matf"'
    problem = response.json()
    assert problem["status"] == 401
    assert problem["title"] == "Unauthorized"


def _get_as(server: ApiServer, token: str, path: str = "/api/v1/auth/me") -> httpx.Response:
    return httpx.get(server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


# -- tokens ------------------------------------------------------------------------------


def test_a_valid_token_is_accepted(server: ApiServer) -> None:
    # The control for the refusals below: the same server takes a proper token
    admin = server.user("admin")
    response = _get_as(server, issue_token(SECRET, admin))
    assert response.status_code == 200
    assert response.json()["email"] == "admin@example.com"


def _bad_tokens(admin: User) -> dict[str, str]:
    claims = _claims(admin)
    return {
        "expired": issue_token(SECRET, admin, hours=1, now=datetime.now(UTC) - timedelta(hours=2)),
        "wrong signature": issue_token("another secret of the same length " * 2, admin),
        "alg none": _handmade({"alg": "none", "typ": "JWT"}, claims, None),
        "alg None": _handmade({"alg": "None", "typ": "JWT"}, claims, None),
        "HS512": jwt.encode(claims, SECRET, algorithm="HS512"),
        "RS256 label, HMAC signature": _handmade(
            {"alg": "RS256", "typ": "JWT"}, claims, SECRET.encode()
        ),
        "no exp": jwt.encode(
            {k: v for k, v in claims.items() if k != "exp"}, SECRET, algorithm="HS256"
        ),
        "sub not a uid": jwt.encode({**claims, "sub": "admin"}, SECRET, algorithm="HS256"),
        "sub the integer id": jwt.encode(
            {**claims, "sub": str(admin.id)}, SECRET, algorithm="HS256"
        ),
        "no tv (an older version's token)": jwt.encode(
            {k: v for k, v in claims.items() if k != "tv"}, SECRET, algorithm="HS256"
        ),
        "another tv": jwt.encode({**claims, "tv": claims["tv"] + 1}, SECRET, algorithm="HS256"),
        "tv not a number": jwt.encode({**claims, "tv": "0"}, SECRET, algorithm="HS256"),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "wrong signature",
        "alg none",
        "alg None",
        "HS512",
        "RS256 label, HMAC signature",
        "no exp",
        "sub not a uid",
        "sub the integer id",
        "no tv (an older version's token)",
        "another tv",
        "tv not a number",
        "garbage",
    ],
)
def test_a_bad_token_is_refused_with_401(server: ApiServer, kind: str) -> None:
    token = _bad_tokens(server.user("admin"))[kind]
    _assert_refused(_get_as(server, token))
    # Nor does it reach an admin operation
    _assert_refused(_get_as(server, token, "/api/v1/users"))


def test_an_expired_token_says_so(server: ApiServer) -> None:
    token = _bad_tokens(server.user("viewer"))["expired"]
    assert "expired" in _get_as(server, token).json()["detail"]


def test_a_deleted_users_token_is_refused(server: ApiServer) -> None:
    # Given a user with a valid token
    engine = get_engine(server.settings.database_url)
    with session_scope(engine, write=True) as session:
        user = create_user(session, "gone@example.com", PASSWORD, "admin")
        token = issue_token(SECRET, user)
    assert _get_as(server, token).status_code == 200
    # When the user is deleted
    with session_scope(engine, write=True) as session:
        session.delete(session.get(User, user.id))
    # Then the token, still unexpired and well signed, is refused
    _assert_refused(_get_as(server, token))


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Token abc", "bearer"])
def test_a_malformed_authorization_header_is_refused(server: ApiServer, header: str) -> None:
    response = httpx.get(server.url + "/api/v1/runs", headers={"Authorization": header}, timeout=30)
    _assert_refused(response)


# -- signing in --------------------------------------------------------------------------


def _login(server: ApiServer, email: str, password: str) -> httpx.Response:
    return httpx.post(
        server.url + "/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )


def test_wrong_password_and_unknown_email_get_the_same_answer(server: ApiServer) -> None:
    wrong_password = _login(server, "editor@example.com", "not the password")
    unknown_email = _login(server, "nobody@example.com", PASSWORD)
    for response in (wrong_password, unknown_email):
        _assert_refused(response)
    assert wrong_password.json()["detail"] == unknown_email.json()["detail"]
    assert "access_token" not in wrong_password.text


def test_login_returns_a_working_token_for_a_day(server: ApiServer) -> None:
    # When the editor signs in (the email's case does not matter)
    response = _login(server, "Editor@Example.com", PASSWORD)
    # Then they get a bearer token for 24 hours that works
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    assert body["role"] == "editor"
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == DAY_S
    me = _get_as(server, body["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == "editor@example.com"
    assert me.json()["last_login_at"] is not None


# -- accounts from the command line --------------------------------------------------------


def _matf(folder: Path, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_matf(args, folder, stdin=stdin)


def test_cli_creates_an_admin_who_can_sign_in(api: ApiServer, tmp_path: Path) -> None:
    # Given an admin made on the command line, the password piped on stdin
    made = _matf(
        tmp_path, ["users", "create", "ops@example.com", "--role", "admin"], PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    assert "ops@example.com" in made.stdout
    assert PASSWORD not in made.stdout + made.stderr
    # When they sign in through the API
    login = _login(api, "ops@example.com", PASSWORD)
    # Then they are an admin
    assert login.status_code == 200, login.text
    assert login.json()["role"] == "admin"
    users = _get_as(api, login.json()["access_token"], "/api/v1/users")
    assert users.status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ["users", "create", "leak@example.com", "--password", PASSWORD],
        ["users", "create", "leak@example.com", PASSWORD],
        ["users", "create", "leak@example.com"],  # and nothing on stdin
    ],
    ids=["option", "argument", "empty-stdin"],
)
def test_cli_takes_no_password_on_the_command_line(
    api: ApiServer, tmp_path: Path, args: list[str]
) -> None:
    proc = _matf(tmp_path, args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert _login(api, "leak@example.com", PASSWORD).status_code == 401
    listed = _matf(tmp_path, ["users", "list"])
    assert "leak@example.com" not in listed.stdout


def test_cli_key_works_until_revoked(api: ApiServer, tmp_path: Path) -> None:
    # Given an editor key made on the command line
    made = _matf(tmp_path, ["keys", "create", "ci", "--role", "editor"])
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert len(lines) == 1, made.stdout
    key = lines[0]
    key_id = re.search(r"key (\d+)", made.stderr)
    assert key_id, made.stderr
    with httpx.Client(base_url=api.url, headers={"X-API-Key": key}, timeout=30) as machine:
        # Then it works as an editor's, and no more
        allowed = machine.post("/api/v1/suites", json={"name": "ci", "run_id": "r-missing"})
        above = machine.get("/api/v1/users")
        # When it is revoked
        revoked = _matf(tmp_path, ["keys", "revoke", key_id.group(1)])
        assert revoked.returncode == 0, revoked.stderr
        # Then it is refused: at once by the process that revokes, within the key
        # cache's few seconds by the others (the CLI is another process)
        deadline = time.monotonic() + KeyCache().ttl_s + 2
        after = machine.get("/api/v1/runs")
        while after.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            after = machine.get("/api/v1/runs")
    assert allowed.status_code == 404
    assert above.status_code == 403
    _assert_refused(after)
