"""kombu's Redis transport, with one fix: a worker survives the broker going away.

When Redis drops the connection while a worker holds unacknowledged
messages, the consumer closes its channel, and closing tries to put those
messages back: on a connection kombu has already torn down, where building a
client raises ``AttributeError`` (kombu 5.x, ``Channel._connparams``). That
is no connection error, so the consumer does not reconnect: the worker dies
with "Unrecoverable error". Here the torn-down connection raises a
connection error instead, which the consumer ignores, reconnecting as it
should. The messages stay in Redis' ``unacked`` hash, and the run supervisor
(``tasks/supervisor.py``) puts back those no live worker holds.

Celery uses it through ``broker_transport`` (``tasks/app.py``).
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel
