"""Every chain and chord of a run is built here, and nowhere else.

    chain(context.prepare, writer.write, context.dispatch)
    dispatch -> chord([executor.execute(spec, browser) ...], reporter.report)

Messages carry run ids and specs, never ORM objects.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, chain, chord, signature
from sqlalchemy import Engine

from matf.storage.db import session_scope
from matf.storage.runs import get_run, load_specs


def run_signature(app: Celery, run_id: str, write: bool = True) -> Any:
    """The whole run as one canvas; ``write=False`` when specs came with the run."""
    steps = [signature("matf.context.prepare", args=[run_id], app=app)]
    if write:
        steps.append(signature("matf.writer.write", app=app))
    steps.append(signature("matf.context.dispatch", app=app))
    return chain(*steps)


def fan_out(engine: Engine, run_id: str) -> Any:
    """One executor task per (case, browser), the reporter as the chord's callback."""
    with session_scope(engine) as session:
        specs = load_specs(session, run_id)
        browsers = list(get_run(session, run_id).options.get("browsers", ["chromium"]))
    report = signature("matf.reporter.report", args=[run_id])
    if not specs:
        return report.clone(args=[[], run_id])
    header = [
        signature("matf.executor.execute", args=[spec.model_dump(mode="json"), browser, run_id])
        for spec in specs
        for browser in browsers
    ]
    report.on_error(signature("matf.reporter.salvage", args=[run_id]))
    return chord(header, report)
