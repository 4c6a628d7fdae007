"""Live progress: one rewritten line on a terminal, plain lines in a log."""

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


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_prints_plain_lines_at_each_phase_every_ten_tests_and_after_silence() -> None:
    # Given a pipe, as in a CI job, and a clock the test moves
    pipe, log, clock = io.StringIO(), io.StringIO(), _Clock()
    progress = Progress(pipe, log, clock=clock)
    # When the run moves through its phases and tests finish one by one
    progress.update({"phase": "writing", "total": 0, "done": 0, "failed": 0})
    progress.update({"phase": "writing", "total": 0, "done": 0, "failed": 0})
    for done in range(0, 26):
        clock.now += 1
        progress.update({"phase": "executing", "total": 25, "done": done, "failed": 0})
    clock.now += 30  # a slow test: nothing finishes for a while
    progress.update({"phase": "executing", "total": 25, "done": 25, "failed": 1})
    progress.update({"phase": "done", "total": 25, "done": 25, "failed": 1})
    progress.close()
    # Then one line per phase, one per ten tests, one after 30 s of silence; none on the pipe
    assert pipe.getvalue() == ""
    assert log.getvalue().splitlines() == [
        "[   0.0s] exploring and writing tests",
        "[   1.0s] running tests  0/25 tests",
        "[  11.0s] running tests  10/25 tests",
        "[  21.0s] running tests  20/25 tests",
        "[  56.0s] running tests  25/25 tests, 1 failing",
        "[  56.0s] done  25/25 tests, 1 failing",
    ]
