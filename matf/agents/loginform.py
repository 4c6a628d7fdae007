"""The sign-in form on a page: find it, fill it, submit it, read what the page says after.

What the page holds is read by ``loginform.js`` in one call per look; the
fields it finds are marked ``data-matf-login`` so Playwright fills exactly
those. Nothing here reads back a value that was typed in.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

# Where sites usually put their sign-in form, tried after the pages given.
COMMON_PATHS = ("/login", "/signin", "/account/login", "/users/sign_in")
SETTLE_MS = 5_000  # network quiet after a submit; pages that poll never go quiet
AJAX_GRACE_MS = 1_500  # a form handled by script may answer after the network settles


@cache
def _script() -> str:
    return resources.files("matf.agents").joinpath("loginform.js").read_text(encoding="utf-8")


@dataclass(frozen=True)
class FoundForm:
    """A visible password field on ``url``, and what goes with it."""

    url: str
    action: str | None  # where the form posts, absolute; None for a field outside a form
    username: bool
    submit: bool
    captcha: tuple[str, ...]


@dataclass(frozen=True)
class After:
    """What the page shows once a submit has settled."""

    password: bool  # a visible password field is still there
    captcha: tuple[str, ...]
    otp: bool  # a one-time-code field
    error: str  # the site's visible error text, squeezed to one line
    invalid: str = ""  # why the browser would not send the form (its validation messages)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` as the browser compares origins (lower-cased host)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def places(
    target_url: str, login_url: str | None, candidates: tuple[str, ...] | list[str], limit: int
) -> list[str]:
    """Where to look for the form, in order: the given URL alone, else pages then common paths.

    Only pages of the target's origin: its credentials go nowhere else.
    """
    if login_url:
        return [login_url]
    origin = origin_of(target_url)
    ordered: list[str] = []
    for url in [*candidates, target_url, *(origin + path for path in COMMON_PATHS)]:
        bare = url.split("#", 1)[0]
        if origin_of(bare) == origin and bare not in ordered:
            ordered.append(bare)
    return ordered[:limit]


def look_for_form(page: Page, url: str, timeout_ms: int) -> FoundForm | str:
    """The form at ``url``, or a few words on why not (for the "looked at" list)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        response = page.goto(url, wait_until="load", timeout=timeout_ms)
    except PlaywrightError as exc:
        return f"{url} (did not load: {(exc.message or '').splitlines()[0][:120]})"
    if origin_of(page.url) != origin_of(url):
        return f"{url} (sent to another origin, {origin_of(page.url)})"
    data: dict[str, Any] = page.evaluate(_script(), "find")
    if not data.get("found") and (response is None or response.status < 400):
        quiet(page, timeout_ms)  # a form drawn by script shows once the page's requests end
        data = page.evaluate(_script(), "find")
    if not data.get("found"):
        return url
    return FoundForm(
        url=page.url,
        action=data.get("action"),
        username=bool(data.get("username")),
        submit=bool(data.get("submit")),
        captcha=tuple(data.get("captcha") or ()),
    )


def posts_elsewhere(form: FoundForm) -> str | None:
    """The other origin a form posts to, if it does: the password must not go there."""
    if not form.action or urlsplit(form.action).scheme not in ("http", "https"):
        return None
    target = origin_of(form.action)
    return target if target != origin_of(form.url) else None


def fill_and_submit(page: Page, form: FoundForm, username: str, password: str) -> None:
    """Type the credentials into the marked fields and submit: the button, else Enter."""
    if form.username:
        page.locator('[data-matf-login="username"]').fill(username)
    field = page.locator('[data-matf-login="password"]')
    field.fill(password)
    if form.submit:
        page.locator('[data-matf-login="submit"]').click()
    else:
        field.press("Enter")


def settle(page: Page, timeout_ms: int) -> None:
    """Wait for the submit's navigation to load and the network to go quiet."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with suppress(PlaywrightTimeout):
        page.wait_for_load_state("load", timeout=timeout_ms)
    quiet(page, timeout_ms)
    # A form handled by script leaves the field in place until its answer is drawn.
    with suppress(PlaywrightTimeout):
        page.locator('[data-matf-login="password"]').wait_for(
            state="hidden", timeout=min(timeout_ms, AJAX_GRACE_MS)
        )


def quiet(page: Page, timeout_ms: int) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=min(timeout_ms, SETTLE_MS))


def after_submit(page: Page) -> After:
    """What the page shows now; read again once when a late redirect replaced the page."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        data: dict[str, Any] = page.evaluate(_script(), "inspect")
    except PlaywrightError as exc:
        if "context was destroyed" not in (exc.message or ""):
            raise
        settle(page, SETTLE_MS)
        data = page.evaluate(_script(), "inspect")
    return After(
        password=bool(data.get("password")),
        captcha=tuple(data.get("captcha") or ()),
        otp=bool(data.get("otp")),
        error=str(data.get("error") or ""),
        invalid=str(data.get("invalid") or ""),
    )


def session_marks(context: BrowserContext, origin: str) -> set[str]:
    """What identifies a session for ``origin``: its cookies and its local storage, as strings.

    Kept in memory only, to compare before and after the submit.
    """
    marks = {
        f"cookie:{c.get('name')}={c.get('value')};{c.get('domain')}{c.get('path')}"
        for c in context.cookies([origin])
    }
    for entry in context.storage_state().get("origins", []):
        if origin_of(entry.get("origin", "")) == origin:
            marks |= {f"local:{i.get('name')}={i.get('value')}" for i in entry["localStorage"]}
    return marks
