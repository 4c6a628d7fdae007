"""The one face of the agents for the command line and the API.

``Platform`` hides the two modes: distributed (``REDIS_URL`` set: runs go to
Redis, worker pools run elsewhere) and embedded (MATF's own workers in this
process, started on the first run: a server that only reads should not hold
browsers). Through it a run is started (``start_run``, the only way a run
begins), followed, cancelled; the agents' health, queues and browsers are read;
live events are subscribed to. Nothing outside ``tasks`` needs another module
of it.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from queue import Queue
from typing import TYPE_CHECKING, Any

import redis
from celery.result import AsyncResult
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from matf.agents import AGENTS
from matf.agents.context import validate_url
from matf.agents.login import credentials_for, login_secret_name
from matf.errors import EnvironmentProblem, LoginUnusable, UsageError
from matf.netguard import check_redirects
from matf.options import API, STEPS_OR_URL, LoginOptions, RunOptions, Wording, embedded_workers
from matf.pipeline.supervise import driver_gone, this_process, time_limit_reason
from matf.results import FINAL_STATUSES, RunStatus
from matf.secrets.keyring import keyring_from_settings
from matf.secrets.store import normalize_origin
from matf.settings import Settings
from matf.spec import TestSpec
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Run
from matf.storage.runs import create_run, fail_run, progress, save_cases
from tasks import heartbeat, live, monitor
from tasks.app import make_celery
from tasks.brokerwatch import BrokerWatch
from tasks.canvas import run_signature

if TYPE_CHECKING:
    from celery import Celery

    from tasks.embedded import EmbeddedWorkers
    from tasks.schedule import Scheduler
    from tasks.supervisor import Supervisor

INTERRUPT_WAIT_S = 5.0  # an interrupted command waits this long to drop its run's tests
BROKER_PING_S = 1.0  # how often a followed run's command pings the broker (distributed)
FOLLOW_DISTRIBUTED_S, FOLLOW_EMBEDDED_S = 0.2, 0.05  # how often a followed run is read


def check_run(settings: Settings, target: str, options: RunOptions, wording: Wording = API) -> str:
    """The run's target, normalised, once it and ``options`` pass every check.

    A guarded run's target must not be on an internal address, nor redirect to
    one (checked here, hop by hop, and again at every connection the run makes).
    A run that signs in must be able to (``check_login``).
    """
    url = validate_url(target)
    options.checked(settings, wording)
    if options.network.guarded:
        check_redirects(url, options.guard)
    if options.login.enabled:
        check_login(settings, url, options.login)
    return url


def check_login(settings: Settings, target: str, login: LoginOptions) -> None:
    """Refuse, as ``LoginUnusable``, a sign-in that cannot work, before anything runs.

    The sign-in page must be on the target's origin (the session it opens is
    that origin's), and each role's target secret must hold a username and a
    password. No browser is opened: whether the site takes them is the context
    manager's to find out.
    """
    origin = normalize_origin(target)
    if login.steps and login.url is not None:
        raise LoginUnusable(STEPS_OR_URL)
    if login.url is not None:
        try:
            page = normalize_origin(validate_url(login.url))
        except UsageError as exc:
            raise LoginUnusable(
                f"the sign-in page {login.url!r} is not a full http(s) URL"
            ) from exc
        if page != origin:
            raise LoginUnusable(
                f"the sign-in page {login.url!r} is not on the target's origin {origin}"
            )
    if not settings.encryption_key:
        name = login_secret_name(login.sign_ins()[0])
        raise LoginUnusable(
            f"signing in needs the secret {name!r}, and ENCRYPTION_KEY is not set: make a key with "
            f"'matf secrets keygen', set it, then 'matf secrets set {origin} {name} --json'"
        )
    keyring = keyring_from_settings(settings)
    with session_scope(get_engine(settings.database_url)) as session:
        for role in login.sign_ins():
            try:
                credentials_for(session, keyring, origin, role)
            except UsageError as exc:
                raise LoginUnusable(str(exc)) from exc


class Platform:
    """The agents of one deployment, as the command line and the API reach them."""

    def __init__(self, settings: Settings, executors: int | None = None) -> None:
        self.settings = settings
        self.distributed = settings.distributed
        self._executors = executors or embedded_workers(settings)
        self._lock = threading.Lock()
        self._embedded: EmbeddedWorkers | None = None
        self._app: Celery | None = make_celery(settings) if self.distributed else None
        self._probe: Celery | None = None  # embedded, before the workers start
        self._supervisor: Supervisor | None = None
        self._scheduler: Scheduler | None = None

    @property
    def mode(self) -> str:
        return "distributed" if self.distributed else "embedded"

    @property
    def engine(self) -> Engine:
        return get_engine(self.settings.database_url)

    @property
    def embedded(self) -> EmbeddedWorkers | None:
        return self._embedded

    def app(self, start: bool = True) -> Celery:
        """The Celery app to send with; in embedded mode, start the workers first."""
        if self._app is not None:
            return self._app
        with self._lock:
            if self._embedded is None:
                if not start:
                    if self._probe is None:
                        self._probe = make_celery(self.settings, embedded=True)
                    return self._probe
                from tasks.embedded import EmbeddedWorkers

                self._embedded = EmbeddedWorkers(self.settings, self._executors).start()
                atexit.register(self.close)
            self._supervise(self._embedded.app)
            return self._embedded.app

    def supervise(self) -> None:
        """Watch unfinished runs from a thread of this process (``tasks/supervisor.py``).

        Distributed, it adds to beat's passes (one runs at a time); embedded, it
        ends this process' overdue runs and those of processes that died.
        """
        with self._lock:
            self._supervise(self._embedded.app if self._embedded is not None else self._app)

    def _supervise(self, app: Celery | None) -> None:
        if self._supervisor is None:
            from tasks.supervisor import Supervisor

            self._supervisor = Supervisor(self.settings, app).start()
        elif app is not None:
            self._supervisor.app = app  # embedded workers started after the thread

    def schedule(self) -> None:
        """Embedded: send the optimizer, backup and retention jobs from a thread of this process.

        Distributed, Celery beat sends them (``make beat``) and this does nothing.
        """
        if self.distributed:
            return
        with self._lock:
            if self._scheduler is None:
                from tasks.schedule import Scheduler

                self._scheduler = Scheduler(self.settings, self.app).start()

    def schedule_report(self) -> dict[str, Any]:
        """The jobs, their intervals, last and next runs (``GET /api/v1/system/schedule``)."""
        from tasks.schedule import schedule_report

        sender = "celery beat" if self.distributed else "this server (matf serve)"
        return {"mode": self.mode, "sender": sender, "jobs": schedule_report(self.settings)}

    def analyse_now(self) -> dict[str, Any]:
        """Send the optimizer's analysis now, forced past its interval; what was sent.

        Embedded, through this process' workers (started if they are not);
        distributed, to the optimizer queue. ``force`` skips only the "ran within
        this interval" check: a run in progress still holds the job, so the
        send then does nothing (the job's row counts it as skipped).
        """
        from tasks.schedule import BY_NAME

        job = BY_NAME["optimizer"]
        try:
            sent = self.app().send_task(
                job.task, kwargs={"force": True}, queue=job.queue, routing_key=job.queue
            )
        except Exception as exc:
            raise EnvironmentProblem(f"cannot queue the optimizer's analysis: {exc}") from exc
        return {"task": job.task, "task_id": sent.id, "queue": job.queue, "force": True}

    def close(self) -> None:
        """Stop the embedded workers, if this platform started them."""
        with self._lock:
            if self._scheduler is not None:
                self._scheduler.stop()
                self._scheduler = None
            if self._supervisor is not None:
                self._supervisor.stop()
                self._supervisor = None
            if self._embedded is not None:
                self._embedded.stop()
                self._embedded = None

    # -- runs ---------------------------------------------------------------------------

    def start_run(
        self,
        target: str,
        options: RunOptions,
        specs: list[TestSpec] | None = None,
        *,
        wording: Wording = API,
        created_by: str | None = None,
        suite_id: str | None = None,
        follow_result: bool = False,
    ) -> tuple[str, AsyncResult]:
        """Check and start a run: its row (with its specs when given), then its canvas.

        Without ``options.out_dir`` the reports go to ``STORAGE_PATH/reports/<run id>``.
        ``follow_result``: the command line watches the canvas' results too;
        the API follows runs in the database only, and subscribes to nothing.
        """
        url = check_run(self.settings, target, options, wording)
        app = self.app()
        with session_scope(self.engine, write=True) as session:
            run = create_run(session, url, options)
            run.created_by, run.suite_id = created_by, suite_id
            run.driver = None if self.distributed else this_process()
            if options.out_dir is None:
                reports = Path(self.settings.storage_path) / "reports" / run.id
                run.options = options.model_copy(update={"out_dir": str(reports)})
            run_id = run.id
            if specs is not None:
                save_cases(session, run_id, specs)
        if self._embedded is not None:
            # While the run is prepared and dispatched; the printer only if it prints report.pdf.
            self._embedded.warm(options.browsers, printer="pdf" in options.formats)
        try:
            result = run_signature(app, run_id, write=specs is None).apply_async(
                ignore_result=not follow_result
            )
        except Exception as exc:
            reason = f"cannot queue the run: {exc}"
            self.stop_run(run_id, reason)
            raise EnvironmentProblem(reason) from exc
        return run_id, result

    def stop_run(self, run_id: str, reason: str) -> None:
        """End a run as errored with ``reason`` (unless it ended already)."""
        with session_scope(self.engine, write=True) as session:
            fail_run(session, run_id, reason)

    def end_run(self, run_id: str, reason: str) -> None:
        """End a run nobody will finish: the tests without a result as errors, reports written.

        Its messages still waiting are dropped. A run that ended already keeps its verdict.
        """
        from tasks.supervisor import end

        app = self._embedded.app if self._embedded is not None else self._app
        end(app, self.settings, run_id, reason)

    def cancel_run(self, run_id: str, reason: str) -> int:
        """End the run and drop its executor tasks that have not started; how many were asked."""
        from tasks.purge import drop_run

        self.stop_run(run_id, reason)
        return drop_run(self.app(start=False), self.engine, run_id)

    def interrupt_run(self, run_id: str, reason: str, wait_s: float = INTERRUPT_WAIT_S) -> None:
        """End the run of a command interrupted (Ctrl-C, SIGTERM, SIGHUP), without delay.

        Marked ended at once. In distributed mode its tests still waiting are
        dropped too, for up to ``wait_s``: a broker that is away must not hold
        up a Ctrl-C (a test left then may still run, and changes nothing: the
        run has its verdict). Embedded, the workers end with this process.
        """
        from tasks.purge import drop_run

        self.stop_run(run_id, reason)
        if self.distributed:
            dropping = threading.Thread(
                target=drop_run,
                args=(self.app(start=False), self.engine, run_id),
                name="drop a run's tests",
                daemon=True,
            )
            dropping.start()
            dropping.join(wait_s)

    def follow(
        self,
        run_id: str,
        result: AsyncResult,
        timeout_s: float,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        interval_s: float | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Wait for the run to end; return its final progress state.

        The canvas' results are read too, so a task that failed before it could
        write (say, a worker that sees another database) still ends the wait.
        In distributed mode the broker is pinged about once a second: losing it
        and getting it back are each told once to ``on_notice``, and while it is
        away only the database is read (the run goes on when Redis is back).
        """
        deadline = time.monotonic() + timeout_s
        if interval_s is None:  # embedded, the database is a local file: ask it often
            interval_s = FOLLOW_DISTRIBUTED_S if self.distributed else FOLLOW_EMBEDDED_S
        pinged_at = 0.0
        with ExitStack() as stack:
            watch = self._broker_watch(on_notice)
            if watch is not None:
                stack.callback(watch.stop)
            while True:
                with session_scope(self.engine) as session:
                    state = progress(session, run_id)
                if on_progress is not None:
                    on_progress(state)
                if RunStatus(state["status"]).final:
                    return state
                if watch is not None and time.monotonic() - pinged_at >= BROKER_PING_S:
                    pinged_at = time.monotonic()
                    watch.check()
                broker_lost = watch is not None and watch.lost_at is not None
                failure = None if broker_lost else _canvas_failure(result)
                if failure is not None:
                    self.stop_run(run_id, failure)
                    break
                if time.monotonic() > deadline:
                    self.end_run(run_id, time_limit_reason(timeout_s))
                    break
                time.sleep(interval_s)
        with session_scope(self.engine) as session:
            return progress(session, run_id)

    def _broker_watch(self, on_notice: Callable[[str], None] | None) -> BrokerWatch | None:
        if not self.distributed or on_notice is None or not self.settings.redis_url:
            return None
        return BrokerWatch(self.settings.redis_url, interval_s=BROKER_PING_S, say=on_notice)

    # -- health -------------------------------------------------------------------------

    def check_workers(self, timeout_s: float = 2.0) -> None:
        """In distributed mode, fail fast when a queue has no worker consuming it."""
        app = self.app()
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=timeout_s)
        except Exception as exc:
            raise EnvironmentProblem(f"cannot reach the broker at REDIS_URL: {exc}") from exc
        replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
        served = {queue["name"] for queues in replies.values() for queue in queues}
        missing = [a for a in AGENTS if a not in served and a != "optimizer"]
        if missing:
            raise EnvironmentProblem(
                f"no worker consumes queue(s) {', '.join(missing)}: start them with "
                f"'make worker QUEUE={','.join(missing)}' (or 'make worker' for all queues)"
            )

    def readiness(self) -> dict[str, Any]:
        """Database, broker, workers and browser: each ok or not, with details."""
        return monitor.readiness(self.app(start=False), self.engine, self.settings, self.embedded)

    def agents_status(self) -> list[dict[str, Any]]:
        return monitor.agents_status(self.app(start=False), self.embedded)

    def queue_lengths(self) -> dict[str, int | None]:
        """Messages waiting per queue (zeros before embedded workers ever started)."""
        if not self.distributed and self.embedded is None:
            return dict.fromkeys(AGENTS, 0)
        return monitor.queue_lengths(self.app(start=False))

    def browser_pools(self) -> dict[str, Any]:
        return monitor.browser_pools(self.app(start=False), self.embedded)

    # -- live ---------------------------------------------------------------------------

    def subscribe(self) -> AbstractContextManager[Queue[dict[str, Any]]]:
        """An inbox of the events persisted from now on, from every agent of every host."""
        live.ensure_relay(self.settings)
        return live.HUB.subscribe()


def _canvas_failure(result: AsyncResult) -> str | None:
    node: AsyncResult | None = result
    while node is not None:
        try:
            if node.state == "FAILURE":
                return str(node.result) or type(node.result).__name__
        except Exception:  # noqa: BLE001 - a result we cannot read is no verdict
            return None
        node = node.parent
    return None


def running_work(settings: Settings) -> list[str]:
    """What works on the database now, in words: what a restore must not run under.

    An embedded run counts while the process driving it lives; in distributed
    mode every worker whose heartbeat is fresh counts too, and a Redis that
    does not answer is an error, since then nobody can say the workers stopped.
    """
    found = [
        f"run {run_id} (driven by {driver})"
        for run_id, driver in _driven_runs(settings)
        if not driver_gone(driver)
    ]
    if settings.redis_url is not None:
        client = heartbeat.redis_client(settings.redis_url)
        try:
            beats = heartbeat.read_entries(client, heartbeat.HEARTBEATS)
        except (redis.RedisError, OSError) as exc:
            raise EnvironmentProblem(
                "cannot tell whether workers are running: Redis at REDIS_URL does not "
                f"answer ({exc})"
            ) from exc
        finally:
            client.close()
        found += [
            f"worker {name}" for name, beat in sorted(beats.items()) if heartbeat.is_fresh(beat)
        ]
    return found


def _driven_runs(settings: Settings) -> list[tuple[str, str]]:
    """Unfinished runs and their drivers, read without migrating or creating the database."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Run.id, Run.driver).where(
                    Run.status.not_in(list(FINAL_STATUSES)), Run.driver.is_not(None)
                )
            ).all()
    except SQLAlchemyError:
        return []  # a database that cannot be read has no run going on in it
    finally:
        engine.dispose()
    return [(str(run_id), str(driver)) for run_id, driver in rows]
