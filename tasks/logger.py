"""Logger task: persist one event (idempotent by its key), then announce it live."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from matf.agents.logger import persist
from matf.pipeline.report import record_finished
from matf.results import TestResult
from matf.storage.db import session_scope
from tasks.base import MatfTask
from tasks.live import publish


@shared_task(bind=True, base=MatfTask, name="matf.logger.record", ignore_result=True)
def record(self: MatfTask, event: dict[str, Any]) -> bool:
    with session_scope(self.engine, write=True) as session:
        event_id = persist(session, event)
    if event_id is None:
        return False
    publish(self.settings, {**event, "id": event_id})
    return True


@shared_task(bind=True, base=MatfTask, name="matf.logger.result", ignore_result=True)
def result(self: MatfTask, data: dict[str, Any]) -> bool:
    """An executor's finished test: stored for good (row and event), then announced live."""
    with self.sessions(write=True) as session:
        event = record_finished(session, TestResult.model_validate(data))
    if event is not None:
        publish(self.settings, event)
    return event is not None
