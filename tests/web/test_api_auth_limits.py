"""Rate limits: per client, across endpoints, over a window, shared between servers.

Servers are real (werkzeug on loopback), Redis is the session's private server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.apiserver import ApiServer
from tests.conftest import make_settings

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
