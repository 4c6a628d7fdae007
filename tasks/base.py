"""What every task shares: opening the database, announcing events, failing a run."""

from __future__ import annotations

from typing import Any

from celery import Task
from sqlalchemy import Engine

from matf.agents.logger import make_event
from matf.settings import Settings
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import fail_run
from tasks.app import settings_of


class MatfTask(Task):  # type: ignore[misc]
    """A task that knows MATF's settings and reports failures on its run."""

    abstract = True

    @property
    def settings(self) -> Settings:
        return settings_of(self.app)

    @property
    def engine(self) -> Engine:
        return get_engine(self.settings.database_url)

    def emit(self, kind: str, run_id: str | None, key: str | None = None, **payload: Any) -> None:
        """Send an event to the logger queue (never waits for it)."""
        self.send_event(
            make_event(kind, agent=self.name.split(".")[1], run_id=run_id, key=key, **payload)
        )

    def send_event(self, event: dict[str, Any]) -> None:
        """Send a made event (``matf.agents.logger``) to the logger queue."""
        self.app.send_task("matf.logger.record", args=[event], queue="logger")

    def fail_run(self, run_id: str, reason: str) -> None:
        with session_scope(self.engine, write=True) as session:
            fail_run(session, run_id, reason)
        self.emit("run_failed", run_id, key=f"run_failed:{run_id}", error=reason)
