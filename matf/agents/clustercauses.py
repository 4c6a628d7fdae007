"""What a co-failing cluster's tests failed with: the failure signatures they share.

A cluster says *which* tests fail together; the signatures say *why*. For
each cluster the stored results of its members in its latest co-failing runs
(``CAUSE_RUNS`` of them, at most) are read back and their signatures
computed (``matf.agents.signatures``), the same ids a run's report carries in
its ``failure_groups``: a cluster's cause can be looked up in any run's
report. Bounded: ``CAUSE_CLUSTERS`` clusters, ``CAUSE_RUNS`` runs each, in one
query, so 300 runs x 200 tests stay well under the analysis's two seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, select

from matf.agents.flakiness import FAILING, Cluster, TestKey, TestStats
from matf.agents.signatures import signatures
from matf.results import TestResult
from matf.storage.models import TestResultRow

CAUSE_CLUSTERS = 20  # clusters whose causes are read (the biggest first)
CAUSE_RUNS = 5  # the latest co-failing runs read per cluster
CAUSES_LISTED = 10  # signatures kept per cluster, shared ones first


@dataclass
class _Seen:
    kind: str
    title: str
    tests: set[TestKey] = field(default_factory=set)
    runs: set[int] = field(default_factory=set)


def co_failing_runs(cluster: Cluster, stats: dict[TestKey, TestStats]) -> list[int]:
    """The window's run indexes (newest first) in which at least two members failed."""
    anyone = twice = 0
    for key in cluster.members:
        bits = stats[key].failing_runs
        twice |= anyone & bits
        anyone |= bits
    return [i for i in range(twice.bit_length() - 1, -1, -1) if twice >> i & 1]


def cluster_causes(
    conn: Connection,
    clusters: Sequence[Cluster],
    stats: dict[TestKey, TestStats],
    runs: Sequence[tuple[str, str | None]],
) -> list[list[dict[str, Any]]]:
    """Per cluster (in order), its members' failure signatures, shared ones first.

    ``runs`` is the window's (run id, suite id) in time order, as ``stats``'s
    run indexes count them. ``tests`` counts the members that failed with the
    signature, ``runs`` the co-failing runs read in which one did; shared ones
    (two members or more) come first. Clusters past ``CAUSE_CLUSTERS`` get [].
    """
    wanted: dict[tuple[str, str, str], list[int]] = defaultdict(list)  # (run, case, browser)
    for number, cluster in enumerate(clusters[:CAUSE_CLUSTERS]):
        for i in co_failing_runs(cluster, stats)[:CAUSE_RUNS]:
            run_id, suite_id = runs[i]
            for key in cluster.members:
                if key.suite_id == suite_id and stats[key].failing_runs >> i & 1:
                    wanted[(run_id, key.case_id, key.browser)].append(number)
    seen: list[dict[str, _Seen]] = [{} for _ in clusters]
    if wanted:
        index = {run_id: i for i, (run_id, _suite) in enumerate(runs)}
        rows = conn.execute(
            select(
                TestResultRow.run_id,
                TestResultRow.case_id,
                TestResultRow.browser,
                TestResultRow.data,
            ).where(
                TestResultRow.run_id.in_({run_id for run_id, _c, _b in wanted}),
                TestResultRow.case_id.in_({case_id for _r, case_id, _b in wanted}),
                TestResultRow.status.in_(FAILING),
            )
        )
        for run_id, case_id, browser, data in rows:
            numbers = wanted.get((run_id, case_id, browser))
            if not numbers:
                continue
            try:
                found = signatures(TestResult.model_validate(data))
            except ValidationError:  # a result stored without its evidence says nothing
                continue
            key = TestKey(runs[index[run_id]][1], case_id, browser)
            for number in numbers:
                for sig in found:
                    entry = seen[number].setdefault(sig.id, _Seen(sig.kind, sig.title))
                    entry.tests.add(key)
                    entry.runs.add(index[run_id])
    return [_listed(found) for found in seen]


def _listed(seen: dict[str, _Seen]) -> list[dict[str, Any]]:
    ranked = sorted(
        seen.items(), key=lambda item: (-len(item[1].tests), -len(item[1].runs), item[0])
    )
    return [
        {
            "id": sig_id,
            "kind": entry.kind,
            "title": entry.title,
            "tests": len(entry.tests),
            "runs": len(entry.runs),
            "shared": len(entry.tests) >= 2,
        }
        for sig_id, entry in ranked[:CAUSES_LISTED]
    ]
