"""Production start-up checks on the two secrets: ``JWT_SECRET`` and ``ENCRYPTION_KEY``."""

from __future__ import annotations

import math
from collections import Counter

from matf.errors import ConfigError
from matf.secrets.keyring import parse_keyring
from matf.settings import Settings

MIN_JWT_SECRET_CHARS = 32
MIN_JWT_SECRET_BITS = 80  # estimated from the secret's own character frequencies
MIN_DISTINCT = 8  # distinct characters (JWT_SECRET) or bytes (ENCRYPTION_KEY)

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


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in _PLACEHOLDERS or any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


def estimated_bits(value: str) -> float:
    """Shannon entropy of ``value``'s characters times its length: a floor for repetitive text.

    ``openssl rand -hex 16`` scores about 115, ``-base64 32`` about 200, 32
    identical characters 0.
    """
    counts = Counter(value)
    total = len(value)
    return -total * sum(n / total * math.log2(n / total) for n in counts.values())


def _repeats(value: str) -> bool:
    """True when ``value`` is a shorter block written out again and again."""
    return (value + value).find(value, 1) < len(value)


def _weak_jwt_secret(value: str) -> bool:
    return (
        len(set(value)) < MIN_DISTINCT
        or estimated_bits(value) < MIN_JWT_SECRET_BITS
        or _repeats(value)
    )


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
    if _weak_jwt_secret(jwt_secret):
        raise ConfigError(
            "JWT_SECRET is not random (too few distinct characters, or a repeated pattern): "
            "set a random secret "
            "(e.g. 'openssl rand -base64 32')"
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
        if len(set(key.material)) < MIN_DISTINCT:
            raise ConfigError(
                f"ENCRYPTION_KEY key id {key.key_id!r} is not random (too few distinct bytes): "
                "make a key with 'matf secrets keygen'"
            )
