"""Liveness, readiness, agents, queues and browsers: what operators look at."""

from __future__ import annotations

from flask import Blueprint, jsonify

from web.models.system import (
    AgentsReport,
    BrowserPoolReport,
    Liveness,
    QueuesReport,
    Readiness,
    ScheduleReport,
)
from web.routes import api
from web.routes.common import runtime

bp = Blueprint("system", __name__)


@api.endpoint(bp, "/health", role=None, summary="Liveness: the process answers", response=Liveness)
def health() -> Liveness:
    return Liveness(status="ok")


@api.endpoint(
    bp,
    "/api/v1/system/health",
    role=None,
    summary="Readiness: database, broker, workers and browser (503 when degraded)",
    response=Readiness,
    errors=(503,),
)
def readiness() -> object:
    report = Readiness.model_validate(runtime().readiness())
    if report.status != "ok":
        response = jsonify(report.model_dump(mode="json"))
        response.status_code = 503
        return response
    return report


@api.endpoint(
    bp,
    "/api/v1/system/agents/status",
    summary="Each agent: its queue, workers online, health, tasks, last heartbeat",
    response=AgentsReport,
)
def agents_status() -> AgentsReport:
    rt = runtime()
    return AgentsReport.model_validate({"mode": rt.mode, "agents": rt.agents_status()})


@api.endpoint(
    bp,
    "/api/v1/system/test-queue",
    summary="Messages waiting in each agent's queue",
    response=QueuesReport,
)
def test_queue() -> QueuesReport:
    rt = runtime()
    lengths = rt.queue_lengths()
    queues = [{"queue": name, "length": length} for name, length in lengths.items()]
    total = sum(length or 0 for length in lengths.values())
    return QueuesReport.model_validate({"mode": rt.mode, "queues": queues, "total": total})


@api.endpoint(
    bp,
    "/api/v1/system/browser-pool",
    summary="Browsers per engine and per executor process",
    response=BrowserPoolReport,
)
def browser_pool() -> BrowserPoolReport:
    return BrowserPoolReport.model_validate(runtime().browser_pools())


@api.endpoint(
    bp,
    "/api/v1/system/schedule",
    summary="The scheduled jobs (optimizer, backup, retention): interval, last and next run",
    response=ScheduleReport,
)
def schedule() -> ScheduleReport:
    return ScheduleReport.model_validate(runtime().schedule_report())
