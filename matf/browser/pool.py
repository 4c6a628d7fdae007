"""One Playwright and its browsers per worker thread, each test in a fresh context.

Launching a browser costs hundreds of milliseconds, a context a few, so a
worker keeps its browsers for its whole life and isolates tests by context.
Playwright's sync API is bound to the thread that started it: a pool belongs
to one thread (a prefork child's main thread, or one embedded worker thread)
and must be closed by that thread.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from matf.browser.launch import BrowserUnavailable, launch
from matf.browser.registry import register

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright


class BrowserPool:
    """Lazily started browsers for the calling thread."""

    def __init__(self, chromium_path: Path | None = None) -> None:
        self._chromium_path = chromium_path
        self._playwright: Playwright | None = None
        self._browsers: dict[str, Browser] = {}
        self._unavailable: dict[str, str] = {}
        self.launches = 0
        self.stats = register(self)  # counters the monitor reads from other threads

    def browser(self, name: str) -> Browser:
        """The running browser of that engine, launched on first use."""
        self.stats.handed_out()
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


_local = threading.local()


def thread_pool(chromium_path: Path | None = None) -> BrowserPool:
    """The calling thread's pool, created on first use."""
    pool: BrowserPool | None = getattr(_local, "pool", None)
    if pool is None:
        pool = BrowserPool(chromium_path)
        _local.pool = pool
    return pool


def close_thread_pool() -> None:
    """Close the calling thread's pool, if it has one."""
    pool: BrowserPool | None = getattr(_local, "pool", None)
    if pool is not None:
        pool.close()
        _local.pool = None
