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


def test_every_test_finished_is_stored_before_its_run_finished(tmp_path: Path) -> None:
    """A test_finished still in the logger queue when the reporter ends is not lost to watchers."""
    from matf.agents.logger import finished_event, make_event, persist
    from matf.options import RunOptions
    from matf.pipeline.report import record_test_events
    from matf.results import TestResult
    from matf.spec import parse_spec
    from matf.storage.db import get_engine, session_scope
    from matf.storage.models import Event
    from matf.storage.runs import create_run

    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, "http://127.0.0.1:1/", RunOptions()).id
    goto = [{"action": "goto", "url": "/"}]
    results = [
        TestResult.for_spec(
            parse_spec({"id": case, "name": case, "url": "http://127.0.0.1:1/", "steps": goto}),
            "chromium",
            run_id,
            status,
        )
        for case, status in (("a", "passed"), ("b", "failed"))
    ]
    announced = finished_event  # as the executor announces it

    with session_scope(engine, write=True) as session:
        persist(session, announced(results[0]))  # a's arrived; b's is still queued
    with session_scope(engine, write=True) as session:
        added = record_test_events(session, results)
        finished_id = persist(session, make_event("run_finished", "reporter", run_id))
    with session_scope(engine, write=True) as session:
        late = persist(session, announced(results[1]))  # b's executor event, at last
        events = session.query(Event).filter_by(run_id=run_id).order_by(Event.id).all()
        kinds = [(e.kind, e.payload.get("case_id"), e.payload.get("status")) for e in events]
    engine.dispose()
    assert [e["payload"]["case_id"] for e in added] == ["b"]
    assert late is None and finished_id == events[-1].id
    assert kinds == [
        ("test_finished", "a", "passed"),
        ("test_finished", "b", "failed"),
        ("run_finished", None, None),
    ]
