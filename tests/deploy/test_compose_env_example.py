"""``.env.example``: every placeholder in it is refused by MATF in production.

The compose stack reads its secrets from ``.env``, copied from this file; its
first step, ``matf migrate``, runs ``check_production``. Each placeholder is
tried alone (every other secret made real), so none can slip through behind
another that happens to be checked first.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from matf.errors import ConfigError
from matf.secrets.keyring import generate_key
from matf.secrets.production import _is_placeholder, check_production
from matf.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
SECRETS = {
    "JWT_SECRET",
    "ENCRYPTION_KEY",
    "API_KEY",
    "REDIS_PASSWORD",
    "FLOWER_BASIC_AUTH",
    "GRAFANA_ADMIN_PASSWORD",
}


def _example() -> dict[str, str]:
    values = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _real(name: str) -> str:
    if name == "ENCRYPTION_KEY":
        return generate_key()
    if name == "FLOWER_BASIC_AUTH":
        return f"admin:{secrets.token_hex(16)}"
    return secrets.token_urlsafe(32)


def _settings(values: dict[str, str]) -> Settings:
    fields = {name.lower(): value for name, value in values.items()}
    password = values["REDIS_PASSWORD"]
    fields["redis_url"] = f"redis://:{password}@redis:6379/0"  # as the compose file builds it
    return load_settings(_env_file=None, **fields)


PLACEHOLDERS = sorted(
    name for name, value in _example().items() if value and _is_placeholder(value)
)


def test_the_example_is_for_production_and_holds_a_placeholder_for_every_secret() -> None:
    example = _example()
    assert example["MATF_ENV"] == "production"
    assert set(PLACEHOLDERS) == SECRETS


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_each_placeholder_alone_stops_production(name: str) -> None:
    # Given the example with every secret made real but this one
    values = {**_example(), **{other: _real(other) for other in PLACEHOLDERS if other != name}}

    with pytest.raises(ConfigError) as refused:
        check_production(_settings(values))

    message = str(refused.value)
    assert name in message.split(":")[0]
    assert values[name] not in message


def test_the_example_with_every_secret_made_real_starts() -> None:
    values = {**_example(), **{name: _real(name) for name in PLACEHOLDERS}}

    check_production(_settings(values))  # raises if refused
