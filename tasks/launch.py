"""Starting a run and following it: used by the command line (and later the API).

A run is created in the database first (the source of truth), then its canvas
is sent. Following a run reads the database, and also the canvas' results, so
a task that failed before it could write (say, a worker that sees another
database) still ends the wait with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from sqlalchemy import Engine

from matf.agents import AGENTS
from matf.errors import EnvironmentProblem, RunTimeout
from matf.spec import TestSpec
from matf.storage.db import session_scope
from matf.storage.runs import create_run, fail_run, progress, save_cases
from tasks.canvas import run_signature


def submit(
    app: Celery,
    engine: Engine,
    target: str,
    options: dict[str, Any],
    specs: list[TestSpec] | None = None,
    *,
    reports_root: Path | None = None,
    created_by: str | None = None,
    suite_id: str | None = None,
    follow_result: bool = True,
) -> tuple[str, AsyncResult]:
    """Create the run row (with its specs when given) and send its canvas.

    ``reports_root``: the run's reports go to ``reports_root/<run id>`` (the API's
    runs), unless ``options`` names an ``out_dir`` (the command line's).
    ``follow_result=False`` (the API, which follows runs in the database): the
    first task's result is not stored, and this process does not subscribe to it.
    """
    with session_scope(engine, write=True) as session:
        run = create_run(session, target, options)
        run.created_by, run.suite_id = created_by, suite_id
        if reports_root is not None and "out_dir" not in options:
            run.options = {**options, "out_dir": str(reports_root / run.id)}
        run_id = run.id
        if specs is not None:
            save_cases(session, run_id, specs)
    try:
        result = run_signature(app, run_id, write=specs is None).apply_async(
            ignore_result=not follow_result
        )
    except Exception as exc:
        reason = f"cannot queue the run: {exc}"
        with session_scope(engine, write=True) as session:
            fail_run(session, run_id, reason)
        raise EnvironmentProblem(reason) from exc
    return run_id, result


def follow(
    engine: Engine,
    run_id: str,
    result: AsyncResult,
    timeout_s: float,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    interval_s: float = 0.2,
) -> dict[str, Any]:
    """Wait for the run to end; return its final progress state."""
    deadline = time.monotonic() + timeout_s
    while True:
        with session_scope(engine) as session:
            state = progress(session, run_id)
        if on_progress is not None:
            on_progress(state)
        if state["status"] in ("passed", "failed", "error"):
            return state
        failure = _canvas_failure(result)
        if failure is not None:
            with session_scope(engine, write=True) as session:
                fail_run(session, run_id, failure)
                return progress(session, run_id)
        if time.monotonic() > deadline:
            with session_scope(engine, write=True) as session:
                fail_run(session, run_id, f"run did not finish within {timeout_s:g} s")
            raise RunTimeout(f"run {run_id} did not finish within {timeout_s:g} s")
        time.sleep(interval_s)


def _canvas_failure(result: AsyncResult) -> str | None:
    node: AsyncResult | None = result
    while node is not None:
        try:
            if node.state == "FAILURE":
                return str(node.result) or type(node.result).__name__
        except Exception:  # noqa: BLE001 - a result we cannot read is no verdict
            return None
        node = node.parent
    return None


def check_workers(app: Celery, timeout_s: float = 2.0) -> None:
    """In distributed mode, fail fast when a queue has no worker consuming it."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
    except Exception as exc:
        raise EnvironmentProblem(f"cannot reach the broker at REDIS_URL: {exc}") from exc
    replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    served = {queue["name"] for queues in replies.values() for queue in queues}
    missing = [a for a in AGENTS if a not in served and a != "optimizer"]
    if missing:
        raise EnvironmentProblem(
            f"no worker consumes queue(s) {', '.join(missing)}: start them with "
            f"'make worker QUEUE={','.join(missing)}' (or 'make worker' for all queues)"
        )


def stop_run(engine: Engine, run_id: str, reason: str) -> None:
    with session_scope(engine, write=True) as session:
        fail_run(session, run_id, reason)
