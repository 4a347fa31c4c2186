"""Files: access rules, reading, listing, updating and deleting.

``roles`` is the caller's role set (auth.roles) or ``None`` for an API key, which bypasses every
check. Without ``fileSecurity`` the bucket's permissions decide alone (401 when they refuse);
with it, the bucket's *or* the file's permissions grant, and a file the caller may not read does
not exist for it (404). Each file's permissions are also kept one per row in
``file_permissions``: a fileSecurity list keeps the files one of whose permissions grants the
caller (``auth.permissions.granting``), an EXISTS probe of that table's primary key per file,
with only the caller's few role strings bound, however many files it may read.

A file row exists from its first chunk on (status ``uploading``), so partial uploads are listed and
read with their counters, which is how clients resume; their bytes are served only once
the status is ``ready``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth.permissions import allowed, check_self_assignment, granting, parse
from ..data import search
from ..data.db import Database
from ..data.listing import Restriction, list_rows
from ..data.query import STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from . import processing
from .devices import Device
from .tables import file_permissions, files

UPLOADING, READY = "uploading", "ready"

FILE_LIST = ListSpec(
    entity="File",
    table=files,
    attributes={
        **standard_attributes(files),
        "name": Attribute(files.c.name, STRING),
        "signature": Attribute(files.c.signature, STRING),
        "mimeType": Attribute(files.c.mime_type, STRING),
        "sizeOriginal": Attribute(files.c.size_original, "integer"),
        "chunksTotal": Attribute(files.c.chunks_total, "integer"),
        "chunksUploaded": Attribute(files.c.chunks_uploaded, "integer"),
    },
)

_BY_ID = sa.select(files).where(
    files.c.project_id == sa.bindparam("project_id"),
    files.c.bucket_id == sa.bindparam("bucket_id"),
    files.c.id == sa.bindparam("id"),
)


def file_prefix(project_id: str, bucket_id: str, file_id: str) -> str:
    """The device prefix of everything stored for one file (object, parts, cached previews)."""
    return f"{project_id}/{bucket_id}/{file_id}/"


def require_bucket(roles: list[str] | None, bucket: Row, action: str) -> None:
    """The bucket's part of Appwrite's file access rules: 401 unless it grants ``action``
    (or, with fileSecurity, unless the file may still grant it)."""
    if not bucket["file_security"] and not allowed(roles, bucket["permissions"], action):
        raise AppwriteError("user_unauthorized")


def check_file(roles: list[str] | None, bucket: Row, row: Row | None, action: str) -> Row:
    """The file if the caller may do ``action`` to it: 404 when missing (or, for reads, hidden by
    fileSecurity), 401 otherwise."""
    if row is None:
        raise AppwriteError("storage_file_not_found")
    if allowed(roles, bucket["permissions"], action):
        return row
    if bucket["file_security"] and allowed(roles, row["permissions"], action):
        return row
    if action == "read" and bucket["file_security"]:
        raise AppwriteError("storage_file_not_found")
    raise AppwriteError("user_unauthorized")


def read_roles(bucket: Row, permissions: Iterable[str]) -> list[str]:
    """The roles that may read a file with ``permissions``: the bucket's read roles, and the
    file's own when the bucket has fileSecurity (``read("user:U")`` -> ``user:U``). What a
    file's events reach."""
    granted = [*bucket["permissions"], *(permissions if bucket["file_security"] else ())]
    parsed = [parse(permission) for permission in granted]  # stored ones: always well formed
    return list(dict.fromkeys(p.role_string for p in parsed if p.type == "read"))


def find_file(db: Database, project_id: str, bucket_id: str, file_id: str) -> Row | None:
    rows = db.fetch(_BY_ID, {"project_id": project_id, "bucket_id": bucket_id, "id": file_id})
    return rows[0] if rows else None


def get_file(db: Database, *, project_id: str, bucket: Row, file_id: str, roles: list[str] | None) -> Row:
    require_bucket(roles, bucket, "read")
    return check_file(roles, bucket, find_file(db, project_id, bucket["id"], file_id), "read")


def list_files(
    db: Database, *, project_id: str, bucket: Row, roles: list[str] | None, queries: ParsedQueries, search: str | None
) -> tuple[int, list[Row]]:
    """The files the caller may read: all of them when the bucket grants read, else (fileSecurity)
    those whose own permissions grant it."""
    require_bucket(roles, bucket, "read")
    restriction = None
    if not allowed(roles, bucket["permissions"], "read"):
        restriction = Restriction("file_permissions", _readable, granting(roles, "read") or [])
    scope = {"project_id": project_id, "bucket_id": bucket["id"]}
    return list_rows(db, FILE_LIST, scope=scope, queries=queries, search=search, restriction=restriction)


def _readable(table: sa.Table, permissions: sa.BindParameter) -> sa.ColumnElement[bool]:
    """Files one of whose own permissions is among ``permissions``: one primary-key probe of
    ``file_permissions`` per file and role."""
    return sa.exists().where(file_permissions.c.file_seq == table.c.seq, file_permissions.c.permission.in_(permissions))


def store_permissions(conn: Connection, file_seq: int, permissions: Iterable[str]) -> None:
    """Replace the ``file_permissions`` rows of a file (in the caller's transaction)."""
    conn.execute(file_permissions.delete().where(file_permissions.c.file_seq == file_seq))
    values = [{"file_seq": file_seq, "permission": permission} for permission in dict.fromkeys(permissions)]
    if values:
        conn.execute(file_permissions.insert(), values)


def locked_file(conn: Connection, project_id: str, bucket_id: str, file_id: str) -> Row | None:
    """The file row, locked for the rest of the caller's write transaction; ``None`` if missing."""
    statement = sa.select(files).where(
        files.c.project_id == project_id, files.c.bucket_id == bucket_id, files.c.id == file_id
    )
    row = conn.execute(statement.with_for_update()).mappings().first()
    return dict(row) if row is not None else None


def update_file(
    db: Database,
    *,
    project_id: str,
    bucket: Row,
    file_id: str,
    roles: list[str] | None,
    name: str | None,
    permissions: list[str] | None,
) -> Row:
    """Rename and/or replace permissions (``None`` keeps; ``[]`` clears), granting only the caller's roles."""
    require_bucket(roles, bucket, "update")
    with db.write() as conn:
        row = check_file(roles, bucket, locked_file(conn, project_id, bucket["id"], file_id), "update")
        values: dict[str, Any] = {"updated_at": dates.now()}
        if permissions is not None:
            check_self_assignment(roles, permissions)
            values["permissions"] = permissions
            store_permissions(conn, row["seq"], permissions)
        if name is not None:
            values["name"] = name
            values["search"] = search.normalize(file_id, name)
        conn.execute(files.update().where(files.c.seq == row["seq"]).values(values))
    return {**row, **values}


def delete_file(
    db: Database, device: Device, *, project_id: str, bucket: Row, file_id: str, roles: list[str] | None
) -> Row:
    """Delete the row (complete or partial upload), then its objects, parts, temporary objects
    (an assembly or transform a crash interrupted) and cached previews; returns the deleted row.

    Only this row's own objects go: a new upload of the same ID may already be writing its own."""
    require_bucket(roles, bucket, "delete")
    with db.write() as conn:
        row = check_file(roles, bucket, locked_file(conn, project_id, bucket["id"], file_id), "delete")
        conn.execute(files.delete().where(files.c.seq == row["seq"]))
    processing.delete_objects(device, row["object"])
    device.delete_prefix(file_prefix(project_id, bucket["id"], file_id) + "previews/")
    return row


def stored_objects(conn: Connection) -> list[tuple[str, int]]:
    """(device path, stored size) of every complete file's object in the database ``conn`` reads:
    what a backup of that state must hold. Uploads in progress and cached previews are left out."""
    select = sa.select(files.c.object, files.c.size_actual).where(files.c.status == READY).order_by(files.c.seq)
    return [(path, size) for path, size in conn.execute(select)]


def forget_objects(conn: Connection, paths: Iterable[str]) -> int:
    """Delete the rows of the files stored at ``paths`` (objects a backup could not copy, as they
    were deleted while it ran); returns how many went. Their permissions, chunks and tokens go
    with them (foreign keys)."""
    gone = 0
    for path in paths:
        gone += conn.execute(files.delete().where(files.c.object == path)).rowcount
    return gone
