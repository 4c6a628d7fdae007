"""``ENCRYPTION_KEY`` and ``JWT_SECRET``: the forms a key may take, and production's refusals."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from matf.errors import ConfigError, UsageError
from matf.secrets.keyring import generate_key, parse_keyring
from matf.secrets.production import check_production
from tests.conftest import make_settings
from tests.secretstore import SHORT

GOOD_JWT = "q0bJ8gZ3xv6mFv2Yp1rN4tW7uE9sK5hL3dC8aB2zX0="


# --- ENCRYPTION_KEY ----------------------------------------------------------------------


def test_encryption_key_forms_that_parse() -> None:
    raw = bytes(range(32))
    standard = base64.b64encode(raw).decode()
    urlsafe_unpadded = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    bare = parse_keyring(standard)
    assert bare.current.key_id == hashlib.sha256(raw).hexdigest()[:8]
    assert bare.current.material == raw
    assert parse_keyring(urlsafe_unpadded).current.material == raw
    assert parse_keyring(raw.hex()).current.material == raw  # openssl rand -hex 32
    ring = parse_keyring(f" k2 : {urlsafe_unpadded} , k1:{standard},")
    assert ring.key_ids == ("k2", "k1")
    assert ring.current.key_id == "k2"
    assert standard not in repr(ring)


def test_generated_keys_are_ready_to_use_and_distinct() -> None:
    first, second = generate_key(), generate_key()
    ring = parse_keyring(first)

    assert first != second
    assert first.partition(":")[0] == ring.current.key_id
    assert ring.current.key_id == hashlib.sha256(ring.current.material).hexdigest()[:8]
    assert generate_key("2025-q1").startswith("2025-q1:")
    with pytest.raises(UsageError):
        generate_key("no spaces allowed")


GOOD = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("", "not set"),
        ("   ", "not set"),
        (",", "no key"),
        ("k1:" + SHORT, "16 bytes"),
        (SHORT, "entry 1"),
        ("k1:" + GOOD + ",k2:!!" + GOOD[2:], "entry 2 (key id 'k2') is not base64"),
        ("bad id:" + GOOD, "bad key id"),
        (f"k1:{GOOD},k1:{GOOD}", "same key id"),
        ("your_32_character_encryption_key", "bytes"),
    ],
)
def test_bad_encryption_keys_fail_in_one_line_without_echoing_the_key(
    value: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_keyring(value)

    message = str(info.value)
    assert "ENCRYPTION_KEY" in message
    assert needle in message
    assert "\n" not in message
    for material in (SHORT, GOOD, GOOD[2:], "your_32_character"):
        assert material not in message


# --- production start-up checks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("jwt_secret", "encryption_key", "variable", "needle"),
    [
        (None, "GENERATED", "JWT_SECRET", "not set"),
        ("your_jwt_secret_key", "GENERATED", "JWT_SECRET", "placeholder"),
        ("change-me", "GENERATED", "JWT_SECRET", "placeholder"),
        ("your-secret-key", "GENERATED", "JWT_SECRET", "placeholder"),
        ("tooShort-but-random-ish-9f", "GENERATED", "JWT_SECRET", "too short"),
        ("x" * 32, "GENERATED", "JWT_SECRET", "not random"),
        ("ab" * 24, "GENERATED", "JWT_SECRET", "not random"),
        ("abcdefgh" * 4, "GENERATED", "JWT_SECRET", "not random"),
        (GOOD_JWT, None, "ENCRYPTION_KEY", "not set"),
        (GOOD_JWT, "your_32_character_encryption_key", "ENCRYPTION_KEY", "placeholder"),
        (GOOD_JWT, "changeme", "ENCRYPTION_KEY", "placeholder"),
        (GOOD_JWT, "k1:" + SHORT, "ENCRYPTION_KEY", "16 bytes"),
        (GOOD_JWT, "0" * 64, "ENCRYPTION_KEY", "not random"),
    ],
)
def test_production_refuses_missing_weak_or_placeholder_secrets(
    tmp_path: Path,
    jwt_secret: str | None,
    encryption_key: str | None,
    variable: str,
    needle: str,
) -> None:
    key = generate_key() if encryption_key == "GENERATED" else encryption_key
    settings = make_settings(
        tmp_path, matf_env="production", jwt_secret=jwt_secret, encryption_key=key
    )

    with pytest.raises(ConfigError) as info:
        check_production(settings)

    message = str(info.value)
    assert variable in message.split(":")[0]
    assert needle in message
    for secret in (jwt_secret, encryption_key):
        if secret and secret != "GENERATED":
            assert secret not in message


def test_production_starts_with_strong_secrets_and_other_envs_are_not_checked(
    tmp_path: Path,
) -> None:
    strong = make_settings(
        tmp_path, matf_env="production", jwt_secret=GOOD_JWT, encryption_key=generate_key()
    )
    weak_dev = make_settings(tmp_path, matf_env="development", jwt_secret=None)

    check_production(strong)  # raises ConfigError if refused
    check_production(weak_dev)
