"""Visual regression: capture a page stably and compare it with its approved baseline.

A capture is made to be repeatable: fonts loaded, network quiet, animations
and the caret off, a fixed viewport and device scale (from the context), masked
regions painted over, and shots taken until two in a row are identical (as
Playwright Test's ``toHaveScreenshot`` does). Baselines are files under
``<storage>/baselines/<key>.png``: the executor only reads them; the context
manager agent (``matf.storage.baselines``) records and approves them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from matf import spec as s
from matf.browser.errors import StepFailed
from matf.browser.page import resolve, wait_quiet
from matf.results import VisualCheck

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

MASK_COLOR = "#FF00FF"
MAX_SHOTS = 4
_FONTS_READY = "() => document.fonts ? document.fonts.ready.then(() => true) : true"


def slug(text: str, limit: int = 80) -> str:
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
    return cleaned[:limit] or "default"


def baseline_set(url: str) -> str:
    """The default set a target's baselines belong to: its host and port."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return slug(f"{parts.hostname or 'site'}_{port}")


def baseline_key(set_name: str, case_id: str, name: str, browser: str, variant: str) -> str:
    """Where a baseline lives, relative to the baselines root (without ``.png``)."""
    return f"{slug(set_name)}/{slug(case_id)}/{slug(name)}-{slug(browser)}-{slug(variant)}"


def baseline_file(root: Path, key: str) -> Path:
    path = (root / f"{key}.png").resolve()
    if root.resolve() not in path.parents:
        raise ValueError(f"baseline key {key!r} leaves the baselines folder")
    return path


def capture(
    page: Page, step: s.CheckVisual, timeout_ms: float, secret_masks: Sequence[Locator] = ()
) -> tuple[bytes, bool]:
    """A stable screenshot: (png, settled); settled is False if no two shots matched.

    ``secret_masks``: what shows a secret (``Observed.masks``), painted over
    like the step's own masks.
    """
    page.evaluate(_FONTS_READY)
    wait_quiet(page, min(timeout_ms, 5000))
    masks = [resolve(page, locator) for locator in step.mask] + list(secret_masks)
    previous: bytes | None = None
    for _ in range(MAX_SHOTS):
        shot = page.screenshot(
            full_page=step.full_page,
            animations="disabled",
            caret="hide",
            mask=masks,
            mask_color=MASK_COLOR,
            scale="css",
            type="png",
            timeout=timeout_ms,
        )
        if shot == previous:
            return shot, True
        previous = shot
    assert previous is not None
    return previous, False


def check(
    page: Page,
    step: s.CheckVisual,
    key: str,
    baselines_root: Path,
    artifacts_root: Path,
    stem: str,
    timeout_ms: float,
    secret_masks: Sequence[Locator] = (),
) -> VisualCheck:
    """Capture, compare with the baseline at ``key``, keep the evidence; raise on a change.

    ``stem`` names the artifacts (``<run>/<case>-<browser>-<attempt>-<name>``).
    """
    shot, settled = capture(page, step, timeout_ms, secret_masks)
    actual = f"{stem}.actual.png"
    _write(artifacts_root / actual, shot)
    baseline = baseline_file(baselines_root, key)
    if not baseline.is_file():
        width, height = png_size(shot)
        return VisualCheck(
            name=step.name, key=key, status="recorded", width=width, height=height,
            tolerance=step.tolerance, actual=actual,
        )  # fmt: skip
    from matf.pixeldiff import compare

    expected = baseline.read_bytes()
    result = compare(expected, shot, threshold=step.threshold)
    changed = result.size_changed or result.ratio > step.tolerance
    diff = None
    if result.changed and result.diff_png is not None:
        diff = f"{stem}.diff.png"
        _write(artifacts_root / diff, result.diff_png)
    found = VisualCheck(
        name=step.name,
        key=key,
        status="changed" if changed else "matched",
        width=result.width,
        height=result.height,
        changed_pixels=result.changed,
        ratio=round(result.ratio, 6),
        tolerance=step.tolerance,
        size_changed=result.size_changed,
        actual=actual,
        diff=diff,
        baseline_sha256=hashlib.sha256(expected).hexdigest(),
    )
    if changed:
        what = (
            f"{result.ratio:.2%} of pixels changed ({result.changed} px), "
            f"tolerance {step.tolerance:.2%}"
        )
        if result.size_changed:
            (bw, bh), (aw, ah) = result.baseline_size, result.actual_size
            what += f"; the page changed size from {bw}x{bh} to {aw}x{ah}"
        note = "" if settled else " (the page kept changing while it was captured)"
        raise VisualChanged(f"visual change in {step.name!r}: {what}{note}", found)
    return found


class VisualChanged(StepFailed):
    """The page no longer looks like its baseline; carries the comparison."""

    def __init__(self, message: str, check: VisualCheck) -> None:
        super().__init__(message)
        self.check = check


def png_size(png: bytes) -> tuple[int, int]:
    # PNG's IHDR: width and height are the big-endian ints at bytes 16..24.
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
