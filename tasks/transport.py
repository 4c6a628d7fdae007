"""kombu's transports, each with one fix.

Redis: a worker survives the broker going away.

When Redis drops the connection while a worker holds unacknowledged
messages, the consumer closes its channel, and closing tries to put those
messages back: on a connection kombu has already torn down, where building a
client raises ``AttributeError`` (kombu 5.x, ``Channel._connparams``). That
is no connection error, so the consumer does not reconnect: the worker dies
with "Unrecoverable error". Here the torn-down connection raises a
connection error instead, which the consumer ignores, reconnecting as it
should. The messages stay in Redis' ``unacked`` hash, and the run supervisor
(``tasks/supervisor.py``) puts back those no live worker holds.

Memory (embedded mode): a worker stops at once. Celery's loop checks whether
it should stop between two waits for a message, and asks the transport to
wait up to 2 s; kombu's in-memory transport waits the whole 2 s when nothing
comes, so stopping the embedded workers cost every ``matf run`` about 2 s.
Here a wait lasts at most ``MEMORY_WAIT_S``: the loop comes back that often,
finds it must stop, and does.

Celery uses them through ``broker_transport`` (``tasks/app.py``).
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import memory
from kombu.transport import redis as kombu_redis

MEMORY_WAIT_S = 0.05


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


class MemoryTransport(memory.Transport):  # type: ignore[misc]
    def drain_events(self, connection: Any, timeout: Any = None) -> Any:  # type: ignore[override]
        wait = MEMORY_WAIT_S if timeout is None else min(timeout, MEMORY_WAIT_S)
        return super().drain_events(connection, timeout=wait)
