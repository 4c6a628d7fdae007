"""The system blueprint's models: liveness, readiness, agents, queues, browsers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Liveness(BaseModel):
    status: Literal["ok"]


class ReadinessCheck(BaseModel):
    ok: bool
    detail: str
    required: bool = True  # a check that is not required never makes readiness degraded


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    mode: Literal["embedded", "distributed"]
    checks: dict[str, ReadinessCheck]


class AgentStatus(BaseModel):
    agent: str
    queue: str
    workers_online: int
    healthy: bool = Field(description="a live worker consumes the agent's queue")
    state: Literal["running", "on_demand", "down"] = Field(
        description="running: workers online; on_demand: an embedded server before its first "
        "run (its in-process workers start with it: nothing is wrong); down: no worker online"
    )
    active_tasks: int
    reserved_tasks: int
    last_heartbeat: str | None
    workers: list[str]


class AgentsReport(BaseModel):
    mode: Literal["embedded", "distributed"]
    agents: list[AgentStatus]


class QueueLength(BaseModel):
    queue: str
    length: int | None


class QueuesReport(BaseModel):
    mode: Literal["embedded", "distributed"]
    queues: list[QueueLength]
    total: int


class BrowserPoolReport(BaseModel):
    browsers: dict[str, dict[str, Any]]
    pool_size: int
    executors: list[dict[str, Any]]


class ScheduledJobStatus(BaseModel):
    name: str
    task: str
    queue: str
    does: str
    interval: str
    interval_s: float
    running: bool
    runs: int
    skipped: int  # sends found already taken (a second beat, a second process)
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_outcome: Literal["ok", "failed"] | None
    last_detail: dict[str, Any] | None
    next_run_at: datetime | None  # one interval after the last start; none before the first
    totals: dict[str, Any]


class ScheduleReport(BaseModel):
    mode: Literal["embedded", "distributed"]
    sender: str
    jobs: list[ScheduledJobStatus]
