"""Credentials, rate limits, security headers, production refusal and CLI accounts.

Every refusal of credentials is a 401 problem document with
``WWW-Authenticate: Bearer``, whatever was wrong with them, so a client learns
nothing from the difference. Servers are real (werkzeug on loopback), Redis is
the session's private server, the CLI runs as a child process.
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
import redis

from matf.auth import create_user, issue_token
from matf.errors import ConfigError
from matf.secrets.keyring import generate_key
from matf.storage.db import get_engine, session_scope
from matf.storage.models import User
from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import MATF, make_settings, subprocess_env
from tests.services import free_port
from web import create_app
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


def _claims(user_id: int, role: str = "admin", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(user_id), "role": role, "iat": now, "exp": now + 3600, **extra}


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
    claims = _claims(admin.id)
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
        "sub not a number": jwt.encode({**claims, "sub": "admin"}, SECRET, algorithm="HS256"),
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
        "sub not a number",
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


# -- rate limiting -----------------------------------------------------------------------


def _limited_server(folder: Path, limit: str, **overrides: Any) -> ApiServer:
    settings = make_settings(
        folder, rate_limit=limit, matf_allowed_targets="127.0.0.1", **overrides
    )
    return ApiServer(settings).start()


def _assert_too_many(response: httpx.Response, window_s: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_s


def test_the_sixth_request_in_a_minute_gets_429_and_health_never_does(tmp_path: Path) -> None:
    server = _limited_server(tmp_path, "5 per minute")
    try:
        with server.client() as anonymous:
            # Given five API requests in the minute
            answers = [anonymous.get("/api/v1/system/agents/status") for _ in range(5)]
            assert [r.status_code for r in answers] == [401] * 5
            # When a sixth comes
            sixth = anonymous.get("/api/v1/system/agents/status")
            # Then it is refused, with when to come back
            _assert_too_many(sixth, 60)
            # While the probes are never limited
            probes = [anonymous.get(path) for path in ("/health", "/openapi.json") * 6]
            readiness = [anonymous.get("/api/v1/system/health") for _ in range(6)]
    finally:
        server.stop()
    assert {r.status_code for r in probes} == {200}
    assert 429 not in {r.status_code for r in readiness}


def test_the_limit_counts_a_clients_requests_to_every_endpoint(tmp_path: Path) -> None:
    # RATE_LIMIT is "per client": spreading requests over endpoints must not multiply it
    server = _limited_server(tmp_path, "5 per minute")
    paths = [
        "/api/v1/runs",
        "/api/v1/suites",
        "/api/v1/targets",
        "/api/v1/trends",
        "/api/v1/auth/me",
        "/api/v1/system/test-queue",
    ]
    try:
        with server.client("viewer", via="key") as client:
            answers = [client.get(path) for path in paths]
    finally:
        server.stop()
    assert [r.status_code for r in answers[:5]] == [200, 200, 200, 200, 404]
    _assert_too_many(answers[5], 60)


def test_each_client_has_its_own_bucket(tmp_path: Path) -> None:
    server = _limited_server(tmp_path, "5 per minute")
    try:
        # Given anonymous calls that used up their limit
        with server.client() as anonymous:
            for _ in range(5):
                anonymous.get("/api/v1/runs")
            assert anonymous.get("/api/v1/runs").status_code == 429
        # Then an API key, from the same address, still has all of its own
        with server.client("viewer", via="key") as machine:
            keyed = [machine.get("/api/v1/runs").status_code for _ in range(5)]
            over = machine.get("/api/v1/runs")
        with server.client("viewer", via="token") as person:
            other_principal = person.get("/api/v1/runs")
    finally:
        server.stop()
    assert keyed == [200] * 5
    assert over.status_code == 429
    assert other_principal.status_code == 200


def test_the_limit_recovers_after_its_window(tmp_path: Path) -> None:
    server = _limited_server(tmp_path, "3 per 2 seconds")
    try:
        with server.client() as client:
            # Given a client that used its 3 requests
            first = time.monotonic()
            for _ in range(3):
                assert client.get("/api/v1/runs").status_code == 401
            limited = client.get("/api/v1/runs")
            _assert_too_many(limited, 2)
            # When the window has moved on, then it is served again
            deadline = first + 8
            while True:
                response = client.get("/api/v1/runs")
                if response.status_code != 429 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            recovered_after = time.monotonic() - first
    finally:
        server.stop()
    assert response.status_code == 401
    assert recovered_after >= 1.5


class _Replica(ApiServer):
    """A second process of the same deployment: the accounts exist already."""

    def _make_accounts(self, secret: str) -> None:
        return None


def test_distributed_servers_share_counts_in_redis(redis_url: str, tmp_path: Path) -> None:
    # Given two app instances on one database and one Redis (a database of their own)
    url = redis_url.rsplit("/", 1)[0] + "/7"
    store = redis.Redis.from_url(url)
    store.flushdb()
    settings = make_settings(
        tmp_path, redis_url=url, rate_limit="5 per minute", matf_allowed_targets="127.0.0.1"
    )
    first = ApiServer(settings).start()
    second = _Replica(settings).start()
    try:
        # When a client spreads six requests over both
        answers = [
            httpx.get(server.url + "/api/v1/runs", timeout=30)
            for server in (first, second, first, second, first, second)
        ]
        stored = [key.decode() for key in store.scan_iter("*matf-rl*")]
    finally:
        second.stop()
        first.stop()
        store.close()
    # Then they counted together: the sixth is refused, and the counts are in Redis
    assert [r.status_code for r in answers[:5]] == [401] * 5
    _assert_too_many(answers[5], 60)
    assert stored


# -- security headers --------------------------------------------------------------------


def _assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-eval'" not in policy
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    ("path", "status", "kind"),
    [
        ("/api/v1/runs", 200, "application/json"),
        ("/api/v1/no-such-thing", 404, "application/problem+json"),
        ("/health", 200, "application/json"),
        ("/login", 200, "text/html"),
        ("/docs", 200, "text/html"),
    ],
)
def test_answers_carry_security_headers_and_no_hsts_over_http(
    server: ApiServer, path: str, status: int, kind: str
) -> None:
    # A forwarded https header from a client is not trusted without a proxy
    with server.client("viewer") as client:
        response = client.get(path, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == status
    assert response.headers["content-type"].startswith(kind)
    _assert_security_headers(response)
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_when_a_trusted_proxy_says_https(tmp_path: Path) -> None:
    server = _limited_server(tmp_path, "100000 per minute", matf_proxy_count=1)
    try:
        with server.client("viewer") as client:
            behind_tls = client.get("/api/v1/runs", headers={"X-Forwarded-Proto": "https"})
            page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
            plain = client.get("/api/v1/runs", headers={"X-Forwarded-Proto": "http"})
    finally:
        server.stop()
    for response in (behind_tls, page):
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        _assert_security_headers(response)
    assert "Strict-Transport-Security" not in plain.headers


# -- production refusal ------------------------------------------------------------------

GOOD_JWT_SECRET = secrets.token_urlsafe(48)


@pytest.mark.parametrize(
    ("variable", "overrides"),
    [
        ("JWT_SECRET", {"jwt_secret": None}),
        ("JWT_SECRET", {"jwt_secret": "your_jwt_secret_key"}),
        ("JWT_SECRET", {"jwt_secret": "short-but-random-Zq9"}),
        ("ENCRYPTION_KEY", {"encryption_key": None}),
        ("ENCRYPTION_KEY", {"encryption_key": "your_32_character_encryption_key"}),
    ],
    ids=["jwt-missing", "jwt-default", "jwt-short", "key-missing", "key-default"],
)
def test_production_refuses_to_start_without_a_real_secret(
    tmp_path: Path, variable: str, overrides: dict[str, Any]
) -> None:
    values: dict[str, Any] = {
        "matf_env": "production",
        "jwt_secret": GOOD_JWT_SECRET,
        "encryption_key": generate_key(),
        **overrides,
    }
    with pytest.raises(ConfigError) as caught:
        create_app(make_settings(tmp_path, **values))
    message = str(caught.value)
    assert message.startswith(variable)
    for value in overrides.values():
        if value:
            assert value not in message  # never echo a secret


def test_production_starts_with_real_secrets(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, matf_env="production", jwt_secret=GOOD_JWT_SECRET, encryption_key=generate_key()
    )
    app = create_app(settings)
    assert app.config["MATF_JWT_SECRET"] == GOOD_JWT_SECRET
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / ".jwt-secret").exists()


@pytest.mark.parametrize(
    ("variable", "env"),
    [
        ("JWT_SECRET", {"JWT_SECRET": "", "ENCRYPTION_KEY": generate_key()}),
        ("ENCRYPTION_KEY", {"JWT_SECRET": GOOD_JWT_SECRET, "ENCRYPTION_KEY": ""}),
    ],
)
def test_matf_serve_in_production_without_a_secret_exits_2_with_one_line(
    tmp_path: Path, variable: str, env: dict[str, str]
) -> None:
    proc = subprocess.run(
        [*MATF, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=subprocess_env(tmp_path, MATF_ENV="production", REDIS_URL="", API_KEY="", **env),
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert variable in lines[0]
    assert "Traceback" not in proc.stderr


# -- accounts from the command line --------------------------------------------------------


def _matf(folder: Path, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MATF, *args],
        cwd=folder,
        env=subprocess_env(folder),
        input=stdin,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


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
