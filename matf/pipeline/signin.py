"""The context manager's sign-in: every role a run needs, signed in once, before anything runs.

A run needs a sign-in when it was asked to (``--login``, ``--as``) and when its
tests were written signed in (``spec.signed_in``: a saved suite knows it needs
the login). For each role the cached, sealed storage state is reused within
``SESSION_TIMEOUT``; otherwise MATF signs in with the role's credentials
(``matf.agents.login``), through the run's login suite when it has one
(``matf.agents.loginsteps``). A role without credentials, or a sign-in that fails,
stops the run before any test with one line saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matf.agents.login import signed_in_state
from matf.browser.pool import thread_pool
from matf.errors import ConfigError
from matf.options import RunOptions
from matf.secrets.keyring import keyring_from_settings
from matf.secrets.sessions import StorageState, open_state, sealed_state_for_executor
from matf.settings import Settings
from matf.spec import TestSpec
from matf.storage.db import Sessions


@dataclass(frozen=True)
class RoleSignIn:
    """How one role of a run got its session: ``signed_in`` False when a cached one was reused."""

    role: str | None
    signed_in: bool

    @property
    def label(self) -> str:
        return self.role or "login"


def roles_needed(options: RunOptions, specs: Sequence[TestSpec] = ()) -> tuple[str | None, ...]:
    """The roles a run signs in as: those asked for, then those its signed-in tests name."""
    roles: list[str | None] = list(options.login.sign_ins())
    for spec in specs:
        if spec.signed_in and spec.role not in roles:
            roles.append(spec.role)
    return tuple(roles)


def role_state(
    sessions: Sessions, settings: Settings, target: str, options: RunOptions, role: str | None
) -> tuple[StorageState, bool]:
    """The storage state of ``role`` on ``target``: cached, or signed in for now."""
    return signed_in_state(
        sessions,
        keyring_from_settings(settings),
        lambda: thread_pool(settings.matf_chromium_path).browser("chromium"),
        target,
        role,
        timeout_s=settings.session_timeout_s,
        login_url=options.login.url,
        logged_in_check=options.login.check,
        steps=options.login.steps,
        network=options.guard,
        timeout_ms=settings.step_timeout,
    )


def run_state(
    sessions: Sessions, settings: Settings, target: str, options: RunOptions, role: str | None
) -> StorageState:
    """The state the context manager made for this run, whatever its age; else a new sign-in.

    ``SESSION_TIMEOUT`` is how long later runs may reuse a sign-in: within a
    run, its steps start from the state prepared for it.
    """
    with sessions(False) as session:
        sealed = sealed_state_for_executor(session, target, role, live_only=False)
    if sealed is not None:
        try:
            return open_state(keyring_from_settings(settings), sealed)
        except ConfigError:
            pass  # sealed under a key no longer held: sign in again
    state, _ = role_state(sessions, settings, target, options, role)
    return state


def sign_in_run(
    sessions: Sessions,
    settings: Settings,
    target: str,
    options: RunOptions,
    specs: Sequence[TestSpec] = (),
) -> list[RoleSignIn]:
    """Make sure each role the run needs has a live session; say which were signed in now.

    Raises ``SignInFailed`` or ``UsageError`` (no credentials) with one line.
    """
    done = []
    for role in roles_needed(options, specs):
        _state, signed_in = role_state(sessions, settings, target, options, role)
        done.append(RoleSignIn(role, signed_in))
    return done
