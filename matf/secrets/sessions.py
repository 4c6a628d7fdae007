"""Cached sign-ins: a browser's storage state per (origin, role), sealed, for ``SESSION_TIMEOUT``.

After MATF signs in to a target, the browser's storage state (cookies, local
storage) is as good as the password for as long as the site honours it, so it
is kept like a secret: sealed with AES-256-GCM under ``ENCRYPTION_KEY``, its
associated data binding it to its origin and role (a row moved to another
target or role does not open), and only ever written sealed. Executors get the
sealed bytes (``sealed_state_for_executor``) and open them themselves
(``open_state``); the broker and the database never see it in clear.

It lives beside the target secrets rather than in ``matf.storage`` because it
needs the keyring, which sits above storage in the domain's layers.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from matf.errors import ConfigError, UsageError
from matf.secrets.keyring import SESSION_STATE, Keyring, Sealed
from matf.secrets.store import normalize_origin
from matf.storage.models import SessionState, utcnow

log = logging.getLogger(__name__)

StorageState = dict[str, Any]  # Playwright's ``context.storage_state()``: cookies, origins


class SealedState(BaseModel):
    """A sealed storage state as it travels to an executor: ciphertext only, base64."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: str
    role: str
    key_id: str
    nonce: str
    ciphertext: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"SealedState(origin={self.origin!r}, role={self.role!r}, key_id={self.key_id!r})"

    __str__ = __repr__


def role_key(role: str | None) -> str:
    """The role as stored: "" for the default ``login`` secret."""
    return role or ""


def _find(session: Session, origin: str, role: str) -> SessionState | None:
    return session.scalars(
        select(SessionState).where(SessionState.origin == origin, SessionState.role == role)
    ).one_or_none()


def _open(keyring: Keyring, origin: str, role: str, sealed: Sealed) -> StorageState:
    plaintext = keyring.open(origin, role, sealed, purpose=SESSION_STATE)
    state = json.loads(plaintext)
    if not isinstance(state, dict):
        raise ConfigError(f"the session state for {origin} is not a storage state")
    return state


def cached_state(
    session: Session,
    keyring: Keyring,
    origin: str,
    role: str | None,
    now: datetime | None = None,
    max_age_s: float | None = None,
) -> StorageState | None:
    """The stored state of (origin, role), opened; None when missing, expired or unreadable.

    ``max_age_s``: the ``SESSION_TIMEOUT`` in force now; a state signed in
    longer ago is stale, even if the timeout was longer when it was stored.
    A state sealed under a key ``ENCRYPTION_KEY`` no longer holds is not an
    error: it is only a cache, and signing in again replaces it.
    """
    origin, role = normalize_origin(origin), role_key(role)
    row = _find(session, origin, role)
    moment = now or utcnow()
    if row is None or row.expires_at <= moment:
        return None
    if max_age_s is not None and row.created_at + timedelta(seconds=max_age_s) <= moment:
        return None
    try:
        return _open(keyring, origin, role, Sealed(row.key_id, row.nonce, row.ciphertext))
    except ConfigError as exc:
        log.warning("cached sign-in for %s (role %r) dropped: %s", origin, role, exc.message)
        return None


def store_state(
    session: Session,
    keyring: Keyring,
    origin: str,
    role: str | None,
    state: StorageState,
    timeout_s: float,
    now: datetime | None = None,
) -> datetime:
    """Seal and keep the state of a sign-in that just worked; return when it expires.

    Replaces the pair's previous state and counts one more sign-in.
    """
    origin, role = normalize_origin(origin), role_key(role)
    if timeout_s <= 0:
        raise UsageError("a session timeout must be positive")
    plaintext = json.dumps(state, separators=(",", ":")).encode()
    sealed = keyring.seal(origin, role, plaintext, purpose=SESSION_STATE)
    moment = now or utcnow()
    row = _find(session, origin, role)
    if row is None:
        row = SessionState(origin=origin, role=role, sign_ins=0)
        session.add(row)
    row.key_id, row.nonce, row.ciphertext = sealed.key_id, sealed.nonce, sealed.ciphertext
    row.created_at = moment
    row.expires_at = moment + timedelta(seconds=timeout_s)
    row.sign_ins = (row.sign_ins or 0) + 1
    session.flush()
    return row.expires_at


def forget(session: Session, origin: str, role: str | None) -> bool:
    """Drop the cached state of (origin, role), so the next run signs in again; False if none."""
    row = _find(session, normalize_origin(origin), role_key(role))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def sign_ins(session: Session, origin: str, role: str | None) -> int:
    """How many times MATF signed in for (origin, role) since the pair was last forgotten."""
    row = _find(session, normalize_origin(origin), role_key(role))
    return 0 if row is None else row.sign_ins


def sealed_state_for_executor(
    session: Session,
    origin: str,
    role: str | None,
    now: datetime | None = None,
    live_only: bool = True,
) -> SealedState | None:
    """The stored ciphertext of a live state, to travel to executors; needs no key.

    ``live_only=False``: the state whatever its age. ``SESSION_TIMEOUT`` says how
    long later runs may reuse a sign-in; a run's own tests start from the state
    its context manager just made, and sign in again if the site has ended it.

    Nothing is opened here: the state is opened only by ``open_state`` in the
    executor that creates its test's context from it.
    """
    origin, role = normalize_origin(origin), role_key(role)
    row = _find(session, origin, role)
    if row is None or (live_only and row.expires_at <= (now or utcnow())):
        return None
    return SealedState(
        origin=origin,
        role=role,
        key_id=row.key_id,
        nonce=base64.b64encode(row.nonce).decode("ascii"),
        ciphertext=base64.b64encode(row.ciphertext).decode("ascii"),
        expires_at=row.expires_at,
    )


def open_state(keyring: Keyring, sealed: SealedState) -> StorageState:
    """The storage state a sealed one holds, for ``browser.new_context(storage_state=...)``.

    For executors: a ``ConfigError`` when the key is missing or the bytes were
    altered or moved to another origin or role.
    """
    raw = Sealed(sealed.key_id, base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext))
    return _open(keyring, sealed.origin, sealed.role, raw)
