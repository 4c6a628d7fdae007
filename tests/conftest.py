"""Real parts for every test: a private redis-server, real Chromium, the real demo site.

A missing redis-server or Chromium fails the suite with the command that installs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from demo.server import DemoServer
from matf.browser.launch import launch, system_chromium
from matf.browser.pool import close_thread_pool
from matf.secrets.keyring import generate_key
from matf.settings import Settings, load_settings
from tests.apiserver import ApiServer
from tests.services import RedisServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _chromium() -> None:
    if system_chromium() is None and not os.environ.get("MATF_CHROMIUM_PATH"):
        pytest.exit("Chromium is not installed: run 'sudo apt-get install -y chromium'", 2)


@pytest.fixture(autouse=True)
def _no_browsers_left_on_the_main_thread() -> Iterator[None]:
    """A test that ran agent code in-process leaves no Playwright running for the next one.

    The agents keep a browser pool per thread; on the test runner's own thread
    a live one would make every later ``sync_playwright()`` fail.
    """
    yield
    close_thread_pool()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium from the product's own launcher, one per test module."""
    with sync_playwright() as playwright:
        chromium = launch(playwright, "chromium", None)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free loopback port, gone after the session."""
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def demo() -> Iterator[str]:
    """The demo shop with its seeded bugs."""
    with DemoServer(bugs=True) as server:
        yield server.url


@pytest.fixture(scope="session")
def healthy_demo() -> Iterator[str]:
    with DemoServer(bugs=False) as server:
        yield server.url


def make_settings(folder: Path, **overrides: object) -> Settings:
    """Settings isolated in ``folder``; nothing of the developer's environment leaks in."""
    values: dict[str, object] = {
        "redis_url": None,
        "database_url": f"sqlite:///{folder / 'matf.db'}",
        "storage_path": folder / "storage",
        "test_timeout": 30_000,
        "step_timeout": 10_000,
        "test_retries": 2,
        "max_pages": 25,
        "mistral_api_key": None,  # a developer's own key never reaches a test's requests
        "mistral_server_url": None,
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


def subprocess_env(folder: Path, **extra: str) -> dict[str, str]:
    """Environment for a `matf` or `celery` child process using ``folder``'s database."""
    private = ("REDIS_URL", "DATABASE_URL", "MISTRAL_API_KEY", "MISTRAL_SERVER_URL")
    env = {k: v for k, v in os.environ.items() if k not in private}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'matf.db'}",
            "STORAGE_PATH": str(folder / "storage"),
            "PYTHONPATH": str(ROOT),
            "TEST_TIMEOUT": "30000",
            "STEP_TIMEOUT": "10000",
        }
    )
    env.update(extra)
    return env


MATF = [sys.executable, "-m", "cli"]


def run_matf(
    args: list[str], folder: Path, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the ``matf`` command line in ``folder``, as a user would (``stdin``: typed in)."""
    return subprocess.run(
        [*MATF, *args],
        cwd=folder,
        env=subprocess_env(folder, **env),
        input=stdin,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    """The API on a real HTTP server (embedded mode), with a user and a key of each role.

    Loopback targets are allow-listed, so runs can test the demo site; the rate
    limit is high enough not to get in the way (the rate-limit test sets its own).
    """
    server = ApiServer(server_settings(tmp_path)).start()
    yield server
    server.stop()


def server_settings(folder: Path, **overrides: object) -> Settings:
    """Settings for a test API server: loopback targets allowed, a limit out of the way."""
    values: dict[str, object] = {
        "rate_limit": "100000 per minute",
        "matf_allowed_targets": "127.0.0.1",
    }
    values.update(overrides)
    return make_settings(folder, **values)


@pytest.fixture
def old_entry() -> str:
    """An ``ENCRYPTION_KEY`` entry under the key id ``old``."""
    return generate_key("old")


@pytest.fixture
def new_entry() -> str:
    """An ``ENCRYPTION_KEY`` entry under the key id ``new``, to rotate to."""
    return generate_key("new")


def lab_spec(case_id: str, site: str, path: str, text: str = "Lab", **extra: Any) -> dict[str, Any]:
    """A test of one demo lab page: go to ``path``, expect its heading to say ``text``."""
    return {
        "id": case_id,
        "name": f"{case_id} page",
        "url": site + path,
        "steps": [
            {"action": "goto", "url": path},
            {"action": "expect_text", "target": {"role": "heading"}, "text": text},
        ],
        **extra,
    }


def write_lab_suite(folder: Path, demo: str) -> None:
    """``folder/suite.json``: two demo lab tests, one that passes and one that fails."""
    tests = [lab_spec("ok", demo, "/lab/ok"), lab_spec("broken", demo, "/lab/fail", "All good")]
    (folder / "suite.json").write_text(json.dumps({"version": 1, "tests": tests}))
