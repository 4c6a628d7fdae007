"""The optimizer on a generated history: does it find what was seeded, and how fast?

Writes 300 runs of a 200-test saved suite into a real SQLite file (one run
every two hours, all within the 30-day window), with tests whose behaviour is
known: flaky tests failing at random with known probabilities (a known flip
rate, 2p(1 - p)), tests that only ever pass on retry, a co-failing cluster
(six tests behind one shared cause that strikes 8% of runs), stable failures,
one regression and one fixed bug (which flip once and are not flaky), and
durations with a few slow tests, one of them slowing down.

Then prints: precision and recall of flaky detection, the seeded cluster
against what was found, stable failures called flaky (should be none), the
time to the first failure with the proposed order against file order when the
last 100 runs are replayed with the order learned from the 200 before them,
and the analysis's seconds (median of several).

    .venv/bin/python bench/optimizer.py [--runs 300] [--tests 200] [--repeat 7] [--seed 16]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert  # noqa: E402

from matf.agents.optimizer import analyse, scheduled_analysis  # noqa: E402
from matf.agents.runorder import replay  # noqa: E402
from matf.options import RunOptions  # noqa: E402
from matf.results import FailedRequest, StepResult, TestResult  # noqa: E402
from matf.settings import Settings  # noqa: E402
from matf.storage.db import make_engine, session_scope  # noqa: E402
from matf.storage.models import Run, Suite, SuiteCase, TestResultRow  # noqa: E402

SUITE = "s-bench"
FLAKY_P = (0.05, 0.1, 0.2, 0.3)  # four tests each
RETRY_ONLY = 4  # tests that fail a first attempt in 20% of runs and pass on retry
CLUSTER = 6
CLUSTER_STRIKES = 0.08
STABLE_FAILURES = 3


@dataclass
class Seeded:
    """What the history was made of, by case id."""

    flaky: dict[str, float] = field(default_factory=dict)  # case -> failure probability
    retry_only: list[str] = field(default_factory=list)
    cluster: list[str] = field(default_factory=list)
    stable_failures: list[str] = field(default_factory=list)
    flipped_once: list[str] = field(default_factory=list)  # a regression, a fixed bug
    file_order: list[str] = field(default_factory=list)


def _spec(case_id: str) -> dict[str, Any]:
    return {
        "id": case_id,
        "name": case_id,
        "url": "http://127.0.0.1/",
        "steps": [{"action": "goto", "url": "/"}],
    }


def _evidence(case_id: str, run_id: str, run: int, status: str, clustered: bool) -> dict[str, Any]:
    """A failed result's JSON as the executor stores it: the cluster's tests share a cause.

    The cluster's tests fail on the session API's 503 (each on its own page, with
    its own session id); the others on an assertion of their own.
    """
    if status != "failed":
        return {}
    page = f"http://127.0.0.1/{case_id}"
    action, error = (
        ("expect_no_server_errors", "1 request failed")
        if clustered
        else ("expect_text", f"Timeout {5000 + run}ms exceeded waiting for 'Welcome {case_id}'")
    )
    step = StepResult(index=1, action=action, description=action, status="failed", error=error)
    requests = (
        [FailedRequest(url=f"http://127.0.0.1/api/session/{run * 31 + 7}", status=503)]
        if clustered
        else []
    )
    return TestResult(
        run_id=run_id,
        case_id=case_id,
        name=case_id,
        kind="functional",
        category="custom",
        browser="chromium",
        status="failed",
        url=page,
        error=error,
        steps=[step],
        failed_requests=requests,
    ).model_dump(mode="json")


def generate(engine: Engine, runs: int, tests: int, seed: int, end: datetime) -> Seeded:
    rng = random.Random(seed)
    ids = [f"t{i:03d}" for i in range(tests)]
    rng.shuffle(ids)  # the seeded kinds sit anywhere in file order
    seeded = Seeded(file_order=sorted(ids))
    pool = iter(ids)
    for p in FLAKY_P:
        for _ in range(4):
            seeded.flaky[next(pool)] = p
    seeded.retry_only = [next(pool) for _ in range(RETRY_ONLY)]
    seeded.cluster = [next(pool) for _ in range(CLUSTER)]
    seeded.stable_failures = [next(pool) for _ in range(STABLE_FAILURES)]
    regression, fixed = next(pool), next(pool)
    seeded.flipped_once = [regression, fixed]
    slow = {next(pool): rng.uniform(20_000, 60_000) for _ in range(10)}
    slowing = next(iter(slow))
    base = {c: slow.get(c, math.exp(rng.gauss(math.log(1500), 0.6))) for c in ids}

    with session_scope(engine, write=True) as session:
        session.add(Suite(id=SUITE, name="bench", target="http://127.0.0.1/"))
        session.flush()
        session.execute(
            insert(SuiteCase),
            [
                {"suite_id": SUITE, "case_id": c, "position": i, "spec": _spec(c)}
                for i, c in enumerate(seeded.file_order)
            ],
        )
    run_rows, result_rows = [], []
    options = RunOptions(browsers=("chromium",))
    for r in range(runs):
        run_id = f"r-{r:04d}"
        at = end - timedelta(hours=2 * (runs - 1 - r))
        strike = rng.random() < CLUSTER_STRIKES
        failed_any = False
        for c in ids:
            status = "passed"
            if c in seeded.flaky and rng.random() < seeded.flaky[c]:
                status = "failed"
            elif c in seeded.retry_only and rng.random() < 0.2:
                status = "flaky"
            elif (
                (c in seeded.cluster and strike and rng.random() < 0.9)
                or c in seeded.stable_failures
                or (c == regression and r >= runs // 2)
                or (c == fixed and r < runs // 3)
            ):
                status = "failed"
            failed_any |= status == "failed"
            growth = 1 + (r / runs if c == slowing else 0)
            duration = int(base[c] * growth * rng.uniform(0.8, 1.2))
            result_rows.append(
                {
                    "run_id": run_id,
                    "case_id": c,
                    "browser": "chromium",
                    "status": status,
                    "duration_ms": duration,
                    "attempts": 2 if status == "flaky" else 1,
                    "data": _evidence(c, run_id, r, status, c in seeded.cluster),
                    "created_at": at,
                }
            )
        run_rows.append(
            {
                "id": run_id,
                "target": "http://127.0.0.1/",
                "status": "failed" if failed_any else "passed",
                "phase": "done",
                "options": options,
                "total": tests,
                "created_at": at,
                "finished_at": at,
                "suite_id": SUITE,
            }
        )
    with session_scope(engine, write=True) as session:
        session.execute(insert(Run), run_rows)
        session.execute(insert(TestResultRow), result_rows)
    return seeded


def run_outcomes(
    engine: Engine, first: int, last: int
) -> list[dict[tuple[str, str], tuple[bool, int]]]:
    """The outcomes of runs ``first`` to ``last`` (excluded), per (case, browser)."""
    from sqlalchemy import select

    wanted = [f"r-{r:04d}" for r in range(first, last)]
    per_run: dict[str, dict[tuple[str, str], tuple[bool, int]]] = {r: {} for r in wanted}
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                TestResultRow.run_id,
                TestResultRow.case_id,
                TestResultRow.browser,
                TestResultRow.status,
                TestResultRow.duration_ms,
            ).where(TestResultRow.run_id.in_(wanted))
        )
        for run_id, case_id, browser, status, duration in rows:
            per_run[run_id][(case_id, browser)] = (status in ("failed", "error"), duration)
    return [per_run[r] for r in wanted]


def measure(runs: int, tests: int, repeat: int, seed: int, folder: Path) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{folder / 'history.sqlite'}")
    end = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    seeded = generate(engine, runs, tests, seed, end)
    generated_s = time.perf_counter() - started

    seconds = []
    for _ in range(repeat):
        with session_scope(engine) as session:
            started = time.perf_counter()
            found = analyse(session, 30, 0.8, now=end)
            seconds.append(time.perf_counter() - started)
    truth = set(seeded.flaky) | set(seeded.retry_only) | set(seeded.cluster)
    called = {s.key.case_id for s in found.flaky}
    hits = called & truth
    cluster = set(seeded.cluster)
    best = max(
        (c for c in found.clusters),
        key=lambda c: len(cluster & {m.case_id for m in c.members}),
        default=None,
    )
    best_members = {m.case_id for m in best.members} if best else set()
    best_index = found.clusters.index(best) if best else -1
    causes = found.causes[best_index] if best else []
    by_case = {s.key.case_id: s for s in found.stats}

    # Replay: learn the order from the first two thirds, run the last third in both orders.
    learn = runs * 2 // 3
    learn_end = end - timedelta(hours=2 * (runs - learn))
    with session_scope(engine) as session:
        learned = analyse(session, 30, 0.8, now=learn_end)
    order = learned.orders[SUITE]
    later = run_outcomes(engine, learn, runs)
    stable = set(seeded.stable_failures)
    known = stable | set(seeded.flipped_once)  # the regression fails every replayed run
    intermittent = [{k: v for k, v in o.items() if k[0] not in known} for o in later]
    stored_started = time.perf_counter()
    detail = scheduled_analysis(
        engine,
        Settings(historical_data_days=30, optimization_threshold=0.8),  # type: ignore[call-arg]
        now=end,
    )
    stored_s = time.perf_counter() - stored_started
    return {
        "history": {
            "runs": runs,
            "tests": tests,
            "results": runs * tests,
            "generated_s": round(generated_s, 2),
        },
        "flaky": _flaky_figures(seeded, found, truth, called, hits, by_case),
        "cluster": {
            "seeded": sorted(cluster),
            "found": sorted(best_members),
            "clusters_found": len(found.clusters),
            "exact": best_members == cluster,
            "shared_cause": next((c for c in causes if c["shared"]), None),
        },
        "order": {
            "learned_from_runs": learn,
            "replayed_runs": runs - learn,
            "all_failures": replay(seeded.file_order, order, later),
            "intermittent_only": replay(seeded.file_order, order, intermittent),
        },
        "analysis_s": {
            "median": round(statistics.median(seconds), 3),
            "max": round(max(seconds), 3),
            "repeat": repeat,
        },
        "scheduled_analysis_s": round(stored_s, 3),
        "scheduled_detail": detail,
    }


def _flaky_figures(
    seeded: Any,
    found: Any,
    truth: set[str],
    called: set[str],
    hits: set[str],
    by_case: dict[str, Any],
) -> dict[str, Any]:
    """Precision and recall of the flaky tests found, against the seeded ones."""
    stable = set(seeded.stable_failures)
    return {
        "seeded": len(truth),
        "found": len(called),
        "precision": round(len(hits) / len(called), 3) if called else None,
        "recall": round(len(hits) / len(truth), 3),
        "missed": sorted(
            f"{c} (p={seeded.flaky.get(c, '-')}, score {by_case[c].score:.2f})"
            for c in truth - called
        ),
        "false": sorted(called - truth),
        "stable_failures_called_flaky": sorted(called & stable),
        "flipped_once_called_flaky": sorted(called & set(seeded.flipped_once)),
        "flip_rates": {
            str(p): round(
                statistics.mean(by_case[c].flip_rate for c, q in seeded.flaky.items() if q == p),
                3,
            )
            for p in FLAKY_P
        },
        "expected_flip_rates": {str(p): round(2 * p * (1 - p), 3) for p in FLAKY_P},
        "quarantine_candidates": len(found.candidates),
    }


def report(figures: dict[str, Any]) -> None:
    h, f, c, o, a = (figures[k] for k in ("history", "flaky", "cluster", "order", "analysis_s"))
    print(f"history: {h['runs']} runs x {h['tests']} tests = {h['results']} results")
    print(
        f"flaky: {f['found']} found of {f['seeded']} seeded: precision {f['precision']}, "
        f"recall {f['recall']}; missed {f['missed'] or 'none'}; false {f['false'] or 'none'}"
    )
    print(
        f"  stable failures called flaky: {f['stable_failures_called_flaky'] or 'none'}; "
        f"flipped once called flaky: {f['flipped_once_called_flaky'] or 'none'}"
    )
    print(f"  flip rate measured {f['flip_rates']} vs expected {f['expected_flip_rates']}")
    print(f"cluster: seeded {c['seeded']} found {c['found']} (exact: {c['exact']})")
    cause = c["shared_cause"]
    print(
        "  shared cause: "
        + (f"{cause['title']} [{cause['id']}], {cause['tests']} tests" if cause else "none")
    )
    for name in ("all_failures", "intermittent_only"):
        r = o[name]
        print(
            f"time to first failure ({name.replace('_', ' ')}, {r['runs']} replayed runs): "
            f"file order {r['file_ms']} ms, proposed {r['proposed_ms']} ms, "
            f"median ratio {r['ratio']}"
        )
    print(
        f"analysis: median {a['median']} s, max {a['max']} s over {a['repeat']}; "
        f"analyse+store+proposals {figures['scheduled_analysis_s']} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="matf-bench-optimizer-") as folder:
        figures = measure(args.runs, args.tests, args.repeat, args.seed, Path(folder))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)


if __name__ == "__main__":
    main()
