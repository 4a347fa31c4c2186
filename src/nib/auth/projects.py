"""Projects and their API keys (managed from the command line)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..data.db import Database
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret, secret_hash, unique_id
from ..tools.validators import Invalid, custom_id
from .platforms import insert_platform
from .principals import ALL_KEY_SCOPES
from .tables import api_keys, projects

DEFAULT_PROJECT = "default"


def create_project(db: Database, *, project_id: str, name: str) -> dict[str, Any]:
    """A new, enabled project; 409 if the ID is taken."""
    try:
        custom_id(project_id)
    except Invalid as invalid:
        raise AppwriteError("general_argument_invalid", f"Invalid `projectId` param: {invalid}") from None
    if project_id == "console":
        # Requests naming "console" are refused as Appwrite's reserved project (auth/principals.py).
        raise AppwriteError("general_argument_invalid", 'Invalid `projectId` param: "console" is reserved.')
    if project_id == "unique()":
        project_id = unique_id()
    with db.write() as conn:
        return _insert_project(conn, project_id, name)


def _insert_project(conn: Connection, project_id: str, name: str) -> dict[str, Any]:
    now = dates.now()
    row = {"id": project_id, "name": name, "enabled": True, "created_at": now, "updated_at": now}
    if conn.execute(sa.select(projects.c.seq).where(projects.c.id == project_id)).first():
        raise AppwriteError("document_already_exists", f"Project '{project_id}' already exists.")
    conn.execute(projects.insert().values(row))
    return row


def list_projects(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(projects).order_by(projects.c.seq))]


def project_name(conn: Connection, project_id: str) -> str:
    """The name users see (e-mails, TOTP issuer); the ID when the project has none."""
    return conn.execute(sa.select(projects.c.name).where(projects.c.id == project_id)).scalar() or project_id


def rename_project(db: Database, *, project_id: str, name: str) -> dict[str, Any]:
    """Give the project a new name (1 to 128 characters); 404 ``project_not_found``."""
    if not 1 <= len(name) <= 128:
        raise AppwriteError("general_argument_invalid", "Invalid `name` param: 1 to 128 characters.")
    with db.write() as conn:
        updated = conn.execute(
            projects.update().where(projects.c.id == project_id).values(name=name, updated_at=dates.now())
        )
        if updated.rowcount == 0:
            raise AppwriteError("project_not_found")
        row = conn.execute(sa.select(projects).where(projects.c.id == project_id)).one()
    return dict(row._mapping)


def set_project_enabled(db: Database, *, project_id: str, enabled: bool) -> None:
    with db.write() as conn:
        updated = conn.execute(
            projects.update().where(projects.c.id == project_id).values(enabled=enabled, updated_at=dates.now())
        )
        if updated.rowcount == 0:
            raise AppwriteError("project_not_found")


def mfa_custom_enabled(conn: Connection, project_id: str) -> bool:
    """The project's MFA-factors policy for the ``custom`` factor (off unless switched on); the
    other factors (totp, email, phone, recovery codes) are always allowed. 404
    ``project_not_found``."""
    enabled = conn.execute(sa.select(projects.c.mfa_custom).where(projects.c.id == project_id)).scalar()
    if enabled is None:
        raise AppwriteError("project_not_found")
    return bool(enabled)


def set_mfa_custom(db: Database, *, project_id: str, enabled: bool) -> None:
    """Allow or refuse the ``custom`` MFA factor in the project (404 ``project_not_found``)."""
    with db.write() as conn:
        updated = conn.execute(
            projects.update().where(projects.c.id == project_id).values(mfa_custom=enabled, updated_at=dates.now())
        )
        if updated.rowcount == 0:
            raise AppwriteError("project_not_found")


def create_key(
    db: Database,
    *,
    project_id: str,
    name: str,
    scopes: list[str] | None = None,
    expire: datetime | None = None,
) -> dict[str, Any]:
    """A new API key, refused from ``expire`` on (None: never); the returned dict holds the only
    copy of the secret. 400 for unknown scopes or an ``expire`` not in the future."""
    scopes = list(ALL_KEY_SCOPES) if scopes is None else scopes
    unknown = sorted(set(scopes) - set(ALL_KEY_SCOPES))
    if unknown:
        raise AppwriteError("general_argument_invalid", f"Unknown scopes: {', '.join(unknown)}")
    if expire is not None and expire <= dates.now():
        raise AppwriteError("general_argument_invalid", "Invalid `expire` param: Value must be a date in the future.")
    with db.write() as conn:
        return _insert_key(conn, project_id, name, scopes, expire)


def _insert_key(
    conn: Connection, project_id: str, name: str, scopes: list[str], expire: datetime | None = None
) -> dict[str, Any]:
    secret = "nib_" + new_secret(128)
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "name": name,
        "secret_hash": secret_hash(secret),
        "scopes": scopes,
        "expire": expire,
        "created_at": now,
        "updated_at": now,
    }
    if not conn.execute(sa.select(projects.c.seq).where(projects.c.id == project_id)).first():
        raise AppwriteError("project_not_found")
    conn.execute(api_keys.insert().values(row))
    return {
        "$id": row["id"],
        "projectId": project_id,
        "name": name,
        "scopes": scopes,
        "expire": dates.fmt(expire) if expire else None,
        "$createdAt": dates.fmt(now),
        "secret": secret,
    }


def list_keys(db: Database, *, project_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(api_keys).where(api_keys.c.project_id == project_id).order_by(api_keys.c.seq)
        ).all()
    return [
        {
            "$id": r.id,
            "projectId": r.project_id,
            "name": r.name,
            "scopes": r.scopes,
            "expire": dates.fmt(r.expire) if r.expire else None,
            "$createdAt": dates.fmt(r.created_at),
        }
        for r in rows
    ]


def delete_key(db: Database, *, project_id: str, key_id: str) -> None:
    with db.write() as conn:
        deleted = conn.execute(api_keys.delete().where(api_keys.c.project_id == project_id, api_keys.c.id == key_id))
        if deleted.rowcount == 0:
            raise AppwriteError("general_argument_invalid", f"Key '{key_id}' not found in project '{project_id}'.")


def bootstrap(db: Database) -> dict[str, Any] | None:
    """On an empty installation, create project ``default`` (with web platform ``localhost``, so
    a local web app works out of the box) and a key with every scope.

    Returns the new key (with its secret) the first time, None afterwards. Processes starting
    together on one database take turns (``Database.exclusive``): the first creates all three
    in one transaction, the others then find the project and return None.
    """
    with db.exclusive() as conn:
        if conn.execute(sa.select(projects.c.seq).limit(1)).first():
            return None
        _insert_project(conn, DEFAULT_PROJECT, "Default")
        insert_platform(conn, project_id=DEFAULT_PROJECT, hostname="localhost", name="Localhost")
        return _insert_key(conn, DEFAULT_PROJECT, "Default key", list(ALL_KEY_SCOPES))
