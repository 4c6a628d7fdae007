"""Signing in with a login suite's steps, for sign-ins a form cannot describe.

Single sign-on and sign-ins over several pages are written as spec steps
(``matf.loginsuite``). They run in a fresh context of the browser, each with
``run_step`` as a test's would, the placeholders ``{{secret:login.username}}``
and ``{{secret:login.password}}`` filled from the role's credentials only as
each fill step runs. Then MATF decides as it does for a form: the logged-in
check shows, if one was given; else no password field shows and a cookie (or
the origin's local storage) of the target's origin changed.

Where the credentials may go: a fill step types them into a page of the
target's origin, or of an origin one of the steps' own ``goto`` URLs names
(the sign-in provider the suite's author chose); into any other page, never.
The steps may open whatever the run's network policy allows. The password is
in no message: each one is scrubbed, and Playwright's errors are not chained.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from matf import spec as s
from matf.agents import loginform
from matf.agents.login import LOGIN_SECRET, Credentials, SignIn, check_visible, in_fresh_context
from matf.browser.errors import Conclusive, StepFailed, first_line
from matf.browser.observed import Observed, origin_of
from matf.browser.steps import describe, run_step
from matf.placeholders import fill_placeholders, referenced_names
from matf.secrets.sessions import StorageState
from matf.secrets.store import SecretValue

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from matf.netguard import NetworkPolicy

log = logging.getLogger(__name__)


@dataclass
class _SignInObserved(Observed):
    """A test's observer whose secrets may also go to the origins the steps open themselves."""

    origins: frozenset[str] = frozenset()

    def fill(self, value: str, *, to: str, into: s.Locator | None = None) -> str:
        names = referenced_names(value)
        if names and origin_of(to) not in self.origins:
            raise Conclusive(
                f"refused to type {', '.join(sorted(names))} into a page of {origin_of(to)}: "
                "a login suite's credentials go to the target's origin and the origins its "
                "goto steps name"
            )
        return fill_placeholders(value, self.secrets, self.origin)


def step_origins(target_url: str, steps: Sequence[s.Step]) -> frozenset[str]:
    """The target's origin and those the steps' ``goto`` URLs name: where credentials may go."""
    named = {origin_of(urljoin(target_url, step.url)) for step in steps if isinstance(step, s.Goto)}
    return frozenset({origin_of(target_url), *named})


def sign_in_with_steps(
    browser: Browser,
    target_url: str,
    credentials: Credentials | Mapping[str, Any] | SecretValue,
    steps: Sequence[s.Step],
    logged_in_check: str | None = None,
    *,
    network: NetworkPolicy | None = None,
    timeout_ms: int = 15_000,
) -> SignIn:
    """Run the login steps on a fresh context of ``browser`` and say how it went; it is closed.

    Relative URLs in the steps resolve against ``target_url``.
    """
    creds = Credentials.of(credentials, LOGIN_SECRET)
    origin = loginform.origin_of(target_url)
    result = in_fresh_context(
        browser,
        origin,
        creds.password,
        lambda context, page: _Steps(context, page, target_url, timeout_ms).sign_in(
            creds, steps, logged_in_check
        ),
        network=network,
        timeout_ms=timeout_ms,
    )
    if result.ok:
        log.info("signed in to %s with %d login steps", origin, len(steps))
    return result


class _Steps:
    """One run of the login steps on one page, then the decision."""

    def __init__(
        self, context: BrowserContext, page: Page, target_url: str, timeout_ms: int
    ) -> None:
        self.context, self.page, self.timeout_ms = context, page, timeout_ms
        self.target_url, self.origin = target_url, loginform.origin_of(target_url)

    def sign_in(self, creds: Credentials, steps: Sequence[s.Step], check: str | None) -> SignIn:
        seen = _SignInObserved(
            origin=origin_of(self.target_url),
            secrets={"login.username": creds.username, "login.password": creds.password},
            fingerprints=False,
            origins=step_origins(self.target_url, steps),
        )
        before = loginform.session_marks(self.context, self.origin)
        failed = self._run(steps, seen)
        if failed is not None:
            return failed
        loginform.settle(self.page, self.timeout_ms)
        here = self.page.url
        if check is not None:
            if check_visible(self.page, check, self.timeout_ms):
                return self._succeeded()
            return SignIn(
                False,
                "check_failed",
                f"after the login steps (at {here}) the logged-in check {check!r} is not visible",
                here,
            )
        after = loginform.after_submit(self.page)
        if after.password:
            said = f": the site says {after.error!r}" if after.error else ""
            return SignIn(
                False,
                "check_failed",
                f"after the login steps a password field still shows at {here}{said}",
                here,
            )
        if loginform.session_marks(self.context, self.origin) == before:
            return SignIn(
                False,
                "check_failed",
                f"after the login steps (at {here}) no cookie or local storage of {self.origin} "
                "changed: give a logged-in check (a selector only a signed-in page shows)",
                here,
            )
        return self._succeeded()

    def _run(self, steps: Sequence[s.Step], seen: Observed) -> SignIn | None:
        """Each step in turn; the failure of the first that does not hold, else None."""
        from playwright.sync_api import Error as PlaywrightError

        for number, step in enumerate(steps, 1):
            try:
                run_step(self.page, step, self.target_url, seen, self.timeout_ms)
            except (StepFailed, AssertionError, PlaywrightError) as exc:
                text = exc.message if isinstance(exc, PlaywrightError) else str(exc)
                why = first_line(text or type(exc).__name__, 300)
                return SignIn(
                    False,
                    "steps_failed",
                    f"login step {number} ({describe(step)}) failed at {self.page.url}: {why}",
                    self.page.url,
                )
        return None

    def _succeeded(self) -> SignIn:
        state: StorageState = dict(self.context.storage_state())
        here = self.page.url
        return SignIn(True, None, f"signed in by the login steps, ending at {here}", here, state)
