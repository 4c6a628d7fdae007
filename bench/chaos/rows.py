"""The rows of the chaos table: issue 12's faults, each with how its runs should end."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.chaos import distributed, embedded
from bench.chaos.table import Trial


@dataclass(frozen=True)
class Fault:
    key: str  # what --rows matches (with the title)
    title: str
    expect: str  # how its runs should end: passed, or error with a reason
    play: Callable[[str, Path], Trial]  # one trial: (site, its own folder) -> what happened
    trials: int  # by default: the whole table takes 10-15 minutes on 2 cores


def _distributed(key: str) -> Callable[[str, Path], Trial]:
    return partial(distributed.play, scenario=distributed.SCENARIOS[key])


FAULTS = [
    Fault("child", "kill -9 of one executor pool child", "passed", _distributed("child"), 3),
    Fault(
        "worker-restarted",
        "kill -9 of the executor worker, restarted after 5 s",
        "passed",
        _distributed("worker-restarted"),
        2,
    ),
    Fault(
        "worker-gone",
        "kill -9 of the executor worker, never restarted",
        "error",
        _distributed("worker-gone"),
        2,
    ),
    Fault(
        "redis-save",
        "Redis `shutdown save` + restart after 3 s",
        "passed",
        _distributed("redis-save"),
        2,
    ),
    Fault(
        "redis-nosave",
        "Redis `shutdown nosave` + restart after 3 s",
        "passed",
        _distributed("redis-nosave"),
        2,
    ),
    Fault(
        "control-writing",
        "kill -9 of the control worker while writing, restarted after 3 s",
        "passed",
        _distributed("control-writing"),
        2,
    ),
    Fault(
        "control-reporting",
        "kill -9 of the control worker while reporting, restarted after 3 s",
        "passed",
        _distributed("control-reporting"),
        2,
    ),
    Fault(
        "executor-sigterm",
        "SIGTERM to a busy executor worker, a new one started",
        "passed",
        _distributed("executor-sigterm"),
        2,
    ),
    Fault(
        "embedded-sigterm",
        "SIGTERM to an embedded `matf run`",
        "error",
        partial(embedded.signalled, signum=signal.SIGTERM),
        2,
    ),
    Fault(
        "embedded-sigint",
        "SIGINT to an embedded `matf run`",
        "error",
        partial(embedded.signalled, signum=signal.SIGINT),
        2,
    ),
    Fault(
        "two-runs", "two embedded runs on one database at once", "passed", embedded.two_at_once, 2
    ),
]


def chosen(rows: str | None) -> list[Fault]:
    """The faults whose key or title contains one of the comma-separated substrings."""
    if not rows:
        return FAULTS
    wanted = [part.strip().lower() for part in rows.split(",") if part.strip()]
    return [f for f in FAULTS if any(w in f.key or w in f.title.lower() for w in wanted)]
