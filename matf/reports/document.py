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


class ReportDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    run: RunSummary
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
