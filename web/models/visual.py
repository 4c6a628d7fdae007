"""The visual blueprint's models: visual baselines, and performance budgets."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field

from web.models.common import Strict

BaselineStatus = Literal["approved", "pending", "rejected", "superseded"]


class BaselineQuery(Strict):
    status: BaselineStatus | Literal["all"] = "pending"
    run_id: str | None = Field(None, max_length=64)
    limit: int = Field(100, ge=1, le=500)


class BaselineOut(BaseModel):
    id: int
    key: str
    status: BaselineStatus
    case_id: str
    browser: str
    run_id: str | None
    width: int
    height: int
    ratio: float | None = Field(description="share of pixels changed against the approved one")
    created_at: str
    decided_at: str | None
    decided_by: str | None
    links: dict[str, str]


class BaselineList(BaseModel):
    items: list[BaselineOut]


class TargetQuery(Strict):
    url: AnyHttpUrl


class BudgetsUpdate(Strict):
    """The target's saved budgets, replaced whole; an empty object restores the defaults."""

    url: AnyHttpUrl
    budgets: dict[str, float | None] = Field(default_factory=dict)


class BudgetsOut(BaseModel):
    origin: str
    saved: dict[str, float | None] = Field(description="what the target overrides")
    effective: dict[str, float | None] = Field(description="what its runs are checked against")
