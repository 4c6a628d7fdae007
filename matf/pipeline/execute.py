"""The executor's step: one job (a test in a browser), healing included.

Stateless by design: everything comes in with the job and the worker's
settings, and goes out in the returned result; it never opens the database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from matf.agents.executor import Environment, ExecutionLimits, Rendering, run_test, worker_name
from matf.agents.healer import heal
from matf.browser.pool import thread_pool
from matf.errors import MatfError
from matf.llm.budget import Allowance, budgeted, ledger
from matf.llm.gateway import MistralGateway
from matf.pipeline.fanout import ExecutorJob, HealRequest, SealedSecret
from matf.redaction import redacting
from matf.results import Healing, TestResult
from matf.secrets.keyring import keyring_from_settings
from matf.secrets.sealed import open_sealed
from matf.settings import Settings
from matf.spec import TestSpec

log = logging.getLogger("matf.executor")

TIME_LIMIT = "the executor's time limit ran out"


def execute(job: ExecutorJob, settings: Settings) -> TestResult:
    """Run the job's test; a failure by UI drift gets a healing proposal when the job asks.

    While it runs, log records are scrubbed of the job's secret values; the
    result leaves scrubbed, and so does the message of an error that escapes.
    """
    env = environment(job, settings)
    with redacting(env.secrets) as redactor:
        try:
            result = run_test(job.spec, job.browser, job.run_id, env)
            if job.heal is not None and settings.enable_healing and result.status == "failed":
                healing = _heal(job.heal, job.spec, result, env, settings)
                if healing is not None:
                    result = result.model_copy(update={"healing": healing})
        except Exception as exc:
            if redactor.found_in(str(exc)):  # its traceback is logged after the job ends
                raise MatfError(redactor.scrub(f"{type(exc).__name__}: {exc}")) from None
            raise
        return redactor.scrub_model(result)


def timed_out(job: ExecutorJob) -> TestResult:
    """The result of a job whose worker stopped it at its time limit."""
    return TestResult.for_spec(
        job.spec, job.browser, job.run_id, "error", error=TIME_LIMIT, worker=worker_name()
    )


def environment(job: ExecutorJob, settings: Settings) -> Environment:
    """What the job's test runs with on this worker: its browsers, limits and secrets."""
    storage = Path(settings.storage_path)
    return Environment(
        pool=thread_pool(settings.matf_chromium_path, settings.engine_limits),
        limits=ExecutionLimits(settings.test_timeout, settings.step_timeout, settings.test_retries),
        artifacts_root=storage / "artifacts",
        network=job.network.policy(),
        rendering=Rendering(
            device=job.rendering.device,
            video=job.rendering.video,
            baselines_root=storage / "baselines",
            baseline_set=job.rendering.baseline_set,
        ),
        secrets=_open(settings, job.secrets),
    )


def _heal(
    request: HealRequest, spec: TestSpec, result: TestResult, env: Environment, settings: Settings
) -> Healing | None:
    """The healer's proposal, or None; its own trouble never costs the test its result."""
    gateway = MistralGateway(settings) if request.ai and settings.mistral_api_key else None
    ask = None
    if gateway is not None:  # the run's --max-llm-calls/--max-tokens cap healing too
        allowance = request.budget or Allowance()
        ask = budgeted(gateway.complete, ledger(settings), result.run_id, allowance)
    try:
        return heal(spec, result, env, ask, request.rejected)
    except Exception:  # noqa: BLE001 - a proposal is a bonus; the failure stands as it is
        log.exception("healing %s failed", spec.id)
        return None
    finally:
        if gateway is not None:
            gateway.close()


def _open(settings: Settings, sealed: tuple[SealedSecret, ...]) -> dict[str, str]:
    if not sealed:
        return {}
    try:
        return open_sealed(keyring_from_settings(settings), [s.model_dump() for s in sealed])
    except MatfError:
        return {}  # each step that needs one then fails, naming the secret it lacks
