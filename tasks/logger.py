"""Logger task: persist one event (idempotent by its key), then announce it live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import shared_task

from matf.agents.logger import persist
from matf.pipeline.fanout import ShippedFile
from matf.pipeline.report import record_finished
from matf.pipeline.shipping import land
from matf.results import TestResult
from matf.storage.db import session_scope
from tasks.base import MatfTask
from tasks.live import publish
from tasks.schedule import BY_NAME, run_job


@shared_task(bind=True, base=MatfTask, name="matf.logger.record", ignore_result=True)
def record(self: MatfTask, event: dict[str, Any]) -> bool:
    with session_scope(self.engine, write=True) as session:
        event_id = persist(session, event)
    if event_id is None:
        return False
    publish(self.settings, {**event, "id": event_id})
    return True


@shared_task(bind=True, base=MatfTask, name="matf.logger.result", ignore_result=True)
def result(self: MatfTask, data: dict[str, Any], files: list[dict[str, str]] | None = None) -> bool:
    """An executor's finished test: its artifacts landed, stored for good, announced live."""
    finished = TestResult.model_validate(data)
    if files:  # sent by an executor that shares no disk with us (matf.pipeline.shipping)
        shipped = [ShippedFile.model_validate(item) for item in files]
        land(finished, shipped, Path(self.settings.storage_path) / "artifacts")
    with self.sessions(write=True) as session:
        event = record_finished(session, finished)
    if event is not None:
        publish(self.settings, event)
    return event is not None


@shared_task(
    bind=True,
    base=MatfTask,
    name="matf.logger.retention",
    soft_time_limit=BY_NAME["retention"].time_limit_s - 60,
    time_limit=BY_NAME["retention"].time_limit_s,
)
def retention(self: MatfTask) -> dict[str, Any]:
    """The scheduled retention pass: what is older than LOG_RETENTION_DAYS goes."""
    from matf.storage.retention import apply_retention

    def body() -> tuple[dict[str, Any], dict[str, int | float]]:
        done = apply_retention(
            self.sessions, Path(self.settings.storage_path), self.settings.log_retention_days
        )
        detail = done.as_detail()
        counted = ("runs", "results", "attempts", "events", "files", "file_bytes")
        counts = {k: detail[k] for k in counted}
        return detail, counts

    return run_job(self, "retention", body)
