"""Logger task: persist one event (idempotent by its key), then announce it live."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from matf.agents.logger import persist
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
