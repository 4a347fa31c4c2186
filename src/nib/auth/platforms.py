"""Web platforms of a project (managed from the command line): the hostnames browsers may call
nib from (CORS and the origin check, http/origins.py) and that redirect URLs may point to
(``validators.redirect_url``).

The pipeline reads a project's hostnames through a per-process cache kept for
``auth.CACHE_SECONDS``, like projects and keys: the hot path costs no query, and a platform
added or removed by ``nib platforms`` takes effect within that time in every process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from ..data.db import Database
from ..tools import dates
from ..tools.errors import AppwriteError, invalid_argument
from ..tools.ids import unique_id
from ..tools.ttlcache import TTLCache
from ..tools.validators import Invalid, platform_hostname, text
from .principals import CACHE_SECONDS
from .tables import platforms, projects

_NAME = text(128)
_hosts: TTLCache[tuple[str, ...]] = TTLCache(CACHE_SECONDS, 4096)


def add_platform(db: Database, *, project_id: str, hostname: str, name: str = "") -> dict[str, Any]:
    """Register a web hostname (``*.example.com`` for every subdomain) for the project; the
    name defaults to the hostname.

    400 for an invalid hostname or name, 404 for an unknown project, 409 if it is already registered.
    """
    with db.write() as conn:
        return insert_platform(conn, project_id=project_id, hostname=hostname, name=name)


def insert_platform(conn: Connection, *, project_id: str, hostname: str, name: str = "") -> dict[str, Any]:
    """``add_platform`` within the caller's write transaction."""
    try:
        hostname = platform_hostname(hostname)
    except Invalid as invalid:
        raise invalid_argument(f"Invalid `hostname` param: {invalid}") from None
    try:
        name = _NAME(name) if name else hostname
    except Invalid as invalid:
        raise invalid_argument(f"Invalid `name` param: {invalid}") from None
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "type": "web",
        "name": name,
        "hostname": hostname,
        "created_at": now,
        "updated_at": now,
    }
    exists = AppwriteError(
        "document_already_exists", f"Platform '{hostname}' already exists in project '{project_id}'."
    )
    if not conn.execute(sa.select(projects.c.seq).where(projects.c.id == project_id)).first():
        raise AppwriteError("project_not_found")
    taken = sa.select(platforms.c.seq).where(platforms.c.project_id == project_id, platforms.c.hostname == hostname)
    if conn.execute(taken).first():
        raise exists
    try:
        conn.execute(platforms.insert().values(row))
    except IntegrityError:  # added concurrently
        raise exists from None
    return _model(row)


def list_platforms(db: Database, *, project_id: str) -> list[dict[str, Any]]:
    """The project's platforms in the order they were added."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(platforms).where(platforms.c.project_id == project_id).order_by(platforms.c.seq)
        ).all()
    return [_model(row._mapping) for row in rows]


def remove_platform(
    db: Database, *, project_id: str, hostname: str | None = None, platform_id: str | None = None
) -> None:
    """Remove the platform with this hostname (or this ID); 400 if there is none."""
    match = platforms.c.id == platform_id if hostname is None else platforms.c.hostname == hostname.lower()
    with db.write() as conn:
        deleted = conn.execute(platforms.delete().where(platforms.c.project_id == project_id, match))
    if deleted.rowcount == 0:
        raise invalid_argument(f"Platform '{hostname or platform_id}' not found in project '{project_id}'.")


def allowed_hosts(db: Database, project_id: str) -> tuple[str, ...]:
    """The project's platform hostnames (cached); none for an unknown or missing project."""
    if not project_id:
        return ()
    hosts = _hosts.get(project_id)
    if hosts is None:
        with db.read() as conn:
            query = sa.select(platforms.c.hostname).where(platforms.c.project_id == project_id)
            hosts = tuple(conn.execute(query.order_by(platforms.c.seq)).scalars())
        _hosts.put(project_id, hosts)
    return hosts


def _model(row: RowMapping | Mapping[str, Any]) -> dict[str, Any]:
    return {
        "$id": row["id"],
        "$createdAt": dates.fmt(row["created_at"]),
        "$updatedAt": dates.fmt(row["updated_at"]),
        "projectId": row["project_id"],
        "name": row["name"],
        "type": row["type"],
        "hostname": row["hostname"],
    }
