"""How the secrets a run needs travel to executors: sealed, opened only there.

Only sealed bytes leave the database: the broker never sees a value, and an
executor opens them with its own ``ENCRYPTION_KEY``.
"""

from __future__ import annotations

import base64
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from matf.secrets.keyring import Keyring, Sealed
from matf.secrets.store import normalize_origin
from matf.storage.models import TargetSecret


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
    return [_travelling(origin, row) for row in rows]


def sealed_named(session: Session, origin: str, name: str) -> dict[str, str] | None:
    """The stored ciphertext of the one secret called exactly ``name`` (``login.admin``)."""
    origin = normalize_origin(origin)
    row = session.scalars(
        select(TargetSecret).where(TargetSecret.origin == origin, TargetSecret.name == name)
    ).one_or_none()
    return None if row is None else _travelling(origin, row)


def _travelling(origin: str, row: TargetSecret) -> dict[str, str]:
    """A stored secret as it travels to an executor: its sealed bytes, base64."""
    return {
        "origin": origin,
        "name": row.name,
        "key_id": row.key_id,
        "nonce": base64.b64encode(row.nonce).decode("ascii"),
        "ciphertext": base64.b64encode(row.ciphertext).decode("ascii"),
    }


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
