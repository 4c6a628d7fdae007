"""Logger task: persist one event (idempotent by its key)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from matf.agents.logger import persist
from matf.storage.db import session_scope
from tasks.base import MatfTask


@shared_task(bind=True, base=MatfTask, name="matf.logger.record", ignore_result=True)
def record(self: MatfTask, event: dict[str, Any]) -> bool:
    with session_scope(self.engine, write=True) as session:
        return persist(session, event)
