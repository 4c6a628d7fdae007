"""A run's fan-out: one typed job per (test, browser), planned from the run's options.

``plan_fan_out`` is pure: it takes what the database said of the run and
returns the jobs; ``tasks.canvas`` turns them into the chord. A job carries
everything an executor needs, so executors never open the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from matf.llm.budget import Allowance
from matf.options import NetworkOptions, RenderingOptions, RunOptions
from matf.placeholders import referenced_names
from matf.results import LocatorChange
from matf.secrets.sessions import SealedState, role_key
from matf.spec import TestSpec


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SealedSecret(_Frozen):
    """A target secret as it travels: ciphertext only, opened by the executor's own key."""

    origin: str
    name: str
    key_id: str
    nonce: str
    ciphertext: str


class SignedIn(_Frozen):
    """What a signed-in test starts from, all sealed: the storage state of its role's
    sign-in, and the credentials to sign in again when the site drops that session.

    ``url`` and ``check`` are the run's ``--login-url`` and ``--logged-in-check``.
    """

    role: str = ""  # "" : the secret ``login``; else ``login.<role>``
    state: SealedState
    credentials: SealedSecret | None = None
    url: str | None = None
    check: str | None = None


class HealRequest(_Frozen):
    """What the healer may do for a job's test when it fails by UI drift.

    ``ai``: it may ask the model, within ``budget`` (the run's caps less what
    the writer spent); ``rejected``: changes reviewers refused for this test.
    """

    ai: bool = True
    budget: Allowance | None = None
    rejected: tuple[LocatorChange, ...] = ()


class ShippedFile(_Frozen):
    """A file as a message carries it (``matf.pipeline.shipping``): its relative path, base64."""

    path: str
    data: str


class ExecutorJob(_Frozen):
    """One test in one browser: the whole message of an executor task."""

    run_id: str
    spec: TestSpec
    browser: str
    network: NetworkOptions = NetworkOptions()
    rendering: RenderingOptions = RenderingOptions()
    secrets: tuple[SealedSecret, ...] = ()
    heal: HealRequest | None = None
    login: SignedIn | None = None  # set for a test that starts signed in (``spec.signed_in``)
    # the approved baselines of its visual checks, when executors share no disk with them
    baselines: tuple[ShippedFile, ...] = ()

    @property
    def task_id(self) -> str:
        return executor_task_id(self.run_id, self.spec.id, self.browser)


def executor_task_id(run_id: str, case_id: str, browser: str) -> str:
    """A stable id per (run, case, browser): a run's tasks can be revoked, and re-sent."""
    return f"{run_id}:{case_id}:{browser}"


def secrets_needed(specs: Sequence[TestSpec]) -> dict[str, set[str]]:
    """Per test, the secret names its ``{{secret:NAME}}`` placeholders refer to."""
    return {spec.id: referenced_names(spec.model_dump(mode="json")) for spec in specs}


def plan_fan_out(
    run_id: str,
    options: RunOptions,
    specs: Sequence[TestSpec],
    *,
    writer_usage: Mapping[str, Any] | None = None,
    sealed: Sequence[Mapping[str, str]] = (),
    rejected: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    order: Sequence[str] | None = None,
    signed_in: Mapping[str, SignedIn] | None = None,
) -> list[ExecutorJob]:
    """The run's executor jobs, test by test and browser by browser.

    Only the sealed secrets a test refers to travel with it. The run's first
    browser heals UI drift (one proposal per test, not one per browser), within
    what the writer (``writer_usage``) left of the run's model budget.
    ``order``: the optimizer's run order for the suite (``in_run_order``).
    ``signed_in``: the sealed sign-ins by role (``role_key``); a test that
    starts signed in carries its role's.
    """
    needs = secrets_needed(specs)
    carried = [SealedSecret.model_validate(item) for item in sealed]
    heal = _heal_request(options, writer_usage)
    jobs = []
    for spec in in_run_order(specs, order):
        wanted = {name.split(".", 1)[0] for name in needs[spec.id]}
        mine = tuple(item for item in carried if item.name in wanted)
        for browser in options.browsers:
            request = None
            if heal is not None and browser == options.browsers[0]:
                refused = (rejected or {}).get(spec.id) or ()
                request = heal.model_copy(
                    update={"rejected": tuple(LocatorChange.model_validate(c) for c in refused)}
                )
            jobs.append(
                ExecutorJob(
                    run_id=run_id,
                    spec=spec,
                    browser=browser,
                    network=options.network,
                    rendering=options.rendering,
                    secrets=mine,
                    heal=request,
                    login=(signed_in or {}).get(role_key(spec.role)) if spec.signed_in else None,
                )
            )
    return jobs


def in_run_order(specs: Sequence[TestSpec], order: Sequence[str] | None) -> list[TestSpec]:
    """``specs`` in the optimizer's order for their suite; file order without one.

    Tests the order does not name (added since the analysis) go first, in file
    order: new tests fail more often than old ones, and have no history yet.
    """
    if not order:
        return list(specs)
    rank = {case_id: i for i, case_id in enumerate(order)}
    return sorted(specs, key=lambda spec: rank.get(spec.id, -1))


def _heal_request(
    options: RunOptions, writer_usage: Mapping[str, Any] | None
) -> HealRequest | None:
    if not options.healing.enabled:
        return None
    budget = None
    if options.ai.capped:
        spent = writer_usage or {}
        budget = Allowance(
            max_calls=options.ai.max_calls,
            max_tokens=options.ai.max_tokens,
            spent_calls=int(spent.get("calls") or 0),
            spent_tokens=int(spent.get("prompt_tokens") or 0)
            + int(spent.get("completion_tokens") or 0),
        )
    return HealRequest(ai=options.ai.enabled, budget=budget)
