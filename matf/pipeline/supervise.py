"""The run supervisor's decisions, made from the database alone.

What an unfinished run still lacks, when it is overdue, and how a run is ended
when nobody will finish it: the tests without a result recorded as errors that
say why, the reports written, the run in error with a one-line reason. Which
messages live workers hold is the caller's knowledge (``tasks/supervisor.py``);
the database, not the broker, says what is done.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matf.agents.logger import make_event, persist
from matf.pipeline.fanout import executor_task_id
from matf.pipeline.report import Published, collect_results, publish_reports
from matf.reports.pdf import PdfOptions
from matf.results import FINAL_STATUSES, TestResult
from matf.settings import Settings
from matf.storage.db import Sessions
from matf.storage.models import Event, Run, TestCase, TestResultRow
from matf.storage.runs import fail_run, get_run, load_specs, record_results

MAX_REQUEUES = 3  # a test whose worker dies under it this often is recorded as an error
WRITING_ALLOWANCE_S = 600  # checking the target and writing the tests, before any test runs
TIME_LIMIT = "(its time limit)"


@dataclass(frozen=True)
class Job:
    """One expected (case, browser) of a run, by its executor task id."""

    run_id: str
    case_id: str
    browser: str

    @property
    def task_id(self) -> str:
        return executor_task_id(self.run_id, self.case_id, self.browser)


@dataclass(frozen=True)
class Unfinished:
    """A run that has not ended, and what it still lacks."""

    run_id: str
    phase: str
    driver: str | None
    created_at: datetime
    expected: tuple[Job, ...]
    missing: tuple[Job, ...]  # expected, and no result stored

    @property
    def has_tests(self) -> bool:
        return bool(self.expected)


def unfinished_runs(session: Session) -> list[Unfinished]:
    """Every run not ended yet, oldest first."""
    runs = session.scalars(
        select(Run).where(Run.status.not_in(list(FINAL_STATUSES))).order_by(Run.created_at)
    ).all()
    found = []
    for run in runs:
        cases = session.scalars(
            select(TestCase.case_id).where(TestCase.run_id == run.id).order_by(TestCase.position)
        )  # ids only: a pass every few seconds need not validate every spec
        expected = tuple(
            Job(run.id, case_id, browser) for case_id in cases for browser in run.options.browsers
        )
        done = {
            (case_id, browser)
            for case_id, browser in session.execute(
                select(TestResultRow.case_id, TestResultRow.browser).where(
                    TestResultRow.run_id == run.id
                )
            )
        }
        missing = tuple(job for job in expected if (job.case_id, job.browser) not in done)
        found.append(Unfinished(run.id, run.phase, run.driver, run.created_at, expected, missing))
    return found


def time_limit_s(settings: Settings, expected: int) -> float:
    """How long a run may take from its creation.

    ``MATF_RUN_TIMEOUT`` caps every run; a small run gets less: writing its
    tests, then each test in turn at its executor's hard time limit.
    """
    worst = WRITING_ALLOWANCE_S + max(expected, 1) * settings.executor_time_limit_s
    return float(min(settings.matf_run_timeout, worst))


def overdue(run: Unfinished, settings: Settings, now: datetime | None = None) -> str | None:
    """The one-line reason the run is past its time limit, or None."""
    limit = time_limit_s(settings, len(run.expected))
    age = ((now or datetime.now(UTC)) - run.created_at).total_seconds()
    if age <= limit:
        return None
    return time_limit_reason(limit)


def time_limit_reason(limit_s: float) -> str:
    """The reason a run ended at its time limit, whoever ended it (supervisor or CLI)."""
    return f"run did not finish within {limit_s:g} s {TIME_LIMIT}"


def hit_time_limit(reason: str | None) -> bool:
    """Whether a run's error says it ended at its time limit."""
    return bool(reason) and str(reason).endswith(TIME_LIMIT)


def end_run(
    sessions: Sessions, run_id: str, reason: str, storage: Path, pdf: PdfOptions | None = None
) -> Published | None:
    """End a run nobody will finish: missing tests as errors naming ``reason``, reports written.

    None when the run had ended already (its verdict and reports stand).
    Raises ``ReportsUnwritable`` when the reports cannot be written; the run
    has ended in error all the same.
    """
    with sessions(True) as session:
        if get_run(session, run_id).status.final:
            return None
        fail_run(session, run_id, reason)
        collect_results(session, run_id, [], storage, missing=f"no result: {reason}")
    return publish_reports(sessions, run_id, storage, pdf)


def requeues(session: Session, task_id: str) -> int:
    """How many times the supervisor sent this executor task again."""
    count = session.scalar(
        select(func.count())
        .select_from(Event)
        .where(Event.kind == "test_requeued", Event.key.like(f"test_requeued:{task_id}:%"))
    )
    return int(count or 0)


def record_requeue(session: Session, job: Job, attempt: int, why: str) -> dict[str, object] | None:
    """The ``test_requeued`` event of one more try; None when this try was recorded already."""
    event = make_event(
        "test_requeued",
        agent="context",
        run_id=job.run_id,
        key=f"test_requeued:{job.task_id}:{attempt}",
        case_id=job.case_id,
        browser=job.browser,
        attempt=attempt,
        reason=why,
    )
    event_id = persist(session, event)
    return None if event_id is None else {**event, "id": event_id}


def give_up(session: Session, job: Job, why: str) -> None:
    """Record the job's test as an error: it was sent again ``MAX_REQUEUES`` times in vain."""
    run = get_run(session, job.run_id)
    spec = next(s for s in load_specs(session, run.id) if s.id == job.case_id)
    error = f"no worker finished it: sent again {MAX_REQUEUES} times ({why})"
    record_results(
        session, [TestResult.for_spec(spec, job.browser, run.id, "error", error=error, attempts=0)]
    )


def this_process() -> str:
    """This process as a run's driver: ``host:pid:start`` (start tells a reused pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def driver_gone(driver: str) -> bool:
    """True when ``driver`` is a process of this host that no longer runs.

    A driver on another host cannot be checked from here: it counts as alive.
    """
    host, _, rest = driver.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's live process
    return bool(start) and start != _start_ticks(pid)


def _start_ticks(pid: int) -> str:
    """The process' start time in clock ticks since boot (Linux), or "" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""
