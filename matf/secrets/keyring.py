"""The keys of ``ENCRYPTION_KEY``, and sealing values under them with AES-256-GCM.

Each sealed value holds the id of the key that sealed it, so keys rotate
without downtime: put the new key first in ``ENCRYPTION_KEY``, run ``matf
secrets rotate``, then drop the old one. The associated data binds a
ciphertext to its (origin, name), so a row copied onto another target fails to
decrypt instead of leaking one site's password to another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from matf.errors import ConfigError, UsageError
from matf.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
# What a ciphertext is: part of its associated data, so one kind never opens as another.
TARGET_SECRET = "matf.target_secret.v1"
SESSION_STATE = "matf.session_state.v1"
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}")


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

    def seal(
        self, origin: str, name: str, plaintext: bytes, *, purpose: str = TARGET_SECRET
    ) -> Sealed:
        """Encrypt under the current key with a fresh random 96-bit nonce."""
        nonce = os.urandom(NONCE_BYTES)
        aad = _aad(origin, name, purpose)
        ciphertext = AESGCM(self.current.material).encrypt(nonce, plaintext, aad)
        return Sealed(self.current.key_id, nonce, ciphertext)

    def open(
        self, origin: str, name: str, sealed: Sealed, *, purpose: str = TARGET_SECRET
    ) -> bytes:
        """Decrypt, failing with a message that names the key id and the secret.

        ``purpose`` must be the one it was sealed for: a session state copied
        into the secrets' table (or the reverse) does not open.
        """
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise ConfigError(
                f"secret {name!r} for {origin} is encrypted under key id {sealed.key_id!r}, "
                f"which ENCRYPTION_KEY does not hold (it holds {', '.join(self.key_ids)}); "
                "add that key back, then run 'matf secrets rotate'"
            )
        try:
            aad = _aad(origin, name, purpose)
            return AESGCM(key.material).decrypt(sealed.nonce, sealed.ciphertext, aad)
        except InvalidTag as exc:
            raise ConfigError(
                f"cannot decrypt secret {name!r} for {origin} under key id {sealed.key_id!r}: "
                "the key is wrong or the stored row was altered or moved"
            ) from exc


def _aad(origin: str, name: str, purpose: str) -> bytes:
    return json.dumps([purpose, origin, name], separators=(",", ":")).encode()


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
