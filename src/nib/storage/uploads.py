"""Uploads: ``POST /storage/buckets/{bucketId}/files`` as one request or as chunks, streamed to
the device.

The route (storage/upload_requests.py reads the request) passes plain values: the caller, the
declared name and permissions, the content range as numbers and the file's bytes as an iterator,
pulled from the request body as they arrive. They go straight to the device while their md5,
size and first bytes (for the MIME type) are taken on the way, so a request never holds more than
what the socket delivered. Limits are enforced while streaming: an upload that passes
``maximumFileSize`` (or a chunk longer than its ``Content-Range``) is cut off and its
half-written object removed by the device.

* One request (no ``Content-Range``, or one covering the whole file): the bytes are written to an
  object of their own (``<project>/<bucket>/<file>/data-<random>``), then one transaction makes
  the row ``ready`` — or refuses with 409 if another upload of the ID won, and the object goes.
* Chunks: storage/chunks.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy.exc import IntegrityError

from ..auth.permissions import allowed, check_self_assignment
from ..data import search
from ..data.db import Database
from ..data.rows import Row
from ..tools import dates
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.ids import unique_id
from . import buckets, chunks, processing
from .devices import Device
from .files import READY, find_file, store_permissions
from .tables import file_chunks, files
from .writing import (
    ATTEMPTS,
    ContentRange,
    Meter,
    Upload,
    insert_row,
    locked_row,
    new_object_path,
    new_row,
    process,
    stored_values,
)


def check_upload(
    db: Database,
    *,
    project_id: str,
    bucket_id: str,
    roles: list[str] | None,
    user_id: str | None,
    permissions: list[str] | None,
) -> tuple[Row, list[str]]:
    """The bucket a caller may upload to, and the new file's permissions: ``permissions`` as
    given (self-assignment checked) or the uploading user's default ones."""
    bucket = buckets.bucket_for_files(db, project_id=project_id, bucket_id=bucket_id, privileged=roles is None)
    if not allowed(roles, bucket["permissions"], "create"):
        raise AppwriteError("user_unauthorized")
    return bucket, _permissions(permissions, roles, user_id)


def create_file(
    db: Database,
    device: Device,
    settings: Settings,
    *,
    project_id: str,
    bucket: Row,
    roles: list[str] | None,
    user_id: str | None,
    file_id: str,
    name: str,
    permissions: list[str],
    content_range: ContentRange | None,
    data: Iterator[bytes],
    late_permissions: Callable[[], list[str] | None],
) -> Row:
    """Receive one upload (a whole file or one chunk) into ``bucket`` (from ``check_upload``);
    the file row as it now stands. ``late_permissions`` is asked once ``data`` is read: the
    permissions sent after the bytes, which win, or ``None``."""
    upload = Upload(project_id, bucket, unique_id() if file_id == "unique()" else file_id, name, permissions)
    _check_extension(bucket, upload.name)
    limit = min(bucket["maximum_file_size"], settings.storage_limit)
    if content_range is not None and content_range.total > limit:
        raise AppwriteError("storage_invalid_file_size", "File size not allowed")

    def final_permissions() -> list[str]:
        late = late_permissions()
        return permissions if late is None else _permissions(late, roles, user_id)

    try:
        if content_range is None or content_range.whole:
            return _single(db, device, settings, upload, data, limit, content_range, final_permissions)
        return chunks.receive(db, device, settings, upload, data, content_range, final_permissions)
    except OSError:
        # A device error while the bucket is gone: a bucket delete won the race (its
        # delete_prefix removed the directories this upload was writing in; FileNotFoundError or,
        # racing a mkdir, FileExistsError). The bucket's answer, not a 500.
        if buckets.find_bucket(db, project_id, bucket["id"]) is None:
            raise AppwriteError("storage_bucket_not_found") from None
        raise


def _permissions(given: list[str] | None, roles: list[str] | None, user_id: str | None) -> list[str]:
    """Given ones (self-assignment checked) or the default: the uploading user's read/update/delete."""
    if given is not None:
        check_self_assignment(roles, given)
        return given
    if user_id is None:
        return []
    return [f'{action}("user:{user_id}")' for action in ("read", "update", "delete")]


def _check_extension(bucket: Row, name: str) -> None:
    allowed_extensions = bucket["allowed_file_extensions"]
    extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
    if allowed_extensions and extension not in allowed_extensions:
        raise AppwriteError("storage_file_type_unsupported", "File extension not allowed")


def _single(db, device, settings, upload: Upload, data, limit: int, content_range, late_permissions) -> Row:
    existing = find_file(db, upload.project_id, upload.bucket["id"], upload.file_id)
    if existing is not None and existing["status"] == READY:
        raise AppwriteError("storage_file_already_exists")
    meter = Meter(limit, AppwriteError("storage_invalid_file_size", "File size not allowed"))
    object_path = new_object_path(upload)
    device.write(object_path, meter.through(data))  # a failure leaves no object behind
    try:
        if meter.size == 0:
            raise AppwriteError("storage_file_empty")
        if content_range is not None and meter.size != content_range.total:
            raise AppwriteError("storage_invalid_content_range")
        upload.permissions = late_permissions()
        stored = process(db, device, settings, upload, object_path, meter.size)
        row, replaced = _save_single(db, upload, meter, stored)
    except BaseException:
        processing.delete_objects(device, object_path)
        raise
    if replaced is not None:  # an abandoned chunked upload of the same ID
        processing.delete_objects(device, replaced["object"])
    return row


def _save_single(db: Database, upload: Upload, meter: Meter, stored: processing.Stored) -> tuple[Row, Row | None]:
    values = {
        "status": READY,
        "mime_type": meter.mime_type(),
        "signature": meter.md5.hexdigest(),
        "size_original": meter.size,
        "chunks_total": 1,
        "chunks_uploaded": 1,
        "chunks_contiguous": 1,
        "chunk_size": meter.size,
        "upload_handle": "",
        **stored_values(stored),
    }
    for attempt in range(ATTEMPTS):
        try:
            with db.write() as conn:
                current = locked_row(conn, upload)
                if current is None:
                    return insert_row(conn, new_row(upload, **values)), None
                if current["status"] == READY:
                    raise AppwriteError("storage_file_already_exists")
                changes = {
                    **values,
                    "updated_at": dates.now(),
                    "name": upload.name,
                    "permissions": upload.permissions,
                    "search": search.normalize(upload.file_id, upload.name),
                }
                conn.execute(files.update().where(files.c.seq == current["seq"]).values(changes))
                conn.execute(file_chunks.delete().where(file_chunks.c.file_seq == current["seq"]))
                store_permissions(conn, current["seq"], upload.permissions)
                return {**current, **changes}, current
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
