"""What every task shares: opening the database, announcing events, failing a run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from celery import Task
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from matf.agents.logger import make_event
from matf.pipeline.fanout import ShippedFile, executor_task_id
from matf.pipeline.shipping import Shipping
from matf.results import TestResult
from matf.settings import Settings
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import fail_run
from tasks.app import settings_of, shipping_of
from tasks.telemetry import Sent, publish_later

# How long a message waits for the broker to come back (a Redis restart takes seconds).
EVENT_RETRY_S = 20.0
RESULT_RETRY_S = 60.0
# The durable messages this worker thread's task sent, awaited before its message is acked.
_durable = threading.local()


class MatfTask(Task):  # type: ignore[misc]
    """A task that knows MATF's settings and reports failures on its run."""

    abstract = True

    @property
    def settings(self) -> Settings:
        return settings_of(self.app)

    @property
    def shipping(self) -> Shipping | None:
        """What travels in messages rather than on a shared disk (None: nothing)."""
        return shipping_of(self.app)

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
        """Send an event to the logger queue (never waits for the logger; see send_event)."""
        self.send_event(
            make_event(kind, agent=self.name.split(".")[1], run_id=run_id, key=key, **payload)
        )

    def send_event(self, event: dict[str, Any]) -> Sent:
        """Send a made event (``matf.agents.logger``) to the logger queue, best effort.

        Sent from the process' outbox (``tasks/telemetry.py``): the task goes
        on at once. Given up on with one warning when the broker stayed away:
        an event is never worth failing the task that announces it.
        """
        what = f"event {event.get('key') or event.get('kind')}"
        return publish_later(
            self.app, "matf.logger.record", [event], "logger", retry_for_s=EVENT_RETRY_S, what=what
        )

    def send_result(self, result: TestResult, files: Sequence[ShippedFile] = ()) -> Sent:
        """Send a finished test's result to the logger, which stores it for good.

        Retried for a while when the broker is away: the result also travels
        back through the chord, and the supervisor runs a test again whose
        result never arrived, but a stored result spares a browser the work.
        Its task id is stable (the executor's, plus ``:result``): the logger
        stores a result once per test and browser, so a re-sent one is a no-op,
        and the supervisor counts a result on its way as the run's work in flight.
        ``files``: the artifacts the result names, when executors share no disk
        with the reporter (``matf.pipeline.shipping``).

        It travels from the outbox while Celery stores the task's return value
        and counts the chord; ``after_return`` waits for it, so it is on the
        broker before the task's own message is acknowledged: the supervisor
        always sees one of the two.
        """
        task_id = f"{executor_task_id(result.run_id, result.case_id, result.browser)}:result"
        sent = publish_later(
            self.app,
            "matf.logger.result",
            [result.model_dump(mode="json"), [f.model_dump() for f in files]],
            "logger",
            retry_for_s=RESULT_RETRY_S,
            task_id=task_id,
            what=f"result {task_id}",
        )
        _durable.sent = [*getattr(_durable, "sent", []), sent]
        return sent

    def after_return(self, *args: Any, **kwargs: Any) -> None:
        """Wait for the durable messages the task sent: its message is acknowledged next."""
        sent, _durable.sent = getattr(_durable, "sent", []), []
        for message in sent:
            message.wait(RESULT_RETRY_S * 2)

    def fail_run(self, run_id: str, reason: str) -> None:
        with session_scope(self.engine, write=True) as session:
            fail_run(session, run_id, reason)
        self.emit("run_failed", run_id, key=f"run_failed:{run_id}", error=reason)
