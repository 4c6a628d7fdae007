"""Celery's Redis result backend, with one fix: a finished task survives a Redis restart.

When a task ends, its worker stores the result and then counts it into its
chord (a run's executor tasks, whose callback is the reporter). Celery
retries the SET of the result while Redis is away, but neither the read
before it nor the chord's count: a Redis restart at that moment fails the
task that had finished, the chord fails with it, and the run ends in error
without its report. Here both are retried, with the backend's retry policy,
until Redis is back. Both are safe to repeat: a stored result is only ever
replaced by a newer state, and Celery's chord script counts each task id
once (it keeps the set of ids it counted).

Celery uses it through ``result_backend`` (``tasks/app.py``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery.backends import redis as celery_redis


class RedisBackend(celery_redis.RedisBackend):  # type: ignore[misc]
    def _store_result(self, *args: Any, **kwargs: Any) -> Any:
        return self.ensure(partial(super()._store_result, *args, **kwargs), ())

    def on_chord_part_return(self, *args: Any, **kwargs: Any) -> Any:
        return self.ensure(partial(super().on_chord_part_return, *args, **kwargs), ())
