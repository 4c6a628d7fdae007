"""What every task shares: opening the database, announcing events, failing a run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from celery import Task
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from matf.agents.logger import make_event
from matf.results import TestResult
from matf.settings import Settings
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import fail_run
from tasks.app import settings_of

log = logging.getLogger("matf.tasks")
# About a minute of tries: longer than a Redis restart takes.
RESULT_RETRY = {"max_retries": 30, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


class MatfTask(Task):  # type: ignore[misc]
    """A task that knows MATF's settings and reports failures on its run."""

    abstract = True

    @property
    def settings(self) -> Settings:
        return settings_of(self.app)

    @property
    def engine(self) -> Engine:
        return get_engine(self.settings.database_url)

    def sessions(self, write: bool = False) -> AbstractContextManager[Session]:
        """A short transaction on the run database (``write``: one that begins immediately)."""
        return session_scope(self.engine, write=write)

    def phases(self, run_id: str) -> Callable[[str, str], None]:
        """A run's phase announcer: ``(phase, event key)`` to the logger queue."""

        def announce(phase: str, key: str) -> None:
            self.emit("phase", run_id, key=key, phase=phase)

        return announce

    def emit(self, kind: str, run_id: str | None, key: str | None = None, **payload: Any) -> None:
        """Send an event to the logger queue (never waits for it)."""
        self.send_event(
            make_event(kind, agent=self.name.split(".")[1], run_id=run_id, key=key, **payload)
        )

    def send_event(self, event: dict[str, Any]) -> None:
        """Send a made event (``matf.agents.logger``) to the logger queue."""
        self.app.send_task("matf.logger.record", args=[event], queue="logger")

    def send_result(self, result: TestResult) -> None:
        """Send a finished test's result to the logger, which stores it for good.

        Retried for a while when the broker is away: the result also travels
        back through the chord, and the supervisor runs a test again whose
        result never arrived, but a stored result spares a browser the work.
        """
        try:
            self.app.send_task(
                "matf.logger.result",
                args=[result.model_dump(mode="json")],
                queue="logger",
                retry=True,
                retry_policy=RESULT_RETRY,
            )
        except Exception as exc:  # noqa: BLE001 - never fail the test that finished
            log.warning("result of %s not sent to the logger: %s", result.key, exc)

    def fail_run(self, run_id: str, reason: str) -> None:
        with session_scope(self.engine, write=True) as session:
            fail_run(session, run_id, reason)
        self.emit("run_failed", run_id, key=f"run_failed:{run_id}", error=reason)
