"""``report.pdf``: the HTML report printed by headless Chromium, for filing and mailing.

The PDF is the print variant of ``report.html`` (same data, same escaping, same
Content-Security-Policy; no script, no filters, failures open, an all-results
table) rendered by ``page.pdf()``. Page text in a report is the target's, so
the page is printed with JavaScript off and every request refused: only the
``data:`` images already in the page show, nothing is fetched.

Chromium may be missing where reports are written, and a huge report may print
slowly, so the PDF is optional: when Chromium cannot start, or printing takes
longer than ``timeout_s``, ``write_pdf`` raises ``PdfSkipped`` with the reason
and the other reports stand. Printing runs in a thread of its own with
Playwright's async API: the caller's thread may hold a sync Playwright already,
and a timeout cancels the print and closes the browser cleanly.

Launching Chromium costs about half a second, as much as printing a small
report: a process keeps its printer's browser between reports, and may start
it ahead of time (``warm_printer``: embedded runs do, while their tests run),
so the report waits on neither launch. Each print has a fresh context with
JavaScript off; a browser that died or overran a print is replaced.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matf.browser.launch import chromium_options
from matf.errors import EnvironmentProblem, MatfError
from matf.files import write_atomic
from matf.reports.html import render_html

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright, Route

    from matf.settings import Settings

PDF_NAME = "report.pdf"
DEFAULT_TIMEOUT_S = 120.0
CLOSE_GRACE_S = 15.0  # after a timeout, how long closing the browser may take


class PdfSkipped(EnvironmentProblem):
    """report.pdf was not written; the message says why (the other reports stand)."""


@dataclass(frozen=True)
class PdfOptions:
    """Which Chromium prints the PDF, and how long it may take."""

    chromium_path: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: Settings) -> PdfOptions:
        return cls(settings.matf_chromium_path, float(settings.matf_report_pdf_timeout))


def write_pdf(report: dict[str, Any], out_dir: Path, options: PdfOptions) -> Path:
    """Print ``report`` (report.json's data) to ``out_dir/report.pdf``; ``PdfSkipped`` if not."""
    html = render_html(report, out_dir, for_print=True)
    pdf = _printer(options).print(html, options.timeout_s)
    return write_atomic(Path(out_dir) / PDF_NAME, pdf)


def warm_printer(options: PdfOptions) -> None:
    """Start the printer's browser now, without waiting for it (a failure is told at print)."""
    _printer(options).warm()


def close_printers() -> None:
    """Close every printer of this process and its browser."""
    with _printers_lock:
        printers = list(_printers.values())
        _printers.clear()
    for printer in printers:
        printer.close()


_printers: dict[Path | None, _Printer] = {}
_printers_lock = threading.Lock()


def _printer(options: PdfOptions) -> _Printer:
    with _printers_lock:
        printer = _printers.get(options.chromium_path)
        if printer is None:
            if not _printers:
                atexit.register(close_printers)
            printer = _printers[options.chromium_path] = _Printer(options.chromium_path)
        return printer


def _forget_after_fork() -> None:
    _printers.clear()  # their threads stayed in the parent


os.register_at_fork(after_in_child=_forget_after_fork)


class _Printer:
    """One headless Chromium for printing, on an event loop thread of its own.

    Everything Playwright is touched on the loop's thread only; other threads
    hand it coroutines. ``_launch`` is the browser's launch: a task whose
    result is the browser, or the exception that stopped it.
    """

    def __init__(self, chromium_path: Path | None) -> None:
        self._chromium_path = chromium_path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="matf-report-pdf", daemon=True
        )
        self._thread.start()
        self._playwright: Playwright | None = None
        self._launch: asyncio.Task[Browser | BaseException] | None = None
        self._retired: set[asyncio.Task[None]] = set()

    def warm(self) -> None:
        asyncio.run_coroutine_threadsafe(self._launched(), self._loop)

    def print(self, html: str, timeout_s: float) -> bytes:
        future = asyncio.run_coroutine_threadsafe(self._print_within(html, timeout_s), self._loop)
        try:
            return future.result(timeout_s + CLOSE_GRACE_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise PdfSkipped(_too_slow(timeout_s)) from None
        except PdfSkipped:
            raise
        except MatfError as error:
            raise PdfSkipped(error.message) from error
        except Exception as error:  # noqa: BLE001 - a print that failed skips the PDF only
            first = " ".join(str(error).split())[:300] or type(error).__name__
            raise PdfSkipped(f"Chromium could not print the report: {first}") from error

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        done = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
        with suppress(Exception):
            done.result(CLOSE_GRACE_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CLOSE_GRACE_S)
        if not self._thread.is_alive():
            self._loop.close()

    async def _print_within(self, html: str, timeout_s: float) -> bytes:
        try:
            return await asyncio.wait_for(self._print(html, timeout_s), timeout_s)
        except TimeoutError:
            self._retire()  # a hung browser is not kept for the next report
            raise PdfSkipped(_too_slow(timeout_s)) from None

    async def _print(self, html: str, timeout_s: float) -> bytes:
        browser = await self._launched()
        context = await browser.new_context(
            java_script_enabled=False, service_workers="block", offline=True
        )
        try:
            await context.route("**/*", _refuse)
            page = await context.new_page()
            await page.set_content(html, wait_until="load", timeout=timeout_s * 1000)
            await page.emulate_media(media="print")
            return await page.pdf(
                format="A4", print_background=True, outline=True, tagged=True, scale=0.9
            )
        finally:
            with suppress(Exception):
                await context.close()

    async def _launched(self) -> Browser:
        """The running browser, launched (once at a time) when there is none."""
        task = self._launch
        if task is None or (task.done() and not _usable(task.result())):
            task = self._launch = asyncio.ensure_future(self._start())
        outcome = await asyncio.shield(task)
        if isinstance(outcome, BaseException):
            self._launch = None  # the next print tries again
            raise outcome
        return outcome

    async def _start(self) -> Browser | BaseException:
        try:
            if self._playwright is None:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
            options = chromium_options(self._playwright, self._chromium_path)
            return await self._playwright.chromium.launch(**options)
        except Exception as error:  # noqa: BLE001 - kept for the print that waits on it
            return error

    def _retire(self) -> None:
        task, self._launch = self._launch, None
        if task is not None:
            closing = asyncio.ensure_future(_close_when_launched(task))
            self._retired.add(closing)
            closing.add_done_callback(self._retired.discard)

    async def _close(self) -> None:
        self._retire()
        if self._retired:
            await asyncio.wait(list(self._retired), timeout=CLOSE_GRACE_S)
        if self._playwright is not None:
            with suppress(Exception):
                await self._playwright.stop()
            self._playwright = None


def _usable(outcome: Browser | BaseException) -> bool:
    return not isinstance(outcome, BaseException) and outcome.is_connected()


async def _close_when_launched(task: asyncio.Task[Browser | BaseException]) -> None:
    outcome = await task
    if not isinstance(outcome, BaseException):
        with suppress(Exception):  # a dead browser is closed already
            await outcome.close()


def _too_slow(timeout_s: float) -> str:
    return (
        f"printing took longer than {timeout_s:g} s "
        "(MATF_REPORT_PDF_TIMEOUT); report.html has everything"
    )


async def _refuse(route: Route) -> None:
    """Nothing leaves the page: data: images are in it already, anything else is refused."""
    await route.abort("blockedbyclient")
