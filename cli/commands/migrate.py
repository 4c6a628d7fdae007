"""``matf migrate``: bring the database's schema to the newest revision, then exit.

Every process migrates on first use already (``matf.storage.db.migrate``;
processes starting together take turns). A deployment runs this once before
the other roles all the same, so that an upgrade's migration fails alone, in
one line, before any server or worker starts on a half-migrated database. In
production it refuses placeholder secrets first: a stack that waits for it
does not start on a copied ``.env.example``.
"""

from __future__ import annotations

import click

from matf.secrets.production import check_production
from matf.settings import load_settings
from matf.storage.db import current_revision, head_revision, make_engine


@click.command()
def migrate() -> None:
    """Bring the database (DATABASE_URL) to the newest schema, then exit."""
    settings = load_settings()
    check_production(settings)
    engine = make_engine(settings.database_url)  # migrates, or raises one line saying why
    try:
        revision = current_revision(engine)
        where = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    click.echo(f"{where}: schema {revision or '?'} (newest {head_revision() or '?'})")
