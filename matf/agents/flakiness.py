"""What one test's history says: how often it flips, how slow it is, what fails with it.

Pure functions over outcomes already read from the database, so the rules
are tested on hand-made histories and the optimizer stays one query deep.
A test here is a ``TestKey``: (saved suite or None, case id, browser); the
suite is part of it because two suites may each have a test ``home``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

# A test needs this many runs in the window before it is called flaky (or quarantined):
# fewer say too little (two flips in five runs is a fixed bug as often as a flaky test).
MIN_RUNS = 10
# Called flaky from this score, and only with proof: a run that passed on retry, or
# at least MIN_FLIPS flips (a test broken once and fixed once flips twice).
FLAKY_SCORE = 0.1
MIN_FLIPS = 3
# Co-failing: two tests' failing-run sets overlap by this much (Jaccard), in at least
# MIN_CO_FAILURES runs; tests that failed in every run they ran carry no such signal.
CLUSTER_JACCARD = 0.5
MIN_CO_FAILURES = 3
# Durations: a half's p50 this much above (below) the other's is a trend.
TREND_CHANGE = 0.2
MIN_TREND_RUNS = 6

FAILING = frozenset({"failed", "error"})
PASSING = frozenset({"passed", "flaky"})


@dataclass(frozen=True, order=True)
class TestKey:
    __test__ = False  # not a pytest test class, whatever its name

    suite_id: str | None
    case_id: str
    browser: str

    def as_dict(self) -> dict[str, Any]:
        return {"suite_id": self.suite_id, "case_id": self.case_id, "browser": self.browser}


class Outcome(NamedTuple):
    """One run's final result of a test (``run`` indexes the window's runs in time order)."""

    run: int
    status: str
    duration_ms: int


@dataclass(frozen=True)
class TestStats:
    """One test's flakiness and durations over the window."""

    __test__ = False

    key: TestKey
    runs: int
    failures: int
    flips: int
    flaky_runs: int
    flip_rate: float
    score: float
    flaky: bool
    last_failed: int | None  # the window's run index of its latest failure
    recent_fail_rate: float  # over its last RECENT runs
    p50_ms: int
    p95_ms: int
    older_p50_ms: int | None
    recent_p50_ms: int | None
    failing_runs: int  # a bitset of the window's run indexes it failed in

    @property
    def always_failing(self) -> bool:
        return self.runs > 0 and self.failures == self.runs

    @property
    def trend(self) -> str:
        if self.older_p50_ms is None or self.recent_p50_ms is None or not self.older_p50_ms:
            return "unknown"
        change = self.recent_p50_ms / self.older_p50_ms - 1
        return (
            "slower"
            if change >= TREND_CHANGE
            else "faster"
            if change <= -TREND_CHANGE
            else "steady"
        )

    def flaky_dict(self) -> dict[str, Any]:
        return {
            **self.key.as_dict(),
            "runs": self.runs,
            "failures": self.failures,
            "flips": self.flips,
            "flip_rate": round(self.flip_rate, 4),
            "flaky_runs": self.flaky_runs,
            "score": round(self.score, 4),
        }

    def slow_dict(self) -> dict[str, Any]:
        return {
            **self.key.as_dict(),
            "runs": self.runs,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "older_p50_ms": self.older_p50_ms,
            "recent_p50_ms": self.recent_p50_ms,
            "trend": self.trend,
        }


RECENT = 5


def flakiness_score(flip_rate: float, retry_rate: float) -> float:
    """``min(1, 2 * flip_rate + 2 * retry_rate)``: 0 for a steady test, 1 for a coin toss.

    ``flip_rate`` is the share of consecutive runs whose final outcomes differ
    (pass <-> fail). A test failing at random a share p of its runs flips at a
    rate 2p(1 - p), at most 0.5 (p = 0.5): doubled, a coin toss scores 1, a
    test failing 30% of runs at random about 0.84, 10% about 0.36. A run whose
    test failed and then passed on retry (``retry_rate``, per run) is a flip
    inside the run and counts the same. A test that always fails, or broke
    once and stayed broken, scores (near) 0: it is failing, not flaky.
    """
    return min(1.0, 2 * flip_rate + 2 * retry_rate)


def percentile(ordered: Sequence[int], share: float) -> int:
    """The nearest-rank percentile of sorted values (0 for none)."""
    if not ordered:
        return 0
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def test_stats(key: TestKey, history: Sequence[Outcome]) -> TestStats:
    """A test's stats from its outcomes in time order; skipped runs do not count."""
    ran = [o for o in history if o.status in FAILING or o.status in PASSING]
    failed = [o.status in FAILING for o in ran]
    flips = sum(1 for a, b in zip(failed, failed[1:], strict=False) if a != b)
    flaky_runs = sum(1 for o in ran if o.status == "flaky")
    n = len(ran)
    flip_rate = flips / (n - 1) if n > 1 else 0.0
    score = flakiness_score(flip_rate, flaky_runs / n if n else 0.0)
    bits = 0
    for outcome, bad in zip(ran, failed, strict=True):
        if bad:
            bits |= 1 << outcome.run
    durations = [o.duration_ms for o in ran if o.duration_ms > 0]
    older = recent = None
    if len(durations) >= MIN_TREND_RUNS:
        half = len(durations) // 2
        older = percentile(sorted(durations[:half]), 0.5)
        recent = percentile(sorted(durations[half:]), 0.5)
    ordered = sorted(durations)
    last = failed[-RECENT:]
    return TestStats(
        key=key,
        runs=n,
        failures=sum(failed),
        flips=flips,
        flaky_runs=flaky_runs,
        flip_rate=flip_rate,
        score=score,
        flaky=n >= MIN_RUNS and score >= FLAKY_SCORE and (flips >= MIN_FLIPS or flaky_runs > 0),
        last_failed=next(
            (o.run for o, bad in zip(reversed(ran), reversed(failed), strict=True) if bad), None
        ),
        recent_fail_rate=sum(last) / len(last) if last else 0.0,
        p50_ms=percentile(ordered, 0.5),
        p95_ms=percentile(ordered, 0.95),
        older_p50_ms=older,
        recent_p50_ms=recent,
        failing_runs=bits,
    )


@dataclass(frozen=True)
class Cluster:
    """Tests whose failures co-occur: likely one shared cause (a service, fixture, outage)."""

    members: tuple[TestKey, ...]
    co_failing_runs: int  # runs in which at least two members failed
    failing_runs: int  # runs in which any member failed
    jaccard: float  # the weakest link that joined the group

    def as_dict(self) -> dict[str, Any]:
        return {
            "members": [m.as_dict() for m in self.members],
            "size": len(self.members),
            "co_failing_runs": self.co_failing_runs,
            "failing_runs": self.failing_runs,
            "jaccard": round(self.jaccard, 4),
        }


def co_failing_clusters(
    stats: Sequence[TestStats],
    min_jaccard: float = CLUSTER_JACCARD,
    min_co_failures: int = MIN_CO_FAILURES,
) -> list[Cluster]:
    """Groups of >= 2 tests linked by Jaccard(failing runs) >= ``min_jaccard``, biggest first.

    Links join groups transitively (connected components). Failing-run sets
    are bitsets, so a pair costs an AND and a popcount; only tests that failed
    at least ``min_co_failures`` times, and not in every run, take part.
    """
    tests = [s for s in stats if s.failures >= min_co_failures and not s.always_failing]
    parent = list(range(len(tests)))
    weakest: dict[int, float] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links: list[tuple[int, int, float]] = []
    for i, a in enumerate(tests):
        for j in range(i + 1, len(tests)):
            b = tests[j]
            both = (a.failing_runs & b.failing_runs).bit_count()
            if both < min_co_failures:
                continue
            jaccard = both / (a.failing_runs | b.failing_runs).bit_count()
            if jaccard >= min_jaccard:
                links.append((i, j, jaccard))
    for i, j, _jaccard in links:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[rj] = ri
    for i, _j, jaccard in links:
        r = root(i)
        weakest[r] = min(weakest.get(r, 1.0), jaccard)
    groups: dict[int, list[int]] = {}
    for i in range(len(tests)):
        groups.setdefault(root(i), []).append(i)
    clusters = []
    for r, members in groups.items():
        if len(members) < 2:
            continue
        sets = [tests[i].failing_runs for i in members]
        anyone = 0
        twice = 0
        for bits in sets:
            twice |= anyone & bits
            anyone |= bits
        clusters.append(
            Cluster(
                members=tuple(sorted(tests[i].key for i in members)),
                co_failing_runs=twice.bit_count(),
                failing_runs=anyone.bit_count(),
                jaccard=weakest[r],
            )
        )
    return sorted(clusters, key=lambda c: (-len(c.members), -c.co_failing_runs, c.members))
