"""The standing work of three agents, on a schedule: the optimizer, backups, retention.

Each job is an ordinary task on its agent's queue (Flower and the agents'
status show it). Distributed, Celery beat sends them (``make beat``; the
entries come from ``beat_entries``, intervals from the settings); embedded,
``matf serve`` sends them from a thread (``Scheduler``). Whoever sends, a job
runs once per interval: its task first claims the job's row in the database
(``matf/storage/schedule.py``), and a second beat's send, or a second
``matf serve`` process', finds the claim taken and does nothing. The claim
holds for the job's time limit, so a worker killed in the middle of a job
blocks it no longer than that.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from matf.pipeline.supervise import this_process
from matf.settings import Settings
from matf.storage.db import get_engine, session_scope
from matf.storage.schedule import Claim, claim, finish, jobs

if TYPE_CHECKING:
    from celery import Celery

    from tasks.base import MatfTask

log = logging.getLogger("matf.schedule")


@dataclass(frozen=True)
class Job:
    """One scheduled job: what runs, where, how often (a ``*_interval`` setting)."""

    name: str
    task: str
    queue: str
    interval: str  # the setting: ``{interval}_interval``
    does: str
    time_limit_s: int

    def every_s(self, settings: Settings) -> float:
        return settings.interval_s(self.interval)


JOBS: tuple[Job, ...] = (
    Job(
        "optimizer",
        "matf.optimizer.analyse",
        "optimizer",
        "optimizer",
        "reads the last HISTORICAL_DATA_DAYS of results: flaky and slow tests, "
        "failure clusters, run orders, quarantine proposals",
        600,
    ),
    Job(
        "backup",
        "matf.context.backup",
        "context",
        "backup",
        "copies the database online with its baselines to BACKUP_PATH, verifies it, "
        "keeps the newest BACKUP_KEEP",
        600,
    ),
    Job(
        "retention",
        "matf.logger.retention",
        "logger",
        "retention",
        "deletes runs, events and artifacts older than LOG_RETENTION_DAYS "
        "(never baselines or saved suites)",
        1800,
    ),
)
BY_NAME = {job.name: job for job in JOBS}
# A job's body: its detail for the API, and the numbers added to its running totals.
Body = Callable[[], tuple[dict[str, Any], dict[str, int | float]]]


def first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:300]


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery beat's entries for the jobs; a send nobody took within an interval expires."""
    return {
        f"job-{job.name}": {
            "task": job.task,
            "schedule": job.every_s(settings),
            "options": {"queue": job.queue, "expires": job.every_s(settings)},
        }
        for job in JOBS
    }


def run_job(task: MatfTask, name: str, body: Body, force: bool = False) -> dict[str, Any]:
    """Run ``body`` as this interval's run of job ``name``, unless another holder has it.

    ``force``: run even if the job ran within this interval (a run asked for
    now), though still never beside another holder's run. Returns the detail
    stored with the run, or why it was skipped. A body that raises is recorded
    as failed, with its first line, and raises on: Flower shows the task as
    failed, and the next interval tries again.
    """
    job = BY_NAME[name]
    holder = f"{this_process()}:{uuid.uuid4().hex[:8]}"
    with task.sessions(write=True) as session:
        taken = claim(
            session, name, job.every_s(task.settings), holder, job.time_limit_s, force=force
        )
    if taken is None:
        log.info("schedule: %s skipped, another process holds or just ran it", name)
        return {"skipped": "another process holds this interval's run"}
    try:
        detail, counts = body()
    except Exception as exc:
        _ended(task, taken, "failed", {"error": first_line(exc)}, {})
        raise
    _ended(task, taken, "ok", detail, counts)
    return detail


def _ended(
    task: MatfTask,
    taken: Claim,
    outcome: str,
    detail: dict[str, Any],
    counts: dict[str, int | float],
) -> None:
    """Record the run on the job's row, and as an event: the job's history, kept like a log's."""
    with task.sessions(write=True) as session:
        finish(session, taken, outcome, detail, counts)
    started = taken.started_at.isoformat()
    task.emit(
        "job_finished",
        None,
        key=f"job:{taken.name}:{started}",
        job=taken.name,
        outcome=outcome,
        started_at=started,
        detail=detail,
    )


def schedule_report(settings: Settings) -> list[dict[str, Any]]:
    """Each job with its interval, last run, outcome and next run, for the API."""
    with session_scope(get_engine(settings.database_url)) as session:
        rows = jobs(session)
    now = datetime.now(UTC)
    report = []
    for job in JOBS:
        every = job.every_s(settings)
        row = rows.get(job.name)
        started = row.last_started_at if row is not None else None
        running = bool(row and row.held_until and row.held_until > now)
        report.append(
            {
                "name": job.name,
                "task": job.task,
                "queue": job.queue,
                "does": job.does,
                "interval": getattr(settings, f"{job.interval}_interval"),
                "interval_s": every,
                "running": running,
                "runs": row.runs if row is not None else 0,
                "skipped": row.skipped if row is not None else 0,
                "last_started_at": started,
                "last_finished_at": row.last_finished_at if row is not None else None,
                "last_outcome": row.last_outcome if row is not None else None,
                "last_detail": row.last_detail if row is not None else None,
                "next_run_at": started + timedelta(seconds=every) if started else None,
                "totals": dict(row.totals or {}) if row is not None else {},
            }
        )
    return report


class Scheduler:
    """Embedded mode's beat: a daemon thread that sends each job when its interval is up.

    The first run of each job comes one interval after this process starts
    (or after the job's last recorded start, if later). Sends from several
    processes are harmless: the job's claim lets one run per interval.
    """

    def __init__(
        self, settings: Settings, app: Callable[[], Celery], tick_s: float | None = None
    ) -> None:
        self.settings, self._app = settings, app
        shortest = min(job.every_s(settings) for job in JOBS)
        self.tick_s = tick_s if tick_s is not None else min(max(shortest / 10, 0.2), 30.0)
        self._started = datetime.now(UTC)
        self._sent: dict[str, datetime] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="matf scheduler", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def due(self, now: datetime | None = None) -> list[Job]:
        """The jobs whose interval is up and that this process has not just sent."""
        now = now or datetime.now(UTC)
        with session_scope(get_engine(self.settings.database_url)) as session:
            rows = jobs(session)
        ready = []
        for job in JOBS:
            every = timedelta(seconds=job.every_s(self.settings))
            row = rows.get(job.name)
            since = max(
                self._started,
                row.last_started_at if row is not None and row.last_started_at else self._started,
                self._sent.get(job.name, self._started),
            )
            if now >= since + every:
                ready.append(job)
        return ready

    def _loop(self) -> None:
        failing = False
        while not self._stopping.wait(self.tick_s):
            try:
                for job in self.due():
                    self._app().send_task(job.task, queue=job.queue, routing_key=job.queue)
                    self._sent[job.name] = datetime.now(UTC)
                failing = False
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                if not failing:
                    log.warning("scheduler: no jobs sent: %s", first_line(exc))
                failing = True
