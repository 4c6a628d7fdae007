"""The healing blueprint's models: proposed locators awaiting review."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from matf.results import LocatorChange
from web.models.common import Strict

HealingStatus = Literal["pending", "accepted", "rejected", "superseded"]


class HealingQuery(Strict):
    run: str | None = Field(None, max_length=64, description="only this run's proposals")
    status: HealingStatus | Literal["all"] = "pending"
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class HealingOut(BaseModel):
    """New locators the healer proposes for a test; nothing changes until accepted."""

    id: str
    run_id: str
    case_id: str
    browser: str
    suite_id: str | None = Field(description="the saved suite the run came from")
    suite_file: str | None = Field(description="the suite file the run was given, if any")
    status: HealingStatus
    outcome: Literal["passed", "failed", "none"] = Field(
        description="how the test did, re-run with the new locators"
    )
    error: str | None
    changes: list[LocatorChange]
    spec: dict[str, Any] = Field(description="the test as healed")
    calls: int
    prompt_tokens: int
    completion_tokens: int
    applied_to: str | None
    created_at: str
    decided_at: str | None
    decided_by: str | None
    links: dict[str, str]


class HealingPage(BaseModel):
    items: list[HealingOut]
    total: int
    limit: int
    offset: int
