"""What the route modules share: the engine, the runtime, sessions, dates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from matf.settings import Settings
from matf.storage.db import session_scope
from matf.storage.models import Run
from tasks.control import Platform


def engine() -> Engine:
    return current_app.config["MATF_ENGINE"]  # type: ignore[no-any-return]


def runtime() -> Platform:
    return current_app.config["MATF_RUNTIME"]  # type: ignore[no-any-return]


def settings() -> Settings:
    return current_app.config["MATF_SETTINGS"]  # type: ignore[no-any-return]


@contextmanager
def db(write: bool = False) -> Iterator[Session]:
    with session_scope(engine(), write=write) as session:
        yield session


def report_dir(run: Run) -> Path:
    """Where a run's reports are: its own ``out_dir``, else the server's storage."""
    out_dir = run.options.out_dir
    return Path(out_dir) if out_dir else Path(settings().storage_path) / "reports" / run.id


def iso(value: datetime | None) -> str | None:
    """ISO-8601, with the zone the database gives back (``UtcDateTime``)."""
    return value.isoformat() if value is not None else None


def iso_req(value: datetime) -> str:
    return iso(value) or ""
