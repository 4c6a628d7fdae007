"""A run's progress: one rewritten line on a terminal, plain lines in a log.

On a terminal (stderr) one line is rewritten in place. Elsewhere (a CI job,
a pipe, a file) that would be noise, and silence would look hung: a plain
line goes to stdout at each phase, every ``every_tests`` finished tests, and
after ``quiet_s`` without one, so a log shows the run moving.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

PHASES = {
    "queued": "queued",
    "preparing": "checking target",
    "writing": "exploring and writing tests",
    "executing": "running tests",
    "reporting": "writing reports",
    "done": "done",
}
EVERY_TESTS = 10
QUIET_S = 30.0


class Progress:
    def __init__(
        self,
        stream: TextIO | None = None,
        log: TextIO | None = None,
        *,
        every_tests: int = EVERY_TESTS,
        quiet_s: float = QUIET_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``stream``: the terminal if it is one (stderr); ``log`` takes plain lines (stdout)."""
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.log = log or sys.stdout
        self.every_tests, self.quiet_s, self.clock = every_tests, quiet_s, clock
        self.started = clock()
        self._last = ""
        self._phase: object = None
        self._batch = 0  # finished tests // every_tests, at the last plain line
        self._said_at = self.started

    def update(self, state: dict[str, Any]) -> None:
        line = self._line(state)
        if self.live:
            if line != self._last:
                self.stream.write("\r\033[2K" + line)
                self.stream.flush()
                self._last = line
        elif self._worth_a_line(state):
            self.log.write(line + "\n")
            self.log.flush()

    def _line(self, state: dict[str, Any]) -> str:
        phase = PHASES.get(str(state.get("phase")), str(state.get("phase")))
        line = f"[{self.clock() - self.started:6.1f}s] {phase}"
        if state.get("phase") in ("executing", "reporting", "done") and state.get("total"):
            line += f"  {state['done']}/{state['total']} tests"
            if state.get("failed"):
                line += f", {state['failed']} failing"
        return line

    def _worth_a_line(self, state: dict[str, Any]) -> bool:
        """A new phase, ``every_tests`` more tests finished, or ``quiet_s`` of silence."""
        now = self.clock()
        batch = int(state.get("done") or 0) // self.every_tests
        due = (
            state.get("phase") != self._phase
            or batch > self._batch
            or now - self._said_at >= self.quiet_s
        )
        if due:
            self._phase, self._batch, self._said_at = state.get("phase"), batch, now
        return due

    def notice(self, text: str) -> None:
        """A line that stays (the broker lost, then back), above the live line."""
        if self.live:
            self.stream.write("\r\033[2K" + text + "\n" + self._last)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self._last:
            self.stream.write("\r\033[2K")
            self.stream.flush()
