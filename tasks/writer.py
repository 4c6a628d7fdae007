"""Test writer task: explore the target in a browser and store the specs it writes."""

from __future__ import annotations

from celery import shared_task

from matf.agents.context import record_site_map, stored_budgets
from matf.agents.explore import explore
from matf.agents.writer import write_specs, writer_options
from matf.browser.pool import thread_pool
from matf.errors import MatfError
from matf.netguard import NetworkPolicy
from matf.storage.db import session_scope
from matf.storage.runs import get_run, save_cases, set_phase
from tasks.base import MatfTask


@shared_task(bind=True, base=MatfTask, name="matf.writer.write", soft_time_limit=1800)
def write(self: MatfTask, run_id: str) -> str:
    """Explore and write specs for the run (skipped when the run came with a suite)."""
    with session_scope(self.engine, write=True) as session:
        run = get_run(session, run_id)
        set_phase(session, run_id, "writing")
        url, options = run.target, dict(run.options)
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
    except MatfError as exc:
        self.fail_run(run_id, exc.message)
        raise
    with session_scope(self.engine, write=True) as session:
        record_site_map(session, url, [page.url for page in site.pages])
        save_cases(session, run_id, specs)
    self.emit("phase", run_id, phase="written", tests=len(specs), pages=len(site.pages))
    return run_id
