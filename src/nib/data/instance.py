"""Values every nib process on one database shares (``instance_values``)."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..tools.config import Settings
from .db import Database
from .db.schema import instance_values

_SECRET = "secret"
_resolved: dict[str, str] = {}


def server_secret(db: Database, settings: Settings) -> str:
    """``Settings.secret``, or one generated on first use and stored, so all processes agree.

    Signs JWTs. Read once per process and database.
    """
    if settings.secret:
        return settings.secret
    found = _resolved.get(db.url)
    if found is None:
        found = _resolved[db.url] = _stored_secret(db)
    return found


def deployment_tag(db: Database, settings: Settings) -> str:
    """A short name of this deployment (every process on this database has the same one, other
    deployments another): it keeps their keys and channels apart on a Redis they share."""
    return hashlib.sha256(b"nib deployment " + server_secret(db, settings).encode()).hexdigest()[:16]


def _stored_secret(db: Database) -> str:
    select = sa.select(instance_values.c.value).where(instance_values.c.name == _SECRET)
    with db.read() as conn:
        value: str | None = conn.execute(select).scalar()
    if value is not None:
        return value
    try:
        with db.write() as conn:
            conn.execute(instance_values.insert().values(name=_SECRET, value=secrets.token_hex(32)))
    except IntegrityError:
        pass  # another process stored it first: use theirs
    with db.read() as conn:
        stored: str = conn.execute(select).scalar_one()
    return stored
