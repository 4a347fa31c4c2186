"""A project's buckets and files as records of nib's export format (docs/export-format.md), a
file's original bytes streamed out (decoded as downloads decode them), and such records imported.

An imported file's bytes take the upload path's last steps for the bucket here (antivirus, then
compression and encryption as the bucket asks, storage/processing.py), streamed, never held
whole. They go to an object named after their MD5 (``data-import-<md5>``), so a re-run after an
interruption finds and replaces what the interrupted one left, and a file row appears only with
its complete object: the row's triggers keep the bucket's size and the project's file count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from ..auth import permissions as access
from ..data import search
from ..data.db import Database
from ..data.instance import server_secret
from ..data.rows import Row
from ..data.transfer import Conflict, Outcome, comparable, date_field, field, key_field, pages, record_date
from ..tools.config import Settings
from . import processing, transforms
from .buckets import find_bucket, locked_bucket
from .devices import Device
from .files import READY, file_prefix, find_file, store_permissions
from .tables import buckets, file_chunks, files
from .writing import Meter, Upload, insert_row, locked_row, process, stored_values

_MD5 = re.compile(r"\A[0-9a-f]{32}\Z")


def export_buckets(db: Database, *, project_id: str) -> Iterator[dict[str, Any]]:
    """Every bucket of the project as a record, in creation order."""
    for page in pages(db, buckets, project_id):
        yield from (_bucket_record(row) for row in page)


def export_files(db: Database, *, project_id: str) -> Iterator[dict[str, Any]]:
    """Every complete file of the project as a record, in creation order (uploads in progress
    are not files yet)."""
    for page in pages(db, files, project_id, files.c.status == READY):
        yield from (_file_record(row) for row in page)


def count_files(db: Database, *, project_id: str) -> int:
    statement = sa.select(sa.func.count()).where(files.c.project_id == project_id, files.c.status == READY)
    with db.read() as conn:
        return int(conn.execute(statement).scalar_one())


def original_bytes(
    db: Database, device: Device, settings: Settings, *, project_id: str, bucket_id: str, file_id: str
) -> Iterator[bytes]:
    """The file's original bytes (as uploaded: decompressed, decrypted), streamed.
    ``ValueError`` when the file is gone or its object is missing."""
    row = find_file(db, project_id, bucket_id, file_id)
    if row is None or row["status"] != READY:
        raise ValueError("it is not stored any more")
    if row["size_original"] == 0:
        return iter(())
    try:
        return processing.decode(
            device,
            settings,
            secret=server_secret(db, settings),
            project_id=project_id,
            file=row,
            start=0,
            end=row["size_original"] - 1,
        )
    except FileNotFoundError:
        raise ValueError(f"its object {row['object']} is missing") from None


def import_bucket(db: Database, *, project_id: str, record: dict[str, Any], overwrite: bool) -> Outcome:
    """Store the bucket of ``record`` with its settings and permissions. ``Conflict`` when its ID
    is stored with other content, unless ``overwrite`` (its files stay)."""
    bucket_id = key_field(record, "$id")
    name = field(record, "name", str)
    compression = field(record, "compression", str, "none")
    if compression not in transforms.COMPRESSIONS:
        raise ValueError(f"field 'compression': unknown compression {compression!r}")
    extensions = field(record, "allowedFileExtensions", list, [])
    if not all(isinstance(extension, str) for extension in extensions):
        raise ValueError("field 'allowedFileExtensions' must hold strings")
    size_limit = field(record, "maximumFileSize", int)
    if size_limit < 1:
        raise ValueError("field 'maximumFileSize' must be positive")
    values = {
        "created_at": date_field(record, "$createdAt"),
        "updated_at": date_field(record, "$updatedAt", record.get("$createdAt")),
        "name": name,
        "permissions": _permissions(record),
        "file_security": field(record, "fileSecurity", bool, False),
        "enabled": field(record, "enabled", bool, True),
        "maximum_file_size": size_limit,
        "allowed_file_extensions": extensions,
        "compression": compression,
        "encryption": field(record, "encryption", bool, True),
        "antivirus": field(record, "antivirus", bool, True),
        "search": search.normalize(bucket_id, name),
    }
    with db.write() as conn:
        current = locked_bucket(conn, project_id, bucket_id)
        if current is None:
            conn.execute(buckets.insert().values(project_id=project_id, id=bucket_id, **values))
            return "created"
        if comparable(_bucket_record({**current, **values})) == comparable(_bucket_record(dict(current))):
            return "unchanged"
        if not overwrite:
            raise Conflict(f"bucket {bucket_id} is stored with other content")
        conn.execute(buckets.update().where(buckets.c.seq == current["seq"]).values(values))
    return "overwritten"


def import_file(
    db: Database,
    device: Device,
    settings: Settings,
    *,
    project_id: str,
    record: dict[str, Any],
    data: Callable[[], Iterable[bytes]],
    overwrite: bool,
) -> Outcome:
    """Store the file of ``record`` in its bucket (which must be stored), its bytes read from
    ``data()`` only when they are not stored yet. ``Conflict`` when the file is stored with other
    content, unless ``overwrite``. ``ValueError`` for a malformed record, or bytes that are not
    the record's (size, MD5)."""
    bucket_id = key_field(record, "bucketId")
    file_id = key_field(record, "$id")
    signature = field(record, "signature", str)
    if not _MD5.match(signature):
        raise ValueError("field 'signature' is not an MD5 hex digest")
    size = field(record, "sizeOriginal", int)
    name = field(record, "name", str)
    values = {
        "created_at": date_field(record, "$createdAt"),
        "updated_at": date_field(record, "$updatedAt", record.get("$createdAt")),
        "name": name,
        "permissions": _permissions(record),
        "mime_type": field(record, "mimeType", str),
        "search": search.normalize(file_id, name),
    }
    bucket = find_bucket(db, project_id, bucket_id)
    if bucket is None:
        raise ValueError(f"bucket {bucket_id} is not stored")
    current = find_file(db, project_id, bucket_id, file_id)
    if current is not None and current["status"] == READY:
        wanted = {**current, **values, "signature": signature, "size_original": size}
        if comparable(_file_record(wanted)) == comparable(_file_record(current)):
            return "unchanged"
        if not overwrite:
            raise Conflict(f"file {bucket_id}/{file_id} is stored with other content")
        if current["signature"] == signature and current["size_original"] == size:
            # The same bytes: only the row changes.
            with db.write() as conn:
                conn.execute(files.update().where(files.c.seq == current["seq"]).values(values))
                store_permissions(conn, current["seq"], values["permissions"])
            return "overwritten"
    upload = Upload(project_id, bucket, file_id, name, values["permissions"])
    replaced = _write(db, device, settings, upload, values, data, size=size, signature=signature, overwrite=overwrite)
    if replaced is not None:
        processing.delete_objects(device, replaced["object"])
        # Previews of the bytes replaced must not be served for the new ones.
        device.delete_prefix(file_prefix(project_id, bucket_id, file_id) + "previews/")
        if replaced["status"] == READY:
            return "overwritten"
    return "created"


def _write(
    db: Database,
    device: Device,
    settings: Settings,
    upload: Upload,
    values: Row,
    data: Callable[[], Iterable[bytes]],
    *,
    size: int,
    signature: str,
    overwrite: bool,
) -> Row | None:
    """The bytes to their object, then the row; returns the row replaced (a stored file being
    overwritten, or an upload of the same ID left unfinished), if any."""
    object_path = f"{file_prefix(upload.project_id, upload.bucket['id'], upload.file_id)}data-import-{signature}"
    processing.delete_objects(device, object_path)  # what an interrupted import of these bytes left
    meter = Meter()
    device.write(object_path, meter.through(data()))
    try:
        if meter.size != size or meter.md5.hexdigest() != signature:
            raise ValueError(
                f"its bytes ({meter.size} bytes, MD5 "
                f"{meter.md5.hexdigest()}) are not the record's ({size} bytes, MD5 {signature})"
            )
        stored = process(db, device, settings, upload, object_path, meter.size)
        row = {
            **values,
            "status": READY,
            "signature": signature,
            "size_original": size,
            "chunks_total": 1,
            "chunks_uploaded": 1,
            "chunks_contiguous": 1,
            "chunk_size": size,
            "upload_handle": "",
            "completing_until": None,
            **stored_values(stored),
        }
        with db.write() as conn:
            current = locked_row(conn, upload)
            if current is None:
                insert_row(
                    conn,
                    {"project_id": upload.project_id, "bucket_id": upload.bucket["id"], "id": upload.file_id, **row},
                )
                return None
            if current["status"] == READY and not overwrite:
                raise Conflict(f"file {upload.bucket['id']}/{upload.file_id} was stored while importing it")
            conn.execute(files.update().where(files.c.seq == current["seq"]).values(row))
            conn.execute(file_chunks.delete().where(file_chunks.c.file_seq == current["seq"]))
            store_permissions(conn, current["seq"], row["permissions"])
            return current
    except BaseException:
        processing.delete_objects(device, object_path)
        raise


def _permissions(record: dict[str, Any]) -> list[str]:
    try:
        return access.validate(field(record, "$permissions", list, []))
    except ValueError as invalid:
        raise ValueError(f"field '$permissions': {invalid}") from None


def _bucket_record(row: Row) -> dict[str, Any]:
    return {
        "$id": row["id"],
        "$createdAt": record_date(row["created_at"]),
        "$updatedAt": record_date(row["updated_at"]),
        "$permissions": row["permissions"],
        "fileSecurity": row["file_security"],
        "name": row["name"],
        "enabled": row["enabled"],
        "maximumFileSize": row["maximum_file_size"],
        "allowedFileExtensions": row["allowed_file_extensions"],
        "compression": row["compression"],
        "encryption": row["encryption"],
        "antivirus": row["antivirus"],
    }


def _file_record(row: Row) -> dict[str, Any]:
    return {
        "$id": row["id"],
        "bucketId": row["bucket_id"],
        "$createdAt": record_date(row["created_at"]),
        "$updatedAt": record_date(row["updated_at"]),
        "$permissions": row["permissions"],
        "name": row["name"],
        "mimeType": row["mime_type"],
        "sizeOriginal": row["size_original"],
        "signature": row["signature"],
    }
