"""Which browser builds this host has, found on disk without launching anything.

For readiness probes and the browser report: starting Playwright's driver to
ask would cost a process per probe. The order follows ``launch.py``:
``MATF_CHROMIUM_PATH``, Playwright's own build, then a system Chromium.
"""

from __future__ import annotations

import os
from glob import glob
from pathlib import Path

from matf.browser.launch import system_chromium

# Where ``playwright install`` puts each engine's executable, on Linux and macOS.
_BUILDS = {
    "chromium": (
        "chromium-*/chrome-*/chrome",
        "chromium_headless_shell-*/chrome-*/headless_shell",
        "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
    ),
    "firefox": (
        "firefox-*/firefox/firefox",
        "firefox-*/firefox/Nightly.app/Contents/MacOS/firefox",
    ),
    "webkit": ("webkit-*/pw_run.sh",),
    "ffmpeg": ("ffmpeg-*/ffmpeg-linux", "ffmpeg-*/ffmpeg-mac"),
}


def _executable(path: str | Path) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def playwright_build(name: str) -> tuple[str | None, str]:
    """Playwright's own build of an engine, if installed: (path or None, what was found).

    ``PLAYWRIGHT_BROWSERS_PATH`` is Playwright's variable, not a MATF setting:
    it is read here the way Playwright itself reads it.
    """
    roots = [
        os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or "",
        str(Path.home() / ".cache" / "ms-playwright"),
        str(Path.home() / "Library" / "Caches" / "ms-playwright"),
    ]
    for root in filter(None, roots):
        for pattern in _BUILDS.get(name, ()):
            for path in sorted(glob(str(Path(root) / pattern))):
                if _executable(path):
                    return path, f"Playwright's {name} build at {path}"
    return None, f"{name} is not installed on this host"


def find_chromium(configured: Path | None) -> tuple[str | None, str]:
    """The Chromium a launch would use on this host: (path or None, what was found)."""
    if configured is not None:
        if _executable(configured):
            return str(configured), f"MATF_CHROMIUM_PATH={configured}"
        return None, f"MATF_CHROMIUM_PATH={configured} is not an executable file"
    found = playwright_build("chromium")[0] or system_chromium()
    if found is None:
        return None, (
            "no Chromium found: install one with 'sudo apt-get install chromium' "
            "or 'playwright install chromium', or set MATF_CHROMIUM_PATH"
        )
    return found, f"Chromium at {found}"


def video_available() -> bool:
    """Playwright records video with its own ffmpeg build; without it, no video."""
    return playwright_build("ffmpeg")[0] is not None
