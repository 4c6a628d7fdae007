"""A signed-in run in distributed mode: real Redis, a real prefork worker process.

The context worker signs in and seals the state; it travels sealed through
Redis to the executor, which opens it with its own ENCRYPTION_KEY. The bug
behind the sign-in is found as embedded mode finds it, and the session
cookie is in no file, log or database row, nor in anything left in Redis.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis

from tests.conftest import make_settings, run_matf, subprocess_env
from tests.secretscan import Scanner
from tests.services import start_worker, stop_process
from tests.signedin import (
    KEY,
    SMALL,
    page_errors_on,
    report,
    session_cookie,
    set_demo_secrets,
    sign_in_count,
)


def _wait_for_worker(folder: Path, redis_url: str, proc: object) -> None:
    from tasks.app import make_celery

    app = make_celery(make_settings(folder, redis_url=redis_url))
    deadline = time.monotonic() + 60
    while not app.control.inspect(timeout=0.5).ping():
        if time.monotonic() > deadline:
            raise RuntimeError("worker did not start:\n" + (folder / "worker.log").read_text())


def test_a_signed_in_run_on_workers_finds_the_bug_behind_the_sign_in(
    demo: str, redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    set_demo_secrets(tmp_path, demo)
    env = subprocess_env(tmp_path, REDIS_URL=redis_url, ENCRYPTION_KEY=KEY)
    with open(tmp_path / "worker.log", "w") as log:
        worker = start_worker(tmp_path, env, f"login{os.getpid()}@%h", loglevel="INFO", log=log)
        try:
            _wait_for_worker(tmp_path, redis_url, worker)
            run = run_matf(
                ["run", f"{demo}/account/", *SMALL, "--login", "--out", "out"],
                tmp_path,
                REDIS_URL=redis_url,
                ENCRYPTION_KEY=KEY,
            )
        finally:
            stop_process(worker)
    assert run.returncode == 1, run.stdout + run.stderr
    data = report(tmp_path, "out")
    assert any("reading 'carrier'" in e for e in page_errors_on(data, "/account/orders/1003"))
    assert all(t["worker"] and t["worker"].split(":")[1] != str(os.getpid()) for t in data["tests"])
    assert sign_in_count(tmp_path) == 1
    cookie = session_cookie(tmp_path, demo)
    hits = Scanner(cookie).scan_tree(tmp_path)
    assert not hits, "\n".join(map(str, hits))
    broker = redis.Redis.from_url(redis_url)
    for key in broker.scan_iter():
        kind = broker.type(key)
        values = (
            [broker.get(key) or b""]
            if kind == b"string"
            else broker.lrange(key, 0, -1)
            if kind == b"list"
            else list(broker.hgetall(key).values())
            if kind == b"hash"
            else []
        )
        for value in values:
            assert not Scanner(cookie).scan_bytes(value, f"redis:{key!r}")
