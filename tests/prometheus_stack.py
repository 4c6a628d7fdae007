"""The monitoring stack's real binaries for tests: Prometheus, Alertmanager, the exporters.

Debian's packages (``prometheus``, ``prometheus-alertmanager``,
``prometheus-redis-exporter``, ``prometheus-node-exporter``; ``.ci/run``
installs them). A missing binary skips its test with the package that brings
it. Also what ``monitoring/`` holds, read the way the checks need it: the
dashboard's expressions and the metric names an expression reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml

from tests.services import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "monitoring"
DASHBOARDS = MONITORING / "grafana" / "dashboards"
# Series that come from an exporter the deployment runs beside MATF, not from MATF.
EXPORTER_PREFIXES = ("flower_", "node_", "redis_")
EXPORTER_NAMES = {"up"}

PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
    "prometheus-node-exporter": "prometheus-node-exporter",
}

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?")


def binary(name: str) -> str:
    """The path of one of the stack's binaries; skips the test naming its Debian package."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: apt-get install {PACKAGES[name]}")
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords and labels left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    return {
        name
        for name, call in _NAME.findall(text)
        if not call and name.lower() not in _KEYWORDS and not re.fullmatch(r"\d.*", name)
    }


def dashboard_expressions() -> list[tuple[str, str]]:
    """Every (panel title, expression) of the committed Grafana dashboards."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            found += [(panel["title"], target["expr"]) for target in panel.get("targets", [])]
    return found


def alert_rules(path: Path = MONITORING / "alert_rules.yml") -> list[dict[str, Any]]:
    """Every alerting rule of a rules file, its group's name added as ``group``."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return [{**rule, "group": g["name"]} for g in groups for rule in g["rules"] if "alert" in rule]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Until ``url`` answers 200; fails with the process' fate if it exits or never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout_s} s")


class Daemon:
    """One of the stack's servers on a free loopback port, its output in ``log``."""

    def __init__(self, args: list[str], port: int, ready: str, log: IO[str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(self.url + ready, self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop_process(self.proc, grace_s=10)


def local_prometheus(
    folder: Path, targets: dict[str, int], alertmanager: int, token: str, waits: dict[str, str]
) -> Path:
    """A copy of monitoring/'s Prometheus config on loopback, scraping and evaluating each second.

    ``targets``: each job's local port; ``waits``: alerts whose ``for`` the copy of the
    rules shortens. Returns the config's path in ``folder``.
    """
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["alerting"]["alertmanagers"][0]["static_configs"] = [
        {"targets": [f"127.0.0.1:{alertmanager}"]}
    ]
    for job in config["scrape_configs"]:
        job.pop("scrape_interval", None)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
        if "authorization" in job:
            (folder / "matf_metrics_token").write_text(token)
            job["authorization"]["credentials_file"] = str(folder / "matf_metrics_token")
    rules = yaml.safe_load((MONITORING / "alert_rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = waits.get(rule["alert"], rule["for"])
    (folder / "alert_rules.yml").write_text(yaml.safe_dump(rules))
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    return folder / "prometheus.yml"


def local_alertmanager(folder: Path, webhook: str) -> Path:
    """A copy of monitoring/'s Alertmanager config whose receivers all post to ``webhook``.

    The routes and inhibitions stay; each receiver posts to ``webhook/<its name>``,
    so a test sees which one a route chose. Groups wait a second, not ten.
    """
    config = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())
    config["route"] |= {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}
    config["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [{"url": f"{webhook}/{receiver['name']}", "send_resolved": True}],
        }
        for receiver in config["receivers"]
    ]
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
    return folder / "alertmanager.yml"


def start_prometheus(config: Path, data: Path, log: IO[str], port: int) -> Daemon:
    args = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return Daemon(args, port, "/-/ready", log)


def start_alertmanager(config: Path, data: Path, log: IO[str]) -> Daemon:
    port = free_port()
    args = [
        binary("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # one instance: no gossip port
    ]
    return Daemon(args, port, "/-/ready", log)


def start_redis_exporter(redis_url: str, log: IO[str]) -> Daemon:
    port = free_port()
    args = [
        binary("prometheus-redis-exporter"),
        f"-redis.addr={redis_url}",
        f"-web.listen-address=127.0.0.1:{port}",
    ]
    return Daemon(args, port, "/metrics", log)


def start_node_exporter(log: IO[str]) -> Daemon:
    """node_exporter with only the collectors the alerts and dashboard read (fast scrapes)."""
    port = free_port()
    args = [
        binary("prometheus-node-exporter"),
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.meminfo",
        "--collector.filesystem",
    ]
    return Daemon(args, port, "/metrics", log)
