"""``GET /metrics`` behind ``MATF_METRICS_TOKEN``: Prometheus sends it as a bearer token.

A real server (werkzeug on loopback) in each case; unset, the endpoint is open
as it always was.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from matf.errors import ConfigError
from tests.apiserver import ApiServer
from tests.conftest import make_settings, server_settings

TOKEN = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("metrics")
    api = ApiServer(server_settings(folder, matf_metrics_token=TOKEN)).start()
    yield api
    api.stop()


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer"],
    ids=["none", "shorter", "longer", "basic", "no-scheme", "empty"],
)
def test_metrics_without_the_token_are_refused(
    guarded: ApiServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with guarded.client() as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    detail = response.json()["detail"]
    assert "MATF_METRICS_TOKEN" in detail and TOKEN not in detail
    assert "http_requests_total" not in response.text


def test_a_user_token_does_not_open_the_metrics(guarded: ApiServer) -> None:
    with guarded.client("admin") as client:
        assert client.get("/metrics").status_code == 401


def test_metrics_with_the_token_are_served(guarded: ApiServer) -> None:
    with guarded.client() as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "agent_health_status" in response.text


def test_metrics_are_open_without_a_token_set(tmp_path: Path) -> None:
    api = ApiServer(server_settings(tmp_path)).start()
    try:
        with api.client() as client:
            response = client.get("/metrics")
            # monitoring/prometheus.yml always names a token file; left empty, Prometheus
            # sends a bare "Bearer", which an open endpoint lets in
            bare = client.get("/metrics", headers={"Authorization": "Bearer"})
    finally:
        api.stop()
    assert response.status_code == 200
    assert "agent_health_status" in response.text
    assert bare.status_code == 200 and "agent_health_status" in bare.text
    # An embedded server before its first run: its agents start with the run, none is down,
    # so AgentUnhealthy (agent_health_status == 0) stays quiet
    health = [line for line in response.text.splitlines() if line.startswith("agent_health")]
    assert len(health) == 6 and all(line.endswith(" 1.0") for line in health), health


def test_a_short_metrics_token_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, matf_metrics_token="scrape-me")
    assert str(caught.value).startswith("invalid MATF_METRICS_TOKEN")
    assert "scrape-me" not in str(caught.value)


def test_a_blank_metrics_token_is_no_token(tmp_path: Path) -> None:
    assert make_settings(tmp_path, matf_metrics_token="  ").matf_metrics_token is None
