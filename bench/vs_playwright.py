"""The same suite three ways, side by side: `matf run --suite`, Playwright Test, a plain loop.

Issue 15's first row. Each runner runs the same 60 page tests (goto, no page
error, no console error, visible body text) against the healthy demo, at 1 and
2 workers, in alternating rounds so that a noisy machine hits all three alike;
the median of the rounds counts. Every figure is the wall time of the whole
thing a user waits for:

- MATF: the command `matf run URL --suite FILE --out DIR --workers N` (embedded
  mode) of the checkout this file is in, start to exit, reports included; and
  the same command with a one-test suite, MATF's fixed cost.
- Playwright Test 1.65 (node): `npx playwright test` with `workers: N`,
  `fullyParallel`, the dot reporter, no retries, Debian's Chromium with the
  arguments MATF launches it with. Installed from npm into a cache folder on
  first use; skipped, with the reason, without node/npm or when that fails.
- The plain Python Playwright loop of bench/throughput.py: N processes, one
  browser each, a context per test, from pool start to pool end.

    .venv/bin/python bench/vs_playwright.py [--tests 60] [--workers 1,2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import PAGES, Plain  # noqa: E402
from matf.browser.launch import CHROMIUM_ARGS, system_chromium  # noqa: E402

PWT_VERSION = "1.65"
PWT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "matf-bench" / "pwt"
# Issue 15's targets, as ratios of tests per second and the one-test command's seconds.
TARGET_PWT, TARGET_PLAIN, TARGET_FIXED_S = 1.0, 0.95, 2.0


def page_suite(base: str, count: int) -> dict[str, Any]:
    """A `matf run --suite` document: `count` page tests over the demo's healthy pages."""
    tests = []
    for i in range(count):
        path = PAGES[i % len(PAGES)]
        steps = [
            {"action": "goto", "url": path},
            {"action": "expect_no_page_errors"},
            {"action": "expect_no_console_errors"},
            {"action": "expect_content"},
        ]
        tests.append({"id": f"page-{i}", "name": f"page {i}", "url": base + path, "steps": steps})
    return {"version": 1, "tests": tests}


# --- MATF, the whole command ---------------------------------------------------------------


class Matf:
    """`matf run --suite` of this checkout, in embedded mode, in a folder of its own.

    The folder keeps its database between commands, as a user's does: the first
    command (a warm-up) creates it, the measured ones find it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        for name in ("REDIS_URL", "DATABASE_URL", "STORAGE_PATH", "MATF_EMBEDDED_WORKERS"):
            self.env.pop(name, None)

    def run(self, url: str, suite: Path, workers: int) -> float:
        command = [sys.executable, "-m", "cli", "run", url, "--suite", str(suite)]
        command += ["--out", str(self.folder / "out"), "--workers", str(workers)]
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=self.folder, env=self.env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"matf run exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return elapsed


# --- Playwright Test (node) ----------------------------------------------------------------

SPEC_JS = """const { test, expect } = require('@playwright/test');
const urls = %s;
for (const [i, url] of urls.entries()) {
  test(`page ${i}`, async ({ page }) => {
    const pageErrors = [];
    const consoleErrors = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    const response = await page.goto(url, { waitUntil: 'load' });
    expect(response && response.ok()).toBeTruthy();
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await expect(page.locator('body')).toBeVisible();
    expect((await page.locator('body').innerText()).trim()).not.toEqual('');
  });
}
"""


def pwt_config(workers: int, output: Path) -> str:
    """playwright.config.js: N workers, fully parallel, Debian's Chromium as MATF launches it."""
    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    config = {
        "testDir": ".",
        "workers": workers,
        "fullyParallel": True,
        "retries": 0,
        "reporter": "dot",
        "outputDir": str(output),
        "use": {
            "headless": True,
            "launchOptions": {"executablePath": system_chromium(), "args": args},
        },
    }
    return f"module.exports = {json.dumps(config, indent=2)};\n"


class PlaywrightTest:
    """`npx playwright test` on a generated spec with one test per suite entry."""

    def __init__(self, cache: Path = PWT_CACHE) -> None:
        self.cache = cache
        self.project = cache / "suite"

    def install(self) -> str | None:
        """Install @playwright/test 1.65 into the cache; the reason it cannot, or None."""
        if shutil.which("node") is None or shutil.which("npm") is None:
            return "node or npm is not installed"
        if system_chromium() is None:
            return "no system Chromium (apt-get install chromium)"
        self.cache.mkdir(parents=True, exist_ok=True)
        if not (self.cache / "package.json").exists():
            (self.cache / "package.json").write_text('{"name": "matf-bench-pwt", "private": true}')
        installed = self.cache / "node_modules" / "@playwright" / "test" / "package.json"
        if installed.exists() and json.loads(installed.read_text())["version"].startswith(
            PWT_VERSION + "."
        ):
            return None
        env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
        command = ["npm", "install", "--no-audit", "--no-fund", f"@playwright/test@{PWT_VERSION}"]
        done = subprocess.run(
            command, cwd=self.cache, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            return f"npm install failed: {(done.stderr or done.stdout).strip()[-300:]}"
        return None

    def write(self, urls: list[str]) -> None:
        """The spec file; the project lives in the cache so that node finds @playwright/test."""
        self.project.mkdir(parents=True, exist_ok=True)
        (self.project / "pages.spec.js").write_text(SPEC_JS % json.dumps(urls))

    def run(self, workers: int) -> float:
        config = self.project / f"playwright.config.{workers}.js"
        config.write_text(pwt_config(workers, self.project / "test-results"))
        command = ["npx", "--no-install", "playwright", "test", "--config", str(config)]
        env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1", "CI": "1"}
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=self.cache, env=env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"playwright test exited {done.returncode}:\n{done.stdout[-2000:]}")
        return elapsed


# --- the plain Python Playwright loop ------------------------------------------------------


def run_plain(specs: list[dict[str, Any]], workers: int) -> float:
    """bench/throughput.py's loop, timed from the pool's start (browser launches) to its end."""
    started = time.perf_counter()
    pool = Plain(workers)
    try:
        pool.run(specs)
    finally:
        pool.stop()
    return time.perf_counter() - started


# --- the rounds and the table --------------------------------------------------------------


def measure(url: str, count: int, workers: list[int], rounds: int) -> dict[str, Any]:
    """Seconds per (runner, workers), one list per key, rounds alternating the runners."""
    folder = Path(tempfile.mkdtemp(prefix="matf-vs-pwt-"))
    try:
        suite = page_suite(url, count)
        full, one = folder / "suite.json", folder / "one.json"
        full.write_text(json.dumps(suite))
        one.write_text(json.dumps({**suite, "tests": suite["tests"][:1]}))
        matf, pwt = Matf(folder), PlaywrightTest()
        skipped = pwt.install()
        if skipped is None:
            pwt.write([t["url"] for t in suite["tests"]])
        times: dict[Any, list[float]] = {}
        matf.run(url, one, 1)  # warm-up: the database, the disk cache; not counted
        for r in range(rounds):
            for n in workers:
                times.setdefault(("matf", n), []).append(matf.run(url, full, n))
                if skipped is None:
                    times.setdefault(("pwt", n), []).append(pwt.run(n))
                times.setdefault(("plain", n), []).append(run_plain(suite["tests"], n))
            times.setdefault("fixed", []).append(matf.run(url, one, 1))
            print(f"round {r + 1}/{rounds}: " + _round_line(times), flush=True)
        return {"times": times, "skipped": skipped}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _round_line(times: dict[Any, list[float]]) -> str:
    return ", ".join(
        f"{k if isinstance(k, str) else f'{k[0]}@{k[1]}'} {v[-1]:.1f}s" for k, v in times.items()
    )


def _verdict(value: float, target: float, above: bool) -> str:
    return "met" if (value >= target if above else value < target) else "missed"


def report(measured: dict[str, Any], count: int, workers: list[int], rounds: int) -> None:
    times, skipped = measured["times"], measured["skipped"]
    median = {key: statistics.median(values) for key, values in times.items()}
    names = {"matf": "matf run --suite", "pwt": f"Playwright Test {PWT_VERSION}", "plain": "loop"}
    print(f"\n{'runner':<22} {'workers':>7} {'seconds':>8} {'tests/s':>8}")
    for n in workers:
        for runner in ("matf", "pwt", "plain"):
            if (runner, n) in median:
                s = median[(runner, n)]
                print(f"{names[runner]:<22} {n:>7} {s:>8.1f} {count / s:>8.2f}")
    print(f"\n{'workers':>7} {'MATF/PWT (target >= 1.0)':>26} {'MATF/loop (target >= 0.95)':>28}")
    for n in workers:
        matf = median[("matf", n)]
        vs_pwt = "skipped"
        if skipped is None:
            ratio = median[("pwt", n)] / matf
            vs_pwt = f"{ratio:.2f} {_verdict(ratio, TARGET_PWT, True)}"
        ratio = median[("plain", n)] / matf
        print(f"{n:>7} {vs_pwt:>26} {f'{ratio:.2f} {_verdict(ratio, TARGET_PLAIN, True)}':>28}")
    fixed = median["fixed"]
    print(
        f"\nMATF fixed cost (one-test suite, whole command): {fixed:.1f} s "
        f"(target < {TARGET_FIXED_S:.0f} s: {_verdict(fixed, TARGET_FIXED_S, False)})"
    )
    if skipped is not None:
        print(f"Playwright Test skipped: {skipped}")
    print(f"""
{count} tests, median of {rounds} alternating rounds.
Ratios are tests per second, MATF over the other runner.
Each figure is a whole command's (or the loop's whole pool's) wall time on {os.cpu_count()} cores.
The loop checks page errors and body text but listens to no console (bench/throughput.py).""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=60)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma separated")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; median counts")
    args = parser.parse_args()
    workers = [int(x) for x in args.workers.split(",")]

    from demo.server import DemoServer

    with DemoServer(bugs=False) as demo:
        measured = measure(demo.url, args.tests, workers, args.rounds)
    report(measured, args.tests, workers, args.rounds)


if __name__ == "__main__":
    main()
