"""``matf healthcheck``, the image's HEALTHCHECK, against real servers, workers and beat.

Each role's container command (as docker-compose.prod.yml starts it, behind
tini) is probed the way Docker would: healthy while the role does its work,
unhealthy when it cannot.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.commands.healthcheck import node_name, probe_for
from tests.apiserver import ApiServer
from tests.conftest import run_matf, subprocess_env
from tests.services import free_port, start_beat, start_worker, stop_process

TINI = ["/usr/bin/tini", "--"]


def _probe(folder: Path, command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return run_matf(["healthcheck", "--timeout", "3", "--", *command], folder, **env)


def test_each_role_of_the_compose_file_gets_its_own_probe() -> None:
    # Given the commands docker-compose.prod.yml gives each role, behind tini
    api = probe_for([*TINI, "matf", "serve", "--host", "0.0.0.0", "--port", "3000"], "c1", 9)
    worker = probe_for(
        [*TINI, "celery", "-A", "tasks", "worker", "-Q", "executor", "-n", "executor@%h"],
        "c1.example",
        3000,
    )
    beat = probe_for(
        [*TINI, "celery", "-A", "tasks", "beat", "--schedule", "/app/data/celerybeat-schedule"],
        "c1",
        3000,
    )
    flower = probe_for(
        [*TINI, "celery", "-A", "tasks", "flower", "--port=5556", "--url_prefix=/flower"],
        "c1",
        3000,
    )

    # Then each is asked what it can answer for
    assert api.url == "http://127.0.0.1:3000/health"
    assert worker.node == "executor@c1.example"
    assert str(beat.schedule) == "/app/data/celerybeat-schedule"
    assert flower.url == "http://127.0.0.1:5556/flower/healthcheck"
    assert probe_for([*TINI, "matf", "migrate"], "c1", 3000).role == "other"
    assert probe_for(["matf", "serve"], "c1", 3123).url == "http://127.0.0.1:3123/health"
    # k8s gives the command itself (no tini): the probe reads it all the same
    pod = ["celery", "-A", "tasks", "worker", "-Q", "writer", "-n", "writer@%h"]
    assert probe_for(pod, "matf-writer-5d9f", 3000).node == "writer@matf-writer-5d9f"
    assert node_name("%n-x@%d", "c1.example.org") == "c1-x@example.org"
    assert node_name("celery", "c1") == "celery@c1"


def test_the_api_is_healthy_while_it_answers_and_not_where_none_answers(
    tmp_path: Path, api: ApiServer
) -> None:
    port = api.url.rsplit(":", 1)[1]

    answered = _probe(tmp_path, [*TINI, "matf", "serve", "--port", port])
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert answered.stdout.startswith("api: healthy: GET http://127.0.0.1:")

    silent = _probe(tmp_path, ["matf", "serve", "--port", str(free_port())])
    assert silent.returncode == 1
    assert "api: UNHEALTHY" in silent.stdout


@pytest.fixture
def worker(tmp_path: Path, redis_url: str) -> Iterator[dict[str, str]]:
    env = subprocess_env(tmp_path, REDIS_URL=redis_url)
    proc = start_worker(tmp_path, env, "executor@%h", queues="executor", concurrency=1)
    yield env
    stop_process(proc)


def test_a_worker_is_healthy_when_it_answers_a_ping_through_the_broker(
    tmp_path: Path, worker: dict[str, str]
) -> None:
    command = [*TINI, "celery", "-A", "tasks", "worker", "-Q", "executor", "-n", "executor@%h"]
    deadline = time.monotonic() + 60
    while True:  # the worker takes a few seconds to join
        answered = _probe(tmp_path, command, REDIS_URL=worker["REDIS_URL"])
        if answered.returncode == 0 or time.monotonic() > deadline:
            break
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "pong" in answered.stdout

    other = [*TINI, "celery", "-A", "tasks", "worker", "-Q", "writer", "-n", "writer@%h"]
    missing = _probe(tmp_path, other, REDIS_URL=worker["REDIS_URL"])
    assert missing.returncode == 1
    assert missing.stdout.startswith("worker: UNHEALTHY: celery inspect ping -d writer@")


def test_beat_is_healthy_while_it_keeps_writing_its_schedule(
    tmp_path: Path, redis_url: str
) -> None:
    env = subprocess_env(tmp_path, REDIS_URL=redis_url)
    schedule = tmp_path / "celerybeat-schedule"
    command = [*TINI, "celery", "-A", "tasks", "beat", "--schedule", str(schedule)]
    assert _probe(tmp_path, command).returncode == 1  # not started: no schedule file

    proc = start_beat(tmp_path, env)
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("celerybeat-schedule*")):
            assert time.monotonic() < deadline and proc.poll() is None, "beat did not start"
            time.sleep(0.2)
        fresh = _probe(tmp_path, command)
        assert fresh.returncode == 0, fresh.stdout + fresh.stderr

        # When its schedule stops being written (a hung beat), the probe says so
        old = time.time() - 600
        for path in tmp_path.glob("celerybeat-schedule*"):
            os.utime(path, (old, old))
        stale = _probe(tmp_path, command)
        assert stale.returncode == 1
        assert "written 600 s ago" in stale.stdout or "written 599 s ago" in stale.stdout
    finally:
        stop_process(proc)


def test_flower_is_probed_without_credentials_while_its_pages_ask_for_them(
    tmp_path: Path, redis_url: str
) -> None:
    # Given Flower started as the compose file starts it, FLOWER_BASIC_AUTH in its environment
    port = free_port()
    env = subprocess_env(tmp_path, REDIS_URL=redis_url, FLOWER_BASIC_AUTH="admin:s3cret-value")
    args = ["flower", f"--port={port}", "--address=127.0.0.1", "--purge_offline_workers=60"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    command = [*TINI, "celery", "-A", "tasks", *args]
    try:
        deadline = time.monotonic() + 30
        while (answered := _probe(tmp_path, command)).returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, answered.stdout
            time.sleep(0.5)
        assert answered.stdout.startswith(f"flower: healthy: GET http://127.0.0.1:{port}/")

        # Then the probe and Prometheus' /metrics need no password, its pages do
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200
        assert httpx.get(f"{base}/", timeout=10).status_code == 401
        signed = httpx.get(f"{base}/workers", auth=("admin", "s3cret-value"), timeout=10)
        assert signed.status_code == 200
    finally:
        stop_process(proc)
