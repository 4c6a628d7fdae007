"""Test writer task: explore the target in a browser and store the specs it writes."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task

from matf.agents.context import record_site_map, stored_budgets
from matf.agents.explore import explore
from matf.agents.writer import write_specs, writer_options
from matf.ai.writer import AiOptions, target_secrets, write_with_ai
from matf.browser.pool import thread_pool
from matf.errors import MatfError
from matf.netguard import NetworkPolicy
from matf.storage.db import session_scope
from matf.storage.runs import get_run, record_llm_usage, save_cases, set_phase
from tasks.base import MatfTask


@shared_task(bind=True, base=MatfTask, name="matf.writer.write", soft_time_limit=1800)
def write(self: MatfTask, run_id: str) -> str:
    """Explore and write specs for the run (skipped when the run came with a suite)."""
    with session_scope(self.engine, write=True) as session:
        run = get_run(session, run_id)
        set_phase(session, run_id, "writing")
        url, options = run.target, dict(run.options)
        ai = dict(options.get("ai") or {})
        secrets = (
            target_secrets(session, self.settings, url) if self.settings.mistral_api_key else {}
        )
        target_budgets = stored_budgets(session, url)
    self.emit("phase", run_id, key=f"phase:writing:{run_id}", phase="writing")
    try:
        types = list(options.get("types", ["functional"]))
        browser = thread_pool(self.settings.matf_chromium_path).browser("chromium")
        site = explore(
            url,
            browser,
            int(options.get("max_pages", self.settings.max_pages)),
            self.settings.step_timeout,
            NetworkPolicy.from_dict(options.get("network")),
            discover_api="api" in types,
        )
        specs = write_specs(site, types, writer_options(target_budgets, options))
        usage = None
        if self.settings.mistral_api_key and "functional" in types and ai.get("enabled", True):
            self.emit("phase", run_id, key=f"phase:ai:{run_id}", phase="writing with AI")
            ai_specs, usage = write_with_ai(
                site,
                self.settings,
                thread_pool(self.settings.matf_chromium_path),
                lambda write: session_scope(self.engine, write=write),
                AiOptions(
                    goals=tuple(ai.get("goals") or ()),
                    max_calls=ai.get("max_calls"),
                    max_tokens=ai.get("max_tokens"),
                ),
                Path(self.settings.storage_path) / "artifacts",
                run_id,
                NetworkPolicy.from_dict(options.get("network")),
                secrets,
            )
            specs += ai_specs
    except MatfError as exc:
        self.fail_run(run_id, exc.message)
        raise
    with session_scope(self.engine, write=True) as session:
        record_site_map(session, url, [page.url for page in site.pages])
        save_cases(session, run_id, specs)
        if usage is not None:
            record_llm_usage(session, run_id, usage.as_dict(self.settings))
    self.emit("phase", run_id, phase="written", tests=len(specs), pages=len(site.pages))
    return run_id
