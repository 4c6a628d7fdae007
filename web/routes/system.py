"""Liveness, readiness, agents, queues and browsers: what operators look at."""

from __future__ import annotations

from flask import Blueprint, jsonify

from tasks import monitor
from web.models.system import AgentsReport, BrowserPoolReport, Liveness, QueuesReport, Readiness
from web.routes import api
from web.routes.common import engine, runtime, settings

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
    rt = runtime()
    report = Readiness.model_validate(
        monitor.readiness(rt.app(start=False), engine(), settings(), rt.embedded)
    )
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
    agents = monitor.agents_status(rt.app(start=False), rt.embedded)
    return AgentsReport.model_validate({"mode": rt.mode, "agents": agents})


@api.endpoint(
    bp,
    "/api/v1/system/test-queue",
    summary="Messages waiting in each agent's queue",
    response=QueuesReport,
)
def test_queue() -> QueuesReport:
    rt = runtime()
    if rt.distributed or rt.embedded is not None:
        lengths = monitor.queue_lengths(rt.app(start=False))
    else:
        from matf.agents import AGENTS

        lengths = dict.fromkeys(AGENTS, 0)
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
    rt = runtime()
    return BrowserPoolReport.model_validate(monitor.browser_pools(rt.app(start=False), rt.embedded))
