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
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matf.browser.launch import chromium_options
from matf.errors import EnvironmentProblem, MatfError
from matf.files import write_atomic
from matf.reports.html import render_html

if TYPE_CHECKING:
    from playwright.async_api import Route

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
    pdf = _print_in_thread(html, options)
    return write_atomic(Path(out_dir) / PDF_NAME, pdf)


def _print_in_thread(html: str, options: PdfOptions) -> bytes:
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["pdf"] = asyncio.run(_print_within(html, options))
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="matf-report-pdf", daemon=True)
    thread.start()
    thread.join(options.timeout_s + CLOSE_GRACE_S)
    if thread.is_alive():
        raise PdfSkipped(_too_slow(options))
    error = outcome.get("error")
    if error is None:
        return bytes(outcome["pdf"])
    if isinstance(error, MatfError):
        raise PdfSkipped(error.message) from error
    if isinstance(error, TimeoutError):
        raise PdfSkipped(_too_slow(options)) from error
    first = " ".join(str(error).split())[:300] or type(error).__name__
    raise PdfSkipped(f"Chromium could not print the report: {first}") from error


def _too_slow(options: PdfOptions) -> str:
    return (
        f"printing took longer than {options.timeout_s:g} s "
        "(MATF_REPORT_PDF_TIMEOUT); report.html has everything"
    )


async def _print_within(html: str, options: PdfOptions) -> bytes:
    return await asyncio.wait_for(_print(html, options), options.timeout_s)


async def _print(html: str, options: PdfOptions) -> bytes:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            **chromium_options(playwright, options.chromium_path)
        )
        try:
            context = await browser.new_context(
                java_script_enabled=False, service_workers="block", offline=True
            )
            await context.route("**/*", _refuse)
            page = await context.new_page()
            timeout_ms = options.timeout_s * 1000
            await page.set_content(html, wait_until="load", timeout=timeout_ms)
            await page.emulate_media(media="print")
            return await page.pdf(
                format="A4", print_background=True, outline=True, tagged=True, scale=0.9
            )
        finally:
            await browser.close()


async def _refuse(route: Route) -> None:
    """Nothing leaves the page: data: images are in it already, anything else is refused."""
    await route.abort("blockedbyclient")
