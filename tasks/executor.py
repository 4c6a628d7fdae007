"""Test executor task: one spec in one browser. Stateless: never opens the database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from matf.agents.executor import ExecutionLimits, Rendering, worker_name
from matf.agents.executor import execute as run_spec
from matf.agents.healer import heal as propose_healing
from matf.agents.logger import event_key, finished_event
from matf.ai.budget import Allowance, budgeted, ledger
from matf.ai.gateway import MistralGateway
from matf.browser.pool import thread_pool
from matf.errors import MatfError
from matf.netguard import NetworkPolicy
from matf.results import Healing, LocatorChange, TestResult
from matf.secrets.keyring import keyring_from_settings
from matf.secrets.placeholders import open_sealed
from matf.settings import Settings
from matf.spec import TestSpec
from tasks.base import MatfTask

if TYPE_CHECKING:
    from matf.browser.pool import BrowserPool

log = logging.getLogger("matf.executor")


@shared_task(bind=True, base=MatfTask, name="matf.executor.execute")
def execute(
    self: MatfTask,
    spec: dict[str, Any],
    browser: str,
    run_id: str,
    network: dict[str, Any] | None = None,
    rendering: dict[str, Any] | None = None,
    secrets: list[dict[str, str]] | None = None,
    heal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the spec; the result travels back through the chord to the reporter.

    ``network`` is the run's ``NetworkPolicy`` as a dict; absent means unguarded.
    ``rendering``: the run's device, video and baseline set (``Rendering``).
    ``secrets``: sealed values the spec's placeholders need, opened here with
    this worker's ``ENCRYPTION_KEY`` (the broker only ever carries ciphertext).
    ``heal``: present when this task heals a failure by UI drift (the run's
    first browser); ``{"ai": true}`` lets the healer ask the model, within
    ``"budget"`` (an ``Allowance``: the run's caps less the writer's spending);
    ``"rejected"``: locator changes reviewers refused for this test before.
    """
    test = TestSpec.model_validate(spec)
    s = self.settings
    _announce(self, "test_started", run_id, test, browser, worker=worker_name())
    limits = ExecutionLimits(s.test_timeout, s.step_timeout, s.test_retries)
    pool = thread_pool(s.matf_chromium_path, s.engine_limits)
    artifacts = Path(s.storage_path) / "artifacts"
    guard = NetworkPolicy.from_dict(network)
    how = Rendering(
        device=(rendering or {}).get("device"),
        video=bool((rendering or {}).get("video")),
        baselines_root=Path(s.storage_path) / "baselines",
        baseline_set=(rendering or {}).get("baseline_set"),
    )
    opened = _open(s, secrets)
    try:
        result = run_spec(test, browser, run_id, pool, limits, artifacts, guard, how, opened)
        if heal is not None and s.enable_healing and result.status == "failed":
            healing = _heal(s, test, result, pool, limits, guard, how, opened, heal)
            if healing is not None:
                result = result.model_copy(update={"healing": healing})
    except SoftTimeLimitExceeded:
        result = TestResult.for_spec(
            test,
            browser,
            run_id,
            "error",
            error="the executor's time limit ran out",
            worker=worker_name(),
        )
    self.send_event(finished_event(result))
    return result.model_dump(mode="json")


def _heal(
    settings: Settings,
    test: TestSpec,
    result: TestResult,
    pool: BrowserPool,
    limits: ExecutionLimits,
    network: NetworkPolicy | None,
    rendering: Rendering,
    secrets: dict[str, str],
    heal: dict[str, Any],
) -> Healing | None:
    """The healer's proposal, or None; its own trouble never costs the test its result."""
    gateway = MistralGateway(settings) if heal.get("ai") and settings.mistral_api_key else None
    ask = None
    if gateway is not None:  # the run's --max-llm-calls/--max-tokens cap healing too
        allowance = Allowance.from_dict(heal.get("budget"))
        ask = budgeted(gateway.complete, ledger(settings), result.run_id, allowance)
    try:
        rejected = [LocatorChange.model_validate(c) for c in heal.get("rejected") or []]
        return propose_healing(
            test, result, pool, limits, network, rendering, secrets, ask, rejected
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - a proposal is a bonus; the failure stands as it is
        log.exception("healing %s failed", test.id)
        return None
    finally:
        if gateway is not None:
            gateway.close()


def _open(settings: Settings, sealed: list[dict[str, str]] | None) -> dict[str, str]:
    if not sealed:
        return {}
    try:
        return open_sealed(keyring_from_settings(settings), sealed)
    except MatfError:
        return {}  # each step that needs one then fails, naming the secret it lacks


def _announce(
    task: MatfTask, kind: str, run_id: str, test: TestSpec, browser: str, **payload: Any
) -> None:
    """A test event, keyed so that a re-delivered task announces its test once."""
    key = event_key(kind, run_id, test.id, browser)
    task.emit(kind, run_id, key=key, case_id=test.id, name=test.name, browser=browser, **payload)
