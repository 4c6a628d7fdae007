"""``matf serve`` as a child process (gunicorn, embedded mode), and raw HTTP to it.

For what only gunicorn decides: what it answers before Flask sees a request,
which forwarded headers it believes, which files it makes. Bytes go out as an
attacker would send them (``http.client`` over a plain socket), so nothing
tidies a malformed request first.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any

import httpx

from tests.conftest import MATF, subprocess_env
from tests.services import free_port, stop_process

START_TIMEOUT_S = 120


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Served:
    """One ``matf serve`` on a free loopback port; its output in ``folder/serve.log``."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.folder = folder
        self.env = subprocess_env(folder, REDIS_URL="", API_KEY="", **env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None

    def start(self) -> Served:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log = open(self.folder / "serve.log", "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*MATF, "serve", "--port", str(self.port), "--threads", "4"],
            cwd=self.folder,  # no stray .env
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"matf serve did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return (self.folder / "serve.log").read_text(errors="replace")

    def raw(self, data: bytes) -> Answer:
        """Send ``data`` as it is and read the one answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(data)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return Answer(response.status, response.headers, response.read())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self._log is not None:
            self._log.close()
