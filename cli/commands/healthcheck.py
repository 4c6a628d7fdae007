"""``matf healthcheck``: one health probe for every role the image runs.

The image's ``HEALTHCHECK`` cannot know which role a container was started
as, so it reads the container's own command (PID 1's, past ``tini --``) and
asks what that role can answer for itself:

- ``matf serve``: ``GET /health`` on its port answers 200;
- ``celery ... worker -n NODE``: the worker answers ``celery inspect ping -d
  NODE`` through the broker (its consumer loop is alive and reaches Redis);
- ``celery ... beat``: its schedule file was written in the last
  ``BEAT_STALE_S`` (beat saves it at least every 3 minutes while it sends
  tasks, and the run supervisor is sent every 5 s);
- ``celery ... flower``: ``GET /healthcheck`` answers 200 (no auth needed);
- anything else (``matf migrate``, a shell): nothing long-running to probe, healthy.

Exit code 0 healthy, 1 not, with one line saying what was checked.
``matf healthcheck -- COMMAND...`` probes as if COMMAND were the container's
(a Kubernetes exec probe, a test).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import click
from celery.utils.nodenames import host_format

from matf.settings import load_settings

BEAT_STALE_S = 300
HTTP_TIMEOUT_S = 5.0
PING_TIMEOUT_S = 10
INITS = ("tini", "docker-init", "dumb-init")
DEFAULT_SCHEDULE = "celerybeat-schedule"


@dataclass(frozen=True)
class Probe:
    """What to check for one role: a URL to GET, a node to ping, or a file's age."""

    role: str
    url: str | None = None
    node: str | None = None
    schedule: Path | None = None


def _option(args: list[str], *names: str) -> str | None:
    """The value of the last ``--name value`` / ``--name=value`` / ``-nVALUE`` among ``args``."""
    found = None
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                found = args[index + 1]
            elif arg.startswith(name + "="):
                found = arg[len(name) + 1 :]
            elif len(name) == 2 and arg.startswith(name) and len(arg) > 2 and arg[2] != "-":
                found = arg[2:]
    return found


def _without_init(argv: list[str]) -> list[str]:
    if argv and Path(argv[0]).name in INITS:
        rest = argv[1:]
        return rest[rest.index("--") + 1 :] if "--" in rest else rest
    return argv


def node_name(pattern: str, hostname: str) -> str:
    """Celery's ``-n`` value expanded as Celery does (``%h``, ``%n``, ``%d``), on ``hostname``."""
    expanded = host_format(pattern, host=hostname)
    return expanded if "@" in expanded else f"{expanded}@{hostname}"


def _http(host: str | None, port: str, path: str) -> str:
    address = "127.0.0.1" if host in (None, "", "0.0.0.0", "::", "[::]") else host
    return f"http://{address}:{port}{path}"


def probe_for(argv: list[str], hostname: str, default_port: int) -> Probe:
    """The probe for a container whose command is ``argv``."""
    args = _without_init(argv)
    words = [Path(arg).name for arg in args]
    if "celery" in words:
        if "worker" in words:
            return Probe(
                "worker", node=node_name(_option(args, "-n", "--hostname") or "celery@%h", hostname)
            )
        if "beat" in words:
            return Probe(
                "beat", schedule=Path(_option(args, "-s", "--schedule") or DEFAULT_SCHEDULE)
            )
        if "flower" in words:
            prefix = (_option(args, "--url_prefix", "--url-prefix") or "").strip("/")
            path = f"/{prefix}/healthcheck" if prefix else "/healthcheck"
            host = _option(args, "--address")
            return Probe("flower", url=_http(host, _option(args, "--port") or "5555", path))
    if ("matf" in words or "cli" in words) and "serve" in words:
        port = _option(args, "--port") or str(default_port)
        return Probe("api", url=_http(_option(args, "--host"), port, "/health"))
    return Probe("other")


def _get(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            return response.status == 200, f"GET {url}: {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"GET {url}: {exc.code}"
    except OSError as exc:
        return False, f"GET {url}: {exc}"


def _ping(node: str, timeout_s: int) -> tuple[bool, str]:
    command = [sys.executable, "-m", "celery", "-A", "tasks", "inspect", "ping"]
    command += ["-d", node, "--timeout", str(timeout_s)]
    try:  # the margin: celery's own start-up, a second or two
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s + 20, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"celery inspect ping -d {node}: no answer in {timeout_s + 20} s"
    if done.returncode == 0 and "pong" in done.stdout:
        return True, f"celery inspect ping -d {node}: pong"
    last = (done.stderr.strip() or done.stdout.strip() or "no reply").splitlines()[-1]
    return False, f"celery inspect ping -d {node}: {last}"


def _fresh(schedule: Path) -> tuple[bool, str]:
    # shelve's file is the name itself, or the name with .db/.dat/.dir, by dbm flavour
    files = [p for p in schedule.parent.glob(schedule.name + "*") if p.is_file()]
    if not files:
        return False, f"beat: no schedule file {schedule}*"
    age = time.time() - max(p.stat().st_mtime for p in files)
    ok = age <= BEAT_STALE_S
    return ok, f"beat: schedule {schedule} written {age:.0f} s ago (limit {BEAT_STALE_S} s)"


def check(probe: Probe, timeout_s: int = PING_TIMEOUT_S) -> tuple[bool, str]:
    """Run ``probe``: (healthy, one line saying what was checked)."""
    if probe.url is not None:
        return _get(probe.url)
    if probe.node is not None:
        return _ping(probe.node, timeout_s)
    if probe.schedule is not None:
        return _fresh(probe.schedule)
    return True, "nothing long-running to probe: healthy while the process runs"


def _container_command() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--timeout",
    "timeout_s",
    type=click.IntRange(1, 120),
    default=PING_TIMEOUT_S,
    show_default=True,
    help="Seconds a worker has to answer the ping.",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def healthcheck(ctx: click.Context, timeout_s: int, command: tuple[str, ...]) -> None:
    """Probe the role this container runs (or COMMAND's): exit 0 healthy, 1 not.

    The image's HEALTHCHECK. Use 'matf healthcheck -- COMMAND...' to probe as
    if COMMAND were the container's.
    """
    argv = list(command) or _container_command()
    probe = probe_for(argv, socket.gethostname(), load_settings().port)
    ok, line = check(probe, timeout_s)
    click.echo(f"{probe.role}: {'healthy' if ok else 'UNHEALTHY'}: {line}")
    ctx.exit(0 if ok else 1)
