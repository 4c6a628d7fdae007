"""Every browser pool of this process, and counters a monitor may read from any thread.

Playwright's sync objects belong to the thread that made them, so a monitor
(a heartbeat thread, an API request) must never call into them. Each pool
therefore keeps a ``PoolStats`` of plain values that only its own thread
writes, from inside its own Playwright calls: ints, and a tuple of engine
names replaced whole, never mutated. Reading them elsewhere is safe under the
GIL and costs no round trip to a browser.

Pools are held weakly: a pool forgotten by its thread leaves the registry.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

    from matf.browser.pool import BrowserPool


class PoolStats:
    """What one pool has done; written by the pool's thread only."""

    def __init__(self) -> None:
        self.thread = threading.current_thread().name
        self.launches = 0
        self.tests_run = 0  # browsers handed out: one per test, and per relaunch after a crash
        self.contexts_open = 0
        self.open: tuple[str, ...] = ()
        self.unavailable: dict[str, str] = {}  # replaced whole, never mutated
        self._browsers: dict[str, Browser] = {}  # the owning thread's only

    def handed_out(self) -> None:
        self.tests_run += 1

    def refused(self, name: str, reason: str) -> None:
        self.unavailable = {**self.unavailable, name: reason}

    def launched(self, name: str, browser: Browser) -> None:
        """Count a launch and follow the browser's contexts through its events.

        The handlers run in the owning thread, inside its Playwright calls, and
        only read Playwright's local bookkeeping (no round trip to the browser).
        """
        self.launches += 1
        self._browsers[name] = browser
        browser.on("context", self._context_opened)
        browser.on("disconnected", lambda _browser: self._recount())
        self._recount()

    def closed(self) -> None:
        self._browsers = {}
        self._recount()

    def _context_opened(self, context: BrowserContext) -> None:
        context.on("close", lambda _context: self._recount())
        self._recount()

    def _recount(self) -> None:
        live = {n: b for n, b in self._browsers.items() if b.is_connected()}
        self.open = tuple(sorted(live))
        self.contexts_open = sum(len(b.contexts) for b in live.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "thread": self.thread,
            "browsers": list(self.open),
            "launches": self.launches,
            "contexts_open": self.contexts_open,
            "tests_run": self.tests_run,
            "unavailable": dict(self.unavailable),
        }


_pools: weakref.WeakSet[BrowserPool] = weakref.WeakSet()
_lock = threading.Lock()


def register(pool: BrowserPool) -> PoolStats:
    """Add ``pool`` to this process's registry; its stats are what monitors read."""
    with _lock:
        _pools.add(pool)
    return PoolStats()


def snapshots() -> list[dict[str, Any]]:
    """The counters of every live pool of this process, one dict per pool."""
    with _lock:
        pools = list(_pools)
    return [pool.stats.snapshot() for pool in pools]


def process_summary(pools: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool snapshots of one process added up (they may come from another host)."""
    unavailable: dict[str, str] = {}
    for pool in pools:
        unavailable |= pool.get("unavailable") or {}
    return {
        "browsers": sorted({name for pool in pools for name in pool.get("browsers", [])}),
        "launches": sum(int(pool.get("launches", 0)) for pool in pools),
        "contexts_open": sum(int(pool.get("contexts_open", 0)) for pool in pools),
        "tests_run": sum(int(pool.get("tests_run", 0)) for pool in pools),
        "unavailable": unavailable,
    }
