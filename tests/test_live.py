"""Live events fan out through Redis in distributed mode: logger in one place, API in another."""

from __future__ import annotations

import queue
import time
from pathlib import Path

from tasks.live import HUB, ensure_relay, publish
from tests.conftest import make_settings


def test_an_event_published_to_redis_reaches_every_subscriber_of_the_api_process(
    redis_url: str, tmp_path: Path
) -> None:
    # Given an API process relaying the Redis channel into its hub, with two watchers
    settings = make_settings(tmp_path, redis_url=redis_url)
    ensure_relay(settings)
    ensure_relay(settings)  # idempotent: one relay per Redis URL
    with HUB.subscribe() as first, HUB.subscribe() as second:
        # When the logger (anywhere) publishes an event, until the relay is subscribed
        event = {"id": 7, "kind": "test_finished", "run_id": "r-1", "payload": {"status": "passed"}}
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            publish(settings, event)
            try:
                got = first.get(timeout=0.5)
            except queue.Empty:
                continue
        # Then both watchers get it, as sent
        assert got == event
        assert second.get(timeout=2) == event


def test_embedded_mode_publishes_in_process_and_a_full_watcher_does_not_block(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)  # no Redis
    with HUB.subscribe() as inbox:
        for n in range(1500):  # more than a subscriber holds
            publish(settings, {"id": n, "kind": "phase"})
        assert inbox.qsize() == 1000
        assert inbox.get_nowait()["id"] == 0
