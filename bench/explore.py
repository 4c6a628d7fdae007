"""Interaction exploration on the demo: what it reaches, writes and finds, before and after.

For the buggy and the healthy demo (each served on loopback), MATF explores
in-process with interaction exploration off ("before": ``max_interactions=0``)
and on ("after": ``explore()``'s own defaults), writes the functional and
accessibility tests, and runs them with ``matf run --suite`` (embedded mode, a
scratch database). Side by side it prints the pages and states reached, the
tests written, the seeded bugs found (a failing test of the bug's category
whose URL path is the bug's path, as in demo/bugs.py; page-level bugs and the
back office's interaction bugs counted apart), the false failures on the
healthy demo, and the exploration seconds per page.

"Before" keeps everything else issue 14 added (evidence after a click, shadow
roots and frames, URL templates); the code before that issue wrote 92 tests on
17 pages of the same demo and found none of its interaction bugs.

    .venv/bin/python bench/explore.py [--max-pages 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.bugs import CAPABILITIES, SeededBug, bugs_for_types  # noqa: E402
from demo.server import DemoServer  # noqa: E402
from matf.agents.explore import explore  # noqa: E402
from matf.agents.writer import write_specs  # noqa: E402
from matf.browser.launch import launch  # noqa: E402
from matf.spec import Suite  # noqa: E402

TYPES = ["functional", "accessibility"]
STEP_TIMEOUT_MS = 10_000
SIDES = ("before", "after")


@dataclass
class Outcome:
    """One exploration, and the run of the tests it wrote."""

    pages: int
    states: int
    tests: int
    explore_s: float
    failing: list[dict[str, Any]]  # the report's failed (or erroring) tests

    def per_page_s(self) -> float:
        return self.explore_s / max(self.pages, 1)


SIDE_KEYWORDS: dict[str, dict[str, Any]] = {"before": {"max_interactions": 0}, "after": {}}


def explore_and_run(
    base: str, keywords: dict[str, Any], folder: Path, max_pages: int, workers: int
) -> Outcome:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright, "chromium", None)
        try:
            started = time.perf_counter()
            site = explore(base, browser, max_pages, STEP_TIMEOUT_MS, **keywords)
            seconds = time.perf_counter() - started
        finally:
            browser.close()
    specs = write_specs(site, TYPES)
    suite = folder / "suite.json"
    suite.write_text(Suite(target=base, tests=specs).model_dump_json(exclude_none=True))
    report = run_suite(base, suite, folder, workers)
    failing = [t for t in report["tests"] if t["status"] in ("failed", "error")]
    return Outcome(
        pages=len(site.pages),
        states=len(site.states),
        tests=len(specs),
        explore_s=seconds,
        failing=failing,
    )


def run_suite(base: str, suite: Path, folder: Path, workers: int) -> dict[str, Any]:
    """``matf run --suite`` in embedded mode with a scratch database; its report.json."""
    private = ("REDIS_URL", "DATABASE_URL", "MISTRAL_API_KEY", "MISTRAL_SERVER_URL")
    env = {k: v for k, v in os.environ.items() if k not in private}
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'matf.db'}",
        STORAGE_PATH=str(folder / "storage"),
        PYTHONPATH=str(ROOT),
        STEP_TIMEOUT=str(STEP_TIMEOUT_MS),
    )
    out = folder / "out"
    command = [sys.executable, "-m", "cli", "run", base, "--suite", str(suite), "--out", str(out)]
    command += ["--workers", str(workers), "--no-ai"]
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
    if proc.returncode > 1:
        raise SystemExit(f"matf run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def found(bugs: tuple[SeededBug, ...], failing: list[dict[str, Any]]) -> list[str]:
    """The ids of ``bugs`` some failing test matches by category and URL path."""
    hits = {(t["category"], urlsplit(t["url"]).path or "/") for t in failing}
    return [b.id for b in bugs if (b.category, b.path) in hits]


def measure(max_pages: int, workers: int) -> dict[str, dict[str, Outcome]]:
    results: dict[str, dict[str, Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="matf-bench-explore-") as scratch:
        for mode, bugs in (("buggy", True), ("healthy", False)):
            with DemoServer(bugs=bugs) as server:
                for side, keywords in SIDE_KEYWORDS.items():
                    folder = Path(scratch) / f"{mode}-{side}"
                    folder.mkdir()
                    print(f"  {mode} demo, {side}: exploring and running ...", flush=True)
                    outcome = explore_and_run(server.url, keywords, folder, max_pages, workers)
                    results.setdefault(mode, {})[side] = outcome
    return results


def table(results: dict[str, dict[str, Outcome]]) -> str:
    everything = bugs_for_types(TYPES, CAPABILITIES)
    page_level = tuple(b for b in everything if not b.needs)
    interactive = tuple(b for b in everything if b.needs)
    buggy, healthy = results["buggy"], results["healthy"]

    def cells(fn: Any) -> list[str]:
        return [fn(side) for side in SIDES]

    rows = [
        ("pages reached (buggy)", cells(lambda s: str(buggy[s].pages))),
        ("states reached (buggy)", cells(lambda s: str(buggy[s].states))),
        ("tests written (buggy)", cells(lambda s: str(buggy[s].tests))),
        (
            f"page-level bugs found (of {len(page_level)})",
            cells(lambda s: str(len(found(page_level, buggy[s].failing)))),
        ),
        (
            f"interaction bugs found (of {len(interactive)})",
            cells(lambda s: str(len(found(interactive, buggy[s].failing)))),
        ),
        ("false failures (healthy)", cells(lambda s: str(len(healthy[s].failing)))),
        ("explore s per page (buggy)", cells(lambda s: f"{buggy[s].per_page_s():.2f}")),
        ("explore s per page (healthy)", cells(lambda s: f"{healthy[s].per_page_s():.2f}")),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{'':{width}}  {'clicks off':>10}  {'clicks on':>10}"]
    lines += [f"{label:{width}}  {a:>10}  {b:>10}" for label, (a, b) in rows]
    for side in SIDES:
        hit = found(interactive, buggy[side].failing)
        missed = [b.id for b in interactive if b.id not in hit]
        lines.append(f"{side}: interaction bugs missed: {', '.join(missed) or 'none'}")
        if healthy[side].failing:
            names = "; ".join(t["name"] for t in healthy[side].failing[:5])
            lines.append(f"{side}: healthy failures: {names}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-pages", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"explore + write + run ({', '.join(TYPES)}) on the demo, interactions off and on")
    print(table(measure(args.max_pages, args.workers)))


if __name__ == "__main__":
    main()
