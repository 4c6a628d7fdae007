"""API latency under load: starting runs and reading them at a constant request rate.

The server is set up as production runs it: ``matf serve`` (gunicorn, gthread
workers) in distributed mode with MATF_ENV=production, a private Redis as the
broker and the rate limiter's store, a fresh SQLite file. Requests carry an
editor's X-API-Key. ``POST /api/v1/tests/execute`` writes the run and sends its
canvas to Redis; no agent consumes it, so runs stay queued, which does not
matter for the API's latency. ``GET /api/v1/runs/<id>`` reads runs made during
the warm-up.

The load is open-loop: requests leave on a fixed schedule whether or not the
earlier ones have been answered, and each latency is counted from the request's
scheduled time, so a slow server cannot slow the load down and hide its own
delay (coordinated omission). The load generator is this process; the server
is another. Run it on an otherwise idle machine: other programs' CPU shows up
as latency (the report prints the load average).

    .venv/bin/python -m bench.api_load [--rate 100] [--duration 20] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services import RedisServer, free_port, stop_process  # noqa: E402

TARGET_P95_MS = 25.0
RATE_LIMIT = "1000000 per minute"
EXECUTE = "/api/v1/tests/execute"


@dataclass(frozen=True)
class Sample:
    kind: str  # "POST" | "GET"
    latency_ms: float  # from the scheduled send time to the whole answer read
    lag_ms: float  # how late the request left, against its schedule
    error: str | None  # None, an HTTP status, or an exception's name


# --- the server ----------------------------------------------------------------------------


class Server:
    """``matf serve`` on a free port, with a private Redis and a fresh database in ``folder``."""

    def __init__(self, folder: Path, workers: int, threads: int) -> None:
        from matf.secrets.keyring import generate_key

        self.redis = RedisServer(folder)
        self.env = {
            **os.environ,
            "MATF_ENV": "production",
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{folder / 'matf.db'}",
            "STORAGE_PATH": str(folder / "storage"),
            "JWT_SECRET": os.urandom(32).hex(),
            "ENCRYPTION_KEY": generate_key(),
            "MATF_ALLOWED_TARGETS": "127.0.0.1",
            "RATE_LIMIT": RATE_LIMIT,
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
        }
        self.env.pop("API_KEY", None)
        self.key = self._editor_key()
        port = str(free_port())
        self.url = f"http://127.0.0.1:{port}"
        self.log: IO[str] = open(folder / "serve.log", "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", port]
            + ["--workers", str(workers), "--threads", str(threads)],
            cwd=folder,  # no stray .env
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy(folder / "serve.log")

    def _editor_key(self) -> str:
        """An editor's API key, made in the database (and migrating it) before the server starts."""
        from matf.auth import create_api_key
        from matf.storage.db import get_engine, session_scope

        with session_scope(get_engine(self.env["DATABASE_URL"]), write=True) as session:
            _row, plain = create_api_key(session, "bench api_load", "editor")
        return plain

    def _wait_healthy(self, log: Path) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"matf serve did not become healthy:\n{tail}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """CPU time used so far by gunicorn's master and its workers."""
        return _cpu_seconds(self.proc.pid, with_children=True)

    def redis_cpu_seconds(self) -> float:
        return _cpu_seconds(self.redis.proc.pid, with_children=False)

    def stop(self) -> None:
        stop_process(self.proc)
        self.redis.stop()
        self.log.close()


def _cpu_seconds(root: int, with_children: bool) -> float:
    ticks = 0
    for entry in os.listdir("/proc") if with_children else [str(root)]:
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or not a process
            continue
        if entry == str(root) or fields[1] == str(root):  # the process, or a child of it
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the load --------------------------------------------------------------------------------


def is_post(i: int, post_share: float) -> bool:
    """Spread POSTs evenly over the schedule: request i is one when the share's count ticks."""
    return math.floor((i + 1) * post_share) > math.floor(i * post_share)


class Client:
    """A minimal keep-alive HTTP/1.1 client: cheap enough to share two cores with the server.

    httpx's pool spends milliseconds of CPU per request once requests queue, which
    here would take CPU from the server it measures. A request takes an idle
    connection, or opens one when all are busy (the load stays open-loop);
    connections idle for longer than the server's keep-alive are dropped, not reused.
    """

    IDLE_S = 2.0  # below gunicorn's keepalive (5 s)

    def __init__(self, url: str, key: str, timeout_s: float = 10) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.head = f"Host: {self.host}:{port}\r\nX-API-Key: {key}\r\n"
        self.timeout_s = timeout_s
        self.idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        return await asyncio.wait_for(self._request(method, path, body), self.timeout_s)

    async def _request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        while self.idle and now - self.idle[-1][0] > self.IDLE_S:
            self.idle.pop()[2].close()
        if self.idle:
            _at, reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            typed = "Content-Type: application/json\r\n" if body else ""
            head = f"{method} {path} HTTP/1.1\r\n{self.head}{typed}Content-Length: {len(body)}\r\n"
            writer.write(f"{head}\r\n".encode() + body)
            status = int((await reader.readuntil(b"\r\n")).split()[1])
            headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            length = re.search(r"^content-length: *(\d+)", headers, re.MULTILINE)
            if length is None:
                raise ValueError("an answer without Content-Length")
            payload = await reader.readexactly(int(length.group(1)))
        except BaseException:
            writer.close()
            raise
        if "connection: close" in headers:
            writer.close()
        else:
            self.idle.append((time.monotonic(), reader, writer))
        return status, payload

    def close(self) -> None:
        for _at, _reader, writer in self.idle:
            writer.close()
        self.idle.clear()


async def load(
    client: Client,
    rate: float,
    duration_s: float,
    post_share: float,
    target: str,
    read: list[str],
    made: list[str],
) -> list[Sample]:
    """Send ``rate`` requests a second for ``duration_s``, each on its schedule.

    GETs read runs of ``read`` (POSTs alone until it has one); the ids of new
    runs are appended to ``made``.
    """
    loop = asyncio.get_running_loop()
    body = json.dumps({"url": target, "type": "functional"}).encode()

    async def one(i: int, at: float) -> Sample:
        kind = "POST" if is_post(i, post_share) or not read else "GET"
        lag = loop.time() - at
        error: str | None = None
        try:
            if kind == "POST":
                status, payload = await client.request("POST", EXECUTE, body)
                if status == 202:
                    made.append(json.loads(payload)["run_id"])
            else:
                status, _ = await client.request("GET", f"/api/v1/runs/{read[i % len(read)]}")
            if not 200 <= status < 300:
                error = str(status)
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
            error = type(exc).__name__
        return Sample(kind, (loop.time() - at) * 1000, lag * 1000, error)

    start = loop.time() + 0.05
    pending = []
    for i in range(int(rate * duration_s)):
        at = start + i / rate
        await asyncio.sleep(max(0.0, at - loop.time()))
        pending.append(asyncio.create_task(one(i, at)))
    return list(await asyncio.gather(*pending))


@dataclass(frozen=True)
class Round:
    samples: list[Sample]
    wall_s: float
    server_cpu_s: float
    redis_cpu_s: float
    client_cpu_s: float
    load_avg: float  # the machine's 1-minute load average at the round's end


async def measure(server: Server, args: argparse.Namespace) -> list[Round]:
    """A warm-up, then ``args.rounds`` measured rounds, on one set of connections."""
    target = f"http://127.0.0.1:{free_port()}/"  # never fetched: the API checks it, workers would
    run_ids: list[str] = []
    rounds = []
    client = Client(server.url, server.key)
    try:
        warm = await load(client, args.rate, args.warmup, args.post_share, target, run_ids, run_ids)
        failed = Counter(s.error for s in warm if s.error)
        if failed:
            print(f"errors during the warm-up (not counted): {dict(failed)}", file=sys.stderr)
        if not run_ids:
            raise RuntimeError("the warm-up started no run: see serve.log (run with --keep)")
        for _ in range(args.rounds):
            cpu, redis_cpu = server.cpu_seconds(), server.redis_cpu_seconds()
            client_cpu, started = time.process_time(), time.perf_counter()
            samples = await load(
                client, args.rate, args.duration, args.post_share, target, run_ids, []
            )
            rounds.append(
                Round(
                    samples,
                    time.perf_counter() - started,
                    server.cpu_seconds() - cpu,
                    server.redis_cpu_seconds() - redis_cpu,
                    time.process_time() - client_cpu,
                    os.getloadavg()[0],
                )
            )
    finally:
        client.close()
    return rounds


# --- the report --------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of values sorted ascending."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def summary(samples: list[Sample], wall_s: float) -> dict[str, Any]:
    latencies = sorted(s.latency_ms for s in samples)
    return {
        "count": len(samples),
        "errors": sum(1 for s in samples if s.error),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "rate": len(samples) / wall_s,
    }


def meets_target(rnd: Round) -> bool:
    return all(
        summary([s for s in rnd.samples if s.kind == kind], rnd.wall_s)["p95"] < TARGET_P95_MS
        for kind in ("POST", "GET")
    ) and not any(s.error for s in rnd.samples)


def print_report(results: list[tuple[int, list[Round]]], args: argparse.Namespace) -> None:
    cores = os.cpu_count() or 1
    print(
        f"\n{'workers':>7} {'round':>5} {'kind':>4} {'count':>6} {'errors':>6} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'req/s':>6}  {'CPU: API redis bench':>20} "
        f"{'loadavg':>7}"
    )
    verdicts = []
    for workers, rounds in results:
        for number, rnd in enumerate(rounds, 1):
            for kind in ("POST", "GET", "all"):
                picked = [s for s in rnd.samples if kind in ("all", s.kind)]
                row = summary(picked, rnd.wall_s)
                extra = ""
                if kind == "all":
                    extra = " ".join(
                        f"{seconds / rnd.wall_s:>5.0%}"
                        for seconds in (rnd.server_cpu_s, rnd.redis_cpu_s, rnd.client_cpu_s)
                    )
                    extra = f"{extra:>20} {rnd.load_avg:>7.1f}"
                print(
                    f"{workers:>7} {number:>5} {kind:>4} {row['count']:>6} {row['errors']:>6} "
                    f"{row['p50']:>7.1f} {row['p95']:>7.1f} {row['p99']:>7.1f} {row['max']:>7.1f} "
                    f"{row['rate']:>6.1f}  {extra}"
                )
            reasons = Counter(s.error for s in rnd.samples if s.error)
            if reasons:
                print(f"{'':>13} errors: {dict(reasons)}")
            if rnd.load_avg > cores:
                print(f"{'':>13} load average {rnd.load_avg:.1f} on {cores} cores: others took CPU")
            lag = percentile(sorted(s.lag_ms for s in rnd.samples), 99)
            if lag > 5:
                print(f"{'':>13} 1% of requests left over {lag:.0f} ms late (counted in latency)")
            verdicts.append((workers, number, meets_target(rnd)))
    print(f"""
{args.rate:g} requests/s, {args.post_share:.0%} POST {EXECUTE}, the rest GET /api/v1/runs/<id>;
{args.warmup:g} s warm-up, then {args.rounds} rounds of {args.duration:g} s; {args.threads} threads
per worker; {cores} CPU cores on this machine. Latency: from the request's scheduled send time
to its whole answer (open loop). CPU: share of one core used by gunicorn (master and workers),
by redis-server, and by this load generator, during the round; loadavg: the machine's, at
its end (above the core count, other programs took CPU and the figures are pessimistic).
RATE_LIMIT is {RATE_LIMIT!r} here: the default (100 per 15 minutes per client) would
refuse this load with 429s, by design.""")
    for workers, number, ok in verdicts:
        verdict = "meets" if ok else "MISSES"
        print(
            f"workers {workers}, round {number}: {verdict} the target "
            f"(p95 < {TARGET_P95_MS:g} ms for POST and GET, no errors)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100, help="requests per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds per measured round")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per server")
    parser.add_argument(
        "--workers", default="2", help="gunicorn worker counts, comma separated (one server each)"
    )
    parser.add_argument("--threads", type=int, default=16, help="threads per gunicorn worker")
    parser.add_argument(
        "--post-share", type=float, default=0.5, help="share of requests that start a run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder (serve.log)")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("bench: redis-server is not installed (sudo apt-get install -y redis-server)")
    if not 0 < args.post_share <= 1:
        sys.exit("bench: --post-share must be in (0, 1]")

    results = []
    tmp = tempfile.mkdtemp(prefix="matf-api-load-")
    try:
        for workers in [int(x) for x in args.workers.split(",")]:
            folder = Path(tmp) / f"w{workers}"
            folder.mkdir()
            server = Server(folder, workers, args.threads)
            try:
                results.append((workers, asyncio.run(measure(server, args))))
            finally:
                server.stop()
    finally:
        if args.keep:
            print(f"data and serve.log kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_report(results, args)


if __name__ == "__main__":
    main()
