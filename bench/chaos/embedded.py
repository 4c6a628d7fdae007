"""Faults in embedded mode: `matf run` without Redis, signalled, or two of them on one database.

A signal goes to the `matf run` process alone, as `kill` or a CI runner's
cancel sends it (a terminal's Ctrl-C would reach its browsers too). Nothing
but the process itself can end an embedded run while it lives, so a run still
``running`` a few seconds after its process exited is counted as never ended.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from bench.chaos.distributed import LIMIT_S, QUICK, SLOW, quick_first, start_cli, stop_cli
from bench.chaos.probe import (
    RunView,
    chromium_left,
    counted,
    last_line,
    reported_twice,
    runs,
    trial_of,
    wait_for,
    wait_for_end,
)
from bench.chaos.table import Trial
from tests.conftest import subprocess_env

TWIN_QUICK, TWIN_SLOW = 8, 1  # each of the two runs at once
TWINS = ("one", "two")
WORST_FIRST = ("never started", "queued", "running", "error", "failed")


def signalled(site: str, folder: Path, signum: signal.Signals) -> Trial:
    """One embedded run, sent ``signum`` while its slow tests run."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "suite.json").write_text(json.dumps(quick_first(site)))
    cli = start_cli(folder, subprocess_env(folder), site, "--suite", "suite.json", "--workers", "2")
    try:
        before = wait_for(folder, lambda view: len(view.results) >= QUICK)
        fault_at = time.monotonic()
        cli.send_signal(signum)
        took = wait_for_end(folder, [cli], fault_at, LIMIT_S, embedded=True)
    finally:
        stop_cli(cli)
    note = f"exit {cli.returncode}: {last_line(folder / 'cli.err')}"
    return trial_of(folder, before, QUICK + SLOW, took, LIMIT_S, chromium_left(folder), note)


def two_at_once(site: str, folder: Path) -> Trial:
    """Two embedded runs started together on one SQLite database; the start is the fault."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "suite.json").write_text(json.dumps(quick_first(site, TWIN_SLOW, TWIN_QUICK)))
    env = subprocess_env(folder)
    args = ("--suite", "suite.json", "--workers", "2")
    fault_at = time.monotonic()
    clis = [start_cli(folder, env, site, *args, name=name) for name in TWINS]
    try:
        took = wait_for_end(folder, clis, fault_at, LIMIT_S, embedded=True)
    finally:
        for cli in clis:
            stop_cli(cli)
    return _twins(folder, clis, took, chromium_left(folder))


def _twins(folder: Path, clis: list[Any], took: float | None, left: int) -> Trial:
    """Both runs as one trial: every test of both, the worse ending of the two."""
    views = runs(folder)
    expected = 2 * (TWIN_QUICK + TWIN_SLOW)
    lost = duplicated = 0
    for view in views:
        fresh = RunView(view.id, "queued", "queued", None, frozenset(), {})
        run_lost, run_duplicated = counted(view, fresh, TWIN_QUICK + TWIN_SLOW)
        lost, duplicated = lost + run_lost, duplicated + run_duplicated
    duplicated += sum(reported_twice(folder / "out" / name / "report.json") for name in TWINS)
    statuses = [view.status for view in views] + ["never started"] * (2 - len(views))
    worst = next((s for s in WORST_FIRST if s in statuses), "passed")
    errors = "; ".join(view.error for view in views if view.error)
    logs = [folder / f"{name}.{kind}" for name in TWINS for kind in ("out", "err")]
    locked = any("database is locked" in log.read_text(errors="replace") for log in logs)
    note = f"exits {[cli.returncode for cli in clis]}: {last_line(folder / 'one.err')}"
    return Trial(
        expected=expected,
        kept=0,
        lost=lost,
        duplicated=duplicated,
        status=worst,
        reason=errors or None,
        after_fault_s=took,
        limit_s=LIMIT_S,
        chromium_left=left,
        note=note + (" (database is locked)" if locked else ""),
    )
