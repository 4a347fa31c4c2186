"""Uploads: ``POST /storage/buckets/{bucketId}/files`` as one request or as chunks, streamed from
the request body to the device.

The multipart body is read part by part (storage.multipart); the file part's bytes go straight to
the device while their md5, size and first bytes (for the MIME type) are taken on the way, so a
request never holds more than what the socket delivered. Limits are enforced while streaming: an
upload that passes ``maximumFileSize`` (or a chunk longer than its ``Content-Range``) is cut off
and its half-written object removed by the device.

* One request (no ``Content-Range``, or one covering the whole file): the bytes are written to an
  object of their own (``<project>/<bucket>/<file>/data-<random>``), then one transaction makes
  the row ``ready`` — or refuses with 409 if another upload of the ID won, and the object goes.
* Chunks: storage/chunks.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..auth.permissions import FILE_TYPES, allowed, check_self_assignment
from ..auth.permissions import validator as permissions_validator
from ..data import search
from ..data.db import Database
from ..data.db.schema import file_chunks, files
from ..http.context import RequestBody
from ..http.params import form_params, json_params, php_params
from ..http.routing import Param, optional, validate
from ..tools import dates
from ..tools import validators as v
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.ids import unique_id
from . import buckets, chunks, processing
from .devices import Device
from .files import READY, find_file, store_permissions
from .multipart import FormReader
from .writing import (
    ATTEMPTS,
    Meter,
    Upload,
    insert_row,
    locked_row,
    new_object_path,
    new_row,
    parse_content_range,
    process,
    stored_values,
)

Row = dict[str, Any]

FIELDS = (Param("fileId", v.custom_id), optional("permissions", permissions_validator(FILE_TYPES)))


def create_file(
    db: Database,
    device: Device,
    settings: Settings,
    *,
    project_id: str,
    bucket_id: str,
    roles: list[str] | None,
    user_id: str | None,
    body: RequestBody,
    headers: Mapping[str, str],
) -> Row:
    """Receive one upload request (a whole file or one chunk); the file row as it now stands."""
    content_type = headers.get("content-type", "")
    early: list[tuple[str, Any]] = []
    part = None
    if content_type.startswith("multipart/form-data"):
        form = iter(FormReader(body, content_type))
        for candidate in form:
            if candidate.name == "file" and candidate.filename is not None:
                part = candidate
                break
            early.append((candidate.name, candidate.text()))
        raw = php_params(early)
    else:  # no file can be in a JSON or url-encoded body: its fields are still validated first
        form = iter(())
        data = b"".join(body)
        raw = form_params(data) if content_type.startswith("application/x-www-form-urlencoded") else json_params(data)
    values = validate(FIELDS, raw)
    bucket = buckets.bucket_for_files(db, project_id=project_id, bucket_id=bucket_id, privileged=roles is None)
    if not allowed(roles, bucket["permissions"], "create"):
        raise AppwriteError("user_unauthorized")
    permissions = _permissions(values["permissions"], roles, user_id)
    if part is None or not part.filename:
        raise AppwriteError("storage_file_empty")
    content_range = parse_content_range(headers.get("content-range"))
    upload = Upload(project_id, bucket, _file_id(values["fileId"], headers), part.filename, permissions)
    _check_extension(bucket, upload.name)
    limit = min(bucket["maximum_file_size"], settings.storage_limit)
    if content_range is not None and content_range.total > limit:
        raise AppwriteError("storage_invalid_file_size", "File size not allowed")

    def late_permissions() -> list[str]:
        """Permissions sent after the file part (the web SDK's field order) win."""
        late = [(p.name, p.text()) for p in form]
        if not any(name.startswith("permissions") for name, _ in late):
            return permissions
        return _permissions(validate(FIELDS, php_params(early + late))["permissions"], roles, user_id)

    try:
        if content_range is None or content_range.whole:
            return _single(db, device, settings, upload, part.chunks(), limit, content_range, late_permissions)
        return chunks.receive(db, device, settings, upload, part.chunks(), content_range, late_permissions)
    except OSError:
        # A device error while the bucket is gone: a bucket delete won the race (its
        # delete_prefix removed the directories this upload was writing in; FileNotFoundError or,
        # racing a mkdir, FileExistsError). The bucket's answer, not a 500.
        if buckets.find_bucket(db, project_id, bucket_id) is None:
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


def _file_id(field: str, headers: Mapping[str, str]) -> str:
    """``X-Appwrite-ID`` (later chunks; the newest SDKs also on the first) overrides ``fileId``."""
    header = headers.get("x-appwrite-id", "")
    if header:
        try:
            return v.uid(header)
        except v.Invalid:
            raise AppwriteError("storage_invalid_appwrite_id") from None
    return unique_id() if field == "unique()" else field


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
