"""Notes on what discovery skipped: deduplicated, capped, and safe to print."""

from __future__ import annotations

import re

MAX_NOTES = 200

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class Notes:
    """Lines for the report, each once, at most ``MAX_NOTES`` and a count of the rest."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.dropped = 0

    def add(self, line: str) -> None:
        if line in self.lines:
            return
        if len(self.lines) < MAX_NOTES:
            self.lines.append(line)
        else:
            self.dropped += 1

    def result(self) -> list[str]:
        more = [f"… and {self.dropped} more notes"] if self.dropped else []
        return self.lines + more


def clip(text: str, limit: int = 120) -> str:
    """Untrusted text for a note: unprintable characters as '?', at most ``limit`` long."""
    text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
