"""Reports at scale: a real SQLite run of 10,000 results, its reports, its dashboard page, its API.

Builds one run in a fresh SQLite file with a realistic mix of results (passed,
failed with an error, console errors and failed requests, flaky with earlier
attempts, accessibility violations, skipped), then measures, median of
``--repeats``:

- writing report.html, report.json and junit.xml from the database, as the
  reporter does (``build_document`` then each writer), in a child process of
  its own so its peak memory (``ru_maxrss``, less what the imports took) is its
  own; report.pdf the same way, separately (``--pdf``);
- the dashboard's run page and the API's results endpoint (first page), through
  the real Flask app in this process (``test_client``: no socket, the app's own
  time).

Targets: reports under 5 s, dashboard run page under 1 s.

    .venv/bin/python bench/reports_scale.py [--results 10000] [--repeats 3] [--pdf]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPORTS_TARGET_S = 5.0
DASHBOARD_TARGET_S = 1.0
RUN_ID = "r-bench-scale"


def _settings(folder: Path) -> Any:
    from matf.settings import load_settings

    return load_settings(
        redis_url=None,
        database_url=f"sqlite:///{folder / 'matf.db'}",
        storage_path=folder / "storage",
        rate_limit="1000000 per minute",
        mistral_api_key=None,
        mistral_server_url=None,
        _env_file=None,
    )


def _result(i: int) -> dict[str, Any]:
    """The i-th result of the mix: mostly passed, with every kind of evidence somewhere."""
    shape = i % 20
    base: dict[str, Any] = {
        "run_id": RUN_ID,
        "case_id": f"case-{i:05d}",
        "name": f"Page /catalog/{i} loads <b>&amp; shows its items</b>",
        "kind": "accessibility" if shape == 5 else "functional",
        "category": "accessibility" if shape == 5 else "page",
        "browser": "chromium",
        "status": "passed",
        "url": f"http://127.0.0.1:8000/catalog/{i}",
        "duration_ms": 400 + i % 900,
        "steps": [
            {"index": n, "action": "goto", "description": f"step {n} of {i}", "status": "passed"}
            for n in range(3)
        ],
    }
    if shape in (1, 2):
        base.update(
            status="failed",
            error=f"expected status 2xx, got 500 on /catalog/{i}\n  at line {i}",
            console_errors=[f"Uncaught TypeError: x is undefined ({i})"] * 2,
            page_errors=[f"ReferenceError: y{i} is not defined"],
            failed_requests=[
                {"url": f"http://127.0.0.1:8000/api/{i}", "status": 500},
                {"url": "http://127.0.0.1:8000/img.png", "failure": "net::ERR_FAILED"},
            ],
        )
    elif shape == 3:
        base.update(status="flaky", attempts=2, attempt_errors=["Timeout 5000ms exceeded"])
    elif shape == 4:
        base.update(status="error", error="browser crashed", attempts=2, attempt_errors=["crashed"])
    elif shape == 5:
        base.update(
            status="failed",
            error="2 accessibility violations",
            violations=[
                {"rule": "image-alt", "impact": "critical", "nodes": 3, "description": "alt"},
                {"rule": "color-contrast", "impact": "serious", "nodes": 7},
            ],
        )
    elif shape == 6:
        base.update(status="skipped", error="not supported in this browser", steps=[])
    return base


def build_run(folder: Path, total: int) -> Any:
    """A finished run of ``total`` results in ``folder/matf.db``; the settings to reach it."""
    from datetime import UTC, datetime

    from matf.options import RunOptions
    from matf.results import RunStatus, TestResult
    from matf.storage.db import get_engine, migrate, session_scope
    from matf.storage.models import Run
    from matf.storage.runs import finish_run, record_results

    settings = _settings(folder)
    engine = get_engine(settings.database_url)
    migrate(engine, folder / "matf.db")
    with session_scope(engine, write=True) as session:
        run = Run(
            id=RUN_ID,
            target="http://127.0.0.1:8000/",
            status=RunStatus.RUNNING,
            phase="reporting",
            options=RunOptions(out_dir=str(folder / "out")),
            started_at=datetime.now(UTC),
        )
        session.add(run)
        session.flush()
        record_results(session, [TestResult.model_validate(_result(i)) for i in range(total)])
        finish_run(session, RUN_ID, RunStatus.FAILED, datetime.now(UTC))
    return settings


# --- the child: one measured report writing ---------------------------------------------


def child(folder: Path, what: str) -> None:
    """Write the reports (or the PDF) once; print seconds and peak memory as JSON."""
    from matf.agents.reporter import build_document
    from matf.reports.html import write_html
    from matf.reports.junit import write_junit
    from matf.reports.pdf import PdfOptions, write_pdf
    from matf.storage.db import get_engine, session_scope

    try:
        from matf.reports.jsonfile import write_json
    except ImportError:  # before reports streamed: measure the code as it was
        from matf.agents.reporter import _write_json as write_json  # type: ignore[attr-defined]

    settings = _settings(folder)
    engine = get_engine(settings.database_url)
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = folder / f"out-{what}"
    out.mkdir(exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with session_scope(engine) as session:
        data = build_document(session, RUN_ID).model_dump(mode="json")
    timings["load"] = time.perf_counter() - start
    if what == "pdf":
        mark = time.perf_counter()
        write_pdf(data, out, PdfOptions(settings.matf_chromium_path, 600.0))
        timings["pdf"] = time.perf_counter() - mark
    else:
        for name, write in (
            ("html", lambda: write_html(data, out)),
            ("json", lambda: write_json(data, out / "report.json")),
            ("junit", lambda: write_junit(data, out)),
        ):
            mark = time.perf_counter()
            write()
            timings[name] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    print(
        json.dumps({"timings": timings, "peak_mib": (peak_kib - base_kib) / 1024, "sizes": sizes})
    )


def _run_child(folder: Path, what: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", what, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {what} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --- the web side ------------------------------------------------------------------------


def web_timings(settings: Any, repeats: int) -> dict[str, list[float]]:
    """The dashboard's run page and the API's first page of results, ``repeats`` times each."""
    from matf.auth import create_api_key, create_user, issue_token
    from matf.storage.db import get_engine, session_scope
    from web import create_app
    from web.security import SESSION_COOKIE

    app = create_app(settings)
    with session_scope(get_engine(settings.database_url), write=True) as session:
        user = create_user(session, "viewer@example.com", "correct horse battery", "viewer")
        token = issue_token(app.config["MATF_JWT_SECRET"], user)
        _row, key = create_api_key(session, "bench", "viewer")
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, token)
    pages = {
        "dashboard": (f"/runs/{RUN_ID}", {}),
        "api": (f"/api/v1/runs/{RUN_ID}/results", {"X-API-Key": key}),
    }
    found: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(repeats + 1):  # the first is a warm-up: templates compiled, caches filled
        for name, (path, headers) in pages.items():
            start = time.perf_counter()
            answer = client.get(path, headers=headers)
            found[name].append(time.perf_counter() - start)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: HTTP {answer.status_code}")
    return {name: values[1:] for name, values in found.items()}


def _print_table(rows: list[tuple[str, float, float | None, str]]) -> None:
    print(f"{'what':<40} {'median':>10} {'target':>9} {'peak memory':>12}  met")
    for what, seconds, target, memory in rows:
        met = "" if target is None else ("yes" if seconds < target else "NO")
        shown = "—" if target is None else f"< {target:g} s"
        print(f"{what:<40} {seconds:>8.3f} s {shown:>9} {memory:>12}  {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pdf", action="store_true", help="also print report.pdf (slow)")
    parser.add_argument("--child", choices=("reports", "pdf"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.folder, args.child)
        return
    with tempfile.TemporaryDirectory(prefix="matf-reports-scale-") as tmp:
        folder = Path(tmp)
        print(f"building a run of {args.results} results ...", flush=True)
        settings = build_run(folder, args.results)
        runs = [_run_child(folder, "reports") for _ in range(args.repeats)]
        rows: list[tuple[str, float, float | None, str]] = []
        peak = statistics.median(r["peak_mib"] for r in runs)
        for part in ("load", "html", "json", "junit"):
            rows.append(
                (f"  {part}", statistics.median(r["timings"][part] for r in runs), None, "")
            )
        total = statistics.median(r["timings"]["total"] for r in runs)
        rows.append(
            ("reports: load + html + json + junit", total, REPORTS_TARGET_S, f"{peak:.0f} MiB")
        )
        if args.pdf:
            pdfs = [_run_child(folder, "pdf") for _ in range(max(1, args.repeats // 2))]
            pdf_peak = statistics.median(r["peak_mib"] for r in pdfs)
            pdf_s = statistics.median(r["timings"]["total"] for r in pdfs)
            rows.append(("report.pdf (load + print)", pdf_s, None, f"{pdf_peak:.0f} MiB (py)"))
        web = web_timings(settings, args.repeats)
        rows.append(
            ("dashboard run page", statistics.median(web["dashboard"]), DASHBOARD_TARGET_S, "")
        )
        rows.append(("API results, first page", statistics.median(web["api"]), None, ""))
        sizes = runs[-1]["sizes"]
        print(
            f"{args.results} results, median of {args.repeats}; files: "
            + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items()))
        )
        _print_table(rows)


if __name__ == "__main__":
    main()
