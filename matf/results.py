"""What an executor sends back for one test case in one browser.

The result travels in the chord to the reporter as plain JSON; these models
validate it there, and describe the ``tests`` entries of ``report.json``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from matf.spec import Category, Impact, Kind, TestSpec

Status = Literal["passed", "failed", "flaky", "error", "skipped"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "flaky", "error", "skipped")


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
    violations: list[Violation] = Field(default_factory=list)
    artifacts: Artifacts = Field(default_factory=Artifacts)
    steps: list[StepResult] = Field(default_factory=list)
    console_errors: list[str] = Field(default_factory=list)
    page_errors: list[str] = Field(default_factory=list)
    failed_requests: list[FailedRequest] = Field(default_factory=list)
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
