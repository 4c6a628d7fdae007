"""Security headers, HSTS behind a trusted proxy, and no production start without real secrets.

Servers are real (werkzeug on loopback), ``matf serve`` runs as a child process.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from matf.errors import ConfigError
from matf.secrets.keyring import generate_key
from tests.apiserver import ApiServer
from tests.conftest import MATF, make_settings, server_settings, subprocess_env
from tests.services import free_port
from web import create_app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server with a user of each role, its rate limit out of the way."""
    api = ApiServer(server_settings(tmp_path_factory.mktemp("headers"))).start()
    yield api
    api.stop()


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
    server = ApiServer(server_settings(tmp_path, matf_proxy_count=1)).start()
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
