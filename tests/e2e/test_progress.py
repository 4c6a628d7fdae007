"""Live progress: one rewritten line on a terminal, nothing elsewhere."""

from __future__ import annotations

import io

from cli.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_with_phase_and_counts_on_a_terminal() -> None:
    screen = _Terminal()
    progress = Progress(screen)
    progress.update({"phase": "writing", "total": 0, "done": 0, "failed": 0})
    progress.update({"phase": "executing", "total": 40, "done": 12, "failed": 2})
    progress.update({"phase": "executing", "total": 40, "done": 12, "failed": 2})  # unchanged
    progress.close()
    text = screen.getvalue()
    assert "exploring and writing tests" in text
    assert "12/40 tests, 2 failing" in text
    assert text.count("12/40") == 1 and "\n" not in text
    assert text.endswith("\r\033[2K")


def test_progress_is_silent_when_not_on_a_terminal() -> None:
    pipe = io.StringIO()
    progress = Progress(pipe)
    progress.update({"phase": "executing", "total": 4, "done": 1, "failed": 0})
    progress.close()
    assert pipe.getvalue() == ""
