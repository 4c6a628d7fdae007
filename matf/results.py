"""What an executor sends back for one test case in one browser.

The result travels in the chord to the reporter as plain JSON; these models
validate it there, and describe the ``tests`` entries of ``report.json``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from matf.spec import Category, Impact, Kind, TestSpec

Status = Literal["passed", "failed", "flaky", "error", "skipped"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "flaky", "error", "skipped")


class RunStatus(StrEnum):
    """Where a whole run stands: queued, running, then one final verdict."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"

    @property
    def final(self) -> bool:
        """True once the run has ended: nothing changes its verdict after that."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({RunStatus.PASSED, RunStatus.FAILED, RunStatus.ERROR})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Violation(_Model):
    rule: str
    impact: Impact | None = None
    nodes: int = 0
    description: str = ""
    help_url: str | None = None


class FailedRequest(_Model):
    url: str
    method: str = "GET"
    status: int | None = None
    failure: str | None = None
    after: str | None = Field(
        default=None, description="the click, press or submit it followed; none: the page's load"
    )


class StepResult(_Model):
    index: int
    action: str
    description: str
    status: Literal["passed", "failed", "skipped"]
    duration_ms: int = 0
    error: str | None = None


class Artifacts(_Model):
    screenshot: str | None = None
    trace: str | None = None
    video: str | None = None
    withheld: str | None = Field(
        default=None, description="what was not recorded, and why (a test that fills secrets)"
    )


class PerfMetrics(_Model):
    """What one page load measured; ``None`` where this browser cannot measure it."""

    url: str
    ttfb_ms: float | None = None
    fcp_ms: float | None = None
    lcp_ms: float | None = None
    cls: float | None = None
    tbt_ms: float | None = None
    long_tasks: int | None = None
    dom_content_loaded_ms: float | None = None
    load_ms: float | None = None
    requests: int = 0
    transfer_bytes: int = 0
    unsupported: list[str] = Field(default_factory=list, description="metrics not measurable here")
    samples: int = Field(1, description="loads measured: a page over budget is judged on 3")
    over_budget: list[str] = Field(default_factory=list, description="one line per metric over")


class VisualCheck(_Model):
    """One screenshot compared with its baseline.

    ``status``: ``recorded`` (no baseline yet: this capture becomes it),
    ``matched``, or ``changed`` (over the tolerance, or another size).
    Paths are relative to the artifacts root, like screenshots.
    """

    name: str
    key: str = Field(description="baseline key: set/case/browser-variant")
    status: Literal["recorded", "matched", "changed"]
    width: int
    height: int
    changed_pixels: int = 0
    ratio: float = 0.0
    tolerance: float = 0.0
    size_changed: bool = False
    actual: str | None = None
    diff: str | None = None
    baseline_sha256: str | None = None


class ApiCheck(_Model):
    """One API request and what it answered."""

    method: str
    url: str
    status: int | None = None
    content_type: str | None = None
    duration_ms: float | None = None
    schema_errors: list[str] = Field(default_factory=list)


class Triage(_Model):
    """Why a test did not pass, so it reaches the right hands (``matf.agents.triage``)."""

    kind: Literal["app-bug", "ui-drift", "flaky", "environment"]
    reason: str


class LocatorChange(_Model):
    """One step's target, as the test had it and as the healer proposes it."""

    step: int  # 0-based index in the spec
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    source: Literal["alternative", "ai"]  # a locator stored with the step, or the model's


class Healing(_Model):
    """What the healer did for a test that found no element (``matf.agents.healer``).

    ``outcome``: the test re-run with the proposed locators ``passed`` or
    ``failed`` (then ``error`` says how); ``none``: no locator was found
    (``error`` says why). The test's own result is never changed by it.
    """

    outcome: Literal["passed", "failed", "none"]
    changes: list[LocatorChange] = Field(default_factory=list)
    error: str | None = None
    spec: dict[str, Any] | None = None  # the healed spec, when there are changes
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class TestResult(_Model):
    """The outcome of one (case, browser), after all its attempts."""

    __test__ = False  # not a pytest test class, whatever its name

    run_id: str
    case_id: str
    name: str
    kind: Kind
    category: Category
    browser: str
    status: Status
    url: str
    duration_ms: int = 0
    attempts: int = 1
    error: str | None = None
    attempt_errors: list[str] = Field(default_factory=list)
    retry_note: str | None = Field(
        default=None, description="why the test was or was not retried, in one line"
    )
    session_note: str | None = Field(
        default=None,
        description="a signed-in test's session, in one line: why it started signed out, "
        "or that the site signed it out and it signed in again",
    )
    violations: list[Violation] = Field(default_factory=list)
    artifacts: Artifacts = Field(default_factory=Artifacts)
    steps: list[StepResult] = Field(default_factory=list)
    console_errors: list[str] = Field(default_factory=list)
    page_errors: list[str] = Field(default_factory=list)
    failed_requests: list[FailedRequest] = Field(default_factory=list)
    performance: list[PerfMetrics] = Field(default_factory=list)
    visual: list[VisualCheck] = Field(default_factory=list)
    api: list[ApiCheck] = Field(default_factory=list)
    device: str | None = None
    triage: Triage | None = None
    healing: Healing | None = None
    worker: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.case_id, self.browser)

    @classmethod
    def for_spec(
        cls, spec: TestSpec, browser: str, run_id: str, status: Status, **extra: Any
    ) -> TestResult:
        """A result that names its spec; the outcome and evidence come in ``extra``."""
        return cls(
            run_id=run_id,
            case_id=spec.id,
            name=spec.name,
            kind=spec.kind,
            category=spec.category,
            browser=browser,
            status=status,
            url=spec.url,
            **extra,
        )
