"""A target's stored secrets: put, get, list, delete and rotate them by origin and name.

``get_secret`` hands a value out only wrapped in ``SecretValue``, whose repr
hides it; listing shows everything but the value and needs no key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from matf.errors import UsageError
from matf.secrets.keyring import Keyring, Sealed
from matf.storage.models import TargetSecret, utcnow

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_DEFAULT_PORTS = {"http": 80, "https": 443}

SecretData = dict[str, Any] | str


class SecretValue:
    """A decrypted credential whose repr and str never show it.

    An accidental ``log.info("%s", value)`` or an f-string in a prompt prints
    ``SecretValue(***)``; the value is only reachable through ``reveal()``,
    which makes every use greppable.
    """

    __slots__ = ("_value",)

    def __init__(self, value: SecretData) -> None:
        self._value = value

    def reveal(self) -> SecretData:
        """The plaintext: a string, or a dict such as ``{"username": ..., "password": ...}``."""
        return self._value

    def __repr__(self) -> str:
        return "SecretValue(***)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("SecretValue cannot be pickled: pass the origin and name instead")


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: everything but its value."""

    origin: str
    name: str
    key_id: str
    created_at: datetime
    updated_at: datetime


def normalize_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased, default port dropped.

    Secrets are looked up by the origin of the page an agent is on, so
    ``https://App.example.com/login`` and ``https://app.example.com:443`` must
    find the same row.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UsageError(f"give the target's origin as http(s)://host[:port], not {url!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UsageError(f"invalid origin {url!r}: bad port") from exc
    if not host:
        raise UsageError(f"invalid origin {url!r}: no host")
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid secret name {name!r}: use 1-100 letters, digits, '.', '_' or '-'"
        )
    return name


def _encode(value: SecretData) -> bytes:
    if isinstance(value, str):
        if not value:
            raise UsageError("a secret value cannot be empty")
    elif isinstance(value, dict):
        if not value or not all(isinstance(key, str) for key in value):
            raise UsageError("a secret object needs at least one field, with string keys")
    else:
        raise UsageError(f"a secret value is a string or an object, not {type(value).__name__}")
    try:
        return json.dumps(value, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise UsageError("a secret object may hold only JSON values") from exc


def _find(session: Session, origin: str, name: str) -> TargetSecret | None:
    return session.scalars(
        select(TargetSecret).where(TargetSecret.origin == origin, TargetSecret.name == name)
    ).one_or_none()


def _info(row: TargetSecret) -> SecretInfo:
    return SecretInfo(row.origin, row.name, row.key_id, row.created_at, row.updated_at)


def put_secret(
    session: Session, keyring: Keyring, origin: str, name: str, value: SecretData
) -> SecretInfo:
    """Store (or replace) the secret ``name`` of ``origin``, sealed under the current key."""
    origin, name = normalize_origin(origin), _check_name(name)
    sealed = keyring.seal(origin, name, _encode(value))
    row = _find(session, origin, name)
    if row is None:
        row = TargetSecret(origin=origin, name=name)
        session.add(row)
    row.key_id, row.nonce, row.ciphertext = sealed.key_id, sealed.nonce, sealed.ciphertext
    row.updated_at = utcnow()
    session.flush()
    return _info(row)


def get_secret(session: Session, keyring: Keyring, origin: str, name: str) -> SecretValue | None:
    """The decrypted secret, or None when the target has none by that name.

    For agents only: nothing that answers users (API, reports) may call it.
    """
    origin, name = normalize_origin(origin), _check_name(name)
    row = _find(session, origin, name)
    if row is None:
        return None
    plaintext = keyring.open(origin, name, Sealed(row.key_id, row.nonce, row.ciphertext))
    value: SecretData = json.loads(plaintext)
    return SecretValue(value)


def list_secrets(session: Session, origin: str | None = None) -> list[SecretInfo]:
    """Metadata of the stored secrets, never their values; needs no key."""
    query = select(TargetSecret).order_by(TargetSecret.origin, TargetSecret.name)
    if origin is not None:
        query = query.where(TargetSecret.origin == normalize_origin(origin))
    return [_info(row) for row in session.scalars(query)]


def delete_secret(session: Session, origin: str, name: str) -> bool:
    """Forget a secret; False when there was none."""
    row = _find(session, normalize_origin(origin), _check_name(name))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def rotate(session: Session, keyring: Keyring) -> int:
    """Re-encrypt every secret not under the current key; return how many.

    Runs inside the caller's transaction: one undecryptable row raises before
    anything is committed, so a rotation is all or nothing. ``updated_at``
    keeps meaning "value last set", so it is left alone.
    """
    current = keyring.current.key_id
    rows = session.scalars(select(TargetSecret).where(TargetSecret.key_id != current)).all()
    for row in rows:
        plaintext = keyring.open(
            row.origin, row.name, Sealed(row.key_id, row.nonce, row.ciphertext)
        )
        sealed = keyring.seal(row.origin, row.name, plaintext)
        row.key_id, row.nonce, row.ciphertext = sealed.key_id, sealed.nonce, sealed.ciphertext
    session.flush()
    return len(rows)
