"""The worker curve: `matf run --suite --workers N` for N = 1.. on this machine.

What embedded mode's default number of workers (matf.options.default_workers)
is derived from. Runs bench/vs_playwright.py's 60-test suite against the
healthy demo with each N in alternating rounds, median of the rounds, and
prints tests per second per N beside the machine's cores and memory, the
memory one worker's browser side takes (Playwright's node driver and a
headless Chromium showing a demo page, PSS and RSS) and the default MATF
picks here.

    .venv/bin/python bench/workers_curve.py [--tests 60] [--max 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.vs_playwright import Matf, page_suite  # noqa: E402
from matf.options import available_memory, default_workers, usable_cores  # noqa: E402

GIB = 2**30


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _memory(pid: int) -> tuple[int, int]:
    """PSS and RSS of one process, bytes (smaps_rollup)."""
    pss = rss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
            elif line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return pss, rss


def browser_memory(url: str) -> tuple[int, int, int]:
    """PSS and RSS of everything one worker's browser side starts, and how many processes.

    Launched as the executors launch it, one context, one page of the demo
    loaded; everything below this process is that driver and that browser.
    """
    from playwright.sync_api import sync_playwright

    from matf.browser.launch import launch

    with sync_playwright() as playwright:
        browser = launch(playwright, "chromium", None)
        page = browser.new_context().new_page()
        page.goto(url + "/products", wait_until="load")
        tree, todo, found = _children(), [os.getpid()], []
        while todo:
            for child in tree.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        sizes = [_memory(pid) for pid in found]
        browser.close()
    return sum(p for p, _ in sizes), sum(r for _, r in sizes), len(found)


def curve(url: str, count: int, counts: list[int], rounds: int) -> dict[int, list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="matf-workers-curve-"))
    try:
        suite = folder / "suite.json"
        suite.write_text(json.dumps(page_suite(url, count)))
        matf, times = Matf(folder), {n: [] for n in counts}
        matf.run(url, suite, 1)  # warm-up: the database, the disk cache; not counted
        for r in range(rounds):
            for n in counts:
                times[n].append(matf.run(url, suite, n))
            print(
                f"round {r + 1}/{rounds}: " + ", ".join(f"{n}: {times[n][-1]:.1f}s" for n in counts)
            )
        return times
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=60)
    parser.add_argument("--max", type=int, default=max(4, os.cpu_count() or 1), help="largest N")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; median counts")
    args = parser.parse_args()

    from demo.server import DemoServer

    cores, memory = usable_cores(), available_memory()
    with DemoServer(bugs=False) as demo:
        pss, rss, processes = browser_memory(demo.url)
        times = curve(demo.url, args.tests, list(range(1, args.max + 1)), args.rounds)
    best = max(times, key=lambda n: args.tests / statistics.median(times[n]))
    print(f"\n{'workers':>7} {'seconds':>8} {'tests/s':>8} {'vs 1 worker':>12}")
    one = statistics.median(times[1])
    for n, values in times.items():
        s = statistics.median(values)
        print(f"{n:>7} {s:>8.1f} {args.tests / s:>8.2f} {one / s:>11.2f}x")
    shown = "unknown" if memory is None else f"{memory / GIB:.1f} GiB"
    print(f"""
machine: {os.cpu_count()} cores, {cores:g} usable; memory available {shown}
one worker's browser side (driver + Chromium, one demo page): PSS {pss / 2**20:.0f} MiB,
  RSS {rss / 2**20:.0f} MiB over {processes} processes
fastest here: {best} worker(s); MATF's default here: {default_workers(cores, memory)}
{args.tests} tests, the whole `matf run --suite` command, median of {args.rounds} rounds.""")


if __name__ == "__main__":
    main()
