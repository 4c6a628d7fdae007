"""The system blueprint's models: liveness, readiness, agents, queues, browsers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["ok"]


class Check(BaseModel):
    ok: bool
    detail: str
    required: bool = True  # a check that is not required never makes readiness degraded


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    mode: Literal["embedded", "distributed"]
    checks: dict[str, Check]


class AgentStatus(BaseModel):
    agent: str
    queue: str
    workers_online: int
    healthy: bool
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
