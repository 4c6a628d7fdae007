"""Prometheus metrics at ``GET /metrics``: HTTP traffic, agents, queues, tests and runs.

HTTP metrics come from prometheus-flask-exporter without a prefix:
``http_request_duration_seconds`` (histogram) and the exporter's own
``http_request_total`` and ``http_request_exceptions_total``, plus
``http_requests_total``, the operations guide's name. All are labelled by
the URL *rule* (``/api/v1/runs/<run_id>``), never the raw path, so ids cannot
explode the series count; ``/metrics`` itself is not counted.

Everything else is computed when scraped, from sources every API process
shares (the database, the broker), never counted inside one process, so each
gunicorn worker answers the same: ``agent_health_status{agent,queue,agent_name}``
(``agent_name`` repeats ``agent``: the operations guide's alert reads it),
``test_queue_size{queue}``, ``tests_executed_total{status,browser}``,
``test_execution_duration_seconds`` (skipped tests never ran and are left
out), ``test_execution_running_seconds{test_id,run_id,browser}`` (each
started, unfinished test's age, from its ``test_started`` event: the guide's
TestExecutionTimeout), ``runs_total{status}`` (finished runs),
``runs_active{status}`` (queued and running), ``llm_cost_usd_total`` and the
newest verified backup's moment and size. ``web/metric_families.py`` names
them all. One scrape's answer is kept ``CACHE_S`` seconds, so a busy
Prometheus cannot hammer Redis or the database.

Two series belong to the answering process: ``process_resident_memory_bytes``
(and the other ``process_*`` series of prometheus_client) and
``database_connections_failed_total``, a counter of database connections this
API's processes failed to open or lost, plus scrapes whose database reads
failed; with several gunicorn workers it is summed over all of them like the
HTTP counters.

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
from prometheus_client import CollectorRegistry, Counter, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_flask_exporter import NO_PREFIX, PrometheusMetrics
from sqlalchemy import Engine, case, event, exists, func, select
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import SQLAlchemyError

from matf.errors import AuthError
from matf.results import RunStatus
from matf.settings import Settings, llm_cost_usd
from matf.storage.db import get_engine
from matf.storage.models import (
    Event,
    OptimizerAnalysis,
    QuarantineProposal,
    Run,
    ScheduledJob,
    TestResultRow,
)
from matf.storage.schedule import BACKUP, LAST_VERIFIED_AT, LAST_VERIFIED_BYTES
from web.metric_families import (
    FLAKIEST_EXPORTED,
    RUNNING_EXPORTED,
    core_families,
    optimizer_families,
    schedule_families,
    watch_families,
)

log = logging.getLogger("matf.web")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CACHE_S = 5.0
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300)
COUNTED = "matf_connection_failure_counted"  # set on an error the engine's listener counted
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)

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
    engine = get_engine(settings.database_url)
    failures = _count_database_failures(engine)
    collector = MatfCollector(
        engine,
        status_provider,
        failures=failures,
        prices=settings.llm_prices,
    )
    multiprocess = bool(os.environ.get(MULTIPROC_ENV))
    scraped = CollectorRegistry() if multiprocess else registry
    # The collector before the counter: a scrape's own failed read is in its own answer.
    scraped.register(collector)
    registry.register(failures)
    if multiprocess:
        MultiProcessCollector(scraped)  # every process's HTTP metrics, from the files
    ProcessCollector(registry=scraped)  # the answering process's memory, CPU, open files

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


def _count_database_failures(engine: Engine) -> Counter:
    """``database_connections_failed_total``: connections the engine failed to open, or lost.

    SQLAlchemy's ``handle_error`` sees every error of ``engine`` in this
    process; a connect that failed (no connection yet), a disconnect and a
    failed pre-ping count, a statement's own error (a constraint, a lock
    timeout) does not. The error is marked, so the scrape that meets it does
    not count it twice.
    """
    failed = Counter(
        "database_connections_failed",
        "Database connections this API failed to open or lost, and scrapes that could not "
        "read the database",
        registry=None,  # registered after the collector that may count a scrape's failure
    )

    def _on_error(context: ExceptionContext) -> None:
        if context.connection is None or context.is_disconnect or context.is_pre_ping:
            failed.inc()
            setattr(context.sqlalchemy_exception, COUNTED, True)

    event.listen(engine, "handle_error", _on_error)
    return failed


class MatfCollector(Collector):
    """Agent, queue, test and run metrics, computed at scrape and kept ``cache_s`` seconds.

    One grouped query per metric; the lock makes concurrent scrapes share one
    computation instead of each running the queries.
    """

    def __init__(
        self,
        engine: Engine,
        status_provider: StatusProvider,
        cache_s: float = CACHE_S,
        *,
        failures: Counter | None = None,
        prices: tuple[float, float] | None = None,
    ) -> None:
        """``failures`` counts a scrape's failed reads; ``prices`` (USD per million prompt
        and completion tokens) makes ``llm_cost_usd_total``, left out without them."""
        self._engine = engine
        self._status = status_provider
        self._cache_s = cache_s
        self._failures = failures
        self._prices = prices
        self._lock = threading.Lock()
        self._families: list[Any] = []
        self._computed_at = float("-inf")

    def describe(self) -> Iterable[Any]:
        """The names, without samples: registering must not run the queries."""
        families = (*core_families(), *watch_families(), *schedule_families())
        return (*families, *optimizer_families())

    def collect(self) -> Iterable[Any]:
        with self._lock:
            if time.monotonic() - self._computed_at >= self._cache_s:
                self._families = self._compute()
                self._computed_at = time.monotonic()
            return list(self._families)

    def _compute(self) -> list[Any]:
        health, queued, tests, durations, runs, active, calls, tokens = core_families()
        try:
            agents, queues = self._status()
        except Exception as exc:  # noqa: BLE001 - a scrape still answers what it can
            log.warning("metrics: agents and queues unreadable: %s", exc)
            agents, queues = [], {}
        for row in agents:
            labels = [row["agent"], row["queue"], row["agent"]]
            up = row["healthy"] or row.get("state") == "on_demand"  # starts with the first run
            health.add_metric(labels, 1.0 if up else 0.0)
        for queue, length in queues.items():
            if length is not None:
                queued.add_metric([queue], float(length))
        families = [health, queued]
        running, cost, backed_up, backup_size = watch_families()
        try:
            self._from_database(tests, durations, runs, active)
            self._running(running)
            self._llm_usage(calls, tokens, cost)
            scheduled = schedule_families()
            self._scheduled(*scheduled, backup=(backed_up, backup_size))
            optimizer = optimizer_families()
            self._optimizer(*optimizer)
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreadable: %s", exc)
            if self._failures is not None and not getattr(exc, COUNTED, False):
                self._failures.inc()
        else:
            families += [tests, durations, runs, active, running, calls, tokens]
            families += [*([cost] if self._prices else []), backed_up, backup_size]
            families += [*scheduled, *optimizer]
        return families

    def _running(self, ages: GaugeMetricFamily) -> None:
        """Each started test of an active run with no result yet, and how long since it began.

        A test's start is its ``test_started`` event (one per run, case and
        browser: a re-delivery keeps the first); its result row ends it. The
        oldest ``RUNNING_EXPORTED`` only: those are what a timeout alert needs.
        """
        case_id = Event.payload["case_id"].as_string()
        browser = Event.payload["browser"].as_string()
        done = exists().where(
            TestResultRow.run_id == Event.run_id,
            TestResultRow.case_id == case_id,
            TestResultRow.browser == browser,
        )
        active = select(Run.id).where(Run.status.in_(ACTIVE))
        # ``kind || ''``: SQLite would walk every test_started event ever kept through the
        # kind index; the run id's index finds the few of the active runs instead.
        query = (
            select(Event.run_id, case_id, browser, Event.created_at)
            .where(Event.run_id.in_(active), Event.kind + "" == "test_started", ~done)
            .order_by(Event.created_at)
            .limit(RUNNING_EXPORTED)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        now = time.time()
        for run_id, test_id, on, started in rows:
            ages.add_metric([test_id or "", run_id, on or ""], max(now - _epoch(started), 0.0))

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
        *,
        backup: tuple[GaugeMetricFamily, GaugeMetricFamily],
    ) -> None:
        """The scheduled jobs' runs, what retention freed and the newest verified backup.

        All from the jobs' rows: their running totals, and the backup row's
        note of its newest verified backup (the schedule's or a CronJob's).
        """
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
            if name == BACKUP and totals.get(LAST_VERIFIED_AT):
                backup[0].add_metric([], float(totals[LAST_VERIFIED_AT]))
                backup[1].add_metric([], float(totals.get(LAST_VERIFIED_BYTES) or 0))
            if name == "retention":
                freed.add_metric([], float(totals.get("file_bytes", 0)))
                for kind in ("runs", "results", "attempts", "events", "files"):
                    deleted.add_metric([kind], float(totals.get(kind, 0)))

    def _llm_usage(
        self, calls: CounterMetricFamily, tokens: CounterMetricFamily, cost: CounterMetricFamily
    ) -> None:
        """What writing and healing asked of the model, from each run's recorded usage.

        The cost is an estimate at today's prices: changing them re-prices the
        past, which Prometheus reads as a counter reset or jump.
        """
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
        if self._prices is not None:
            cost.add_metric([], llm_cost_usd(spent[1], spent[2], self._prices))

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


def _le(bound: float) -> str:
    return str(float(bound))
