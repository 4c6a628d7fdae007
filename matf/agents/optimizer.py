"""Test optimizer agent: what the last days of runs say about flaky, failing and slow tests.

``analyse`` reads the window's results in two queries (the runs, then their
results), plus one bounded query for what the co-failing clusters' tests
failed with (``matf.agents.clustercauses``), and does the rest in Python (``matf.agents.flakiness``,
``matf.agents.runorder``): per test (suite, case, browser) its flip rate and
score, stable failures, co-failing clusters, the slowest tests and their trend,
each saved suite's run order, and the tests to propose for quarantine.
``scheduled_analysis`` is the scheduled job: analyse, store, update proposals.
Nothing is quarantined without a person's decision (``matf.storage.optimizer``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from matf.agents.clustercauses import cluster_causes
from matf.agents.flakiness import (
    FAILING,
    FLAKY_SCORE,
    MIN_FLIPS,
    MIN_RUNS,
    Cluster,
    Outcome,
    TestKey,
    TestStats,
    co_failing_clusters,
    test_stats,
)
from matf.agents.runorder import SuiteCaseInfo, replay, run_order
from matf.settings import Settings
from matf.storage.db import session_scope
from matf.storage.models import AttemptRow, Run, SuiteCase, TestResultRow
from matf.storage.optimizer import Candidate, pending_key, save_analysis, sync_proposals

SLOWEST = 20
LISTED = 200  # longest list a stored analysis keeps (the summary counts them all)

RunOutcomes = dict[tuple[str, str], tuple[bool, int]]


@dataclass
class Analysis:
    """What one pass over the history found; ``as_json`` is what is stored and served."""

    created_at: datetime
    days: int
    threshold: float
    runs: int
    stats: list[TestStats]
    clusters: list[Cluster]
    orders: dict[str, list[str]]
    first_failure: dict[str, dict[str, Any]]
    candidates: list[TestStats]
    seconds: float = 0.0
    causes: list[list[dict[str, Any]]] = field(default_factory=list)  # per cluster, in order

    @property
    def flaky(self) -> list[TestStats]:
        return sorted((s for s in self.stats if s.flaky), key=lambda s: (-s.score, s.key))

    @property
    def stable_failures(self) -> list[TestStats]:
        return sorted((s for s in self.stats if s.always_failing), key=lambda s: (-s.runs, s.key))

    @property
    def slowest(self) -> list[TestStats]:
        return sorted(self.stats, key=lambda s: (-s.p50_ms, -s.p95_ms, s.key))[:SLOWEST]

    def summary(self) -> dict[str, Any]:
        saved = [f for f in self.first_failure.values() if f["ratio"] is not None]
        return {
            "runs": self.runs,
            "tests": len(self.stats),
            "flaky": len(self.flaky),
            "stable_failures": len(self.stable_failures),
            "clusters": len(self.clusters),
            "quarantine_candidates": len(self.candidates),
            "suites_ordered": len(self.orders),
            "first_failure_saved_ms": sum(f["file_ms"] - f["proposed_ms"] for f in saved),
            "seconds": round(self.seconds, 4),
        }

    def findings(self) -> dict[str, Any]:
        return {
            "window": {
                "days": self.days,
                "until": self.created_at.isoformat(),
                "since": (self.created_at - timedelta(days=self.days)).isoformat(),
                "runs": self.runs,
            },
            "rules": {
                "min_runs": MIN_RUNS,
                "flaky_score": FLAKY_SCORE,
                "min_flips": MIN_FLIPS,
                "threshold": self.threshold,
                "score": "min(1, 2 * flip_rate + 2 * flaky_runs / runs)",
            },
            "flakiest": [s.flaky_dict() for s in self.flaky[:LISTED]],
            "stable_failures": [s.flaky_dict() for s in self.stable_failures[:LISTED]],
            "clusters": [
                {**c.as_dict(), "signatures": self.causes[i] if i < len(self.causes) else []}
                for i, c in enumerate(self.clusters[:LISTED])
            ],
            "slowest": [s.slow_dict() for s in self.slowest],
            "first_failure": self.first_failure,
            "quarantine": [
                {**s.flaky_dict(), "reason": reason(s, self.threshold)} for s in self.candidates
            ],
        }


def reason(stats: TestStats, threshold: float) -> str:
    return (
        f"flip rate {stats.flip_rate:.2f} ({stats.flips} flips over {stats.runs} runs), "
        f"{stats.flaky_runs} run(s) passed on retry: score {stats.score:.2f} >= {threshold:g}"
    )


def analyse(session: Session, days: int, threshold: float, now: datetime | None = None) -> Analysis:
    """Analyse the runs created in the last ``days`` before ``now``.

    Per test (suite, case, browser): runs, failures, flips between consecutive
    runs' final outcomes, runs that failed then passed on retry, and the score
    ``min(1, 2 * flip_rate + 2 * flaky_runs / runs)`` (see
    ``flakiness.flakiness_score``). A test is flaky from score 0.1 over at
    least ``MIN_RUNS`` (10) runs, with 3 flips or a run passed on retry; one that failed every
    run is a stable failure, never flaky. Flaky tests of saved suites scoring
    ``threshold`` or more, and not quarantined yet, are quarantine candidates.
    """
    started = time.perf_counter()
    until = now or datetime.now(UTC)
    since = until - timedelta(days=days)
    window = (Run.created_at >= since, Run.created_at <= until)
    # Core rows, not ORM ones: at 60,000 results the ORM's row handling doubles the time.
    conn = session.connection()
    runs = conn.execute(
        select(Run.id, Run.suite_id).where(*window).order_by(Run.created_at, Run.id)
    ).all()
    index = {run_id: i for i, (run_id, _suite) in enumerate(runs)}
    suites = [suite_id for _run, suite_id in runs]
    histories: dict[tuple[str | None, str, str], list[Outcome]] = defaultdict(list)
    rows = conn.execute(
        select(
            TestResultRow.run_id,
            TestResultRow.case_id,
            TestResultRow.browser,
            TestResultRow.status,
            TestResultRow.duration_ms,
        )
        .join(Run, Run.id == TestResultRow.run_id)
        .where(*window)
    ).all()
    for run_id, case_id, browser, status, duration in rows:
        i = index.get(run_id)
        if i is not None:  # else a run created between the two queries
            histories[(suites[i], case_id, browser)].append(Outcome(i, status, duration or 0))
    per_run: dict[str, dict[int, RunOutcomes]] = defaultdict(lambda: defaultdict(dict))
    for (suite_id, case_id, browser), history in histories.items():
        if suite_id is not None:
            for i, status, duration in history:
                if status != "skipped":
                    per_run[suite_id][i][(case_id, browser)] = (status in FAILING, duration)
    stats = [test_stats(TestKey(*key), sorted(h)) for key, h in histories.items()]
    cases = _suite_cases(session, list(per_run))
    orders, first_failure = _orders(stats, cases, per_run)
    quarantined = {(s, c.case_id) for s, infos in cases.items() for c in infos if c.quarantined}
    candidates = sorted(
        (
            s
            for s in stats
            if s.flaky
            and s.score >= threshold
            and s.key.suite_id is not None
            and (s.key.suite_id, s.key.case_id) not in quarantined
        ),
        key=lambda s: (-s.score, s.key),
    )
    clusters = co_failing_clusters(stats)
    by_key = {s.key: s for s in stats}
    causes = cluster_causes(conn, clusters, by_key, [(r, s) for r, s in runs])
    return Analysis(
        created_at=until,
        days=days,
        threshold=threshold,
        runs=len(runs),
        stats=stats,
        clusters=clusters,
        causes=causes,
        orders=orders,
        first_failure=first_failure,
        candidates=candidates,
        seconds=time.perf_counter() - started,
    )


def _suite_cases(session: Session, suite_ids: list[str]) -> dict[str, list[SuiteCaseInfo]]:
    if not suite_ids:
        return {}
    found: dict[str, list[SuiteCaseInfo]] = defaultdict(list)
    rows = session.execute(
        select(SuiteCase.suite_id, SuiteCase.case_id, SuiteCase.position, SuiteCase.quarantined)
        .where(SuiteCase.suite_id.in_(suite_ids), SuiteCase.enabled.is_(True))
        .order_by(SuiteCase.suite_id, SuiteCase.position, SuiteCase.id)
    )
    for suite_id, case_id, position, quarantined in rows:
        found[suite_id].append(SuiteCaseInfo(case_id, position, bool(quarantined)))
    return found


def _orders(
    stats: list[TestStats],
    cases: dict[str, list[SuiteCaseInfo]],
    per_run: dict[str, dict[int, RunOutcomes]],
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Each saved suite's proposed order, and how soon it would have surfaced the window's failures.

    The replay is in-sample (the order is learned from the same runs): the
    benchmark measures it on runs the order was not learned from.
    """
    by_case: dict[str, dict[str, list[TestStats]]] = defaultdict(lambda: defaultdict(list))
    for s in stats:
        if s.key.suite_id is not None:
            by_case[s.key.suite_id][s.key.case_id].append(s)
    orders: dict[str, list[str]] = {}
    first_failure: dict[str, dict[str, Any]] = {}
    for suite_id, infos in cases.items():
        order = run_order(infos, by_case[suite_id])
        orders[suite_id] = order
        muted = {c.case_id for c in infos if c.quarantined}
        runs = (
            {job: v for job, v in outcomes.items() if job[0] not in muted}
            for outcomes in per_run[suite_id].values()
        )
        first_failure[suite_id] = replay([c.case_id for c in infos], order, runs)
    return orders, first_failure


def scheduled_analysis(
    engine: Engine, settings: Settings, now: datetime | None = None
) -> dict[str, Any]:
    """The scheduled job: analyse the history, store the analysis, update the proposals.

    Reads in one short transaction and writes in another, so the read never
    holds SQLite's write lock. Returns a small JSON-able detail for the job's
    row (``scheduled_jobs.last_detail``) and the task's result.
    """
    days, threshold = settings.historical_data_days, settings.optimization_threshold
    with session_scope(engine) as session:
        found = analyse(session, days, threshold, now)
    candidates = [
        Candidate(
            s.key.suite_id, s.key.case_id, s.key.browser, s.score, s.runs, reason(s, threshold)
        )
        for s in found.candidates
        if s.key.suite_id is not None
    ]
    with session_scope(engine, write=True) as session:
        row = save_analysis(
            session,
            days=days,
            threshold=threshold,
            seconds=found.seconds,
            summary=found.summary(),
            findings=found.findings(),
            orders=found.orders,
            created_at=found.created_at,
        )
        changed = sync_proposals(
            session,
            candidates,
            {
                pending_key(s.key.suite_id, s.key.case_id, s.key.browser): s.score
                for s in found.stats
            },
            threshold,
            row.id,
        )
        analysis_id = row.id
    summary = found.summary()
    return {
        "analysis_id": analysis_id,
        "runs": summary["runs"],
        "tests": summary["tests"],
        "flaky": summary["flaky"],
        "stable_failures": summary["stable_failures"],
        "clusters": summary["clusters"],
        "proposals_new": changed["new"],
        "proposals_updated": changed["updated"],
        "proposals_withdrawn": changed["withdrawn"],
        "seconds": round(found.seconds, 4),
    }


@dataclass(frozen=True)
class Flakiness:
    case_id: str
    browser: str
    runs: int
    flaky_runs: int

    @property
    def rate(self) -> float:
        return self.flaky_runs / self.runs if self.runs else 0.0


def flaky_tests(session: Session, days: int = 30, min_rate: float = 0.0) -> list[Flakiness]:
    """Tests that failed an attempt and then passed, per (case, browser), worst first."""
    since = datetime.now(UTC) - timedelta(days=days)
    per_run = (
        select(
            AttemptRow.case_id,
            AttemptRow.browser,
            AttemptRow.run_id,
            func.max(case((AttemptRow.passed, 1), else_=0)).label("passed"),
            func.min(case((AttemptRow.passed, 1), else_=0)).label("all_passed"),
        )
        .join(Run, Run.id == AttemptRow.run_id)
        .where(Run.created_at >= since)
        .group_by(AttemptRow.case_id, AttemptRow.browser, AttemptRow.run_id)
        .subquery()
    )
    rows = session.execute(
        select(
            per_run.c.case_id,
            per_run.c.browser,
            func.count(),
            func.sum(case(((per_run.c.passed == 1) & (per_run.c.all_passed == 0), 1), else_=0)),
        ).group_by(per_run.c.case_id, per_run.c.browser)
    ).all()
    found = [Flakiness(c, b, int(n), int(f or 0)) for c, b, n, f in rows]
    return sorted(
        (f for f in found if f.flaky_runs and f.rate >= min_rate),
        key=lambda f: (-f.rate, f.case_id),
    )
