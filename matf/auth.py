"""Who may do what: roles, password hashing, session tokens and API keys.

Pure functions and a few storage helpers; the web app decides when to call
them. Choices that matter for a shared, internet-facing service:

- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's
  low-memory profile), and rehashed on login when those defaults change.
- Session tokens are JWTs signed with HS256 only: the algorithm is pinned on
  decode, so a token with ``alg: none`` or another algorithm is refused.
  A token names its user by ``uid`` (random, never reused) and carries the
  user's ``token_version`` (``tv``); deactivation, a new password and a new
  role bump the version, which ends every session of that user at once.
- The last active admin cannot be deactivated, demoted or deleted, so the
  service always has someone who can manage it. Deactivating or deleting a
  user revokes the API keys they made: a key never outlives its owner's access.
- API keys are random 32-byte secrets with a short public prefix. Only a
  SHA-256 of the key is stored (the key has full entropy, so a slow KDF adds
  nothing); the key is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from matf.errors import AuthError, Conflict, NotFound, UsageError
from matf.storage.models import ApiKey, User

ROLES = ("viewer", "editor", "admin")
JWT_ALGORITHM = "HS256"
KEY_PREFIX = "matf_"

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so that a wrong email
# takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Principal:
    """Whoever makes a request: a user (by session) or a machine (by API key)."""

    kind: str  # "user" | "key"
    id: int
    name: str
    role: str

    @property
    def label(self) -> str:
        """How the principal is recorded on what it creates (runs, edits)."""
        return f"{self.kind}:{self.name}"

    def can(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)


def role_rank(role: str) -> int:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return ROLES.index(role)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


# -- passwords -----------------------------------------------------------------


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise UsageError("password too short: use at least 10 characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- session tokens --------------------------------------------------------------


def issue_token(secret: str, user: User, hours: int = 24, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    claims = {
        "sub": user.uid,
        "tv": user.token_version,
        "role": user.role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=hours)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_token(secret: str, token: str) -> dict[str, Any]:
    """The token's claims; AuthError when expired, forged or of another algorithm."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "iat", "sub", "tv"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("session expired: sign in again") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"invalid token ({exc}): sign in again") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("invalid token") from exc
    return claims


# -- users -------------------------------------------------------------------------


def check_name(what: str, value: str) -> str:
    """``value`` if it holds no control character (C0, DEL, C1, line breaks, bidi overrides).

    Names are shown in the dashboard, the CLI's output and logs, where such a
    character could hide text, forge a line or move the cursor.
    """
    for index, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise UsageError(
                f"{what} may not contain control characters "
                f"(U+{ord(char):04X} at position {index + 1})"
            )
    return value


_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def create_user(
    session: Session, email: str, password: str, role: str = "viewer", name: str = ""
) -> User:
    email = normalize_email(email)
    name = check_name("a user's name", name)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} exists already")
    user = User(
        email=email, name=name, password_hash=hash_password(password), role=check_role(role)
    )
    session.add(user)
    session.flush()
    return user


def normalize_email(email: str) -> str:
    email = check_name("an email address", email.strip().lower())
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        raise UsageError(f"not an email address: {email[:80]!r}")
    return email


def authenticate(session: Session, email: str, password: str) -> User:
    """The active user with these credentials; AuthError (one message for all cases) if none."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if not verify_password(user.password_hash if user else None, password):
        raise AuthError("wrong email or password")
    assert user is not None
    if not user.active:
        raise AuthError("wrong email or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = datetime.now(UTC)
    return user


def user_principal(session: Session, claims: dict[str, Any]) -> Principal:
    """The principal of a session token; AuthError once the user is gone, inactive or changed."""
    uid, version = claims.get("sub"), claims.get("tv")
    if not isinstance(uid, str) or not isinstance(version, int) or isinstance(version, bool):
        raise AuthError("invalid token")
    user = session.scalar(select(User).where(User.uid == uid))
    if user is None or not user.active or user.token_version != version:
        raise AuthError("session ended: sign in again")
    return Principal("user", user.id, user.email, user.role)


# -- an account's life: role, password, deactivation, deletion ----------------------------


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user {email.strip()[:254]}")
    return user


def change_role(session: Session, user: User, role: str) -> None:
    """A new role; the user's sessions end, so they sign in again under it."""
    role = check_role(role)
    if role == user.role:
        return
    if user.role == "admin":
        _keep_an_admin(session, user, "demote")
    user.role = role
    _end_sessions(user)


def set_password(user: User, password: str) -> None:
    """A new password; every session signed in with the old one ends."""
    user.password_hash = hash_password(password)
    _end_sessions(user)


def set_active(session: Session, user: User, active: bool) -> list[int]:
    """Deactivate (sessions end, API keys revoked) or reactivate; the ids of revoked keys.

    Reactivation gives back the right to sign in, not the keys: those stay
    revoked, and an admin makes new ones if they are still wanted.
    """
    if active == user.active:
        return []
    if active:
        user.active = True
        return []
    _keep_an_admin(session, user, "deactivate")
    user.active = False
    _end_sessions(user)
    return _revoke_keys_of(session, user)


def delete_user(session: Session, user: User) -> list[int]:
    """Delete the user and revoke their API keys; the ids of revoked keys.

    What they made (runs, suites, decisions) keeps its ``user:<email>`` label.
    """
    _keep_an_admin(session, user, "delete")
    revoked = _revoke_keys_of(session, user)
    session.delete(user)
    session.flush()
    return revoked


def _end_sessions(user: User) -> None:
    user.token_version = user.token_version + 1


def _keep_an_admin(session: Session, user: User, verb: str) -> None:
    """Conflict if ``user`` is the last active admin: someone must be able to manage the service.

    The other admins' rows are locked (PostgreSQL), so two admins removing each
    other at once cannot both succeed; SQLite's writers already take turns.
    """
    if user.role != "admin" or not user.active:
        return
    others = session.scalars(
        select(User.id)
        .where(User.role == "admin", User.active.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    if not others:
        raise Conflict(
            f"cannot {verb} {user.email}: they are the last active admin; "
            "make another user admin first"
        )


def _revoke_keys_of(session: Session, user: User) -> list[int]:
    keys = session.scalars(
        select(ApiKey).where(ApiKey.owner_id == user.id, ApiKey.revoked_at.is_(None))
    ).all()
    now = datetime.now(UTC)
    for key in keys:
        key.revoked_at = now
    return [key.id for key in keys]


# -- API keys ------------------------------------------------------------------------


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, name: str, role: str, owner_id: int | None = None
) -> tuple[ApiKey, str]:
    """A new key and its plain text, which is never stored and shown only now."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    plain = f"{prefix}.{secrets.token_urlsafe(32)}"
    name = check_name("an API key's name", name.strip())
    if not name or len(name) > 200:
        raise UsageError("an API key needs a name of 1 to 200 characters")
    row = ApiKey(
        name=name, prefix=prefix, key_hash=_digest(plain), role=check_role(role), owner_id=owner_id
    )
    session.add(row)
    session.flush()
    return row, plain


def key_principal(session: Session, key: str) -> tuple[Principal, datetime | None]:
    """The principal of an API key and when it was last used; AuthError if unknown or revoked."""
    prefix, _, _rest = key.partition(".")
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    expected = row.key_hash if row is not None else _digest("")
    if not hmac.compare_digest(expected, _digest(key)) or row is None:
        raise AuthError("invalid API key")
    if row.revoked_at is not None:
        raise AuthError("API key revoked")
    if row.owner_id is not None:
        owner = session.get(User, row.owner_id)
        if owner is None or not owner.active:
            raise AuthError("API key revoked")
    return Principal("key", row.id, row.name, row.role), row.last_used_at


TOUCH_EVERY = timedelta(minutes=1)


def key_is_stale(last_used: datetime | None, now: datetime | None = None) -> bool:
    """Whether ``last_used_at`` is worth a write: at most one per key per minute.

    Writing it on every request would turn every read of the API into a
    database write, and writers queue behind each other.
    """
    if last_used is None:
        return True
    return (now or datetime.now(UTC)) - last_used >= TOUCH_EVERY


def touch_key(session: Session, key_id: int) -> None:
    session.execute(
        update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=datetime.now(UTC))
    )


def revoke_api_key(session: Session, key_id: int) -> ApiKey | None:
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    return row
