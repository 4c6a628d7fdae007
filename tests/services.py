"""Real services for tests and benchmarks: a private redis-server, Celery worker processes.

Shared by the test suite and ``bench/``, so both start them the same way and
wait for them by asking (PING, inspect), never by sleeping.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Self

QUEUES = "context,writer,executor,reporter,optimizer,logger"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """redis-server on a free loopback port, its data in ``folder`` (saved only when asked).

    Chaos tests stop it the ways an operator's day does (``shutdown("save")``
    keeps the queues on disk, ``shutdown("nosave")`` loses them) and
    ``restart`` it on the same port, as a restarted Redis pod comes back.
    """

    def __init__(self, folder: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(
                "redis-server is not installed: run 'sudo apt-get install -y redis-server'"
            )
        self.binary, self.folder = binary, folder
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers_ping():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        return proc

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def shutdown(self, mode: str = "nosave") -> None:
        """``SHUTDOWN SAVE`` (the dataset goes to dump.rdb first) or ``SHUTDOWN NOSAVE``."""
        if mode not in ("save", "nosave"):
            raise ValueError(f"shutdown mode must be save or nosave, not {mode!r}")
        if mode == "nosave":
            (self.folder / "dump.rdb").unlink(missing_ok=True)
        with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 2) as sock:
            sock.sendall(f"SHUTDOWN {mode.upper()}\r\n".encode())
            sock.recv(16)
        self.proc.wait(10)

    def restart(self) -> None:
        """Start again on the same port, loading dump.rdb when the shutdown saved one."""
        self.proc = self._start()

    def stop(self) -> None:
        stop_process(self.proc)


def start_worker(
    folder: Path,
    env: dict[str, str],
    name: str,
    queues: str = QUEUES,
    concurrency: int = 2,
    loglevel: str = "WARNING",
    log: IO[str] | None = None,
) -> subprocess.Popen[bytes]:
    """A prefork Celery worker process of ``tasks`` serving ``queues``."""
    return _celery(
        folder,
        env,
        log,
        ["worker", "--pool", "prefork", "--concurrency", str(concurrency), "-n", name],
        ["-Q", queues, "--loglevel", loglevel, "--without-gossip", "--without-mingle"],
    )


def start_beat(
    folder: Path, env: dict[str, str], log: IO[str] | None = None
) -> subprocess.Popen[bytes]:
    """Celery beat for ``tasks`` (the run supervisor's schedule), its state file in ``folder``."""
    schedule = str(folder / "celerybeat-schedule")
    return _celery(folder, env, log, ["beat", "--schedule", schedule, "--loglevel", "INFO"])


def _celery(
    folder: Path, env: dict[str, str], log: IO[str] | None, *args: list[str]
) -> subprocess.Popen[bytes]:
    """``celery -A tasks <args>`` in ``folder``, in its own process group (see kill_group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", *(a for part in args for a in part)],
        cwd=folder,
        env=env,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def postgres_program(name: str) -> str | None:
    """A PostgreSQL program: on PATH, or where Debian's packages put it (not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: p.parts[-3])
    return str(versions[-1]) if versions else None


class PostgresServer:
    """A private PostgreSQL on a Unix socket in ``folder`` (a trust login ``matf``, no TCP).

    Run as the ``postgres`` user when the tests run as root (PostgreSQL refuses
    root). ``url`` is SQLAlchemy's, for the ``postgres`` database.
    """

    def __init__(self, folder: Path) -> None:
        initdb, pg_ctl = postgres_program("initdb"), postgres_program("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise FileNotFoundError(
                "PostgreSQL is not installed: run 'sudo apt-get install -y postgresql'"
            )
        self.pg_ctl, self.folder = pg_ctl, folder
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            self.as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(folder, "postgres")
        self.data = str(folder / "data")
        quiet = {"capture_output": True, "timeout": 120, "check": True}
        subprocess.run(
            [*self.as_owner, initdb, "-D", self.data, "-A", "trust", "-U", "matf"], **quiet
        )
        options = f"-c listen_addresses='' -k {folder} -p 5432"
        log = str(folder / "log")  # a file, not a pipe: the server would hold a pipe open
        subprocess.run(
            [*self.as_owner, pg_ctl, "-D", self.data, "-o", options, "-l", log, "-w", "start"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=True,
        )  # fmt: skip
        self.url = f"postgresql+psycopg://matf@/postgres?host={folder}&port=5432"

    def stop(self) -> None:
        subprocess.run(
            [*self.as_owner, self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=120,
        )  # fmt: skip


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and everything in its process group, as a node dying would.

    Only for processes started with ``start_new_session=True``.
    """
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 30) -> None:
    """SIGTERM (a warm shutdown for Celery), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for the tests' small sites: ``answer`` in one call, no access log."""

    def answer(self, status: int, ctype: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class LoopbackHttpServer:
    """An HTTP server on a free 127.0.0.1 port, serving from a daemon thread while entered."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a slow answer must not hold up the exit
        # Poll for shutdown every 50 ms (not 0.5 s): tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self.port = self._server.server_address[1]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
