"""The series ``GET /metrics`` serves, by name, help text and labels, empty until filled.

Names follow the operations guide and Flower (``_total`` counters,
``_seconds`` and ``_bytes`` units, labels ``agent`` and ``queue``), so its
alert rules and dashboards (``monitoring/``) read them as written. A family
is built afresh at each computation: ``MatfCollector`` fills it from the
database and the broker (``web/metrics.py``).
"""

from __future__ import annotations

from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

FLAKIEST_EXPORTED = 20  # per-test series: the top of the list only, so cardinality stays bounded
RUNNING_EXPORTED = 100  # running tests exported, the oldest first: what a timeout alert needs


def core_families() -> tuple[Any, ...]:
    """Agents, queues, tests, runs and the model's use: the guide's own series first."""
    return (
        GaugeMetricFamily(
            "agent_health_status",
            "0 when the agent is down (no live worker consumes its queue), else 1; an "
            "embedded server's agents count as up before their workers start with the first "
            "run (agent_name repeats agent, the operations guide's label)",
            labels=["agent", "queue", "agent_name"],
        ),
        GaugeMetricFamily("test_queue_size", "Messages waiting in the queue", labels=["queue"]),
        CounterMetricFamily(
            "tests_executed",
            "Test results stored, by final status and browser",
            labels=["status", "browser"],
        ),
        HistogramMetricFamily(
            "test_execution_duration_seconds",
            "How long tests took, every attempt included (skipped tests left out)",
        ),
        CounterMetricFamily("runs", "Runs finished, by final status", labels=["status"]),
        GaugeMetricFamily("runs_active", "Runs queued or running", labels=["status"]),
        CounterMetricFamily("llm_calls", "Requests sent to the model (writing and healing)"),
        CounterMetricFamily("llm_tokens", "Tokens the model used", labels=["kind"]),
    )


def watch_families() -> tuple[Any, ...]:
    """What alerts watch beyond the guide's list: running tests, the model's cost, backups."""
    return (
        GaugeMetricFamily(
            "test_execution_running_seconds",
            "Seconds since each started, unfinished test of a queued or running run began "
            f"(its first start; the {RUNNING_EXPORTED} oldest only, so the series stay bounded)",
            labels=["test_id", "run_id", "browser"],
        ),
        CounterMetricFamily(
            "llm_cost_usd",
            "Estimated US dollars the model's tokens cost, at MISTRAL_PRICE_INPUT and "
            "MISTRAL_PRICE_OUTPUT as set now",
        ),
        GaugeMetricFamily(
            "matf_backup_last_verified_timestamp_seconds",
            "When the newest verified backup of the database was taken",
        ),
        GaugeMetricFamily(
            "matf_backup_last_size_bytes",
            "Size of the newest verified backup (its database copy and baselines)",
        ),
    )


def schedule_families() -> tuple[Any, ...]:
    return (
        CounterMetricFamily(
            "matf_scheduled_job_runs",
            "Runs of a scheduled job (optimizer, backup, retention), by outcome",
            labels=["job", "outcome"],
        ),
        GaugeMetricFamily(
            "matf_scheduled_job_last_run_timestamp_seconds",
            "When the job's last run ended",
            labels=["job"],
        ),
        GaugeMetricFamily(
            "matf_scheduled_job_last_success_timestamp_seconds",
            "When the job last ended well (alert when a backup is too old)",
            labels=["job"],
        ),
        CounterMetricFamily(
            "matf_retention_freed_bytes", "Bytes of artifacts and reports retention deleted"
        ),
        CounterMetricFamily(
            "matf_retention_deleted",
            "What retention deleted, by kind (runs, results, attempts, events, files)",
            labels=["kind"],
        ),
    )


def optimizer_families() -> tuple[GaugeMetricFamily, ...]:
    def gauge(name: str, text: str, labels: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"matf_optimizer_{name}", text, labels=labels)

    return (
        gauge("flaky_tests", "Tests the latest optimizer analysis called flaky"),
        gauge("flaky_rate", "Flaky tests over the tests the latest analysis read"),
        gauge("stable_failures", "Tests that failed every run of the latest analysis's window"),
        gauge("clusters", "Groups of tests failing together in the latest analysis"),
        gauge("quarantine_pending", "Quarantine proposals waiting for a person's decision"),
        gauge(
            "first_failure_saved_seconds",
            "Summed over saved suites: median time to the first failure the run order saves",
        ),
        gauge("last_analysis_timestamp_seconds", "When the latest analysis was made"),
        gauge(
            "flakiness_score",
            f"Flakiness score (0-1) of the latest analysis's {FLAKIEST_EXPORTED} flakiest tests "
            "only: the series are bounded, a test leaving the top drops its series",
            ["suite_id", "case_id", "browser"],
        ),
    )
