"""Production start-up checks on the two secrets: ``JWT_SECRET`` and ``ENCRYPTION_KEY``."""

from __future__ import annotations

from matf.errors import ConfigError
from matf.secrets.keyring import parse_keyring
from matf.settings import Settings

MIN_JWT_SECRET_CHARS = 32

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
