"""Live progress on a terminal, one rewritten line; silence elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

PHASES = {
    "queued": "queued",
    "preparing": "checking target",
    "writing": "exploring and writing tests",
    "executing": "running tests",
    "reporting": "writing reports",
    "done": "done",
}


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._last = ""

    def update(self, state: dict[str, Any]) -> None:
        if not self.enabled:
            return
        phase = PHASES.get(str(state.get("phase")), str(state.get("phase")))
        line = f"[{time.monotonic() - self.started:6.1f}s] {phase}"
        if state.get("phase") in ("executing", "reporting") and state.get("total"):
            line += f"  {state['done']}/{state['total']} tests"
            if state.get("failed"):
                line += f", {state['failed']} failing"
        if line != self._last:
            self.stream.write("\r\033[2K" + line)
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\r\033[2K")
            self.stream.flush()
