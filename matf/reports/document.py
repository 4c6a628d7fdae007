"""``report.json``: the run document every report format is written from.

``schemas/report.schema.json`` is generated from these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from matf.results import TestResult


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    passed: int
    failed: int
    flaky: int
    error: int
    skipped: int


class SampledTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(description="the URL's path and query, its data made placeholders")
    sampled: list[str] = Field(description="the URLs read for it")
    skipped: int = Field(description="URLs of the template left unread")


class UnreadPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    reason: str


class DroppedTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    reason: str = Field(description="why it failed validation, in one line")


class AccessCell(BaseModel):
    """What one role got on one page: the first answer's status; whether its pages link it."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = None
    linked: bool = False


class AccessPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    seen: dict[str, AccessCell] = Field(description="by role, and 'anonymous'")


class AccessFinding(BaseModel):
    """A role opening a page behind the sign-in that none of its own pages link to."""

    model_config = ConfigDict(extra="forbid")

    url: str
    role: str
    status: int
    message: str


class AccessTable(BaseModel):
    """A run signed in as several roles: per page behind the sign-in, what each role saw."""

    model_config = ConfigDict(extra="forbid")

    roles: list[str]
    pages: list[AccessPage] = Field(default_factory=list)
    findings: list[AccessFinding] = Field(default_factory=list)


class Exploration(BaseModel):
    """What exploring the site did: pages read and not, templates sampled, tests dropped.

    Lists hold at most ``MAX_LISTED`` entries each; ``left_out`` counts the rest.
    """

    model_config = ConfigDict(extra="forbid")

    pages: int = Field(default=0, description="pages read")
    states: int = Field(default=0, description="states reached by interacting with pages")
    unread: list[UnreadPage] = Field(default_factory=list, description="pages it could not read")
    templates: list[SampledTemplate] = Field(default_factory=list)
    dropped: list[DroppedTest] = Field(
        default_factory=list, description="tests written but left out: they failed validation"
    )
    merged: int = Field(default=0, description="duplicate tests merged into one")
    left_out: int = Field(default=0, description="entries beyond the lists' limit, not listed")
    access: AccessTable | None = Field(
        default=None, description="with several roles (--as): what each role could open"
    )


class RunSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    target: str
    status: Literal["passed", "failed", "error"]
    started_at: str | None
    finished_at: str | None
    duration_s: float
    browsers: list[str]
    types: list[str]
    error: str | None = None
    counts: Counts
    llm: dict[str, Any] | None = Field(
        None, description="the AI writer's calls, tokens, estimated cost and verdicts"
    )
    healing: dict[str, Any] | None = Field(
        None, description="tests the healer looked at, proposals made, model calls and tokens"
    )
    exploration: Exploration | None = Field(
        None, description="what exploring the site did; absent for suites run as given"
    )


FailureKind = Literal[
    "accessibility", "request", "console", "page-error", "performance", "assertion", "error"
]


class FailureGroup(BaseModel):
    """Failed and errored tests that share one cause: the same signature.

    A signature is a failure with the page's variable parts taken out (ids,
    numbers, durations, the page's own URL): the same axe rule, the same
    request (method, URL template, status), the same console or page error,
    the same failed assertion. ``matf.agents.signatures`` computes it; its
    ``signature`` id is stable across runs, so history can link to it.
    Samples are capped; ``count`` and ``pages`` are exact.
    """

    model_config = ConfigDict(extra="forbid")

    signature: str = Field(description="stable short id of the cause (12 hex digits)")
    kind: FailureKind
    title: str = Field(description="the cause in words: 'html-has-lang', 'GET /a/{id} -> 500'")
    count: int = Field(description="tests (case and browser) failing with this cause")
    pages: int = Field(description="distinct URLs of those tests")
    page_sample: list[str] = Field(description="some of those URLs, most frequent first")
    tests: list[str] = Field(description="ids (case_id:browser) of some of those tests")
    browsers: list[str]


class ReportTest(TestResult):
    id: str = Field(description="case_id:browser, unique in the run")
    quarantined: bool = Field(
        False, description="a known-bad test: reported, but it does not fail the run"
    )
    llm: dict[str, Any] | None = Field(
        None,
        description="model calls and tokens spent on this test in this run: its share of "
        "the page answer it was written from, plus its healing",
    )
    signatures: list[str] = Field(
        default_factory=list,
        description="the failure groups (their signature ids) this test failed with",
    )


class ReportDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    run: RunSummary
    failure_groups: list[FailureGroup] = Field(
        default_factory=list,
        description="failures grouped by cause, most tests first; a test may be in several "
        "(one per accessibility rule, per failed request, per distinct error)",
    )
    tests: list[ReportTest]
    pdf_skipped: str | None = Field(
        default=None,
        description="why report.pdf was not written (no Chromium, too slow); else absent",
    )


def report_json_schema() -> dict[str, object]:
    schema = ReportDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://matf.dev/schemas/report.schema.json"
    return schema
