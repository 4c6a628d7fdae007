"""`matf demo --run` signs in to the demo's account area as its two accounts.

The demo listens on a new port each time, so its accounts' credentials are set
as that origin's secrets (``login.admin``, ``login.user``) for the run and
removed after it, with the run's cached sign-ins. Without an ``ENCRYPTION_KEY``
the run gets a key of its own, in this process only: the secrets it sealed are
gone with the run, so nothing is left that no key opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from demo.account import ACCOUNTS
from matf.secrets.keyring import generate_key, keyring_from_settings
from matf.secrets.sessions import forget
from matf.secrets.store import delete_secret, put_secret
from matf.settings import Settings
from matf.storage.db import get_engine, session_scope

ROLES = ("admin", "user")  # the admin first: its pages link to what a user must be denied


def with_key(settings: Settings) -> Settings:
    """``settings``, with a key of this process's own when ENCRYPTION_KEY is not set."""
    if settings.encryption_key:
        return settings
    return settings.model_copy(update={"encryption_key": generate_key("demo-run")})


@contextmanager
def demo_accounts(settings: Settings, url: str) -> Iterator[None]:
    """The demo's accounts as ``url``'s secrets while the block runs; none left after it."""
    engine = get_engine(settings.database_url)
    keyring = keyring_from_settings(settings)
    with session_scope(engine, write=True) as session:
        for role in ROLES:
            account = ACCOUNTS[role]
            credentials = {"username": account.username, "password": account.password}
            put_secret(session, keyring, url, f"login.{role}", credentials)
    try:
        yield
    finally:
        with session_scope(engine, write=True) as session:
            for role in ROLES:
                delete_secret(session, url, f"login.{role}")
                forget(session, url, role)
