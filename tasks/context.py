"""Context manager tasks: check the target before anything runs; fan a run out."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from matf.agents.context import check_target, record_target
from matf.errors import MatfError, TargetUnreachable
from matf.options import RunOptions
from matf.pipeline.signin import RoleSignIn, sign_in_run
from matf.spec import TestSpec
from matf.storage.runs import get_run, load_specs, set_phase
from tasks.base import MatfTask
from tasks.schedule import BY_NAME, run_job


@shared_task(bind=True, base=MatfTask, name="matf.context.prepare", max_retries=2)
def prepare(self: MatfTask, run_id: str) -> str:
    """Check the run's target answers; record it; sign in as each role the run needs.

    Returns the run id for the chain.
    """
    with self.sessions(write=True) as session:
        set_phase(session, run_id, "preparing")
        run = get_run(session, run_id)
        url, options, specs = run.target, run.options, load_specs(session, run_id)
    self.emit("run_started", run_id, key=f"run_started:{run_id}", target=url)
    try:
        signed = _ready(self, url, options, specs)
    except TargetUnreachable as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(countdown=2**self.request.retries) from exc
        self.fail_run(run_id, exc.message)
        raise
    except MatfError as exc:  # the target's answer, a sign-in that failed, no credentials
        self.fail_run(run_id, exc.message)
        raise
    for role in signed:
        key = f"signed_in:{run_id}:{role.label}"
        self.emit("signed_in", run_id, key=key, role=role.role, reused=not role.signed_in)
    return run_id


def _ready(
    task: MatfTask, url: str, options: RunOptions, specs: list[TestSpec]
) -> list[RoleSignIn]:
    """The target answers (recorded), and each role the run needs has a live session."""
    info = check_target(url, network=options.guard)
    with task.sessions(write=True) as session:
        record_target(session, info)
    return sign_in_run(task.sessions, task.settings, url, options, specs)


@shared_task(bind=True, base=MatfTask, name="matf.context.dispatch")
def dispatch(self: MatfTask, run_id: str) -> Any:
    """Replace this task with the chord: one executor task per case and browser."""
    from tasks.canvas import fan_out

    with self.sessions(write=True) as session:
        if get_run(session, run_id).status.final:
            return run_id  # cancelled (or failed) while its tests were being written
        set_phase(session, run_id, "executing")
    self.emit("phase", run_id, key=f"phase:executing:{run_id}", phase="executing")
    return self.replace(fan_out(self.engine, run_id, self.shipping))


@shared_task(bind=True, base=MatfTask, name="matf.context.supervise", ignore_result=True)
def supervise(self: MatfTask) -> bool:
    """Celery beat's run supervisor pass (``tasks/supervisor.py``); False when another ran."""
    from tasks.supervisor import supervise_cluster

    return supervise_cluster(self.app) is not None


@shared_task(
    bind=True,
    base=MatfTask,
    name="matf.context.backup",
    soft_time_limit=BY_NAME["backup"].time_limit_s - 30,
    time_limit=BY_NAME["backup"].time_limit_s,
)
def backup(self: MatfTask) -> dict[str, Any]:
    """The scheduled backup: an online copy, verified, the newest BACKUP_KEEP kept."""
    from matf.storage.backup import scheduled_backup

    def body() -> tuple[dict[str, Any], dict[str, int | float]]:
        detail = scheduled_backup(self.settings, self.sessions)
        if detail.get("skipped"):
            return detail, {}
        return detail, {"backups": 1, "bytes": int(detail.get("bytes") or 0)}

    return run_job(self, "backup", body)
