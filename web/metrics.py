"""Prometheus metrics at ``GET /metrics``: HTTP traffic, agents, queues, tests and runs.

HTTP metrics come from prometheus-flask-exporter without a prefix:
``http_request_duration_seconds`` (histogram) and the exporter's own
``http_request_total`` and ``http_request_exceptions_total``, plus
``http_requests_total``, the operations guide's name. All are labelled by
the URL *rule* (``/api/v1/runs/<run_id>``), never the raw path, so ids cannot
explode the series count; ``/metrics`` itself is not counted.

Everything else is computed when scraped, from sources every API process
shares (the database, the broker), never counted inside one process, so each
gunicorn worker answers the same: ``agent_health_status{agent,queue}``,
``test_queue_size{queue}``, ``tests_executed_total{status,browser}``,
``test_execution_duration_seconds`` (skipped tests never ran and are left
out), ``runs_total{status}`` (finished runs) and ``runs_active{status}``
(queued and running). One scrape's answer is kept ``CACHE_S`` seconds, so a
busy Prometheus cannot hammer Redis or the database.

Who may scrape: anyone, unless ``MATF_METRICS_TOKEN`` is set; then only a
request with ``Authorization: Bearer <token>`` (compared in constant time),
others get a 401 problem. The numbers name no user or secret, but they tell
how busy the service is and which agents are down: production should set the
token or keep ``/metrics`` off the public network.

Several gunicorn workers: ``matf serve`` does the following for you. Set
``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory (emptied at each start) before gunicorn starts, and call
``prometheus_client.multiprocess.mark_process_dead(worker.pid)`` from
gunicorn's ``child_exit`` hook. prometheus_client then keeps the HTTP metrics
in files there and every worker serves their sum. It reads that variable
itself, so this module reads it too (not a MATF setting). Without it, each
scrape sees the HTTP counts of whichever worker answered. The endpoint is
served here rather than by the exporter, whose multiprocess endpoint would
drop the collector of the shared metrics.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_flask_exporter import NO_PREFIX, PrometheusMetrics
from sqlalchemy import Engine, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from matf.errors import AuthError
from matf.results import RunStatus
from matf.settings import Settings
from matf.storage.db import get_engine
from matf.storage.models import (
    OptimizerAnalysis,
    QuarantineProposal,
    Run,
    ScheduledJob,
    TestResultRow,
)

log = logging.getLogger("matf.web")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CACHE_S = 5.0
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300)
FLAKIEST_EXPORTED = 20  # per-test series: the top of the list only, so cardinality stays bounded

StatusProvider = Callable[[], tuple[list[dict[str, Any]], dict[str, int | None]]]


def install_metrics(
    flask_app: Flask, settings: Settings, status_provider: StatusProvider
) -> PrometheusMetrics:
    """Serve ``GET /metrics`` on ``flask_app``; safe to call once per app, many apps a process.

    ``status_provider`` returns ``(agents_status rows, queue_lengths)``: the
    caller decides how agents and queues are read (see ``tasks.monitor``).
    """
    registry = CollectorRegistry()  # per app: the default one rejects a second app's metrics
    metrics = PrometheusMetrics(
        flask_app,
        path=None,
        registry=registry,
        defaults_prefix=NO_PREFIX,
        group_by="url_rule",
        excluded_paths=["^/metrics$"],
    )
    _count_requests(flask_app, registry)
    collector = MatfCollector(get_engine(settings.database_url), status_provider)
    if os.environ.get(MULTIPROC_ENV):
        scraped = CollectorRegistry()
        MultiProcessCollector(scraped)  # every process's HTTP metrics, from the files
    else:
        scraped = registry
    scraped.register(collector)

    token = settings.matf_metrics_token

    @metrics.do_not_track()
    def prometheus_metrics() -> Response:
        if token is not None:
            _check_scraper(token)
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encode(scraped), status=200, content_type=content_type)

    flask_app.add_url_rule("/metrics", "prometheus_metrics", prometheus_metrics)
    return metrics


def _check_scraper(token: str) -> None:
    """Let only a scraper that sends ``Authorization: Bearer <MATF_METRICS_TOKEN>`` in."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    matches = hmac.compare_digest(given.strip().encode(), token.encode())  # constant time
    if scheme.lower() != "bearer" or not matches:
        raise AuthError("/metrics needs 'Authorization: Bearer <MATF_METRICS_TOKEN>'")


def _count_requests(flask_app: Flask, registry: CollectorRegistry) -> None:
    """``http_requests_total{method,status,url_rule}``, the operations guide's counter."""
    requests = Counter(
        "http_requests_total",
        "HTTP requests answered, by URL rule",
        ("method", "status", "url_rule"),
        registry=registry,
    )

    @flask_app.after_request
    def _count(response: Response) -> Response:
        if not getattr(request, "prom_do_not_track", False):
            rule = request.url_rule.rule if request.url_rule is not None else "None"
            requests.labels(request.method, str(response.status_code), rule).inc()
        return response


class MatfCollector(Collector):
    """Agent, queue, test and run metrics, computed at scrape and kept ``cache_s`` seconds.

    One grouped query per metric; the lock makes concurrent scrapes share one
    computation instead of each running the queries.
    """

    def __init__(
        self, engine: Engine, status_provider: StatusProvider, cache_s: float = CACHE_S
    ) -> None:
        self._engine = engine
        self._status = status_provider
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._families: list[Any] = []
        self._computed_at = float("-inf")

    def describe(self) -> Iterable[Any]:
        """The names, without samples: registering must not run the queries."""
        return (*_empty_families(), *_schedule_families(), *_optimizer_families())

    def collect(self) -> Iterable[Any]:
        with self._lock:
            if time.monotonic() - self._computed_at >= self._cache_s:
                self._families = self._compute()
                self._computed_at = time.monotonic()
            return list(self._families)

    def _compute(self) -> list[Any]:
        health, queued, tests, durations, runs, active, calls, tokens = _empty_families()
        try:
            agents, queues = self._status()
        except Exception as exc:  # noqa: BLE001 - a scrape still answers what it can
            log.warning("metrics: agents and queues unreadable: %s", exc)
            agents, queues = [], {}
        for row in agents:
            health.add_metric([row["agent"], row["queue"]], 1.0 if row["healthy"] else 0.0)
        for queue, length in queues.items():
            if length is not None:
                queued.add_metric([queue], float(length))
        families = [health, queued]
        try:
            self._from_database(tests, durations, runs, active)
            self._llm_usage(calls, tokens)
            scheduled = _schedule_families()
            self._scheduled(*scheduled)
            optimizer = _optimizer_families()
            self._optimizer(*optimizer)
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreadable: %s", exc)
        else:
            families += [tests, durations, runs, active, calls, tokens, *scheduled, *optimizer]
        return families

    def _optimizer(self, *gauges: GaugeMetricFamily) -> None:
        """The latest stored analysis's counts, and the pending proposals, in one query.

        Only the analysis's summary and its flakiest list are read (not every
        finding); without an analysis yet the gauges have no sample.
        """
        flaky, rate, failing, clusters, pending, saved, last, scores = gauges
        waiting = (
            select(func.count())
            .select_from(QuarantineProposal)
            .where(QuarantineProposal.status == "pending")
            .scalar_subquery()
        )
        a = OptimizerAnalysis
        with self._engine.connect() as conn:
            row = conn.execute(
                select(a.created_at, a.summary, a.findings["flakiest"], waiting)
                .order_by(a.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return
        created_at, summary, flakiest, waiting_now = row
        tests = float(summary.get("tests") or 0)
        flaky.add_metric([], float(summary.get("flaky") or 0))
        rate.add_metric([], float(summary.get("flaky") or 0) / tests if tests else 0.0)
        failing.add_metric([], float(summary.get("stable_failures") or 0))
        clusters.add_metric([], float(summary.get("clusters") or 0))
        pending.add_metric([], float(waiting_now or 0))
        saved.add_metric([], float(summary.get("first_failure_saved_ms") or 0) / 1000)
        last.add_metric([], _epoch(created_at))
        for entry in (flakiest or [])[:FLAKIEST_EXPORTED]:
            labels = [entry.get("suite_id") or "", entry["case_id"], entry["browser"]]
            scores.add_metric(labels, float(entry["score"]))

    def _scheduled(
        self,
        job_runs: CounterMetricFamily,
        finished: GaugeMetricFamily,
        succeeded: GaugeMetricFamily,
        freed: CounterMetricFamily,
        deleted: CounterMetricFamily,
    ) -> None:
        """The scheduled jobs' runs and what retention freed, from their rows' running totals."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ScheduledJob.name, ScheduledJob.last_finished_at, ScheduledJob.totals)
            ).all()
        for name, last_finished, totals in rows:
            totals = totals or {}
            for outcome in ("ok", "failed"):
                job_runs.add_metric([name, outcome], float(totals.get(outcome, 0)))
            if last_finished is not None:
                finished.add_metric([name], _epoch(last_finished))
            if totals.get("last_ok_at"):
                succeeded.add_metric([name], float(totals["last_ok_at"]))
            if name == "retention":
                freed.add_metric([], float(totals.get("file_bytes", 0)))
                for kind in ("runs", "results", "attempts", "events", "files"):
                    deleted.add_metric([kind], float(totals.get(kind, 0)))

    def _llm_usage(self, calls: CounterMetricFamily, tokens: CounterMetricFamily) -> None:
        """What writing and healing asked of the model, from each run's recorded usage."""
        spent = [0.0, 0.0, 0.0]
        with self._engine.connect() as conn:
            for usage in (Run.llm_usage, Run.healing_usage):
                row = conn.execute(
                    select(
                        func.sum(usage["calls"].as_integer()),
                        func.sum(usage["prompt_tokens"].as_integer()),
                        func.sum(usage["completion_tokens"].as_integer()),
                    )
                ).one()
                spent = [total + float(value or 0) for total, value in zip(spent, row, strict=True)]
        calls.add_metric([], spent[0])
        tokens.add_metric(["prompt"], spent[1])
        tokens.add_metric(["completion"], spent[2])

    def _from_database(
        self,
        tests: CounterMetricFamily,
        durations: HistogramMetricFamily,
        runs: CounterMetricFamily,
        active: GaugeMetricFamily,
    ) -> None:
        t = TestResultRow
        bucket_counts = [
            func.sum(case((t.duration_ms <= int(bound * 1000), 1), else_=0))
            for bound in DURATION_BUCKETS
        ]
        with self._engine.connect() as conn:
            by_status = conn.execute(
                select(t.status, t.browser, func.count()).group_by(t.status, t.browser)
            ).all()
            histogram = conn.execute(
                select(*bucket_counts, func.count(), func.sum(t.duration_ms)).where(
                    t.status != "skipped"
                )
            ).one()
            run_counts = conn.execute(select(Run.status, func.count()).group_by(Run.status)).all()
        for status, browser, count in by_status:
            tests.add_metric([status, browser], float(count))
        *cumulative, total, sum_ms = (int(value or 0) for value in histogram)
        buckets = [(_le(b), float(c)) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
        durations.add_metric([], buckets + [("+Inf", float(total))], sum_value=sum_ms / 1000)
        for status, count in run_counts:
            target = runs if RunStatus(status).final else active
            target.add_metric([status], float(count))


def _epoch(moment: Any) -> float:
    """A stored moment (aware, or naive UTC as SQLite hands it back) in Unix seconds."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return float(moment.timestamp())


def _schedule_families() -> tuple[Any, ...]:
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


def _optimizer_families() -> tuple[GaugeMetricFamily, ...]:
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


def _le(bound: float) -> str:
    return str(float(bound))


def _empty_families() -> tuple[Any, ...]:
    return (
        GaugeMetricFamily(
            "agent_health_status",
            "1 when a live worker consumes the agent's queue, else 0",
            labels=["agent", "queue"],
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
