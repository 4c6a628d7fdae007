"""The demo server answers concurrent requests, starts and stops cleanly, and stops on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from demo.server import DemoServer
from tests.demo.observation import EXPECTED_PAGES, ROOT, fetch


def test_server_serves_concurrent_requests(healthy: str) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        slow = list(pool.map(lambda _: fetch(healthy + "/lab/slow?ms=400")[0], range(8)))
    assert slow == [200] * 8 and time.monotonic() - started < 2.5  # serially: 3.2 s
    paths = sorted(EXPECTED_PAGES) * 6
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda p: fetch(healthy + p)[0], paths))
    assert statuses == [200] * len(paths)


def test_demo_server_lifecycle() -> None:
    server = DemoServer(bugs=False)
    with pytest.raises(RuntimeError):
        _ = server.url
    url = server.start()
    assert url.startswith("http://127.0.0.1:") and server.start() == url == server.url
    assert fetch(url + "/")[0] == 200
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url
    with DemoServer(bugs=True) as again:
        assert fetch(again.url + "/careers")[0] == 404


def test_serve_forever_prints_url_and_stops_on_ctrl_c() -> None:
    code = "from demo.server import serve_forever; serve_forever(bugs=False, port=0)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        assert fetch(url + "/lab/ok")[0] == 200
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and "Stopped" in out
