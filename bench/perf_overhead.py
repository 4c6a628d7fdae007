"""Performance probe overhead: a page test with and without MATF's perf measurement.

For a few pages of the healthy demo site, one page test (new context, goto
until load, wait for a quiet network, read the title, close the context) runs
N times without and N times with the init script + ``measure()``, interleaved
(the order alternating) so a noisy machine hits both sides alike. Prints the
median page-test time of each side and the overhead in percent (target < 10%).

With ``--lighthouse`` (and node/npm here), also runs Lighthouse 12.2.3 on the
same pages, installing it into a cache folder when missing, and prints its
LCP/FCP/CLS/TBT (medians of its runs) beside MATF's. The two tools measure
different loads of the page, in different browser instances: compare medians.

    .venv/bin/python bench/perf_overhead.py [--n 15] [--lighthouse [--lighthouse-runs 3]]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matf.browser.launch import launch, system_chromium  # noqa: E402
from matf.browser.page import wait_quiet  # noqa: E402
from matf.browser.perf import INIT_SCRIPT, measure  # noqa: E402
from matf.results import PerfMetrics  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PAGES = ["/", "/products", "/about", "/contact"]
TIMEOUT_MS = 30_000
LIGHTHOUSE = "lighthouse@12.2.3"
LIGHTHOUSE_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-background-networking "
    "--disable-component-update --disable-sync --disable-quic --no-first-run"
)
METRICS = (  # (ours, Lighthouse audit, label, decimals)
    ("lcp_ms", "largest-contentful-paint", "LCP ms", 0),
    ("fcp_ms", "first-contentful-paint", "FCP ms", 0),
    ("cls", "cumulative-layout-shift", "CLS", 3),
    ("tbt_ms", "total-blocking-time", "TBT ms", 0),
)


def page_test(browser: Browser, url: str, probe: bool) -> tuple[float, float, PerfMetrics | None]:
    """One page test: its wall time and that of ``measure()`` in ms, and what it measured."""
    started = time.perf_counter()
    context = browser.new_context()
    metrics, measure_ms = None, 0.0
    try:
        if probe:
            context.add_init_script(INIT_SCRIPT)
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        wait_quiet(page, 5000)
        assert page.title(), f"{url} has no title"
        if probe:
            before = time.perf_counter()
            metrics = measure(page, TIMEOUT_MS)
            measure_ms = (time.perf_counter() - before) * 1000
    finally:
        context.close()
    return (time.perf_counter() - started) * 1000, measure_ms, metrics


def overhead(base: str, n: int) -> dict[str, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    rows: dict[str, dict[str, Any]] = {
        path: {"plain": [], "probe": [], "measure": [], "metrics": []} for path in PAGES
    }
    with sync_playwright() as playwright:
        browser = launch(playwright, "chromium", None)
        try:
            for path in PAGES:  # warm: the first load of each page pays for templates, caches
                page_test(browser, base + path, probe=False)
                page_test(browser, base + path, probe=True)
            for i in range(n):
                for path in PAGES:
                    for probe in (i % 2 == 0, i % 2 == 1):  # alternate which side goes first
                        ms, measure_ms, metrics = page_test(browser, base + path, probe)
                        rows[path]["probe" if probe else "plain"].append(ms)
                        if metrics is not None:
                            rows[path]["measure"].append(measure_ms)
                            rows[path]["metrics"].append(metrics)
        finally:
            browser.close()
    return rows


def _median(metrics: list[PerfMetrics], name: str) -> float | None:
    values = [getattr(m, name) for m in metrics if getattr(m, name) is not None]
    return statistics.median(values) if values else None


# --- Lighthouse ----------------------------------------------------------------------------


def lighthouse_cli(folder: Path) -> Path:
    """Lighthouse's CLI in ``folder``, installed there with npm when missing."""
    cli = folder / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing {LIGHTHOUSE} into {folder} ...", flush=True)
        subprocess.run(
            ["npm", "i", "-E", LIGHTHOUSE, "--prefix", str(folder), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    return cli


def lighthouse(cli: Path, url: str, chrome: str) -> dict[str, float | None]:
    """One Lighthouse performance run on ``url``: its numeric values of our four metrics."""
    done = subprocess.run(
        [
            "node",
            str(cli),
            url,
            f"--chrome-flags={LIGHTHOUSE_FLAGS}",
            "--only-categories=performance",
            "--output=json",
            "--output-path=stdout",
            "--throttling-method=provided",
            "--screenEmulation.disabled",
            "--form-factor=desktop",
            "--quiet",
        ],
        env={**os.environ, "CHROME_PATH": chrome},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"lighthouse failed on {url}: {done.stderr.strip()[-2000:]}")
    audits = json.loads(done.stdout)["audits"]
    return {ours: audits.get(audit, {}).get("numericValue") for ours, audit, _, _ in METRICS}


def _fmt(value: float | None, places: int) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def compare_lighthouse(
    base: str, rows: dict[str, dict[str, Any]], folder: Path, runs: int
) -> list[tuple[str, str, float | None, float | None]]:
    chrome = os.environ.get("MATF_CHROMIUM_PATH") or system_chromium()
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("\nLighthouse: skipped, node/npm are not installed here")
        return []
    if chrome is None:
        print("\nLighthouse: skipped, no Chromium found")
        return []
    try:
        cli = lighthouse_cli(folder)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        print(f"\nLighthouse: skipped, npm could not install {LIGHTHOUSE}: {detail}")
        return []
    results: dict[str, list[dict[str, float | None]]] = {path: [] for path in PAGES}
    for _ in range(runs):  # round robin over the pages, so noise spreads over all of them
        for path in PAGES:
            try:
                results[path].append(lighthouse(cli, base + path, chrome))
            except (RuntimeError, subprocess.SubprocessError, ValueError, KeyError) as exc:
                print(f"\nLighthouse: {path}: {exc}")
    table = []
    for path in PAGES:
        for ours, _, label, _ in METRICS:
            values = [v for r in results[path] if (v := r[ours]) is not None]
            theirs = statistics.median(values) if values else None
            table.append((path, label, _median(rows[path]["metrics"], ours), theirs))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=15, help="page tests per page and side")
    parser.add_argument("--lighthouse", action="store_true", help="compare with Lighthouse too")
    parser.add_argument("--lighthouse-runs", type=int, default=3, help="Lighthouse runs per page")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "matf" / "lighthouse"
    parser.add_argument(
        "--lighthouse-dir", type=Path, default=cache, help="where Lighthouse is installed"
    )
    args = parser.parse_args()

    from demo.server import DemoServer

    with DemoServer(bugs=False) as demo:
        rows = overhead(demo.url, args.n)
        table = (
            compare_lighthouse(demo.url, rows, args.lighthouse_dir, args.lighthouse_runs)
            if args.lighthouse
            else []
        )

    print(f"\n{'page':<10} {'plain ms':>9} {'probe ms':>9} {'overhead':>9} {'measure() ms':>13}")
    plain_all: list[float] = []
    probe_all: list[float] = []
    measure_all: list[float] = []
    for path in PAGES:
        plain, probe, calls = rows[path]["plain"], rows[path]["probe"], rows[path]["measure"]
        plain_all += plain
        probe_all += probe
        measure_all += calls
        p, q, c = statistics.median(plain), statistics.median(probe), statistics.median(calls)
        print(f"{path:<10} {p:>9.1f} {q:>9.1f} {(q - p) / p * 100:>8.1f}% {c:>13.1f}")
    p, q = statistics.median(plain_all), statistics.median(probe_all)
    c = statistics.median(measure_all)
    print(f"{'all':<10} {p:>9.1f} {q:>9.1f} {(q - p) / p * 100:>8.1f}% {c:>13.1f}")
    print(
        f"\n{args.n} page tests per page and side, interleaved; medians. "
        "overhead: (probe - plain) / plain (target < 10%);\n"
        f"measure() alone: {c / p * 100:.1f}% of a plain page test."
    )
    print("\nMATF's medians per page:")
    for path in PAGES:
        metrics = rows[path]["metrics"]
        shown = ", ".join(
            f"{label} {_fmt(_median(metrics, name), places)}" for name, _, label, places in METRICS
        )
        print(f"  {path:<10} {shown}")
    if table:
        print(f"\n{'page':<10} {'metric':<7} {'MATF':>9} {'Lighthouse':>11} {'diff':>9}")
        for path, label, ours, theirs in table:
            places = 3 if label == "CLS" else 0
            diff = None if ours is None or theirs is None else ours - theirs
            print(
                f"{path:<10} {label:<7} {_fmt(ours, places):>9} "
                f"{_fmt(theirs, places):>11} {_fmt(diff, places):>9}"
            )
        print(
            f"\nMATF: median of its {args.n} runs; Lighthouse ({LIGHTHOUSE}): "
            f"median of {args.lighthouse_runs} runs, provided throttling."
        )


if __name__ == "__main__":
    main()
