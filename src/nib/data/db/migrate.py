"""Apply Alembic migrations at start-up (and from the CLI), and name schema revisions."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from . import Database

_MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest schema by default); safe to call from several
    processes at once."""
    config = _config()
    with db.exclusive() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def head_revision() -> str:
    """The newest schema revision this nib knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this nib's migrations (a newer nib's is not)."""
    return any(script.revision == revision for script in ScriptDirectory.from_config(_config()).walk_revisions())


def current_revision(conn: Connection) -> str | None:
    """The schema revision of the database ``conn`` reads (``None`` before any migration)."""
    found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return str(found) if found is not None else None
