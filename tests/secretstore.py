"""Target secrets for the secrets tests: a sample credential, sealed in a real database."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import Engine

from matf.secrets.keyring import Keyring
from matf.secrets.store import get_secret, put_secret
from matf.storage.db import get_engine, session_scope

ORIGIN = "https://shop.example.com"
PASSWORD = "hunter2-correct-horse"
CREDENTIALS = {"username": "alice@example.com", "password": PASSWORD}
# Key material 16 bytes long: half what AES-256 needs.
SHORT = base64.b64encode(b"s3cr3t-material-sixteen"[:16]).decode()


def open_database(tmp_path: Path) -> Engine:
    """The database of a test's folder, its schema migrated."""
    return get_engine(f"sqlite:///{tmp_path / 'matf.db'}")


def store(engine: Engine, keyring: Keyring, origin: str, name: str, value: object) -> None:
    """Seal ``value`` as the secret ``name`` of ``origin``, in its own transaction."""
    with session_scope(engine, write=True) as session:
        put_secret(session, keyring, origin, name, value)  # type: ignore[arg-type]


def reveal(engine: Engine, keyring: Keyring, origin: str = ORIGIN, name: str = "login") -> object:
    """The plaintext of a stored secret, or None when there is none."""
    with session_scope(engine) as session:
        secret = get_secret(session, keyring, origin, name)
    return None if secret is None else secret.reveal()
