"""Throughput: MATF in distributed mode against a plain Playwright loop, side by side.

Both run the same suite against the healthy demo site with N processes that
each keep one browser for the whole run and open a fresh context per test.
MATF goes through everything a real run does: Redis, the chord, executor
tasks, events to the logger, the reporter writing report.html/json/junit.
Prints tests per second for both, their ratio, and MATF's extra cost per test.

    .venv/bin/python bench/throughput.py [--tests 64] [--n 1,2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services import RedisServer, start_worker, stop_process  # noqa: E402

PAGES = [
    "/",
    "/products",
    "/products/trail-pack",
    "/products/summit-jacket",
    "/products/camp-stove",
    "/about",
    "/contact",
    "/newsletter",
]


def suite(base: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"bench-{i}",
            "name": f"bench {i}",
            "url": f"{base}{PAGES[i % len(PAGES)]}",
            "steps": [
                {"action": "goto", "url": PAGES[i % len(PAGES)]},
                {"action": "expect_no_page_errors"},
                {"action": "expect_content"},
            ],
        }
        for i in range(count)
    ]


# --- the plain Playwright loop -------------------------------------------------------------

_browser: Any = None


def _plain_init() -> None:
    global _browser
    from playwright.sync_api import sync_playwright

    from matf.browser.launch import CHROMIUM_ARGS, system_chromium

    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    _browser = (
        sync_playwright().start().chromium.launch(executable_path=system_chromium(), args=args)
    )


def _plain_test(spec: dict[str, Any]) -> bool:
    context = _browser.new_context()
    try:
        page = context.new_page()
        errors: list[Any] = []
        page.on("pageerror", lambda error: errors.append(error))
        response = page.goto(spec["url"], wait_until="load")
        ok = response is not None and response.ok and not errors
        return ok and bool(page.locator("body").inner_text().strip())
    finally:
        context.close()


class Plain:
    """N processes, each with one browser, taking tests one at a time."""

    def __init__(self, n: int) -> None:
        self.pool = mp.get_context("spawn").Pool(n, initializer=_plain_init)

    def run(self, specs: list[dict[str, Any]]) -> float:
        started = time.perf_counter()
        results = self.pool.map(_plain_test, specs, chunksize=1)
        elapsed = time.perf_counter() - started
        assert all(results), "the plain loop saw failures on the healthy demo"
        return elapsed

    def stop(self) -> None:
        self.pool.close()
        self.pool.join()


# --- MATF, distributed --------------------------------------------------------------------


class Cluster:
    def __init__(self, folder: Path, n: int) -> None:
        self.redis = RedisServer(folder)
        self.env = {
            **os.environ,
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{folder / 'matf.db'}",
            "STORAGE_PATH": str(folder / "storage"),
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "WARNING",
        }
        self.workers = [
            start_worker(folder, self.env, "exec@%h", queues="executor", concurrency=n),
            start_worker(
                folder, self.env, "ctl@%h", queues="context,writer,reporter,optimizer,logger"
            ),
        ]
        from matf.settings import load_settings
        from tasks.control import Platform

        self.settings = load_settings(
            redis_url=self.env["REDIS_URL"],
            database_url=self.env["DATABASE_URL"],
            storage_path=self.env["STORAGE_PATH"],
            _env_file=None,
        )
        self.platform = Platform(self.settings)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.platform.check_workers(timeout_s=0.5)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
        self.folder = folder

    def run(self, url: str, specs: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
        from matf.options import RunOptions
        from matf.spec import parse_spec

        options = RunOptions(types=("functional",), out_dir=str(self.folder / "out"))
        parsed = [parse_spec(s) for s in specs]
        started = time.perf_counter()
        run_id, result = self.platform.start_run(url, options, parsed, follow_result=True)
        state = self.platform.follow(run_id, result, 600, interval_s=0.1)
        state["dispatch_gap_ms"] = dispatch_gap_ms(self.platform.engine, run_id)
        return time.perf_counter() - started, state

    def stop(self) -> None:
        for worker in self.workers:
            stop_process(worker)
        self.redis.stop()


def dispatch_gap_ms(engine: Any, run_id: str) -> tuple[float, float]:
    """Mean and median time an executor spends between one test's end and the next one's start.

    Each worker measures it itself on one clock (``idle_ms`` of its
    ``test_started``, ``tasks/executor.py``): the result's trip back, the
    chord's count, the acknowledgement, fetching and decoding the next
    message, announcing it. The cost of dispatch per test, as the worker sees
    it. (It used to subtract the logger's ``test_finished`` time, which is
    when the logger got round to the result, not when the test ended.) The
    median says what a gap costs; the mean adds the times a busy machine
    kept the process off its core.
    """
    from sqlalchemy import select

    from matf.storage.db import session_scope
    from matf.storage.models import Event

    with session_scope(engine) as session:
        payloads = session.scalars(
            select(Event.payload).where(Event.run_id == run_id, Event.kind == "test_started")
        ).all()
    gaps = [float(p["idle_ms"]) for p in payloads if p.get("idle_ms") is not None]
    if not gaps:
        return float("nan"), float("nan")
    return statistics.mean(gaps), statistics.median(gaps)


def browser_processes() -> int:
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"--remote-debugging-pipe" in cmd and b"--type=" not in cmd:
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=64)
    parser.add_argument("--n", default="1,2", help="process counts, comma separated")
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="rounds per side, alternating; the best round of each side counts",
    )
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("bench: redis-server is not installed (sudo apt-get install -y redis-server)")

    from demo.server import DemoServer

    rows = []
    with DemoServer(bugs=False) as demo, tempfile.TemporaryDirectory() as tmp:
        specs = suite(demo.url, args.tests)
        for n in [int(x) for x in args.n.split(",")]:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            cluster, baseline = Cluster(folder, n), Plain(n)
            matf_times, plain_times, gaps = [], [], []
            try:
                cluster.run(demo.url, specs[: n * 2])  # warm: one browser launch per process
                baseline.run(specs[: n * 2])
                for _ in range(args.repeat):  # alternate, so noise hits both sides alike
                    seconds, state = cluster.run(demo.url, specs)
                    assert state["status"] == "passed", state
                    matf_times.append(seconds)
                    gaps.append(state["dispatch_gap_ms"])
                    plain_times.append(baseline.run(specs))
                browsers = browser_processes() - n  # the plain loop's own browsers are up too
            finally:
                cluster.stop()
                baseline.stop()
            matf_s, plain_s = min(matf_times), min(plain_times)
            rows.append(
                (
                    n,
                    len(specs) / matf_s,
                    len(specs) / plain_s,
                    (matf_s - plain_s) * n / len(specs) * 1000,
                    min(g[0] for g in gaps),
                    min(g[1] for g in gaps),
                    browsers,
                )
            )
    print(
        f"\n{'N':>2} {'MATF tests/s':>13} {'plain tests/s':>14} {'ratio':>6} "
        f"{'MATF cost ms/test':>18} {'gap ms mean':>12} {'gap ms p50':>11} {'browsers':>9}"
    )
    for n, matf_rate, plain_rate, cost_ms, gap_ms, gap_p50, browsers in rows:
        print(
            f"{n:>2} {matf_rate:>13.2f} {plain_rate:>14.2f} {matf_rate / plain_rate:>6.2f} "
            f"{cost_ms:>18.1f} {gap_ms:>12.1f} {gap_p50:>11.1f} {browsers:>9}"
        )
    print(f"""
{args.tests} tests, best of {args.repeat} alternating rounds per side.
ratio: MATF / plain tests per second (target >= 0.90 at N = 2).
MATF cost: (MATF - plain) x N / tests, all MATF adds per test: evidence gathering
  (console, network and page-error listeners), events, dispatch and reports.
gap: time an executor process spends between one test's end and the next one's
  start, as it measures itself: result sent, chord count, ack, next message
  (target < 5 ms); mean and median of the round's gaps, best round.
browsers: browser processes of MATF's executors (one launch per worker process).""")


if __name__ == "__main__":
    main()
