"""Every series an alert or a dashboard panel reads is one something really serves.

MATF's own come from a real API server's ``GET /metrics``; the rest must
belong to an exporter the deployment runs beside it (Flower, node-exporter,
redis-exporter) or be Prometheus' own ``up``.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.apiserver import ApiServer
from tests.prometheus_stack import (
    EXPORTER_NAMES,
    EXPORTER_PREFIXES,
    alert_rules,
    dashboard_expressions,
    metric_names,
)

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def _served(api: ApiServer) -> set[str]:
    """The sample names MATF's /metrics serves, or would once its families have samples."""
    with api.client("viewer") as client:
        assert client.get("/api/v1/system/health").status_code == 200  # an HTTP sample
        text = client.get("/metrics").text
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_alerts_and_panels_read_only_series_that_are_served(api: ApiServer) -> None:
    served = _served(api)
    used = {
        name: f"panel {title!r}" for title, e in dashboard_expressions() for name in metric_names(e)
    }
    for rule in alert_rules():
        used.update(dict.fromkeys(metric_names(rule["expr"]), f"alert {rule['alert']}"))
    ours = {n for n in used if n not in EXPORTER_NAMES and not n.startswith(EXPORTER_PREFIXES)}
    missing = {name: where for name, where in used.items() if name in ours and name not in served}
    assert missing == {}
    # The guide's names, and the series this issue added, are among them
    assert {
        "agent_health_status", "tests_executed_total", "test_queue_size",
        "http_request_duration_seconds_bucket", "test_execution_running_seconds",
        "database_connections_failed_total", "matf_backup_last_verified_timestamp_seconds",
        "matf_backup_last_size_bytes", "llm_cost_usd_total", "process_resident_memory_bytes",
    } <= ours  # fmt: skip


def test_the_name_reader_sees_through_functions_labels_and_groupings() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{le!="x", job=~"b.*"}[5m]))) '
        '/ on(instance) group_left(pool) label_replace(c, "pool", "$1", "worker", "(.*)") '
        "and time() - d offset 5m > 2 * 3600"
    )
    assert metric_names(expr) == {"a_bucket", "c", "d"}
