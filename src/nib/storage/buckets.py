"""Buckets: create, read, list, update, delete, and the bucket lookup every file route starts
with (404 ``storage_bucket_not_found`` when missing, or disabled for a caller without a key).

Bucket routes are for API keys only (guests and users lack the ``buckets.*`` scopes), so these
functions check no permissions. Deleting a bucket deletes its file rows in the same transaction
and then every byte under the bucket's device prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..data import search
from ..data.db import Database
from ..data.listing import list_rows
from ..data.query import BOOL, STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..data.totals import project_total
from ..tools import dates
from ..tools import validators as v
from ..tools.errors import AppwriteError
from ..tools.ids import unique_id
from .devices import Device
from .tables import bucket_sizes, buckets, files

BUCKET_LIST = ListSpec(
    entity="Bucket",
    table=buckets,
    attributes={
        **standard_attributes(buckets),
        "name": Attribute(buckets.c.name, STRING),
        "enabled": Attribute(buckets.c.enabled, BOOL),
        "fileSecurity": Attribute(buckets.c.file_security, BOOL),
        "maximumFileSize": Attribute(buckets.c.maximum_file_size, "integer"),
        "encryption": Attribute(buckets.c.encryption, BOOL),
        "antivirus": Attribute(buckets.c.antivirus, BOOL),
        "compression": Attribute(buckets.c.compression, STRING),
    },
)

_BY_ID = sa.select(buckets).where(
    buckets.c.project_id == sa.bindparam("project_id"), buckets.c.id == sa.bindparam("id")
)
# The bucket with its totalSize (bucket_sizes, kept by triggers on files): one read.
_WITH_SIZE_BY_ID = (
    sa.select(buckets, sa.func.coalesce(bucket_sizes.c.total_size, 0).label("total_size"))
    .select_from(
        buckets.outerjoin(
            bucket_sizes,
            sa.and_(bucket_sizes.c.project_id == buckets.c.project_id, bucket_sizes.c.bucket_id == buckets.c.id),
        )
    )
    .where(buckets.c.project_id == sa.bindparam("project_id"), buckets.c.id == sa.bindparam("id"))
)


def prefix(project_id: str, bucket_id: str) -> str:
    """The device prefix holding every object of a bucket."""
    return f"{project_id}/{bucket_id}/"


def check_file_size_limit(value: Any, limit: int) -> int:
    """``maximumFileSize``: an integer in 1..the instance limit (Appwrite's Range message; the
    limit is a setting, so this runs in the handler rather than as a declared validator);
    absent means the limit itself."""
    if value is None:
        return limit
    try:
        return v.integer_range(1, limit)(value)
    except v.Invalid as invalid:
        raise AppwriteError("general_argument_invalid", f"Invalid `maximumFileSize` param: {invalid}") from None


def settings_from(values: dict[str, Any], storage_limit: int) -> dict[str, Any]:
    """The bucket columns from validated API params (``name``, ``permissions``, ``fileSecurity``,
    ``enabled``, ``maximumFileSize``, ``allowedFileExtensions``, ``compression``, ``encryption``,
    ``antivirus``): the size checked against the instance limit, extensions lower-cased."""
    return {
        "name": values["name"],
        "permissions": values["permissions"],
        "file_security": values["fileSecurity"],
        "enabled": values["enabled"],
        "maximum_file_size": check_file_size_limit(values["maximumFileSize"], storage_limit),
        "allowed_file_extensions": [extension.lower() for extension in values["allowedFileExtensions"]],
        "compression": values["compression"],
        "encryption": values["encryption"],
        "antivirus": values["antivirus"],
    }


def create_bucket(db: Database, *, project_id: str, bucket_id: str, **settings: Any) -> Row:
    """A new bucket (``settings``: name, permissions, file_security, enabled, maximum_file_size,
    allowed_file_extensions, compression, encryption, antivirus); 409 for a taken ID."""
    bucket_id = unique_id() if bucket_id == "unique()" else bucket_id
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": bucket_id,
        "created_at": now,
        "updated_at": now,
        **settings,
        "search": search.normalize(bucket_id, settings["name"]),
    }
    try:
        with db.write() as conn:
            conn.execute(buckets.insert().values(row))
    except IntegrityError:
        raise AppwriteError("storage_bucket_already_exists") from None
    return row


def find_bucket(db: Database, project_id: str, bucket_id: str) -> Row | None:
    rows = db.fetch(_BY_ID, {"project_id": project_id, "id": bucket_id})
    return rows[0] if rows else None


def get_bucket(db: Database, *, project_id: str, bucket_id: str) -> Row:
    """The bucket row with its ``total_size``."""
    rows = db.fetch(_WITH_SIZE_BY_ID, {"project_id": project_id, "id": bucket_id})
    if not rows:
        raise AppwriteError("storage_bucket_not_found")
    return rows[0]


def bucket_for_files(db: Database, *, project_id: str, bucket_id: str, privileged: bool) -> Row:
    """The bucket of a file route: 404 when missing, and for non-key callers when disabled."""
    row = find_bucket(db, project_id, bucket_id)
    if row is None or (not row["enabled"] and not privileged):
        raise AppwriteError("storage_bucket_not_found")
    return row


def list_buckets(db: Database, *, project_id: str, queries: ParsedQueries, search: str | None) -> tuple[int, list[Row]]:
    return list_rows(db, BUCKET_LIST, scope={"project_id": project_id}, queries=queries, search=search)


def total_sizes(db: Database, project_id: str, bucket_ids: Sequence[str]) -> dict[str, int]:
    """Sum of ``sizeOriginal`` of each bucket's files (the ``totalSize`` newer SDKs require), as
    the triggers on ``files`` keep it in ``bucket_sizes``; a bucket without files is absent."""
    if not bucket_ids:
        return {}
    statement = sa.select(bucket_sizes.c.bucket_id, bucket_sizes.c.total_size).where(
        bucket_sizes.c.project_id == project_id, bucket_sizes.c.bucket_id.in_(list(bucket_ids))
    )
    with db.read() as conn:
        return {bucket_id: total for bucket_id, total in conn.execute(statement)}


def usage(db: Database, *, project_id: str) -> dict[str, int]:
    """The project's storage at a glance: ``buckets``, ``files`` (including uploads in progress)
    and ``bytes`` (the sum of the files' original sizes), from maintained counters."""
    buckets_total = sa.select(sa.func.count()).select_from(buckets).where(buckets.c.project_id == project_id)
    size = sa.select(sa.func.coalesce(sa.func.sum(bucket_sizes.c.total_size), 0)).where(
        bucket_sizes.c.project_id == project_id
    )
    with db.read() as conn:
        counted = int(conn.execute(buckets_total).scalar() or 0)
        stored = int(conn.execute(size).scalar() or 0)
    return {"buckets": counted, "files": project_total(db, files.name, project_id), "bytes": stored}


def file_counts(db: Database, project_id: str, bucket_ids: Sequence[str]) -> dict[str, int]:
    """How many files (partial uploads included) each bucket holds; a bucket without files is
    absent. One grouped count over the files' (project, bucket, ID) index."""
    if not bucket_ids:
        return {}
    statement = (
        sa.select(files.c.bucket_id, sa.func.count())
        .where(files.c.project_id == project_id, files.c.bucket_id.in_(list(bucket_ids)))
        .group_by(files.c.bucket_id)
    )
    with db.read() as conn:
        return {bucket_id: count for bucket_id, count in conn.execute(statement)}


def locked_bucket(conn: sa.Connection, project_id: str, bucket_id: str) -> Row | None:
    """The bucket's row, locked until the transaction ends (None when there is none)."""
    statement = sa.select(buckets).where(buckets.c.project_id == project_id, buckets.c.id == bucket_id)
    found = conn.execute(statement.with_for_update()).mappings().first()
    return dict(found) if found is not None else None


def update_bucket(db: Database, *, project_id: str, bucket_id: str, **settings: Any) -> Row:
    """Replace the bucket's settings; ``permissions=None`` keeps the current ones."""
    with db.write() as conn:
        current = locked_bucket(conn, project_id, bucket_id)
        if current is None:
            raise AppwriteError("storage_bucket_not_found")
        if settings["permissions"] is None:
            settings["permissions"] = current["permissions"]
        values = {**settings, "updated_at": dates.now(), "search": search.normalize(bucket_id, settings["name"])}
        conn.execute(buckets.update().where(buckets.c.seq == current["seq"]).values(values))
    return {**current, **values}


def delete_bucket(db: Database, device: Device, *, project_id: str, bucket_id: str) -> None:
    """Delete the bucket, its file rows, then every stored byte under its prefix (parts too).

    The bucket row goes first, so the file rows' triggers leave ``bucket_sizes`` alone and its
    row is locked last (migration 0006: no deadlock with a concurrent file delete)."""
    with db.write() as conn:
        deleted = conn.execute(buckets.delete().where(buckets.c.project_id == project_id, buckets.c.id == bucket_id))
        if deleted.rowcount == 0:
            raise AppwriteError("storage_bucket_not_found")
        conn.execute(files.delete().where(files.c.project_id == project_id, files.c.bucket_id == bucket_id))
        conn.execute(
            bucket_sizes.delete().where(bucket_sizes.c.project_id == project_id, bucket_sizes.c.bucket_id == bucket_id)
        )
    device.delete_prefix(prefix(project_id, bucket_id))
