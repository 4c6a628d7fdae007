"""Find a browser build and launch it with flags fit for machines without internet.

Order for Chromium: ``MATF_CHROMIUM_PATH``, Playwright's own build, then a
system Chromium. Firefox and WebKit are used only where Playwright's builds are
installed; elsewhere their tests are reported as skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matf.errors import EnvironmentProblem

if TYPE_CHECKING:
    from playwright.async_api import Playwright as AsyncPlaywright
    from playwright.sync_api import Browser, Playwright

BROWSERS = ("chromium", "firefox", "webkit")

# Without these, Chromium keeps calling home and floods a closed network with
# refused connections; --disable-gpu because servers and CI have none.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

SYSTEM_CHROMIUMS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)


class BrowserUnavailable(EnvironmentProblem):
    """No build of the asked browser is installed here."""


def _is_executable(path: str | Path) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def system_chromium() -> str | None:
    """A Chromium installed by the system's package manager, if any."""
    for candidate in SYSTEM_CHROMIUMS:
        if _is_executable(candidate):
            return candidate
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_executable(
    playwright: Playwright | AsyncPlaywright, configured: Path | None
) -> str | None:
    """The Chromium to launch; None means Playwright's own build, found by itself."""
    if configured is not None:
        if not _is_executable(configured):
            raise BrowserUnavailable(f"MATF_CHROMIUM_PATH={configured} is not an executable file")
        return str(configured)
    if _is_executable(playwright.chromium.executable_path):
        return None
    found = system_chromium()
    if found is None:
        raise BrowserUnavailable(
            "no Chromium found: install one with 'sudo apt-get install chromium' "
            "(Debian/Ubuntu) or 'playwright install chromium', or set MATF_CHROMIUM_PATH"
        )
    return found


def chromium_options(
    playwright: Playwright | AsyncPlaywright, configured: Path | None
) -> dict[str, Any]:
    """Keyword arguments of ``chromium.launch`` (sync or async): the build, headless, the flags."""
    args = list(CHROMIUM_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and sys.platform.startswith("linux"):
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    return {
        "headless": True,
        "executable_path": chromium_executable(playwright, configured),
        "args": args,
    }


def launch(playwright: Playwright, name: str, configured_chromium: Path | None) -> Browser:
    """Launch one headless browser of the given engine."""
    if name == "chromium":
        return playwright.chromium.launch(**chromium_options(playwright, configured_chromium))
    engine = getattr(playwright, name)
    if not _is_executable(engine.executable_path):
        raise BrowserUnavailable(
            f"{name} is not installed here (Playwright's {name} build is missing; "
            f"'playwright install {name}' installs it where the network allows)"
        )
    return engine.launch(headless=True)  # type: ignore[no-any-return]
