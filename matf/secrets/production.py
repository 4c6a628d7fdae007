"""Production start-up checks: ``JWT_SECRET`` and ``ENCRYPTION_KEY`` strong, no placeholders.

The other secrets a deployment's env file holds (``.env.example`` in the
repository: the bootstrap ``API_KEY``, Redis', Flower's and Grafana's
passwords...) are refused only while they still hold a placeholder: MATF cannot
judge their strength, but ``matf migrate`` runs first in the compose stack, so a
copied ``.env.example`` stops the whole stack in one line.
"""

from __future__ import annotations

import math
from collections import Counter
from urllib.parse import unquote, urlsplit

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


# Settings holding a secret, checked for placeholders only; set or empty is the user's choice.
OTHER_SECRETS = (
    "api_key",
    "mistral_api_key",
    "matf_metrics_token",
    "redis_password",
    "grafana_admin_password",
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


def _placeholder_secrets(settings: Settings) -> list[str]:
    """The variables (never their values) among the other secrets that hold a placeholder."""
    found = [
        name.upper()
        for name in OTHER_SECRETS
        if (value := getattr(settings, name)) is not None and _is_placeholder(value)
    ]
    if settings.redis_url is not None:
        password = urlsplit(settings.redis_url).password
        if password and _is_placeholder(unquote(password)):
            found.append("REDIS_URL (its password)")
    for entry in (settings.flower_basic_auth or "").split(","):
        _user, _, password = entry.partition(":")
        if entry.strip() and (not password or _is_placeholder(password)):
            found.append("FLOWER_BASIC_AUTH")
            break
    return found


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
    placeholders = _placeholder_secrets(settings)
    if placeholders:
        raise ConfigError(
            f"{', '.join(placeholders)}: placeholder value(s) from the example env file: "
            "set real secrets (e.g. 'openssl rand -hex 24') or leave optional ones empty"
        )
