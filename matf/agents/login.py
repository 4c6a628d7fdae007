"""Signing in to a target once, so that every test can start signed in.

The context manager finds the target's sign-in form, fills it with the
credentials of the target secret ``login`` (or ``login.<role>``), submits it
and decides whether it worked: the password field is gone and a cookie (or the
origin's local storage) changed, or a user-given check is visible. The
browser's storage state is then sealed and cached per (origin, role) for
``SESSION_TIMEOUT`` (``matf.secrets.sessions``), and each test's fresh context
is created from it.

A failed sign-in is one of a few reasons, each with a one-line message:
``wrong_credentials`` (with the site's own error text), ``form_not_found``
(where it looked), ``captcha``, ``second_factor``, ``check_failed``. The
password is in no message, log record or exception: every string that leaves
here is scrubbed of it, and Playwright's errors are not chained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from matf.agents import loginform
from matf.agents.loginform import After, FoundForm
from matf.browser.guard import context_options
from matf.errors import SignInFailed, UsageError
from matf.redaction import Redactor
from matf.secrets.keyring import Keyring
from matf.secrets.sessions import StorageState, cached_state, store_state
from matf.secrets.store import SecretValue, get_secret, normalize_origin
from matf.storage.db import Sessions

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from matf.netguard import NetworkPolicy
    from matf.spec import Step

log = logging.getLogger(__name__)

LOGIN_SECRET = "login"
REASONS = (
    "wrong_credentials",
    "form_not_found",
    "captcha",
    "second_factor",
    "check_failed",
    "steps_failed",  # a login suite's step did not hold (``matf.agents.loginsteps``)
)
MAX_PLACES = 20  # pages tried for a form: candidates first, then the usual paths
CHECK_TIMEOUT_MS = 5_000  # how long a logged-in check may take to show


@dataclass(frozen=True)
class Credentials:
    """A username and password for a form; the password never shows in a repr."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def of(cls, value: Credentials | Mapping[str, Any] | SecretValue, name: str) -> Credentials:
        """From a secret's value: an object with string ``username`` and ``password``."""
        if isinstance(value, Credentials):
            return value
        data = value.reveal() if isinstance(value, SecretValue) else value
        if not isinstance(data, Mapping) or not all(
            isinstance(data.get(key), str) and data.get(key) for key in ("username", "password")
        ):
            raise UsageError(
                f"the secret {name!r} must be an object with a username and a password: "
                f"""set it with 'matf secrets set URL {name} --json' """
                """({"username": "...", "password": "..."})"""
            )
        return cls(data["username"], data["password"])


@dataclass(frozen=True)
class SignIn:
    """How a sign-in went: ``ok``, else a ``reason`` of ``REASONS`` and a one-line message.

    ``storage_state`` (cookies, local storage) is set on success only and is
    as good as the password: it is left out of the repr.
    """

    ok: bool
    reason: str | None
    message: str
    login_url: str | None
    storage_state: StorageState | None = field(default=None, repr=False)

    def raise_for_failure(self) -> None:
        """Raise ``SignInFailed`` (exit 2) with the message and reason when not ok."""
        if not self.ok:
            error = SignInFailed(self.message)
            error.reason = self.reason or "failed"
            raise error


def login_secret_name(role: str | None) -> str:
    """The target secret holding a role's credentials: ``login``, or ``login.<role>``."""
    return f"{LOGIN_SECRET}.{role}" if role else LOGIN_SECRET


def credentials_for(
    session: Session, keyring: Keyring, origin: str, role: str | None = None
) -> Credentials:
    """The credentials of ``role`` on ``origin``, or a one-line error saying how to set them."""
    name = login_secret_name(role)
    value = get_secret(session, keyring, origin, name)
    if value is None:
        raise UsageError(
            f"no secret {name!r} for {normalize_origin(origin)}: set it with "
            f"""'matf secrets set {normalize_origin(origin)} {name} --json' """
            """({"username": "...", "password": "..."} on stdin)"""
        )
    return Credentials.of(value, name)


def sign_in(
    browser: Browser,
    target_url: str,
    credentials: Credentials | Mapping[str, Any],
    login_url: str | None = None,
    logged_in_check: str | None = None,
    candidates: Sequence[str] = (),
    *,
    network: NetworkPolicy | None = None,
    timeout_ms: int = 15_000,
) -> SignIn:
    """Sign in on a fresh context of ``browser`` and say how it went; the context is closed.

    ``login_url`` (same origin as the target) is where the form is; without it
    the first of ``candidates``, the target URL and the usual paths showing a
    password field is used. ``logged_in_check`` is a Playwright selector that
    is visible only when signed in ("text=Sign out").
    """

    creds = Credentials.of(credentials, LOGIN_SECRET)
    origin = loginform.origin_of(target_url)
    if login_url and loginform.origin_of(login_url) != origin:
        raise UsageError(
            f"the sign-in page {login_url} is not on the target's origin {origin}: "
            "MATF sends a target's credentials to that origin only"
        )
    result = in_fresh_context(
        browser,
        origin,
        creds.password,
        lambda context, page: _Attempt(context, page, target_url, timeout_ms).run(
            creds, login_url, logged_in_check, tuple(candidates)
        ),
        network=network,
        timeout_ms=timeout_ms,
    )
    if result.ok:
        log.info("signed in to %s at %s", origin, result.login_url)
    return result


def in_fresh_context(
    browser: Browser,
    origin: str,
    password: str,
    attempt: Callable[[BrowserContext, Page], SignIn],
    *,
    network: NetworkPolicy | None,
    timeout_ms: int,
) -> SignIn:
    """Run one sign-in ``attempt`` on a fresh context of ``browser``, closed after.

    The boundary every way of signing in shares: a browser error is one
    ``SignInFailed`` line (not chained: Playwright's text could hold what was
    typed), and a failed sign-in's message is scrubbed of the password.
    """
    from playwright.sync_api import Error as PlaywrightError

    redactor = Redactor({"login.password": password})
    context = browser.new_context(**context_options(network))
    try:
        context.set_default_timeout(timeout_ms)
        result = attempt(context, context.new_page())
    except PlaywrightError as exc:
        message = redactor.scrub(" ".join((exc.message or "browser error").split())[:300])
        raise SignInFailed(f"signing in to {origin} failed in the browser: {message}") from None
    finally:
        with suppress(Exception):  # a crashed browser has closed it already
            context.close()
    if not result.ok:
        result = SignIn(False, result.reason, redactor.scrub(result.message), result.login_url)
        log.info("sign-in to %s failed (%s): %s", origin, result.reason, result.message)
    return result


class _Attempt:
    """One sign-in on one page: find the form, submit it, decide."""

    def __init__(
        self, context: BrowserContext, page: Page, target_url: str, timeout_ms: int
    ) -> None:
        self.context, self.page, self.timeout_ms = context, page, timeout_ms
        self.target_url, self.origin = target_url, loginform.origin_of(target_url)

    def run(
        self,
        creds: Credentials,
        login_url: str | None,
        check: str | None,
        candidates: tuple[str, ...],
    ) -> SignIn:
        form, looked = self._find(login_url, candidates)
        if form is None:
            return _failed("form_not_found", f"no sign-in form found; looked at {looked}", None)
        elsewhere = loginform.posts_elsewhere(form)
        if elsewhere is not None:
            return _failed(
                "form_not_found",
                f"the sign-in form at {form.url} posts to another origin ({elsewhere}); "
                "MATF sends credentials to the target's origin only",
                form.url,
            )
        before = loginform.session_marks(self.context, self.origin)
        loginform.fill_and_submit(self.page, form, creds.username, creds.password)
        loginform.settle(self.page, self.timeout_ms)
        after = loginform.after_submit(self.page)
        if after.otp and not after.password:
            # A half-open session (its cookie set) waits for the code: not signed in.
            return _why_not(after, form, check)
        if check is not None:
            if self._check_visible(check):
                return self._succeeded(form)
            after = loginform.after_submit(self.page)
        elif not after.password and loginform.session_marks(self.context, self.origin) != before:
            return self._succeeded(form)
        return _why_not(after, form, check)

    def _find(
        self, login_url: str | None, candidates: tuple[str, ...]
    ) -> tuple[FoundForm | None, str]:
        urls = loginform.places(self.target_url, login_url, candidates, MAX_PLACES)
        notes: list[str] = []
        for url in urls:
            found = loginform.look_for_form(self.page, url, self.timeout_ms)
            if isinstance(found, FoundForm):
                return found, ""
            notes.append(found)
        return None, ", ".join(notes)

    def _check_visible(self, check: str) -> bool:
        return check_visible(self.page, check, self.timeout_ms)

    def _succeeded(self, form: FoundForm) -> SignIn:
        state: StorageState = dict(self.context.storage_state())
        return SignIn(True, None, f"signed in at {form.url}", form.url, state)


def check_visible(page: Page, check: str, timeout_ms: int) -> bool:
    """Whether the logged-in check shows on ``page``; a bad selector is a one-line UsageError."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(check).first.wait_for(
            state="visible", timeout=min(timeout_ms, CHECK_TIMEOUT_MS)
        )
    except PlaywrightTimeout:
        return False
    except PlaywrightError as exc:
        raise UsageError(
            f"the logged-in check {check!r} is not a selector Playwright understands: "
            f"{(exc.message or '').splitlines()[0][:200]}"
        ) from None
    return True


def _failed(reason: str, message: str, login_url: str | None) -> SignIn:
    return SignIn(False, reason, message, login_url)


def _why_not(after: After, form: FoundForm, check: str | None) -> SignIn:
    """The reason a submitted form did not sign in, most specific first."""
    where = form.url
    if after.otp and not after.password:
        return _failed(
            "second_factor",
            f"the site asks for a one-time code after the password at {where}: "
            "MATF cannot sign in with a second factor; use a test account without one",
            where,
        )
    captcha = sorted(set(form.captcha) | set(after.captcha))
    if captcha:
        return _failed(
            "captcha",
            f"the sign-in form at {where} shows a CAPTCHA ({', '.join(captcha)}): "
            "turn it off for the test environment or for MATF's account",
            where,
        )
    if after.password and after.invalid:
        return _failed(
            "wrong_credentials",
            f"the form at {where} would not send the credentials: the browser says "
            f"{after.invalid!r}",
            where,
        )
    if after.password:
        said = f": the site says {after.error!r}" if after.error else ""
        return _failed(
            "wrong_credentials", f"the site refused the credentials at {where}{said}", where
        )
    if check is not None:
        return _failed(
            "check_failed",
            f"after signing in at {where}, the logged-in check {check!r} is not visible",
            where,
        )
    return _failed(
        "check_failed",
        f"after signing in at {where} the form went away but no cookie or local storage "
        "changed: give a logged-in check (a selector only a signed-in page shows)",
        where,
    )


BrowserFactory = Callable[[], "Browser"]


def signed_in_state(
    sessions: Sessions,
    keyring: Keyring,
    browser_factory: BrowserFactory,
    target: str,
    role: str | None = None,
    *,
    timeout_s: float,
    login_url: str | None = None,
    logged_in_check: str | None = None,
    candidates: Sequence[str] = (),
    steps: Sequence[Step] = (),
    network: NetworkPolicy | None = None,
    timeout_ms: int = 15_000,
    now: datetime | None = None,
) -> tuple[StorageState, bool]:
    """The storage state of ``role`` on ``target``, and whether MATF signed in to get it.

    Within ``timeout_s`` (``SESSION_TIMEOUT``) of the last sign-in the cached,
    sealed state is opened and nothing is signed in; otherwise the credentials
    are read, the form is filled in a browser from ``browser_factory`` (only
    called then) and the new state is sealed and stored. With ``steps`` (a login
    suite) those sign in instead of a form. No transaction is held while the
    browser works. A failed sign-in raises ``SignInFailed``.
    """
    origin = normalize_origin(target)
    with sessions(False) as session:
        state = cached_state(session, keyring, origin, role, now, max_age_s=timeout_s)
        if state is not None:
            return state, False
        credentials = credentials_for(session, keyring, origin, role)
    if steps:
        from matf.agents.loginsteps import sign_in_with_steps

        result = sign_in_with_steps(
            browser_factory(),
            target,
            credentials,
            steps,
            logged_in_check,
            network=network,
            timeout_ms=timeout_ms,
        )
    else:
        result = sign_in(
            browser_factory(),
            target,
            credentials,
            login_url,
            logged_in_check,
            candidates,
            network=network,
            timeout_ms=timeout_ms,
        )
    result.raise_for_failure()
    state = result.storage_state or {}
    with sessions(True) as session:
        store_state(session, keyring, origin, role, state, timeout_s, now)
    return state, True
