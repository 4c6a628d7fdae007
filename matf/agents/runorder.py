"""The order a saved suite's next run dispatches its tests in, and what it would have saved.

Failures should surface early and long tests should not finish last: tests
that failed lately or are flaky go first (the likeliest to fail first), then
tests with no history yet (new tests fail more often than old ones), then the
rest longest first, so with several executors the long ones start early.
Quarantined tests cannot fail the run, so they sort with the rest by duration.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matf.agents.flakiness import TestStats


@dataclass(frozen=True)
class SuiteCaseInfo:
    case_id: str
    position: int
    quarantined: bool = False


def run_order(
    cases: Sequence[SuiteCaseInfo], stats: Mapping[str, Sequence[TestStats]]
) -> list[str]:
    """Case ids in proposed order; ``stats`` holds each case's stats, one per browser."""
    risky: list[tuple[float, float, int, str]] = []
    new: list[tuple[int, str]] = []
    rest: list[tuple[int, int, str]] = []
    for case in cases:
        mine = stats.get(case.case_id) or ()
        if not mine:
            new.append((case.position, case.case_id))
            continue
        failing = max(s.recent_fail_rate for s in mine)
        flaky = any(s.flaky for s in mine)
        if not case.quarantined and (failing > 0 or flaky):
            score = max(s.score for s in mine)
            risky.append((-failing, -score, case.position, case.case_id))
        else:
            rest.append((-max(s.p50_ms for s in mine), case.position, case.case_id))
    return (
        [c[-1] for c in sorted(risky)]
        + [c[-1] for c in sorted(new)]
        + [c[-1] for c in sorted(rest)]
    )


def time_to_first_failure(
    jobs: Iterable[tuple[str, str]], outcomes: Mapping[tuple[str, str], tuple[bool, int]]
) -> int | None:
    """Milliseconds until the first failing job ends, jobs run one after another.

    ``jobs``: (case, browser) in dispatch order; ``outcomes``: each job's
    (failed, duration_ms) in one run. None when nothing in the run failed.
    """
    spent = 0
    for job in jobs:
        found = outcomes.get(job)
        if found is None:
            continue
        failed, duration = found
        spent += duration
        if failed:
            return spent
    return None


def replay(
    file_order: Sequence[str],
    proposed: Sequence[str],
    runs: Iterable[Mapping[tuple[str, str], tuple[bool, int]]],
) -> dict[str, Any]:
    """Time to the first failure in each failing run, in file order and in ``proposed`` order.

    Returns medians (ms) of both, the median of their per-run ratios
    (proposed / file: 0.25 is four times sooner) and how many runs they rest on.
    """
    file_ms: list[int] = []
    proposed_ms: list[int] = []
    ratios: list[float] = []
    for outcomes in runs:
        browsers = sorted({browser for _case, browser in outcomes})
        before = time_to_first_failure(_jobs(file_order, browsers), outcomes)
        after = time_to_first_failure(_jobs(proposed, browsers), outcomes)
        if before is None or after is None:
            continue
        file_ms.append(before)
        proposed_ms.append(after)
        ratios.append(after / before if before else 1.0)
    if not ratios:
        return {"runs": 0, "file_ms": None, "proposed_ms": None, "ratio": None}
    return {
        "runs": len(ratios),
        "file_ms": int(statistics.median(file_ms)),
        "proposed_ms": int(statistics.median(proposed_ms)),
        "ratio": round(statistics.median(ratios), 4),
    }


def _jobs(order: Sequence[str], browsers: Sequence[str]) -> Iterable[tuple[str, str]]:
    return ((case, browser) for case in order for browser in browsers)
