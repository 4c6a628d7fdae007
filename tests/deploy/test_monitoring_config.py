"""``monitoring/`` checked by the tools of its ecosystem: promtool and amtool.

Prometheus' config and rules, the rules' unit tests (each alert fires on a
series that should fire it, quiet on one beside it that should not),
Alertmanager's config, and the Grafana dashboard's expressions parsed by
promtool as recording rules.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.prometheus_stack import MONITORING, alert_rules, binary, dashboard_expressions

GUIDE_ALERTS = {
    "FrameworkDown": ("critical", "1m"),
    "HighErrorRate": ("warning", "2m"),
    "AgentUnhealthy": ("critical", "30s"),
    "TestExecutionTimeout": ("warning", "0s"),
    "HighMemoryUsage": ("warning", "5m"),
    "DiskSpaceLow": ("critical", "5m"),
    "RedisDown": ("critical", "1m"),
    "DatabaseConnectionFailure": ("warning", "2m"),
    "HighResponseTime": ("warning", "5m"),
    "TestQueueBacklog": ("warning", "10m"),
}
SECRET_KEYS = ("url", "api_url", "routing_key", "service_key", "api_key", "auth_password")
OURS = {"CeleryWorkerDown", "CeleryTaskFailureRate", "BackupTooOld", "BackupTooSmall"}


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )


def test_prometheus_config_is_valid_with_its_token_file_and_rules(tmp_path: Path) -> None:
    # Given a copy whose token file exists (a deployment mounts it from a secret)
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (api,) = [job for job in config["scrape_configs"] if job["job_name"] == "multi-agent-framework"]
    assert api["authorization"]["credentials_file"] == "/run/secrets/matf_metrics_token"
    token = tmp_path / "matf_metrics_token"
    token.write_text("")
    api["authorization"]["credentials_file"] = str(token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "alert_rules.yml").write_text((MONITORING / "alert_rules.yml").read_text())
    # Then promtool accepts it, rules included, and the committed file's syntax too
    checked = _run(binary("promtool"), "check", "config", tmp_path / "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout
    syntax = _run(
        binary("promtool"), "check", "config", "--syntax-only", MONITORING / "prometheus.yml"
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


def test_prometheus_scrapes_the_services_by_their_compose_names() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets["multi-agent-framework"] == ["api:3000"]
    assert targets["flower"] == ["flower:5555"]
    assert targets["redis"] == ["redis-exporter:9121"]
    assert targets["node"] == ["node-exporter:9100"]
    (alerting,) = config["alerting"]["alertmanagers"]
    assert alerting["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert config["rule_files"] == ["alert_rules.yml"]


def test_alert_rules_pass_promtool_and_keep_the_guides_names_severities_and_waits() -> None:
    checked = _run(binary("promtool"), "check", "rules", MONITORING / "alert_rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) == set(GUIDE_ALERTS) | OURS
    for name, (severity, wait) in GUIDE_ALERTS.items():
        assert (rules[name]["labels"]["severity"], rules[name]["for"]) == (severity, wait), name
    for name, rule in rules.items():
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    assert "agent_name" in rules["AgentUnhealthy"]["annotations"]["summary"]
    assert "test_id" in rules["TestExecutionTimeout"]["annotations"]["description"]


def test_every_alert_fires_when_it_should_and_stays_quiet_when_not() -> None:
    tests = MONITORING / "tests" / "alert_rules_test.yml"
    covered = {
        case["alertname"]
        for test in yaml.safe_load(tests.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert covered == {rule["alert"] for rule in alert_rules()}
    checked = _run(binary("promtool"), "test", "rules", tests)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_alertmanager_config_is_valid_routes_by_severity_and_holds_no_secret() -> None:
    path = MONITORING / "alertmanager.yml"
    checked = _run(binary("amtool"), "check-config", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(path.read_text())
    routes = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {'severity="critical"': "critical", 'severity="warning"': "warning"}
    for receiver in config["receivers"]:
        for kind, settings in receiver.items():
            for entry in settings if kind.endswith("_configs") else []:
                secrets = {
                    k for k in entry if k in ("url", "api_url", "routing_key", "service_key")
                }
                assert secrets == set(), f"{receiver['name']} writes {secrets} in git"
                assert any(k.endswith("_file") for k in entry), receiver["name"]
    assert config["inhibit_rules"]


def test_dashboard_expressions_parse_and_name_the_provisioned_datasource(tmp_path: Path) -> None:
    # promtool parses PromQL offline only in rules: each expression becomes a recording rule
    expressions = dashboard_expressions()
    rules = [{"record": f"dashboard:expr_{i}", "expr": e} for i, (_t, e) in enumerate(expressions)]
    (tmp_path / "dashboard_rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    checked = _run(binary("promtool"), "check", "rules", tmp_path / "dashboard_rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    provisioned = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert provisioned["url"] == "http://prometheus:9090"
    for path in (MONITORING / "grafana/dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == provisioned["uid"], panel["title"]
    titles = {title for title, _e in expressions}
    guide = {"System Overview", "Agent Health Status", "Test Execution Rate", "Response Time"}
    ours = {"Memory Usage", "Test Queue Size", "Pass Rate", "Flaky Rate", "LLM Calls", "LLM Cost"}
    assert guide | ours | {"Runs Active"} <= titles
