"""A signed-in test's session: the state it starts from, and signing in again when it bounces.

An executor opens a signed-in job's sealed storage state and credentials into
a ``LoginSession``; each attempt's fresh browser context is created from its
state (``current_state``). Sites end sessions on their own (a timeout, a
restart, a sign-in elsewhere): when an attempt fails on a page that shows a
sign-in form (``bounced_to``) the executor signs in once more with the job's
credentials (``sign_in_again``) and retries the test once. The new state is
kept in this process, per (run, role), so the run's other tests on this worker
start from it instead of the state that no longer works; a lock per (run,
role) makes the first thread sign in and the others reuse its state.

Everything here is as good as the password: the session's repr shows neither
state nor credentials, and ``secret_values`` lists what the executor scrubs
from results, log records and traces: the password, and the states' cookie
and local-storage values (a JSON value's strings too, as a token kept inside
an object is sent on its own). State values shorter than
``MIN_STATE_VALUE_CHARS`` are left alone: "true", "en" or "1" are no session,
and replacing them everywhere would garble every message.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from matf.agents import loginform
from matf.agents.login import Credentials, login_secret_name, sign_in
from matf.browser.tracescrub import stop_scrubbed
from matf.errors import MatfError
from matf.secrets.sessions import StorageState

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, BrowserContext, Page

    from matf.netguard import NetworkPolicy

MIN_STATE_VALUE_CHARS = 8
KEPT_RUNS = 64  # renewed states kept per process, the oldest dropped first
SIGN_IN_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class LoginSession:
    """What a signed-in test starts from on this worker, opened from its job.

    ``state`` is None when the sealed state did not open; ``credentials`` is
    None when the sealed credentials did not (or none travelled): then the
    test cannot sign in again. ``note`` says, in one line, why either is
    missing. ``url`` and ``check`` are the run's sign-in page and logged-in check.
    """

    run_id: str
    role: str  # "" for the secret ``login``
    state: StorageState | None = field(default=None, repr=False)
    credentials: Credentials | None = field(default=None, repr=False)
    url: str | None = None
    check: str | None = None
    note: str | None = None

    @property
    def secret_name(self) -> str:
        return login_secret_name(self.role or None)


@dataclass(frozen=True)
class Renewal:
    """How signing in again went: a new ``state``, or a ``failure`` (one line), and the note."""

    note: str
    state: StorageState | None = field(default=None, repr=False)
    failure: str | None = None


_renewed: OrderedDict[tuple[str, str], StorageState] = OrderedDict()
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()


def current_state(login: LoginSession) -> StorageState | None:
    """The state a new context starts from: this process's renewed one, else the job's."""
    with _guard:
        renewed = _renewed.get((login.run_id, login.role))
    return renewed if renewed is not None else login.state


def _keep(key: tuple[str, str], state: StorageState) -> None:
    with _guard:
        _renewed[key] = state
        _renewed.move_to_end(key)
        while len(_renewed) > KEPT_RUNS:
            dropped, _ = _renewed.popitem(last=False)
            _locks.pop(dropped, None)


def _lock_for(key: tuple[str, str]) -> threading.Lock:
    with _guard:
        return _locks.setdefault(key, threading.Lock())


def forget_renewed() -> None:
    """Drop every state renewed in this process (tests; a worker never needs to)."""
    with _guard:
        _renewed.clear()
        _locks.clear()


def secret_values(login: LoginSession | None) -> dict[str, str]:
    """What must not leave the executor, by placeholder name: password, states' values."""
    if login is None:
        return {}
    prefix = login.secret_name
    values: dict[str, str] = {}
    if login.credentials is not None:
        values[f"{prefix}.password"] = login.credentials.password
    for state in (login.state, current_state(login)):
        for name, value in state_values(state):
            _add(values, f"{prefix}.{name}", value)
    return values


def state_values(state: StorageState | None) -> list[tuple[str, str]]:
    """(name, value) of a state's cookies and local-storage entries worth scrubbing."""
    if not state:
        return []
    found: list[tuple[str, str]] = []
    for cookie in state.get("cookies") or ():
        found += _worth(f"cookie.{cookie.get('name')}", cookie.get("value"))
    for origin in state.get("origins") or ():
        for item in origin.get("localStorage") or ():
            found += _worth(f"storage.{item.get('name')}", item.get("value"))
    return found


def _worth(name: str, value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, str) or len(value) < MIN_STATE_VALUE_CHARS:
        return []
    found = [(name, value)]
    try:
        parsed = json.loads(value)
    except ValueError:
        return found
    return found + [(name, leaf) for leaf in _strings(parsed) if len(leaf) >= MIN_STATE_VALUE_CHARS]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _add(values: dict[str, str], name: str, value: str) -> None:
    if value in values.values():
        return
    unique, number = name, 1
    while unique in values:
        number += 1
        unique = f"{name}~{number}"
    values[unique] = value


def bounced_to(page: Page, spec_url: str, login: LoginSession) -> str | None:
    """The URL of the sign-in form the page shows instead of the test's, or None.

    A visible password field is a bounce unless the test is about the sign-in
    page itself: its own URL is the run's sign-in page, or the page it shows.
    """
    from playwright.sync_api import Error as PlaywrightError

    try:
        if not loginform.after_submit(page).password:
            return None
        here = page.url
    except PlaywrightError:
        return None
    own = _place(spec_url)
    if own in {_place(here), _place(login.url)}:
        return None
    return here


def _place(url: str | None) -> str | None:
    """Origin and path, the query and fragment left out."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{loginform.origin_of(url)}{parts.path or '/'}"


def sign_in_again(
    browser: Browser,
    login: LoginSession,
    target_url: str,
    form_at: str,
    used: StorageState | None,
    network: NetworkPolicy | None = None,
) -> Renewal:
    """Sign in once more on ``browser`` after a bounce to ``form_at``; keep the new state.

    ``used`` is the state the bounced attempt started from: when another
    thread of this process renewed the (run, role) state since, that one is
    taken and nothing is signed in.
    """
    bounced = f"the site signed the test out (the sign-in form showed at {form_at})"
    if login.credentials is None:
        why = login.note or "no credentials travelled with the job"
        return Renewal(f"{bounced}; not signed in again: {why}", failure=f"{bounced}: {why}")
    key = (login.run_id, login.role)
    with _lock_for(key):
        renewed = current_state(login)
        if renewed is not None and renewed is not used and renewed != used:
            return Renewal(f"{bounced}; took the state another test renewed and retried", renewed)
        try:
            result = sign_in(
                browser,
                target_url,
                login.credentials,
                login.url,
                login.check,
                (form_at,),
                network=network,
                timeout_ms=SIGN_IN_TIMEOUT_MS,
            )
        except MatfError as exc:
            return _refused(bounced, "failed", exc.message)
        except Exception as exc:  # noqa: BLE001 - the test's result says so; its text may hold values
            return _refused(bounced, "failed", f"the browser failed ({type(exc).__name__})")
        if not result.ok or result.storage_state is None:
            return _refused(bounced, result.reason or "failed", result.message)
        _keep(key, result.storage_state)
    return Renewal(f"{bounced}; signed in again and retried", result.storage_state)


def _refused(bounced: str, reason: str, message: str) -> Renewal:
    return Renewal(
        f"{bounced}; signing in again failed ({reason})",
        failure=f"{bounced}, and signing in again failed: {message}",
    )


def session_note(login: LoginSession | None, renewal: str | None) -> str | None:
    """Why a signed-in test started signed out, and whether it signed in again; one line."""
    if login is None:
        return None
    return "; ".join(filter(None, (login.note, renewal))) or None


def keep_trace(context: BrowserContext, path: Path, values: Iterable[str]) -> None:
    """Stop a signed-in test's trace into ``path`` with ``values`` and its session's taken out.

    The session's values as the context holds them now count too: a site may
    have turned its cookies over since the test started.
    """
    now = [value for _, value in state_values(dict(context.storage_state()))]
    stop_scrubbed(lambda raw: context.tracing.stop(path=raw), path, [*values, *now])
