"""Playwright's errors, translated at one boundary into what a test result says."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class StepFailed(Exception):
    """A step's check did not hold: the site misbehaved (a test failure)."""


class Conclusive(StepFailed):
    """A failure that was already measured several times: retrying would only repeat it."""


class TestTimedOut(StepFailed):
    """The test ran past its time budget."""


class BrowserCrashed(Exception):
    """The browser or its connection died: an infrastructure error, not a failure."""


def first_line(text: str, limit: int = 500) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@contextmanager
def playwright_errors() -> Iterator[None]:
    """Map Playwright exceptions onto StepFailed / BrowserCrashed."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        yield
    except PlaywrightTimeout as exc:
        raise StepFailed(_clean(exc.message)) from exc
    except PlaywrightError as exc:
        message = exc.message or str(exc)
        if (
            "Target page, context or browser has been closed" in message
            or ("Browser has been closed" in message)
            or "Connection closed" in message
        ):
            raise BrowserCrashed(first_line(message)) from exc
        raise StepFailed(_clean(message)) from exc
    except AssertionError as exc:
        raise StepFailed(_clean(str(exc))) from exc


def _clean(message: str) -> str:
    """Drop Playwright's call log noise, keep the human part (a few lines)."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    kept: list[str] = []
    for line in lines:
        if line.strip().startswith("Call log:"):
            break
        kept.append(line.rstrip())
    return "\n".join(kept[:8]) or "step failed"
