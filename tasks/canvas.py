"""Every chain and chord of a run is built here, and nowhere else.

    chain(context.prepare, writer.write, context.dispatch)
    dispatch -> chord([executor.execute(job) for each (case, browser)], reporter.report)

Messages carry run ids and typed jobs (``matf.pipeline.fanout``), never ORM objects.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, chain, chord, signature
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from matf.agents.login import login_secret_name
from matf.options import RunOptions
from matf.pipeline.fanout import (
    SealedSecret,
    SignedIn,
    executor_task_id,
    plan_fan_out,
    secrets_needed,
)
from matf.pipeline.shipping import Shipping, with_baselines
from matf.secrets.sealed import sealed_for, sealed_named
from matf.secrets.sessions import role_key, sealed_state_for_executor
from matf.spec import TestSpec
from matf.storage.db import session_scope
from matf.storage.healing import rejected_changes
from matf.storage.optimizer import suite_order
from matf.storage.runs import get_run, load_specs


def run_signature(app: Celery, run_id: str, write: bool = True) -> Any:
    """The whole run as one canvas; ``write=False`` when specs came with the run.

    Every step's task id starts with the run id (``<run>:prepare`` ...), as
    the executor tasks' do: the supervisor tells what of a run is in flight.
    """
    steps = [signature("matf.context.prepare", args=[run_id], app=app)]
    if write:
        steps.append(signature("matf.writer.write", app=app))
    steps.append(signature("matf.context.dispatch", app=app))
    for step in steps:
        step.set(task_id=f"{run_id}:{step.task.rsplit('.', 1)[-1]}")
    return chain(*steps)


def fan_out(engine: Engine, run_id: str, shipping: Shipping | None = None) -> Any:
    """One executor task per planned job, the reporter as the chord's callback.

    ``shipping``: executors share no disk with the baselines: jobs carry them.
    """
    header = executor_signatures(engine, run_id, shipping=shipping)
    report = signature("matf.reporter.report", args=[run_id]).set(task_id=f"{run_id}:report")
    if not header:
        return report.clone(args=[[], run_id])
    report.on_error(signature("matf.reporter.salvage", args=[run_id]))
    return chord(header, report)


def executor_signatures(
    engine: Engine, run_id: str, only: set[str] | None = None, shipping: Shipping | None = None
) -> list[Any]:
    """The run's executor tasks under their stable ids (``only``: just those ids)."""
    with session_scope(engine) as session:
        run = get_run(session, run_id)
        specs = load_specs(session, run_id)
        wanted = set().union(*secrets_needed(specs).values()) if specs else set()
        jobs = plan_fan_out(
            run_id,
            run.options,
            specs,
            writer_usage=run.llm_usage,
            sealed=sealed_for(session, run.target, wanted) if wanted else [],
            rejected=rejected_changes(
                session, [spec.id for spec in specs], run.suite_id, run.options.suite_file
            ),
            order=suite_order(session, run.suite_id) if run.suite_id else None,
            signed_in=sealed_sign_ins(session, run.target, run.options, specs),
        )
    if only is not None:
        jobs = [job for job in jobs if job.task_id in only]
    if shipping is not None:
        jobs = [with_baselines(job, shipping.baselines_root, shipping.limit_bytes) for job in jobs]
    return [
        signature("matf.executor.execute", args=[job.model_dump(mode="json")]).set(
            task_id=job.task_id
        )
        for job in jobs
    ]


def sealed_sign_ins(
    session: Session, target: str, options: RunOptions, specs: list[TestSpec]
) -> dict[str, SignedIn]:
    """The sealed sign-in of each role the run's signed-in tests start as.

    The context manager signed in for each while preparing the run; a state
    past its ``SESSION_TIMEOUT`` still travels (the timeout is about later runs
    reusing it): a test the site has signed out signs in again.
    """
    signed: dict[str, SignedIn] = {}
    for role in {spec.role for spec in specs if spec.signed_in}:
        state = sealed_state_for_executor(session, target, role, live_only=False)
        if state is None:
            continue
        credentials = sealed_named(session, target, login_secret_name(role))
        signed[role_key(role)] = SignedIn(
            role=role_key(role),
            state=state,
            credentials=SealedSecret.model_validate(credentials) if credentials else None,
            url=options.login.url,
            check=options.login.check,
        )
    return signed


def revoke_run(app: Celery, engine: Engine, run_id: str) -> int:
    """Tell every worker to drop the run's executor tasks that have not started yet.

    Tests already running finish (a browser killed mid-step helps nobody);
    their results arrive after the run has ended and change nothing.
    """
    with session_scope(engine) as session:
        specs = load_specs(session, run_id)
        browsers = get_run(session, run_id).options.browsers
    ids = [executor_task_id(run_id, spec.id, b) for spec in specs for b in browsers]
    if ids:
        app.control.revoke(ids)
    return len(ids)
