"""The catalog blueprint's models: targets, saved suites and their cases."""

from __future__ import annotations

from typing import Any

from pydantic import AnyHttpUrl, BaseModel, Field, model_validator

from web.models.common import Strict


class TargetOut(BaseModel):
    origin: str
    url: str
    title: str | None
    pages: int
    last_status: int | None
    checked_at: str
    runs: int


class TargetList(BaseModel):
    items: list[TargetOut]


class Page(Strict):
    limit: int = Field(20, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class SuiteCreate(Strict):
    """A suite from a run's specs, or from a suite file's tests."""

    name: str = Field(min_length=1, max_length=200)
    run_id: str | None = Field(None, max_length=64)
    target: AnyHttpUrl | None = None
    tests: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _one_source(self) -> SuiteCreate:
        if (self.run_id is None) == (self.tests is None):
            raise ValueError("give run_id, or tests with a target")
        if self.tests is not None and self.target is None:
            raise ValueError("tests need a target")
        return self


class SuiteOut(BaseModel):
    id: str
    name: str
    target: str
    created_by: str | None
    created_at: str
    updated_at: str
    cases: int


class SuitePage(BaseModel):
    items: list[SuiteOut]
    total: int
    limit: int
    offset: int


class CaseOut(BaseModel):
    case_id: str
    name: str
    kind: str
    position: int
    enabled: bool
    quarantined: bool
    updated_by: str | None
    updated_at: str
    spec: dict[str, Any]


class CaseList(BaseModel):
    items: list[CaseOut]


class CaseUpdate(Strict):
    spec: dict[str, Any] | None = None
    enabled: bool | None = None
    quarantined: bool | None = None
