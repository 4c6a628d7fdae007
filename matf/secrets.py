"""Target-site credentials, encrypted at rest with AES-256-GCM under ``ENCRYPTION_KEY``.

Sites behind a login need a username and password; they must never be readable
from a database dump, the API, logs, reports or prompts. Each row holds the id
of the key that sealed it, so keys rotate without downtime: put the new key
first in ``ENCRYPTION_KEY``, run ``matf secrets rotate``, then drop the old one.
The associated data binds a ciphertext to its (origin, name), so a row copied
onto another target fails to decrypt instead of leaking one site's password to
another. Values leave this module only wrapped in ``SecretValue``, whose repr
hides them. Production start-up checks live here too (``check_production``):
they are about the same two secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from matf.errors import ConfigError, UsageError
from matf.settings import Settings
from matf.storage.models import TargetSecret, utcnow

KEY_BYTES = 32
NONCE_BYTES = 12
MIN_JWT_SECRET_CHARS = 32
_AAD_LABEL = "matf.target_secret.v1"
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Values from the operations guide's .env template and the usual stand-ins.
_PLACEHOLDERS = frozenset(
    {
        "secret",
        "changeme",
        "change-me",
        "change_me",
        "your-secret-key",
        "your_secret_key",
        "your_jwt_secret_key",
        "your_32_character_encryption_key",
        "jwt_secret",
        "encryption_key",
        "password",
        "default",
        "test",
        "development",
    }
)
_PLACEHOLDER_MARKERS = (
    "changeme",
    "change-me",
    "change_me",
    "change-in-production",
    "your_",
    "your-",
)

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
class Key:
    """One AES-256 key and the id stored beside what it sealed."""

    key_id: str
    material: bytes = field(repr=False)


@dataclass(frozen=True)
class Sealed:
    """A ciphertext and what is needed to open it, as stored in ``target_secrets``."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: everything but its value."""

    origin: str
    name: str
    key_id: str
    created_at: datetime
    updated_at: datetime


class Keyring:
    """The keys of ``ENCRYPTION_KEY``: the first encrypts, every one decrypts."""

    def __init__(self, keys: Sequence[Key]) -> None:
        if not keys:
            raise ConfigError("invalid ENCRYPTION_KEY: no key given")
        self._keys = {key.key_id: key for key in keys}
        if len(self._keys) != len(keys):
            raise ConfigError("invalid ENCRYPTION_KEY: the same key id appears twice")
        self.current = keys[0]

    @property
    def keys(self) -> tuple[Key, ...]:
        return tuple(self._keys.values())

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.key_id!r}, key_ids={self.key_ids!r})"

    def seal(self, origin: str, name: str, plaintext: bytes) -> Sealed:
        """Encrypt under the current key with a fresh random 96-bit nonce."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(self.current.material).encrypt(nonce, plaintext, _aad(origin, name))
        return Sealed(self.current.key_id, nonce, ciphertext)

    def open(self, origin: str, name: str, sealed: Sealed) -> bytes:
        """Decrypt, failing with a message that names the key id and the secret."""
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise ConfigError(
                f"secret {name!r} for {origin} is encrypted under key id {sealed.key_id!r}, "
                f"which ENCRYPTION_KEY does not hold (it holds {', '.join(self.key_ids)}); "
                "add that key back, then run 'matf secrets rotate'"
            )
        try:
            return AESGCM(key.material).decrypt(sealed.nonce, sealed.ciphertext, _aad(origin, name))
        except InvalidTag as exc:
            raise ConfigError(
                f"cannot decrypt secret {name!r} for {origin} under key id {sealed.key_id!r}: "
                "the key is wrong or the stored row was altered or moved"
            ) from exc


def _aad(origin: str, name: str) -> bytes:
    return json.dumps([_AAD_LABEL, origin, name], separators=(",", ":")).encode()


def fingerprint(material: bytes) -> str:
    """A key id derived from the key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(material).hexdigest()[:8]


def _decode_key(text: str, where: str) -> bytes:
    """Base64 (standard or urlsafe, padding optional) or 64 hex digits, 32 bytes.

    Hex is accepted because the operations guide makes keys with
    ``openssl rand -hex 32``. Messages never include the text itself.
    """
    if _HEX_KEY.fullmatch(text):
        return bytes.fromhex(text)
    normalised = text.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        material = base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            f"invalid ENCRYPTION_KEY: {where} is not base64 (make one with 'matf secrets keygen')"
        ) from exc
    if len(material) != KEY_BYTES:
        raise ConfigError(
            f"invalid ENCRYPTION_KEY: {where} decodes to {len(material)} bytes, "
            f"AES-256 needs {KEY_BYTES} (make one with 'matf secrets keygen')"
        )
    return material


def parse_keyring(value: str | None) -> Keyring:
    """Parse ``ENCRYPTION_KEY``: comma-separated ``KEYID:BASE64KEY`` entries, newest first.

    An entry without ``KEYID:`` gets its key's fingerprint as id, so a single
    bare key works and still rotates later.
    """
    if value is None or not value.strip():
        raise ConfigError(
            "ENCRYPTION_KEY is not set: make one with 'matf secrets keygen' and set it"
        )
    keys: list[Key] = []
    entries = [entry.strip() for entry in value.split(",")]
    for number, entry in enumerate(entries, start=1):
        if not entry:
            continue
        where = f"entry {number}"
        if ":" in entry:
            key_id, _, text = entry.partition(":")
            key_id = key_id.strip()
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigError(
                    f"invalid ENCRYPTION_KEY: {where} has a bad key id "
                    "(use 1-64 letters, digits, '.', '_' or '-')"
                )
            keys.append(Key(key_id, _decode_key(text.strip(), f"{where} (key id {key_id!r})")))
        else:
            material = _decode_key(entry, where)
            keys.append(Key(fingerprint(material), material))
    return Keyring(keys)


def keyring_from_settings(settings: Settings) -> Keyring:
    """The keyring of ``settings.encryption_key``, or a one-line ``ConfigError``."""
    return parse_keyring(settings.encryption_key)


def generate_key(key_id: str | None = None) -> str:
    """A new ``KEYID:BASE64KEY`` entry for ``ENCRYPTION_KEY`` (id: the key's fingerprint)."""
    material = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    key_id = key_id or fingerprint(material)
    if not _KEY_ID.fullmatch(key_id):
        raise UsageError("a key id is 1-64 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.urlsafe_b64encode(material).decode('ascii')}"


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


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in _PLACEHOLDERS or any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


def check_production(settings: Settings) -> None:
    """Refuse to start in production with a missing, weak or placeholder secret.

    Called by every composition root; does nothing unless ``MATF_ENV=production``.
    Messages name the variable and never repeat its value.
    """
    if settings.matf_env != "production":
        return
    jwt_secret = settings.jwt_secret
    if jwt_secret is None:
        raise ConfigError(
            "JWT_SECRET is not set: MATF_ENV=production needs a random secret "
            "(e.g. 'openssl rand -base64 32')"
        )
    if _is_placeholder(jwt_secret):
        raise ConfigError("JWT_SECRET is a placeholder value: set a random secret")
    if len(jwt_secret) < MIN_JWT_SECRET_CHARS:
        raise ConfigError(
            f"JWT_SECRET is too short ({len(jwt_secret)} characters): production needs "
            f"at least {MIN_JWT_SECRET_CHARS}"
        )
    encryption_key = settings.encryption_key
    if encryption_key is None:
        raise ConfigError(
            "ENCRYPTION_KEY is not set: MATF_ENV=production needs one "
            "(make it with 'matf secrets keygen')"
        )
    if _is_placeholder(encryption_key):
        raise ConfigError(
            "ENCRYPTION_KEY is a placeholder value: make a key with 'matf secrets keygen'"
        )
    for key in parse_keyring(encryption_key).keys:
        if len(set(key.material)) < 8:
            raise ConfigError(
                f"ENCRYPTION_KEY key id {key.key_id!r} is not random (too few distinct bytes): "
                "make a key with 'matf secrets keygen'"
            )


PLACEHOLDER = re.compile(r"\{\{\s*secret:([A-Za-z0-9_.-]+)\s*\}\}")


def referenced_names(values: Any) -> set[str]:
    """The secret names ``{{secret:NAME}}`` placeholders refer to, anywhere in ``values``."""
    if isinstance(values, str):
        return {match.group(1) for match in PLACEHOLDER.finditer(values)}
    if isinstance(values, dict):
        return set().union(*(referenced_names(v) for v in values.values())) if values else set()
    if isinstance(values, list | tuple):
        return set().union(*(referenced_names(v) for v in values)) if values else set()
    return set()


def sealed_for(session: Session, origin: str, names: set[str]) -> list[dict[str, str]]:
    """The stored ciphertexts of the secrets a run needs, to travel to executors.

    Only sealed bytes leave the database: the broker never sees a value, and an
    executor opens them with its own ``ENCRYPTION_KEY``. ``NAME.field`` refers
    to a field of the object secret ``NAME``.
    """
    origin = normalize_origin(origin)
    wanted = {name.split(".", 1)[0] for name in names}
    rows = session.scalars(
        select(TargetSecret).where(TargetSecret.origin == origin, TargetSecret.name.in_(wanted))
    )
    return [
        {
            "origin": origin,
            "name": row.name,
            "key_id": row.key_id,
            "nonce": base64.b64encode(row.nonce).decode("ascii"),
            "ciphertext": base64.b64encode(row.ciphertext).decode("ascii"),
        }
        for row in rows
    ]


def open_sealed(keyring: Keyring, items: list[dict[str, str]]) -> dict[str, str]:
    """Values by placeholder name (``NAME``, or ``NAME.field`` for an object secret)."""
    values: dict[str, str] = {}
    for item in items:
        sealed = Sealed(
            item["key_id"], base64.b64decode(item["nonce"]), base64.b64decode(item["ciphertext"])
        )
        value = json.loads(keyring.open(item["origin"], item["name"], sealed))
        if isinstance(value, str):
            values[item["name"]] = value
        elif isinstance(value, dict):
            for key, field_value in value.items():
                if isinstance(field_value, str):
                    values[f"{item['name']}.{key}"] = field_value
    return values


def fill_placeholders(text: str, values: Mapping[str, str], origin: str = "") -> str:
    """``text`` with each ``{{secret:NAME}}`` replaced by its value, at execution only.

    A missing value raises ``SecretMissing`` naming the secret, never its value.
    """

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SecretMissing(
                f"secret {name!r} is not available"
                + (
                    f": set it with 'matf secrets set {origin} {name.split('.')[0]}'"
                    if origin
                    else ""
                )
            )
        return values[name]

    return PLACEHOLDER.sub(value_of, text)


class SecretMissing(UsageError):
    """A spec refers to a secret the target does not have (or that cannot be opened)."""
