"""The executor's step: one job (a test in a browser), healing included.

Stateless by design: everything comes in with the job and the worker's
settings, and goes out in the returned result; it never opens the database.
A signed-in job's sealed state and credentials are opened here, with this
worker's ``ENCRYPTION_KEY``: when they do not open, the test runs without
them (it meets the sign-in form) and its result says why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from matf.agents.executor import Environment, ExecutionLimits, Rendering, run_test, worker_name
from matf.agents.healer import heal
from matf.agents.login import Credentials
from matf.agents.relogin import LoginSession
from matf.browser.pool import thread_pool
from matf.errors import MatfError
from matf.llm.budget import Allowance, budgeted, ledger
from matf.llm.gateway import MistralGateway
from matf.pipeline.fanout import ExecutorJob, HealRequest, SealedSecret, SignedIn
from matf.redaction import Redactor, redacting
from matf.results import Healing, TestResult
from matf.secrets.keyring import keyring_from_settings
from matf.secrets.sealed import open_sealed
from matf.secrets.sessions import StorageState, open_state
from matf.settings import Settings
from matf.spec import TestSpec

log = logging.getLogger("matf.executor")

TIME_LIMIT = "the executor's time limit ran out"


def execute(job: ExecutorJob, settings: Settings) -> TestResult:
    """Run the job's test; a failure by UI drift gets a healing proposal when the job asks.

    While it runs, log records are scrubbed of the job's secret values (and a
    signed-in test's session values); the result leaves scrubbed, and so does
    the message of an error that escapes.
    """
    env = environment(job, settings)
    with redacting(env.scrubbed()) as redactor:
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
        return Redactor(env.scrubbed()).scrub_model(result)  # a state renewed meanwhile too


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
        login=None if job.login is None else signed_in(job.run_id, job.login, settings),
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


def signed_in(run_id: str, login: SignedIn, settings: Settings) -> LoginSession:
    """A signed-in job's session, opened; what does not open is left out, and the note says why.

    A missing key or altered bytes (``ConfigError``) cost the test its state
    (it runs signed out, and meets the sign-in form) or its credentials (it
    cannot sign in again), never the job.
    """
    state: StorageState | None = None
    credentials: Credentials | None = None
    notes: list[str] = []
    try:
        keyring = keyring_from_settings(settings)
        state = open_state(keyring, login.state)
    except (MatfError, ValueError) as exc:  # ValueError: bytes that are not even base64
        notes.append(f"the signed-in state did not open ({_why(exc)}): the test started signed out")
    if login.credentials is not None:
        try:
            credentials = _credentials(settings, login.credentials)
        except (MatfError, ValueError) as exc:
            name = login.credentials.name
            notes.append(
                f"the credentials {name!r} did not open ({_why(exc)}): it cannot sign in again"
            )
    return LoginSession(
        run_id=run_id,
        role=login.role,
        state=state,
        credentials=credentials,
        url=login.url,
        check=login.check,
        note="; ".join(notes) or None,
    )


def _credentials(settings: Settings, sealed: SealedSecret) -> Credentials:
    values = open_sealed(keyring_from_settings(settings), [sealed.model_dump()])
    fields = {key: values.get(f"{sealed.name}.{key}") for key in ("username", "password")}
    return Credentials.of(fields, sealed.name)


def _why(exc: Exception) -> str:
    if isinstance(exc, MatfError):
        return " ".join(exc.message.split())[:300]
    return "its bytes are not a sealed value"
