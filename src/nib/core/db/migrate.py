"""Apply Alembic migrations at start-up (and from the CLI)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from . import Database

_MIGRATIONS = Path(__file__).parent / "migrations"

# Arbitrary constant: serialises concurrent `nib serve` start-ups on one PostgreSQL database.
_PG_LOCK_KEY = 0x6E6962


def upgrade(db: Database) -> None:
    """Bring the database to the newest schema; safe to call from several processes at once."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
