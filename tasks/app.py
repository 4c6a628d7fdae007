"""The Celery app factory: queues, routes, reliability settings, both modes.

Distributed mode (``REDIS_URL`` set) uses Redis as broker and result backend.
Embedded mode uses kombu's in-memory transport and an in-memory result store
shared by the worker threads of one process (see ``tasks/embedded.py``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from matf.agents import AGENTS
from matf.pipeline.shipping import Shipping
from matf.settings import Settings, load_settings
from tasks.schedule import beat_entries

TASK_MODULES = [f"tasks.{agent}" for agent in AGENTS]
ROUTES = {f"matf.{agent}.*": {"queue": agent, "routing_key": agent} for agent in AGENTS}
SUPERVISE_EVERY_S = 5.0  # the run supervisor's pass (tasks/supervisor.py)
# A Redis gone without closing its sockets (a node lost, a failover) costs a call
# seconds, not minutes: kombu would wait forever, Celery's backend 120 s for a reply.
REDIS_SOCKET_TIMEOUT_S, REDIS_CONNECT_TIMEOUT_S = 10.0, 5.0


def settings_of(app: Celery) -> Settings:
    """The settings the app was built with (tasks read nothing else)."""
    return app.matf_settings  # type: ignore[attr-defined,no-any-return]


def shipping_of(app: Celery) -> Shipping | None:
    """What the app's tasks send in messages rather than on a shared disk (None: nothing)."""
    return Shipping.of(settings_of(app), bool(getattr(app, "matf_embedded", False)))


def make_celery(settings: Settings | None = None, embedded: bool | None = None) -> Celery:
    """Build the app for ``settings``; embedded unless a Redis URL is configured."""
    settings = settings or load_settings()
    embedded = not settings.distributed if embedded is None else embedded
    app = Celery("matf", set_as_current=False)
    limit = settings.executor_time_limit_s
    conf: dict[str, Any] = {
        "task_queues": [Queue(a, Exchange(a, type="direct"), routing_key=a) for a in AGENTS],
        "task_default_queue": "context",
        "task_routes": ROUTES,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": False,
        "result_expires": 24 * 3600,
        "result_extended": False,
        "task_soft_time_limit": 1800,
        "task_time_limit": 1860,
        "task_annotations": {
            "matf.executor.execute": {"soft_time_limit": limit - 30, "time_limit": limit},
        },
        "worker_hijack_root_logger": False,
        # Task events cost Redis round trips per task; Flower turns them on at
        # run time when someone watches (celery control enable_events).
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "broker_connection_retry_on_startup": True,
        # A running test outlives a Redis restart: it finishes and its result still
        # reaches the logger (tasks/telemetry.py). Celery 6 would cancel it instead.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # A worker told to stop (a pod scaled down, REMAP_SIGTERM=SIGQUIT turning
        # SIGTERM into Celery's cold shutdown) lets running tests finish this long,
        # then re-queues what still runs; deployments keep their kill grace above it.
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_timeout,
        "imports": TASK_MODULES,
        "timezone": "UTC",
    }
    if embedded:
        conf |= {
            "broker_url": "memory://localhost/",
            "broker_transport": "tasks.transport:MemoryTransport",  # stops at once
            "result_backend": "cache+memory://",
            "broker_transport_options": {"polling_interval": 0.01},
        }
    else:
        conf |= _distributed(settings, limit)
    if str(conf["broker_url"]).startswith(("redis://", "rediss://")):
        conf["broker_transport"] = "tasks.transport:Transport"  # survives Redis going away
    app.conf.update(conf)
    app.matf_settings = settings  # type: ignore[attr-defined]
    app.matf_embedded = embedded  # type: ignore[attr-defined]
    return app


def _distributed(settings: Settings, limit: int) -> dict[str, Any]:
    """Redis as broker and result backend, and beat's schedule."""
    # Redis redelivers a task unacknowledged for this long: keep it above
    # the longest hard time limit, or a slow test runs twice.
    visibility = max(limit, 1860) * 2
    return {
        "broker_url": settings.redis_url,
        # Celery's Redis backend; a task that finished survives a Redis restart.
        "result_backend": f"tasks.backend:RedisBackend+{settings.redis_url}",
        "broker_transport_options": {
            "visibility_timeout": visibility,
            "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        },
        "result_backend_transport_options": {
            "visibility_timeout": visibility,
            "retry_policy": {"max_retries": 60},  # 1 s apart: a minute, as a result's send
        },
        "redis_backend_health_check_interval": 30,
        "redis_socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        "redis_socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        # Celery beat's first job: the run supervisor. A pass nobody took
        # in time is dropped, not piled up behind a stopped control worker.
        # Then the agents' standing work (tasks/schedule.py), from the settings.
        "beat_schedule": {
            "supervise-runs": {
                "task": "matf.context.supervise",
                "schedule": SUPERVISE_EVERY_S,
                "options": {"queue": "context", "expires": SUPERVISE_EVERY_S * 2},
            },
            **beat_entries(settings),
        },
    }
