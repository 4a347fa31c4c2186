"""Apply Alembic migrations at start-up (and from the CLI)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from . import Database

_MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(db: Database) -> None:
    """Bring the database to the newest schema; safe to call from several processes at once."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with db.exclusive() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
