"""Where a `matf run --suite` spends its time: the fixed cost, then the cost of each test.

Runs the real command in this process (embedded mode, against the healthy
demo) and times its phases from the outside: Celery's task signals say when
each agent's task starts and ends, and a few of MATF's functions are wrapped
to say when they are entered and left. Nothing of MATF is changed.

    .venv/bin/python bench/breakdown.py [--tests 60] [--workers 1]

Prints, for a one-test run, each phase on the way from the command to its
exit (what overlaps what is shown by the times), then for an N-test run the
median time of each step of a test as the executor recorded it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STARTED = time.perf_counter()
MARKS: list[tuple[float, str, str]] = []


def mark(what: str) -> None:
    MARKS.append((time.perf_counter(), threading.current_thread().name, what))


def suite_file(folder: Path, base: str, count: int) -> Path:
    """The issue's page tests: load, no page or console error, visible content."""
    from bench.throughput import PAGES  # the other benches' pages (not in the timed child)

    tests = [
        {
            "id": f"page-{i}",
            "name": f"page {i}",
            "url": f"{base}{PAGES[i % len(PAGES)]}",
            "steps": [
                {"action": "goto", "url": PAGES[i % len(PAGES)]},
                {"action": "expect_no_page_errors"},
                {"action": "expect_no_console_errors"},
                {"action": "expect_content"},
            ],
        }
        for i in range(count)
    ]
    path = folder / f"suite-{count}.json"
    path.write_text(json.dumps({"version": 1, "tests": tests}))
    return path


def _wrap(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        mark(f"> {label}")
        try:
            return original(*args, **kwargs)
        finally:
            mark(f"< {label}")

    setattr(owner, name, timed)


def instrument() -> None:
    """Say when the phases start and end; imports here are the CLI's own."""
    mark("> imports")
    import cli.main  # noqa: F401 - what `matf` imports before it parses its arguments

    mark("< imports")
    from celery.signals import task_postrun, task_prerun

    import matf.agents.reporter as reporter
    import matf.browser.pool as pool
    import matf.pipeline.report as publishing
    import tasks.control as control

    task_prerun.connect(lambda task, **_: mark(f"> task {task.name}"), weak=False)
    task_postrun.connect(lambda task, **_: mark(f"< task {task.name}"), weak=False)
    _wrap(control.Platform, "app", "start the embedded workers")
    _wrap(control.Platform, "start_run", "start_run: check, run row, queue")
    _wrap(control.Platform, "follow", "follow the run")
    _wrap(control.Platform, "close", "stop the workers, close browsers")
    _wrap(pool.BrowserPool, "_running", "browser ready (launched if none)")
    _wrap(reporter, "write_pdf", "report.pdf")
    _wrap(publishing, "write_reports", "write the reports (json, html, junit, pdf)")


def command(url: str, suite: Path, out: Path, workers: int) -> None:
    from cli.main import main

    argv = ["run", url, "--suite", str(suite), "--out", str(out), "--workers", str(workers)]
    try:
        main(argv)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise


def child(args: argparse.Namespace) -> None:
    """One command's timeline, as JSON on stdout (a fresh process: imports count)."""
    instrument()
    command(args.url, Path(args.suite), Path(args.out), args.workers)
    mark("exit")
    sys.stdout.write("\nTIMELINE " + json.dumps([(t - STARTED, n, w) for t, n, w in MARKS]))


def timeline(url: str, suite: Path, out: Path, workers: int) -> list[tuple[float, str, str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--url", url, "--suite", str(suite)]
        + ["--out", str(out), "--workers", str(workers)],
        capture_output=True,
        text=True,
        check=True,
        cwd=out.parent,
    )
    wall = time.perf_counter() - started
    marks = json.loads(done.stdout.rsplit("TIMELINE ", 1)[1])
    return [(0.0, "", f"interpreter start (wall {wall:.2f} s)"), *marks]


def step_medians(out: Path) -> tuple[float, list[tuple[str, float]]]:
    report = json.loads((out / "report.json").read_text())
    tests = report["tests"]
    steps = [
        (tests[0]["steps"][i]["description"], [t["steps"][i]["duration_ms"] for t in tests])
        for i in range(len(tests[0]["steps"]))
    ]
    total = statistics.median(t["duration_ms"] for t in tests)
    return total, [(name, statistics.median(values)) for name, values in steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--suite", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from demo.server import DemoServer

    with DemoServer(bugs=False) as demo, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timeline(demo.url, suite_file(folder, demo.url, 1), folder / "warm", 1)  # disk caches
        marks = timeline(demo.url, suite_file(folder, demo.url, 1), folder / "one", 1)
        many = suite_file(folder, demo.url, args.tests)
        started = time.perf_counter()
        timeline(demo.url, many, folder / "many", args.workers)
        wall = time.perf_counter() - started
        per_test, steps = step_medians(folder / "many")
    print("\nOne test, `matf run --suite` (ms since the interpreter started; thread):")
    for at, thread, what in marks:
        if "logger.record" not in what:
            print(f"  {at * 1000:8.1f}  {thread[:22]:<22} {what}")
    print(f"\n{args.tests} tests, {args.workers} worker(s): {wall:.2f} s for the whole command")
    print(f"  a test, median, as the executor timed it: {per_test:.0f} ms, of which:")
    for name, ms in steps:
        print(f"    {ms:6.0f} ms  {name}")
    print("  the rest of a test: a fresh browser context and page, listeners, closing it.")


if __name__ == "__main__":
    main()
