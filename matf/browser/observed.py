"""What a page reports while a test runs, and which of the test's actions caused it.

Every click, press and submit leaves a mark: how much the page had reported
until then, and a fingerprint of what it showed. A check "since the last
action" reads only what came after the mark, and each piece of evidence names
the action it followed, so a failure says what the user did to cause it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from matf import spec as s
from matf.browser.errors import Conclusive
from matf.browser.page import secret_masks
from matf.browser.visual import baseline_key
from matf.placeholders import fill_placeholders, referenced_names
from matf.results import ApiCheck, FailedRequest, PerfMetrics, Violation, VisualCheck

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Locator, Page

_RESOURCE_ECHO = "Failed to load resource:"
LOAD_QUIET_MS = 2000  # at most, for requests a page's load started to end before an action

# What the page shows, hashed: URL, visible text, how many elements are
# visible, and the values of its fields. Cheap: one pass over the elements.
_FINGERPRINT = """() => {
  const body = document.body;
  if (!body) return location.href;
  let shown = 0;
  for (const el of body.querySelectorAll('*')) {
    if (el.checkVisibility ? el.checkVisibility() : el.getClientRects().length) shown++;
  }
  const values = Array.from(document.querySelectorAll('input, textarea, select'),
    f => (f.type === 'checkbox' || f.type === 'radio') ? String(f.checked) : f.value);
  const text = [body.innerText, shown, ...values].join('\\u0001');
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return location.href + ' ' + (hash >>> 0).toString(16);
}"""
# The fingerprint at an action, and from then on a count of changes to the
# document's tree and text: a result rendered again, identical, still counts
# as the page answering.
_MARK = f"""() => {{
  const w = window;
  if (w.__matfWatch) w.__matfWatch.disconnect();
  w.__matfChanges = 0;
  w.__matfWatch = new MutationObserver(records => {{ w.__matfChanges += records.length; }});
  w.__matfWatch.observe(document, {{childList: true, subtree: true, characterData: true}});
  return ({_FINGERPRINT})();
}}"""
# A document without the watcher is a new one: the page navigated.
_CHANGED = f"""(before) => !window.__matfWatch || window.__matfChanges > 0
  || ({_FINGERPRINT})() !== before"""


# Requests whose answers no script of the page is handed (Chromium calls the favicon "other").
_PASSIVE = frozenset({"image", "media", "font", "stylesheet", "manifest", "texttrack", "other"})


@dataclass(frozen=True)
class VisualEnv:
    """Where a test's visual checks find baselines and leave their captures."""

    baselines_root: Path
    artifacts_root: Path
    baseline_set: str
    case_id: str
    browser: str
    variant: str  # the viewport or device the page was rendered at
    stem: str  # artifact name prefix: <run>/<case>-<browser>-<attempt>

    def key(self, name: str) -> str:
        return baseline_key(self.baseline_set, self.case_id, name, self.browser, self.variant)


@dataclass(frozen=True)
class Reported:
    """A console or page error, and the action it followed (None: the page's load)."""

    text: str
    after: str | None = None

    def __str__(self) -> str:
        return f"{self.text} (after {self.after})" if self.after else self.text


@dataclass(frozen=True)
class ActionMark:
    """Where a click, press or submit happened: what had been reported, what the page showed."""

    action: str
    console: int = 0
    page: int = 0
    requests: int = 0
    navigations: int = 0
    fingerprint: str | None = None


@dataclass
class Observed:
    """What the page reported while a test ran, and what its checks measured."""

    origin: str
    console: list[Reported] = field(default_factory=list)
    page: list[Reported] = field(default_factory=list)
    failed_requests: list[FailedRequest] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    performance: list[PerfMetrics] = field(default_factory=list)
    visual: list[VisualCheck] = field(default_factory=list)
    api: list[ApiCheck] = field(default_factory=list)
    visual_env: VisualEnv | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)  # filled into values, at execution
    navigations: int = 0  # new documents in any frame (and same-document URL changes)
    actions: int = 0  # clicks, presses and submits so far
    fingerprints: bool = True  # what the page shows, at each action: only expect_change reads it
    # requests in flight: (actions before it, whether its answer is handed to script)
    pending: dict[object, tuple[int, bool]] = field(default_factory=dict)
    answer_deadline: float | None = None  # until when checks wait for the last action's requests
    mark: ActionMark | None = None  # the last click, press or submit
    cause: str | None = None  # what evidence seen now follows; None after a page load

    secret_fields: list[s.Locator] = field(default_factory=list)  # masked in screenshots
    secret_values: list[str] = field(default_factory=list)  # filled into the page

    @classmethod
    def for_spec(cls, spec: s.TestSpec, secrets: Mapping[str, str]) -> Observed:
        """An observer for one run of ``spec``: its origin, its secrets, what its checks read."""
        return cls(
            origin=origin_of(spec.url),
            secrets=secrets,
            fingerprints=any(isinstance(step, s.ExpectChange) for step in spec.steps),
        )

    @property
    def console_errors(self) -> list[str]:
        return [r.text for r in self.console]

    @property
    def page_errors(self) -> list[str]:
        return [r.text for r in self.page]

    def fill(self, value: str, *, to: str, into: s.Locator | None = None) -> str:
        """``value`` with its ``{{secret:NAME}}`` placeholders filled in (only ever here).

        ``to``: the URL the value goes to (the page's, or the request's). A
        secret is for its target's origin and goes nowhere else: a spec that
        would type it into another site's page, or send it there, fails
        instead (``Conclusive``: no retry would change that). ``into``: the
        field it goes into, which every later screenshot masks.
        """
        if "{{" not in value:
            return value
        names = referenced_names(value)
        if names and origin_of(to) != self.origin:
            raise Conclusive(
                f"refused to send secret {', '.join(sorted(names))} to {origin_of(to) or 'a page'}:"
                f" secrets for {self.origin} go to that origin only"
            )
        filled = fill_placeholders(value, self.secrets, self.origin)
        if into is not None and filled != value:
            self.secret_fields.append(into)
            self.secret_values.append(filled)
        return filled

    def masks(self, page: Page) -> list[Locator]:
        """What screenshots of ``page`` paint over: the fields secrets went into, their echoes."""
        return secret_masks(page, self.secret_fields, self.secret_values)

    def loaded(self) -> None:
        """A page was opened: what it reports now is its load's, no action's."""
        self.cause = None
        self.answer_deadline = None

    def mark_action(self, page: Page, action: str) -> None:
        """Note that ``action`` (``describe(step)``) happens now; what follows is its doing.

        The requests the page's load (or the action before) started end
        first, up to a bound: an answer that arrives late must not be blamed
        on this action.
        """
        self.await_answers(page, LOAD_QUIET_MS)
        fingerprint: str | None = None
        if self.fingerprints:  # one pass over every element: only when a check reads it
            try:
                fingerprint = str(page.evaluate(_MARK))
            except Exception:  # noqa: BLE001 - a page mid-navigation has nothing to fingerprint
                fingerprint = None
        self.mark = ActionMark(
            action,
            len(self.console),
            len(self.page),
            len(self.failed_requests),
            self.navigations,
            fingerprint,
        )
        self.cause = action
        self.actions += 1
        self.answer_deadline = None

    def await_answers(self, page: Page, timeout_ms: float, every: bool = True) -> None:
        """Let the requests the last action (or the load) started be answered or fail.

        A check must not pass because the answer to a click was still on its
        way. Bounded: ``timeout_ms`` per action in all, for the checks after
        it together (a page may hold a request open for ever). ``every``
        False: only the requests whose answers script handles (documents,
        scripts, fetch/XHR...), what a console or page error can follow; an
        image's or the favicon's answer runs no script of the page.
        """
        if self.answer_deadline is None:
            self.answer_deadline = time.monotonic() + timeout_ms / 1000
        # Most answers are a millisecond away: poll soon, then back off for the slow ones.
        poll_ms = 2.0
        while (
            any(n == self.actions and (every or scripted) for n, scripted in self.pending.values())
            and time.monotonic() < self.answer_deadline
        ):
            page.wait_for_timeout(poll_ms)  # lets Playwright deliver the request events
            poll_ms = min(poll_ms * 2, 50.0)

    def console_since(self, since_last_action: bool) -> list[Reported]:
        return (
            self.console[self.mark.console :] if since_last_action and self.mark else self.console
        )

    def page_since(self, since_last_action: bool) -> list[Reported]:
        return self.page[self.mark.page :] if since_last_action and self.mark else self.page

    def requests_since(self, since_last_action: bool) -> list[FailedRequest]:
        found = self.failed_requests
        return found[self.mark.requests :] if since_last_action and self.mark else found

    def unchanged(self, page: Page, timeout_ms: float) -> str | None:
        """Why the page did not change since the last action; None when it did.

        It changed when it navigated, when its fingerprint differs, or when its
        tree or text changed at all; a change still under way gets
        ``timeout_ms`` to show.
        """
        from playwright.sync_api import Error as PlaywrightError

        mark = self.mark
        if mark is None:
            return "no click, press or submit came before this check"
        try:
            if self.navigations == mark.navigations and mark.fingerprint is not None:
                page.wait_for_function(
                    _CHANGED, arg=mark.fingerprint, timeout=timeout_ms, polling=100
                )
        except PlaywrightError:
            if self.navigations == mark.navigations:
                return (
                    f"nothing on {page.url} changed after {mark.action}:"
                    " no navigation, same URL, same visible content"
                )
        return None

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.page.append(Reported(_page_error(err), self.cause)))
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_request_done)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        page.on("framenavigated", self._on_navigated)

    def same_origin(self, url: str) -> bool:
        return origin_of(url) == self.origin

    def _on_navigated(self, _frame: object) -> None:
        # Any frame's: a form inside an iframe answers by navigating that frame.
        self.navigations += 1

    def _on_console(self, message: object) -> None:
        text = str(getattr(message, "text", ""))
        # Chromium echoes every 4xx/5xx response as a console error; those are
        # reported, with their URL, as failed requests instead.
        if getattr(message, "type", "") == "error" and not text.startswith(_RESOURCE_ECHO):
            self.console.append(Reported(text[:2000], self.cause))

    def _on_request(self, request: object) -> None:
        kind = getattr(request, "resource_type", "")
        self.pending[request] = (self.actions, kind not in _PASSIVE)

    def _on_request_done(self, request: object) -> None:
        self.pending.pop(request, None)

    def _on_request_failed(self, request: object) -> None:
        self.pending.pop(request, None)
        url = str(getattr(request, "url", ""))
        if self.same_origin(url):
            failure = getattr(request, "failure", None)
            self.failed_requests.append(
                FailedRequest(
                    url=url,
                    method=str(getattr(request, "method", "GET")),
                    failure=str(failure) if failure else "failed",
                    after=self.cause,
                )
            )

    def _on_response(self, response: object) -> None:
        status = int(getattr(response, "status", 0))
        url = str(getattr(response, "url", ""))
        if status >= 400 and self.same_origin(url):
            request = getattr(response, "request", None)
            method = str(getattr(request, "method", "GET"))
            self.failed_requests.append(
                FailedRequest(url=url, method=method, status=status, after=self.cause)
            )


def _page_error(err: object) -> str:
    name = getattr(err, "name", "") or "Error"
    message = getattr(err, "message", "") or str(err)
    return f"{name}: {message}"[:2000]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
