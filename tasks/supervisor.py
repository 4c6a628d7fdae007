"""The run supervisor: it finishes what workers and Redis drop.

Every ``INTERVAL_S`` one pass looks at the unfinished runs. In distributed
mode the pass is a task (``matf.context.supervise``) that Celery beat sends,
and a Redis lock lets one pass run at a time, wherever it was sent from (beat,
or the thread of ``matf serve``). Embedded, and in ``matf serve``, it is a
thread of the process (``Supervisor``).

A pass, in distributed mode:

1. A message a worker took and holds no more (it died: the message sits in
   Redis' ``unacked`` hash, and no live worker lists it as active, reserved or
   scheduled) goes back to its queue with kombu's own restore, at once rather
   than after the visibility timeout. An executor task goes back at most
   ``MAX_REQUEUES`` times; then its test is recorded as an error naming why.
2. A run with nothing in flight (no message of it queued, held or unacked)
   is moved on from where it stopped: its canvas again before its tests run,
   its missing tests sent again under their stable task ids (Redis lost them),
   its report produced again when every result is stored but no report came.
3. A run past its time limit is ended with the results it has: the missing
   ones as errors with the reason, the reports written, status error.

Whatever a pass acts on it must have seen on the pass before too, at least
``GRACE_S`` earlier: a message between two workers' hands, or a report on its
way, is not mistaken for a lost one. Everything it sends is safe to run twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import redis
from celery import signature

from matf.errors import ReportsUnwritable
from matf.pipeline.supervise import (
    MAX_REQUEUES,
    Job,
    Unfinished,
    driver_gone,
    end_run,
    give_up,
    overdue,
    record_requeue,
    requeues,
    this_process,
    unfinished_runs,
)
from matf.reports.pdf import PdfOptions
from matf.settings import Settings
from matf.storage.db import get_engine, session_scope, sessions_for
from tasks.app import SUPERVISE_EVERY_S, settings_of, shipping_of
from tasks.heartbeat import HEARTBEATS, SUPERVISOR_PASS, is_fresh, read_entries, redis_client
from tasks.live import publish
from tasks.monitor import BROKER_ERRORS, first_line

if TYPE_CHECKING:
    from celery import Celery

INTERVAL_S = SUPERVISE_EVERY_S
GRACE_S = 8.0  # a suspect is acted on when seen this long, over two passes
INSPECT_TIMEOUT_S = 1.0
SCAN_LIMIT = 20_000  # messages read from one queue per pass
LOCK = "matf:supervisor:lock"
SUSPECTS = "matf:supervisor:suspects"
CONTROL_QUEUES = ("context", "writer", "reporter")

log = logging.getLogger("matf.supervisor")


# -- what the cluster holds ---------------------------------------------------------------


@dataclass
class Holdings:
    """Which task ids are somewhere: held by live workers, queued, or taken by a dead one."""

    held: set[str] = field(default_factory=set)
    queued: set[str] = field(default_factory=set)
    orphans: dict[str, str] = field(default_factory=dict)  # unacked delivery tag -> task id
    unacked: set[str] = field(default_factory=set)
    complete: bool = True  # False: a queue was too long to read whole

    def in_flight(self, run_id: str) -> bool:
        prefix = f"{run_id}:"
        return any(i.startswith(prefix) for i in self.held | self.queued | self.unacked)

    def has(self, task_id: str) -> bool:
        return task_id in self.held or task_id in self.queued or task_id in self.unacked


def holdings(app: Celery, client: redis.Redis, channel: Any) -> Holdings:
    """What every live worker and the broker hold now."""
    found = Holdings(held=_held_by_workers(app, client))
    for queue in app.amqp.queues:
        ids, whole = _queued_ids(client, channel, queue)
        found.queued |= ids
        found.complete &= whole
    now = time.time()
    scored = cast(
        list[tuple[bytes | str, float]],
        client.zrange(channel.unacked_index_key, 0, -1, withscores=True),
    )
    delivered_at = dict(scored)
    for tag, raw in client.hgetall(channel.unacked_key).items():
        task_id = task_id_of(raw, unacked=True)
        if task_id is None:
            continue
        found.unacked.add(task_id)
        if task_id not in found.held and now - delivered_at.get(tag, now) > GRACE_S:
            found.orphans[_text(tag)] = task_id
    return found


def _held_by_workers(app: Celery, client: redis.Redis) -> set[str]:
    """Task ids the workers that answer hold: running, prefetched, or waiting for an ETA."""
    expected = sum(is_fresh(beat) for beat in read_entries(client, HEARTBEATS).values())
    inspect = app.control.inspect(timeout=INSPECT_TIMEOUT_S, limit=expected or None)
    held: set[str] = set()
    for call in (inspect.active, inspect.reserved, inspect.scheduled):
        for tasks in (call() or {}).values():
            for task in tasks or []:
                request = task.get("request", task)  # scheduled entries wrap the request
                if request.get("id"):
                    held.add(str(request["id"]))
    return held


def queue_keys(channel: Any, queue: str) -> list[str]:
    """The Redis lists of a queue: one per priority step."""
    return [queue] + [f"{queue}{channel.sep}{p}" for p in channel.priority_steps if p]


def _queued_ids(client: redis.Redis, channel: Any, queue: str) -> tuple[set[str], bool]:
    """Task ids waiting in a queue (all its priority lists), and whether all were read."""
    ids: set[str] = set()
    whole = True
    for key in queue_keys(channel, queue):
        whole &= client.llen(key) <= SCAN_LIMIT
        for raw in client.lrange(key, 0, SCAN_LIMIT - 1):
            task_id = task_id_of(raw)
            if task_id is not None:
                ids.add(task_id)
    return ids, whole


def forget_unacked(client: redis.Redis, channel: Any, tag: str | bytes) -> None:
    """Drop a taken message from Redis' unacked hash and index, for good (not restored)."""
    with client.pipeline() as pipe:
        channel.qos._remove_from_indices(tag, pipe).execute()


def task_id_of(raw: bytes | str, unacked: bool = False) -> str | None:
    try:
        message = json.loads(raw)
        if unacked:
            message = message[0]  # [message, exchange, routing key]
        return str(message["headers"]["id"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- suspects: act on what two passes saw ---------------------------------------------------


class Suspects:
    """What the last pass suspected, and since when; kept in Redis between passes."""

    def __init__(self, client: redis.Redis | None) -> None:
        self._client = client
        self._local: dict[str, float] = {}
        self._before = self._load()
        self._now: dict[str, float] = {}

    def _load(self) -> dict[str, float]:
        if self._client is None:
            return dict(self._local)
        return {_text(k): float(v) for k, v in self._client.hgetall(SUSPECTS).items()}

    def confirmed(self, key: str) -> bool:
        """Note ``key`` as suspect; True when it was suspect ``GRACE_S`` ago already."""
        since = self._before.get(key, time.time())
        self._now[key] = since
        return time.time() - since >= GRACE_S

    def save(self) -> None:
        if self._client is None:
            self._local = dict(self._now)
            return
        with self._client.pipeline() as pipe:
            pipe.delete(SUSPECTS)
            if self._now:
                pipe.hset(SUSPECTS, mapping={k: str(v) for k, v in self._now.items()})
            pipe.execute()


# -- one pass -----------------------------------------------------------------------------


@dataclass
class Pass:
    """What one pass did, for the log and the tests."""

    restored: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)


def supervise_cluster(app: Celery) -> Pass | None:
    """One pass over the cluster's runs; None when another pass holds the lock or Redis is away.

    A broker that does not answer is said in one line: the next pass tries again.
    """
    try:
        return _supervise_cluster(app)
    except BROKER_ERRORS as exc:
        log.warning("supervisor: no pass, the broker does not answer: %s", first_line(exc))
        return None


def _supervise_cluster(app: Celery) -> Pass | None:
    settings = settings_of(app)
    client = redis_client(str(settings.redis_url), timeout_s=5.0)
    try:
        with _locked(client) as mine:
            if not mine:
                return None
            with app.connection_for_write() as conn:
                channel = conn.default_channel
                found = holdings(app, client, channel)
                suspects = Suspects(client)
                done = Pass()
                runs = _runs(settings)
                live = {run.run_id for run in runs}
                _restore_orphans(app, channel, client, found, suspects, done, live)
                for run in runs:
                    _look_after(app, settings, run, found, suspects, done)
                suspects.save()
            client.set(SUPERVISOR_PASS, json.dumps({"at": time.time(), **_summary(done)}))
            return done
    finally:
        client.close()


@contextmanager
def _locked(client: redis.Redis) -> Iterator[bool]:
    token = uuid.uuid4().hex
    mine = bool(client.set(LOCK, token, nx=True, ex=int(INTERVAL_S * 6)))
    try:
        yield mine
    finally:
        if mine and client.get(LOCK) == token.encode():
            client.delete(LOCK)


def _runs(settings: Settings) -> list[Unfinished]:
    with session_scope(get_engine(settings.database_url)) as session:
        return unfinished_runs(session)


def _restore_orphans(
    app: Celery,
    channel: Any,
    client: redis.Redis,
    found: Holdings,
    suspects: Suspects,
    done: Pass,
    live: set[str],
) -> None:
    """Put back in their queues the messages dead workers took for runs in ``live``."""
    settings = settings_of(app)
    for tag, task_id in found.orphans.items():
        if not suspects.confirmed(f"orphan:{tag}"):
            continue
        job = _job_of(task_id)
        if job is not None and (
            job.run_id not in live or not _may_requeue(settings, job, "its worker stopped")
        ):  # a test of a run that has ended is not run again
            forget_unacked(client, channel, tag)
            continue
        channel.qos.restore_by_tag(tag, client=client)
        done.restored.append(task_id)
        log.warning("supervisor: %s went back to its queue (its worker stopped)", task_id)


def _job_of(task_id: str) -> Job | None:
    """The executor job of a stable executor task id (``run:case:browser``), else None."""
    parts = task_id.split(":")
    if len(parts) == 3 and parts[0].startswith("r-"):
        return Job(parts[0], parts[1], parts[2])
    return None


def _may_requeue(settings: Settings, job: Job, why: str) -> bool:
    """Count one more try of the job; False (its test recorded as an error) past the cap."""
    with session_scope(get_engine(settings.database_url), write=True) as session:
        tries = requeues(session, job.task_id)
        if tries >= MAX_REQUEUES:
            give_up(session, job, why)
            return False
        event = record_requeue(session, job, tries + 1, why)
    if event is not None:
        publish(settings, event)
    return True


def _look_after(
    app: Celery,
    settings: Settings,
    run: Unfinished,
    found: Holdings,
    suspects: Suspects,
    done: Pass,
) -> None:
    """Move one run on, if it needs it."""
    if run.driver is not None:
        if driver_gone(run.driver):
            _end(app, settings, run.run_id, _gone_reason(run.driver), done)
        return  # an embedded process' run: its own supervisor looks after it
    reason = overdue(run, settings)
    if reason is not None:
        _end(app, settings, run.run_id, reason, done)
        return
    if found.in_flight(run.run_id) or not found.complete:
        return
    if not suspects.confirmed(f"run:{run.run_id}:{run.phase}:{len(run.missing)}"):
        return
    if run.phase in ("queued", "preparing", "writing") or (
        run.phase == "executing" and not run.has_tests
    ):
        _resume(app, settings, run)
        done.resumed.append(run.run_id)
    elif run.phase == "executing" and run.missing:
        for job in run.missing:
            if not found.has(job.task_id) and _may_requeue(settings, job, "its message was lost"):
                _send_job(app, settings, job)
                done.requeued.append(job.task_id)
    else:  # every result stored, or reporting: the report never came
        report_again(app, run.run_id)
        done.reported.append(run.run_id)


def _resume(app: Celery, settings: Settings, run: Unfinished) -> None:
    """Send the run's canvas again from the step it stopped at (each step is idempotent)."""
    from tasks.canvas import run_signature

    write = not run.has_tests
    log.warning("supervisor: run %s resumed from %s (its task was lost)", run.run_id, run.phase)
    run_signature(app, run.run_id, write=write).apply_async(ignore_result=True)


def _send_job(app: Celery, settings: Settings, job: Job) -> None:
    from tasks.canvas import executor_signatures

    engine = get_engine(settings.database_url)
    for sig in executor_signatures(engine, job.run_id, {job.task_id}, shipping_of(app)):
        sig.apply_async(ignore_result=True)
    log.warning("supervisor: %s sent again (its message was lost)", job.task_id)


def report_again(app: Celery, run_id: str) -> None:
    """Produce the run's report from what the database holds (the reporter is idempotent)."""
    log.warning("supervisor: report of run %s produced again (none came)", run_id)
    signature("matf.reporter.report", args=[[], run_id], app=app).set(
        task_id=f"{run_id}:report"
    ).apply_async(ignore_result=True)


def _end(app: Celery | None, settings: Settings, run_id: str, reason: str, done: Pass) -> None:
    log.warning("supervisor: run %s ended: %s", run_id, reason)
    end(app, settings, run_id, reason)
    done.ended.append(run_id)


def end(app: Celery | None, settings: Settings, run_id: str, reason: str) -> None:
    """End a run nobody will finish (unless it ended), and drop its messages still waiting."""
    engine = get_engine(settings.database_url)
    try:
        storage, pdf = Path(settings.storage_path), PdfOptions.from_settings(settings)
        end_run(sessions_for(engine), run_id, reason, storage, pdf)
    except ReportsUnwritable as exc:
        log.warning("supervisor: reports of run %s not written: %s", run_id, exc.message)
    if app is not None:
        from tasks.purge import drop_run

        with suppress(Exception):  # the run has ended; dropping its messages is a courtesy
            drop_run(app, engine, run_id)


def _gone_reason(driver: str) -> str:
    pid = driver.split(":")[1] if driver.count(":") >= 1 else "?"
    return f"the process running it stopped (pid {pid}) before it ended"


def _summary(done: Pass) -> dict[str, int]:
    return {f.name: len(getattr(done, f.name)) for f in fields(done)}


# -- embedded: this process' runs -----------------------------------------------------------


def supervise_local(settings: Settings, app: Celery | None) -> Pass:
    """One pass over the runs this process drives, and those whose process died on this host."""
    me = this_process()
    done = Pass()
    for run in _runs(settings):
        if run.driver is None:
            continue  # the cluster's: its beat looks after it
        if run.driver != me:
            if driver_gone(run.driver):
                _end(None, settings, run.run_id, _gone_reason(run.driver), done)
            continue
        reason = overdue(run, settings)
        if reason is not None:
            _end(app, settings, run.run_id, reason, done)
    return done


class Supervisor:
    """A daemon thread that runs a pass every ``interval_s`` until stopped."""

    def __init__(self, settings: Settings, app: Celery | None, interval_s: float = INTERVAL_S):
        self.settings, self.app, self.interval_s = settings, app, interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="matf supervisor", daemon=True)
        self._failing = False

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def once(self) -> Pass | None:
        if self.settings.distributed and self.app is not None:
            return supervise_cluster(self.app)
        return supervise_local(self.settings, self.app)

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.once()
            except Exception as exc:  # noqa: BLE001 - the next pass tries again
                if not self._failing:
                    log.warning("supervisor: pass failed, trying again: %s", exc)
                self._failing = True
            else:
                self._failing = False

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(30)
