"""``{{secret:NAME}}`` in specs: which secrets a run needs, how they travel, filling them.

Only sealed bytes travel to executors, which open them with their own
``ENCRYPTION_KEY`` and fill the placeholders at execution only.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from matf.errors import UsageError
from matf.secrets.keyring import Keyring, Sealed
from matf.secrets.store import normalize_origin
from matf.storage.models import TargetSecret

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
