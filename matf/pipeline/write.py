"""The writer's step: explore the target, write specs (heuristics, then the model), store them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matf.agents.context import record_site_map, stored_budgets
from matf.agents.executor import Environment, ExecutionLimits
from matf.agents.exploration import summarise
from matf.agents.explore import SiteMap
from matf.agents.relogin import LoginSession
from matf.agents.writer import write_checked, writer_options
from matf.ai.writer import AiUsage, target_secrets, write_with_ai
from matf.browser.pool import thread_pool
from matf.options import RunOptions
from matf.pipeline.signedwrite import as_role, explore_as, write_signed_in
from matf.settings import Settings
from matf.spec import TestSpec
from matf.storage.db import Sessions
from matf.storage.runs import (
    get_run,
    record_exploration,
    record_llm_usage,
    save_cases,
    set_phase,
)

if TYPE_CHECKING:
    pass

Announce = Callable[[str, str], None]  # (phase, event key) -> sent


@dataclass(frozen=True)
class Written:
    """What writing produced: how many tests, from how many pages."""

    tests: int
    pages: int


def write_run(sessions: Sessions, settings: Settings, run_id: str, announce: Announce) -> Written:
    """Explore the run's target and store the tests written for it."""
    with sessions(True) as session:
        run = get_run(session, run_id)
        set_phase(session, run_id, "writing")
        url, options = run.target, run.options
        use_ai = bool(settings.mistral_api_key) and options.ai.enabled
        secrets = target_secrets(session, settings, url) if settings.mistral_api_key else {}
        target_budgets = stored_budgets(session, url)
    announce("writing", f"phase:writing:{run_id}")
    pool = thread_pool(settings.matf_chromium_path)
    writer = writer_options(target_budgets, options)
    access: dict[str, Any] | None = None
    login: LoginSession | None = None
    if options.login.enabled:
        signed = write_signed_in(sessions, settings, url, options, pool.browser("chromium"), writer)
        site, checked, specs = signed.site, signed.checked, signed.specs
        access = signed.access
        role = options.login.sign_ins()[0]
        login = LoginSession(run_id=run_id, role=role or "", state=signed.state)
    else:
        site = explore_as(url, pool.browser("chromium"), options, settings)
        checked = write_checked(site, list(options.types), writer)
        specs = list(checked.specs)
    usage = None
    if use_ai and "functional" in options.types:
        announce("writing with AI", f"phase:ai:{run_id}")
        ai_specs, usage = _write_with_ai(site, settings, sessions, options, run_id, secrets, login)
        if login is not None:
            several = len(options.login.sign_ins()) > 1
            ai_specs = [as_role(spec, login.role or None, several) for spec in ai_specs]
        specs += ai_specs
    summary = summarise(site, checked).model_dump(mode="json")
    if access is not None:
        summary["access"] = access
    with sessions(True) as session:
        record_site_map(session, url, [page.url for page in site.pages])
        save_cases(session, run_id, specs)
        record_exploration(session, run_id, summary)
        if usage is not None:
            record_llm_usage(session, run_id, usage.as_dict(settings))
    return Written(tests=len(specs), pages=len(site.pages))


def _write_with_ai(
    site: SiteMap,
    settings: Settings,
    sessions: Sessions,
    options: RunOptions,
    run_id: str,
    secrets: dict[str, str],
    login: LoginSession | None,
) -> tuple[list[TestSpec], AiUsage]:
    """The model's tests, verified in a browser signed in as the run's first role, if any."""
    env = Environment(
        pool=thread_pool(settings.matf_chromium_path),
        limits=ExecutionLimits(settings.test_timeout, settings.step_timeout, retries=0),
        artifacts_root=Path(settings.storage_path) / "artifacts",
        network=options.guard,
        secrets=secrets,
        login=login,
    )
    return write_with_ai(site, settings, env, sessions, options.ai, run_id)
