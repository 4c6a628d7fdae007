"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

Python turns SIGINT into ``KeyboardInterrupt``; ``interrupts()`` turns
SIGTERM (a service manager, ``kill``, a CI job cancelled) and SIGHUP (the
terminal closed) into ``Interrupted``, a ``KeyboardInterrupt`` that carries
its signal, so every path that handles Ctrl-C handles them too: the run is
marked ended with a reason, one line names the signal, and the exit code is
128 + the signal's number, as a shell reports a process the signal killed.
A signal the caller ignored (``nohup`` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal that asks the command to stop, raised where the main thread was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind an interrupt: its own, or SIGINT for a plain ``KeyboardInterrupt``."""
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


def exit_code(exc: BaseException) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + signal_of(exc)


def describe(exc: BaseException) -> str:
    """The one line that says how the command ended: ``interrupted by SIGTERM``."""
    return f"interrupted by {signal.Signals(signal_of(exc)).name}"


def run_reason(exc: BaseException) -> str:
    """Why an interrupted run ended, as its record says it."""
    if signal_of(exc) == signal.SIGINT:
        return "interrupted by the user"
    return describe(exc)


@contextmanager
def interrupts(signums: tuple[signal.Signals, ...] = HANDLED) -> Iterator[None]:
    """Raise ``Interrupted`` on these signals inside the block; restore their handlers after.

    Only the main thread may set handlers: elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.getsignal(s) for s in signums}
    for signum, before in previous.items():
        if before is not signal.SIG_IGN:
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before if before is not None else signal.SIG_DFL)
