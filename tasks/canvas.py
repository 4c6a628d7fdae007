"""Every chain and chord of a run is built here, and nowhere else.

    chain(context.prepare, writer.write, context.dispatch)
    dispatch -> chord([executor.execute(spec, browser) ...], reporter.report)

Messages carry run ids and specs, never ORM objects.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, chain, chord, signature
from sqlalchemy import Engine

from matf.ai.budget import Allowance
from matf.secrets.placeholders import referenced_names, sealed_for
from matf.storage.db import session_scope
from matf.storage.healing import rejected_changes
from matf.storage.runs import get_run, load_specs

RENDERING = ("device", "video", "baseline_set")  # run options every executor task needs


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
        run = get_run(session, run_id)
        options, target = run.options, run.target
        browsers = list(options.get("browsers", ["chromium"]))
        network = options.get("network")  # a guarded run's NetworkPolicy, as a dict
        needs = {spec.id: referenced_names(spec.model_dump(mode="json")) for spec in specs}
        wanted = set().union(*needs.values()) if needs else set()
        sealed = sealed_for(session, target, wanted) if wanted else []
        rendering = {k: options[k] for k in RENDERING if options.get(k) is not None}
        rejected = rejected_changes(
            session, [spec.id for spec in specs], run.suite_id, options.get("suite_file")
        )
    report = signature("matf.reporter.report", args=[run_id])
    if not specs:
        return report.clone(args=[[], run_id])
    extra: dict[str, Any] = {"network": network} if network else {}
    if rendering:
        extra["rendering"] = rendering
    # The run's first browser heals UI drift: one proposal per test, not one per browser.
    healing: dict[str, Any] = {"ai": bool((options.get("ai") or {}).get("enabled", True))}
    allowance = Allowance.from_options(options)
    if allowance.capped:  # what the writer left of the run's model budget
        healing["budget"] = allowance.to_dict()
    heal = {"heal": healing}
    if options.get("heal") is False:
        heal = {}
    header = [
        signature(
            "matf.executor.execute",
            args=[spec.model_dump(mode="json"), browser, run_id],
            kwargs={
                **extra,
                **_secrets_for(needs[spec.id], sealed),
                **(_heal_for(heal, rejected.get(spec.id)) if browser == browsers[0] else {}),
            },
        ).set(task_id=executor_task_id(run_id, spec.id, browser))
        for spec in specs
        for browser in browsers
    ]
    report.on_error(signature("matf.reporter.salvage", args=[run_id]))
    return chord(header, report)


def _heal_for(heal: dict[str, Any], rejected: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The healing kwargs of one test: the run's, plus what reviewers rejected for it."""
    if not heal or not rejected:
        return heal
    return {"heal": {**heal["heal"], "rejected": rejected}}


def _secrets_for(names: set[str], sealed: list[dict[str, str]]) -> dict[str, Any]:
    """Only the sealed secrets this spec refers to travel with its task."""
    wanted = {name.split(".", 1)[0] for name in names}
    mine = [item for item in sealed if item["name"] in wanted]
    return {"secrets": mine} if mine else {}


def executor_task_id(run_id: str, case_id: str, browser: str) -> str:
    """A stable id per (run, case, browser), so that a run's tasks can be revoked."""
    return f"{run_id}:{case_id}:{browser}"


def revoke_run(app: Celery, engine: Engine, run_id: str) -> int:
    """Tell every worker to drop the run's executor tasks that have not started yet.

    Tests already running finish (a browser killed mid-step helps nobody);
    their results arrive after the run has ended and change nothing.
    """
    with session_scope(engine) as session:
        specs = load_specs(session, run_id)
        browsers = list(get_run(session, run_id).options.get("browsers", ["chromium"]))
    ids = [executor_task_id(run_id, spec.id, b) for spec in specs for b in browsers]
    if ids:
        app.control.revoke(ids)
    return len(ids)
