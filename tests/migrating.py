"""Move a test database to one Alembic revision, up or down: how migration tests set the scene."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from matf.storage.db import migrations_dir


def migrate_to(engine: Engine, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
