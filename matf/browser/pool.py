"""One Playwright and its browsers per worker thread, each test in a fresh context.

Launching a browser costs hundreds of milliseconds, a context a few, so a
worker keeps its browsers for its whole life and isolates tests by context.
Playwright's sync API is bound to the thread that started it: a pool belongs
to one thread (a prefork child's main thread, or one embedded worker thread)
and must be closed by that thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matf.browser.launch import BrowserUnavailable, launch
from matf.browser.registry import register
from matf.errors import UsageError
from matf.settings import DEFAULT_ENGINE_LIMITS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright


_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _slot(name: str, limits: Mapping[str, int]) -> threading.BoundedSemaphore:
    with _slots_lock:
        found = _slots.get(name)
        if found is None:
            found = _slots[name] = threading.BoundedSemaphore(
                limits.get(name, DEFAULT_ENGINE_LIMITS.get(name, 1))
            )
        return found


class BrowserPool:
    """Lazily started browsers for the calling thread.

    ``engine_limits`` is the worker's browser pool: how many tests of each
    engine this process runs at once, across its threads (the guide's
    chromium 3, firefox 2, webkit 1 by default).
    """

    def __init__(
        self, chromium_path: Path | None = None, engine_limits: Mapping[str, int] | None = None
    ) -> None:
        self._chromium_path = chromium_path
        self._limits = dict(engine_limits or DEFAULT_ENGINE_LIMITS)
        self._playwright: Playwright | None = None
        self._browsers: dict[str, Browser] = {}
        self._unavailable: dict[str, str] = {}
        self.launches = 0
        self.stats = register(self)  # counters the monitor reads from other threads

    def browser(self, name: str) -> Browser:
        """The running browser of that engine, launched on first use."""
        self.stats.handed_out()
        return self._running(name)

    def warm(self, name: str) -> None:
        """Launch that engine's browser now, before a test needs it (counts no test).

        One that cannot start is remembered: the tests that need it say why.
        """
        with suppress(BrowserUnavailable):
            self._running(name)

    def _running(self, name: str) -> Browser:
        if name in self._unavailable:
            raise BrowserUnavailable(self._unavailable[name])
        current = self._browsers.get(name)
        if current is not None and current.is_connected():
            return current
        if self._playwright is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
        try:
            browser = launch(self._playwright, name, self._chromium_path)
        except BrowserUnavailable as exc:
            self._unavailable[name] = exc.message
            self.stats.refused(name, exc.message)
            raise
        self._browsers[name] = browser
        self.launches += 1
        self.stats.launched(name, browser)
        return browser

    @contextmanager
    def slot(self, name: str) -> Iterator[None]:
        """Hold one of this process's places for a test of engine ``name``."""
        semaphore = _slot(name, self._limits)
        with semaphore:
            yield

    def device(self, name: str) -> dict[str, Any]:
        """Playwright's descriptor of a device ("Pixel 7"): viewport, user agent, touch."""
        if self._playwright is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
        devices = self._playwright.devices
        if name not in devices:
            raise unknown_device(name, sorted(devices))
        return dict(devices[name])

    def close(self) -> None:
        """Close every browser and Playwright itself; safe to call twice."""
        for browser in self._browsers.values():
            with suppress(Exception):  # a dead browser is already closed
                browser.close()
        self._browsers.clear()
        self.stats.closed()
        if self._playwright is not None:
            with suppress(Exception):
                self._playwright.stop()
            self._playwright = None


def unknown_device(name: str, known: list[str]) -> UsageError:
    """The error for a device name Playwright's list does not have, with close names."""
    words = name.lower().split()
    close = [d for d in known if words and words[0] in d.lower()][:5]
    hint = f"; did you mean {', '.join(repr(d) for d in close)}?" if close else ""
    return UsageError(f"unknown device {name!r}: not in Playwright's device list{hint}")


@cache
def device_names() -> list[str]:
    """Every device Playwright can emulate (starts Playwright's driver once)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        return sorted(playwright.devices)


_local = threading.local()


def thread_pool(
    chromium_path: Path | None = None, engine_limits: Mapping[str, int] | None = None
) -> BrowserPool:
    """The calling thread's pool, created on first use."""
    pool: BrowserPool | None = getattr(_local, "pool", None)
    if pool is None:
        pool = BrowserPool(chromium_path, engine_limits)
        _local.pool = pool
    return pool


def close_thread_pool() -> None:
    """Close the calling thread's pool, if it has one."""
    pool: BrowserPool | None = getattr(_local, "pool", None)
    if pool is not None:
        pool.close()
        _local.pool = None
