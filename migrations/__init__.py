"""Alembic migrations of MATF's database (batch mode, so SQLite can alter tables)."""
