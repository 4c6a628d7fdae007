"""What steps, checks and agents share on a live page: finding elements, waiting, reading refusals.

It imports none of its users (``steps``, ``perf``, ``visual``, ``api``, the
agents), so each of them can import it at module top.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import FrameLocator, Locator, Page

    from matf import spec as s


def resolve(page: Page, locator: s.Locator) -> Locator:
    """Turn a spec locator into a Playwright locator; strategies are a closed set."""
    found = matching(page, locator)
    return found.nth(locator.nth) if locator.nth is not None else found.first


def matching(page: Page, locator: s.Locator) -> Locator:
    """Every element the locator's strategy finds (``nth`` not applied), inside its frames."""
    exact = locator.exact
    scope: Page | FrameLocator = page
    for frame in locator.frames or ():
        scope = scope.frame_locator(frame)
    if locator.role is not None:
        found = scope.get_by_role(locator.role, name=locator.name, exact=exact)
    elif locator.label is not None:
        found = scope.get_by_label(locator.label, exact=exact)
    elif locator.text is not None:
        found = scope.get_by_text(locator.text, exact=exact)
    elif locator.test_id is not None:
        found = scope.get_by_test_id(locator.test_id)
    elif locator.placeholder is not None:
        found = scope.get_by_placeholder(locator.placeholder, exact=exact)
    elif locator.alt is not None:
        found = scope.get_by_alt_text(locator.alt, exact=exact)
    else:
        assert locator.css is not None
        found = scope.locator(locator.css)
    return found


def secret_masks(page: Page, fields: Sequence[s.Locator], values: Sequence[str]) -> list[Locator]:
    """What a screenshot paints over: the fields a secret was filled into, and any text showing one.

    ``values`` are the secrets filled into the page (the page holds them
    already); a page that echoes one (a greeting, a mirror of what is typed)
    has that element masked too. Playwright resolves masks itself, in its own
    script: the page's scripts do not see what is searched for.
    """
    masks = [resolve(page, field) for field in fields]
    masks += [page.get_by_text(value) for value in dict.fromkeys(values) if len(value.strip()) >= 4]
    return masks


def wait_quiet(page: Page, timeout_ms: float) -> None:
    """Best effort: let background requests finish; a page that keeps polling is fine."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=timeout_ms)


def describe_refusal(url: str, headers: dict[str, str]) -> str | None:
    """Why MATF's network guard refused a request (a guarded run), if it did."""
    reason = headers.get("x-matf-guard")
    return f"{url} was not visited: {reason}" if reason else None
