"""The optimizer blueprint's models: stored analyses and quarantine proposals to review.

The analysis models read what ``matf.agents.optimizer.Analysis`` stored; a
field added later has a default, so older analyses still validate.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from web.models.common import Strict

QuarantineStatus = Literal["pending", "accepted", "rejected", "withdrawn"]


class AnalysesQuery(Strict):
    limit: int = Field(20, ge=1, le=500)


class QuarantineQuery(Strict):
    status: QuarantineStatus | Literal["all"] = "pending"
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class OptimizerSummary(BaseModel):
    """What one analysis counted."""

    runs: int = Field(description="runs in the window")
    tests: int = Field(description="tests (suite, case, browser) analysed")
    flaky: int
    stable_failures: int = Field(description="tests that failed every run they ran")
    clusters: int = Field(description="groups of tests that fail together")
    quarantine_candidates: int
    suites_ordered: int = Field(description="saved suites given a run order")
    first_failure_saved_ms: int = Field(
        description="summed over suites: median time to the first failure saved by the order"
    )
    seconds: float = Field(description="how long the analysis took")


class TestRef(BaseModel):
    __test__ = False  # not a pytest test class, whatever its name

    suite_id: str | None = Field(description="the saved suite; none for runs on a URL")
    case_id: str
    browser: str


class FlakyTest(TestRef):
    runs: int = Field(description="runs the score rests on")
    failures: int
    flips: int = Field(description="pass <-> fail changes between consecutive runs")
    flip_rate: float
    flaky_runs: int = Field(description="runs that failed, then passed on retry")
    score: float = Field(description="min(1, 2 * flip_rate + 2 * flaky_runs / runs)")


class QuarantineCandidate(FlakyTest):
    reason: str


class SlowTest(TestRef):
    runs: int
    p50_ms: int
    p95_ms: int
    older_p50_ms: int | None = Field(description="p50 of the window's older half")
    recent_p50_ms: int | None = Field(description="p50 of the window's recent half")
    trend: Literal["slower", "faster", "steady", "unknown"]


class ClusterCause(BaseModel):
    """A failure signature of a cluster's tests: the id a run's report groups failures by."""

    id: str = Field(description="the signature's stable id (report.json's failure_groups)")
    kind: str
    title: str
    tests: int = Field(description="the cluster's tests that failed with it")
    runs: int = Field(description="the co-failing runs read in which one did")
    shared: bool = Field(description="two tests or more: likely the cluster's common cause")


class CoFailingCluster(BaseModel):
    members: list[TestRef]
    size: int
    co_failing_runs: int = Field(description="runs in which at least two members failed")
    failing_runs: int = Field(description="runs in which any member failed")
    jaccard: float = Field(description="the weakest overlap that joined the group")
    signatures: list[ClusterCause] = Field(
        default_factory=list, description="what they failed with, shared causes first"
    )


class FirstFailure(BaseModel):
    """A suite's failing runs replayed: median time to the first failure, per order."""

    runs: int
    file_ms: int | None = Field(description="in file order")
    proposed_ms: int | None = Field(description="in the proposed order")
    ratio: float | None = Field(description="median of proposed / file over the runs")


class AnalysisWindow(BaseModel):
    days: int
    since: str
    until: str
    runs: int


class Findings(BaseModel):
    window: AnalysisWindow
    rules: dict[str, Any] = Field(description="the thresholds the findings were made with")
    flakiest: list[FlakyTest]
    stable_failures: list[FlakyTest]
    clusters: list[CoFailingCluster]
    slowest: list[SlowTest]
    first_failure: dict[str, FirstFailure] = Field(description="by saved suite id")
    quarantine: list[QuarantineCandidate]


class AnalysisOut(BaseModel):
    """One stored analysis of the history: what it found, when, over what window."""

    id: int
    created_at: str
    days: int
    threshold: float
    seconds: float
    summary: OptimizerSummary
    findings: Findings
    orders: dict[str, list[str]] = Field(description="each saved suite's run order (case ids)")
    links: dict[str, str]


class AnalysisItem(BaseModel):
    id: int
    created_at: str
    seconds: float
    summary: OptimizerSummary
    links: dict[str, str]


class AnalysisList(BaseModel):
    items: list[AnalysisItem]


class QuarantineOut(BaseModel):
    """A flaky test proposed for quarantine; nothing changes until an editor accepts it."""

    id: str
    suite_id: str | None
    case_id: str
    browser: str
    score: float
    runs: int
    reason: str
    status: QuarantineStatus
    applied_to: str | None
    analysis_id: int | None
    created_at: str
    updated_at: str
    decided_at: str | None
    decided_by: str | None
    links: dict[str, str]


class QuarantinePage(BaseModel):
    items: list[QuarantineOut]
    total: int
    limit: int
    offset: int


class OptimizerRunAccepted(BaseModel):
    """The analysis job, sent: it runs unless another run of it is in progress."""

    task: str
    task_id: str
    queue: str
    force: bool = Field(description="runs even if the job ran within its interval")
    links: dict[str, str]
