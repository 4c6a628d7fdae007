"""The monitoring stack end to end, every part real, on loopback.

Redis, a control worker, an executor worker and beat (``tests/cluster.py``),
Flower, MATF's API (distributed, its /metrics behind a token), Debian's
prometheus-redis-exporter and prometheus-node-exporter, Prometheus (a copy of
``monitoring/prometheus.yml`` with loopback targets, scraping and evaluating
each second; AgentUnhealthy waits 1 s instead of 30) and Alertmanager (a copy
of ``monitoring/alertmanager.yml`` whose receivers post to this test). A
campaign runs against the demo site; then every expression of the Grafana
dashboard must return data, and killing the executor pool must page through
Alertmanager, then resolve when it comes back.
"""

from __future__ import annotations

import json
import math
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from matf.storage.backup import scheduled_backup
from matf.storage.db import get_engine, sessions_for
from tests.apiserver import ApiServer, finished
from tests.cluster import Cluster
from tests.conftest import lab_spec, server_settings
from tests.prometheus_stack import (
    Daemon,
    binary,
    dashboard_expressions,
    local_alertmanager,
    local_prometheus,
    start_alertmanager,
    start_node_exporter,
    start_prometheus,
    start_redis_exporter,
    wait_http,
)
from tests.services import LoopbackHttpServer, QuietHandler, free_port, stop_process

TOKEN = secrets.token_urlsafe(32)
SLOW_MS = 7000  # longer than a scrape's cache (5 s): the running test is seen


class Webhook:
    """Alertmanager's notifications as they arrive, by receiver (the path it posted to)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        received = self.received

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path.strip("/"), json.loads(body)))
                self.answer(200, "text/plain", b"ok")

        self.server = LoopbackHttpServer(Handler)
        self.url = f"http://127.0.0.1:{self.server.port}"

    def alert(self, name: str, status: str, **labels: str) -> tuple[str, dict[str, Any]] | None:
        """The first notified alert ``name`` in ``status`` with ``labels``, and its receiver."""
        for receiver, message in list(self.received):
            for alert in message["alerts"]:
                wanted = {"alertname": name, **labels}
                if alert["status"] == status and wanted.items() <= alert["labels"].items():
                    return receiver, alert
        return None


def _until(check: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what}: not in {timeout_s} s"
        time.sleep(0.25)
    return value


def _start_flower(cluster: Cluster, port: int, log: IO[str]) -> subprocess.Popen[bytes]:
    """Flower on ``port``, as the compose file runs it (offline workers purged); not waited for."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", "flower", "--address=127.0.0.1",
         f"--port={port}", "--purge_offline_workers=10"],
        cwd=cluster.folder, env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _stop_cluster(cluster: Cluster) -> None:
    """Every worker and beat told to stop at once, then waited for: a shorter teardown."""
    for proc in (cluster.beat, cluster.control, cluster.executor):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    cluster.stop()


@dataclass
class Stack:
    """The running parts a test acts on, and Prometheus' HTTP API read as a dashboard would."""

    cluster: Cluster
    api: ApiServer
    editor: httpx.Client
    webhook: Webhook
    prometheus: Daemon

    def query_range(self, expr: str, start: float) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.prometheus.url}/api/v1/query_range",
            params={"query": expr, "start": start, "end": time.time(), "step": "1s"},
            timeout=10,
        ).json()
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def has_data(self, expr: str, start: float) -> bool:
        """True once ``expr`` has at least one number (not NaN) since ``start``."""
        return any(
            not math.isnan(float(value))
            for series in self.query_range(expr, start)
            for _at, value in series["values"]
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Everything started on loopback; stopped in reverse order whatever the test did."""
    for name in ("prometheus", "prometheus-alertmanager", "prometheus-redis-exporter"):
        binary(name)  # skip before starting anything when one is missing
    binary("prometheus-node-exporter")
    with ExitStack() as stop:
        log = stop.enter_context(open(tmp_path / "stack.log", "a"))  # noqa: SIM115
        cluster = Cluster(tmp_path)
        stop.callback(_stop_cluster, cluster)
        flower_port = free_port()
        flower = _start_flower(cluster, flower_port, log)  # starts while the rest does
        stop.callback(stop_process, flower, 10)
        settings = server_settings(tmp_path, redis_url=cluster.redis.url, matf_metrics_token=TOKEN)
        api = ApiServer(settings).start()
        stop.callback(api.stop)
        editor = stop.enter_context(api.client("editor"))
        webhook = Webhook()
        stop.enter_context(webhook.server)
        daemons: list[Daemon] = []
        stop.callback(lambda: [d.stop() for d in reversed(daemons)])
        redis_exporter = start_redis_exporter(cluster.redis.url, log)
        daemons.append(redis_exporter)
        node_exporter = start_node_exporter(log)
        daemons.append(node_exporter)
        (tmp_path / "am").mkdir()
        am_config = local_alertmanager(tmp_path / "am", webhook.url)
        alertmanager = start_alertmanager(am_config, tmp_path / "am" / "data", log)
        daemons.append(alertmanager)
        ports = {
            "prometheus": free_port(),
            "multi-agent-framework": int(api.url.rsplit(":", 1)[1]),
            "flower": flower_port,
            "redis": redis_exporter.port,
            "node": node_exporter.port,
        }
        (tmp_path / "prom").mkdir()
        config = local_prometheus(
            tmp_path / "prom", ports, alertmanager.port, TOKEN, {"AgentUnhealthy": "1s"}
        )
        data = tmp_path / "prom" / "data"
        prometheus = start_prometheus(config, data, log, ports["prometheus"])
        daemons.append(prometheus)
        wait_http(f"http://127.0.0.1:{flower_port}/healthcheck", flower)
        yield Stack(cluster, api, editor, webhook, prometheus)


def test_dashboards_show_a_campaign_and_a_killed_executor_pool_pages_and_resolves(
    stack: Stack, demo: str
) -> None:
    started = time.time()
    editor = stack.editor
    # Given a verified backup, and a campaign against the demo site: one test passes,
    # one fails, one is slow enough to be seen running
    engine = get_engine(stack.api.settings.database_url)
    assert scheduled_backup(stack.api.settings, sessions_for(engine))["verified"] is True
    tests = [
        lab_spec("ok", demo, "/lab/ok"),
        lab_spec("broken", demo, "/lab/fail", "All good"),
        {"id": "slow", "name": "slow", "url": f"{demo}/lab/ok",
         "steps": [{"action": "goto", "url": f"/lab/slow?ms={SLOW_MS}"}]},
    ]  # fmt: skip
    suite = editor.post("/api/v1/suites", json={"name": "lab", "target": demo, "tests": tests})
    assert suite.status_code == 201, suite.text
    run_id = editor.post("/api/v1/tests/execute", json={"suite_id": suite.json()["id"]}).json()
    run = finished(editor, run_id["run_id"], timeout_s=120)
    assert run["counts"]["passed"] == 2 and run["counts"]["failed"] == 1, run
    assert stack.webhook.alert("AgentUnhealthy", "firing") is None  # all well so far
    # When the executor pool is killed (its heartbeat goes stale in 30 s), and meanwhile
    # the optimizer analyses the history
    stack.cluster.kill_executor()
    assert editor.post("/api/v1/optimizer/run").status_code == 202
    # Then Prometheus scraped every target, MATF's with its bearer token
    jobs = _until(lambda: _up_jobs(stack, started), "every target up", timeout_s=30)
    assert jobs == {"prometheus", "multi-agent-framework", "flower", "redis", "node"}
    # And every expression of the dashboard has returned data
    empty = [
        f"{title}: {expr}"
        for title, expr in dashboard_expressions()
        if not _eventually(partial(stack.has_data, expr, started))
    ]
    assert empty == []
    # And AgentUnhealthy pages through the critical route, naming the executor
    receiver, alert = _until(
        lambda: stack.webhook.alert("AgentUnhealthy", "firing", agent_name="executor"),
        "AgentUnhealthy firing",
        timeout_s=90,
    )
    assert receiver == "critical" and alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == "Agent executor is unhealthy"
    assert stack.webhook.alert("AgentUnhealthy", "firing", agent_name="writer") is None
    # When the pool comes back, then the alert resolves
    stack.cluster.restart_executor()
    _until(
        lambda: stack.webhook.alert("AgentUnhealthy", "resolved", agent_name="executor"),
        "AgentUnhealthy resolved",
        timeout_s=90,
    )


def _up_jobs(stack: Stack, start: float) -> set[str] | None:
    """The jobs every one of whose targets Prometheus has scraped; None until all five."""
    jobs = {series["metric"]["job"] for series in stack.query_range("up == 1", start)}
    return jobs if len(jobs) == 5 else None


def _eventually(check: Callable[[], bool], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True
