"""Storage: SQLAlchemy 2 models, the engine with SQLite's pragmas, migrations on first use."""
