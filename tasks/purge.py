"""An ended run's messages out of Redis, for the workers a revoke cannot reach.

A revoke (``tasks.canvas.revoke_run``) reaches the workers alive now only: a
worker started later would still run what waits in the run's queues, and
Redis would hand back, after its visibility timeout, what a dead worker had
taken. Both go here. A live worker running one of the run's tests finishes
it; its acknowledgement finds nothing to remove.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, cast

from tasks.app import settings_of
from tasks.canvas import revoke_run
from tasks.heartbeat import redis_client
from tasks.monitor import BROKER_ERRORS
from tasks.supervisor import SCAN_LIMIT, forget_unacked, queue_keys, task_id_of

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy import Engine


def drop_run(app: Celery, engine: Engine, run_id: str) -> int:
    """Drop an ended run's tests not started: out of Redis, then revoked; how many were asked.

    Removed from Redis first, so a revoke that fails (the broker away) has
    still left nothing for a worker started later.
    """
    with suppress(*BROKER_ERRORS):
        purge_run(app, run_id)
    return revoke_run(app, engine, run_id)


def purge_run(app: Celery, run_id: str) -> int:
    """Remove the run's messages from its queues and from Redis' unacked hash; how many."""
    settings = settings_of(app)
    if settings.redis_url is None:
        return 0  # embedded: the revoke reached every worker there is
    prefix, removed = f"{run_id}:", 0
    client = redis_client(str(settings.redis_url), timeout_s=5.0)
    try:
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            for key in [k for queue in app.amqp.queues for k in queue_keys(channel, queue)]:
                for raw in client.lrange(key, 0, SCAN_LIMIT - 1):
                    if (task_id_of(raw) or "").startswith(prefix):
                        removed += int(client.lrem(key, 1, cast(str, raw)))  # bytes, as stored
            for tag, raw in client.hgetall(channel.unacked_key).items():
                if (task_id_of(raw, unacked=True) or "").startswith(prefix):
                    forget_unacked(client, channel, tag)
                    removed += 1
    finally:
        client.close()
    return removed
