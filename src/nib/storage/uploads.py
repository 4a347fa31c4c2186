"""Uploads: ``POST /storage/buckets/{bucketId}/files`` as one request or as chunks (BEHAVIOUR.md
§7.4, §7.5), streamed from the request body to the device.

The multipart body is read part by part (core.multipart); the file part's bytes go straight to
the device while their md5, size and first bytes (for the MIME type) are taken on the way, so a
request never holds more than what the socket delivered. Limits are enforced while streaming: an
upload that passes ``maximumFileSize`` (or a chunk longer than its ``Content-Range``) is cut off
and its half-written object removed by the device.

* One request (no ``Content-Range``, or one covering the whole file): the bytes are written to an
  object of their own (``<project>/<bucket>/<file>/data-<random>``), then one transaction makes
  the row ``ready`` — or refuses with 409 if another upload of the ID won, and the object goes.
* Chunks: the first request to arrive creates the row (``uploading``) and the device's multi-part
  handle in one transaction (a concurrent first chunk waits on the unique index, then sees the
  row). Each chunk is written as part ``n`` (idempotent per number), then counted in a second
  transaction that holds the row lock: a ``file_chunks`` primary key makes a repeated chunk count
  once, so exactly one request sees ``chunksUploaded == chunksTotal``, whichever process serves
  it. That request joins the parts, computes md5/mimeType/size by streaming the object once,
  runs the antivirus and transform hooks (storage/processing.py) and marks the row ``ready``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import magic
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..core import dates, search
from ..core import validators as v
from ..core.config import Settings
from ..core.db import Database
from ..core.db.schema import file_chunks, files
from ..core.errors import AppwriteError
from ..core.http import Param, RequestBody, optional, validate
from ..core.ids import new_secret, unique_id
from ..core.multipart import FormReader
from ..core.params import form_params, json_params, php_params
from ..core.permissions import FILE_TYPES, allowed, check_self_assignment
from ..core.permissions import validator as permissions_validator
from . import buckets, processing
from .devices import Device
from .files import READY, UPLOADING, file_prefix, store_permissions

Row = dict[str, Any]

CHUNK_SIZE = 5 * 1024 * 1024  # the SDKs' chunk size: assumed when the last chunk comes first
SNIFF_BYTES = 256 * 1024  # what libmagic sees of a file to name its MIME type
FIELDS = (Param("fileId", v.custom_id), optional("permissions", permissions_validator(FILE_TYPES)))
_CONTENT_RANGE = re.compile(r"(\w+) (\d+)-(\d+)/(\d+)", re.ASCII)
_ATTEMPTS = 3  # a lost race for a new row is retried: the second attempt sees the winner's row


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int  # inclusive
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end == self.total - 1


def parse_content_range(header: str | None) -> ContentRange | None:
    """``bytes <start>-<end>/<size>`` (§7.5; ``end == size`` tolerated as the last byte)."""
    if header is None:
        return None
    found = _CONTENT_RANGE.fullmatch(header.strip())
    if found is None:
        raise AppwriteError("storage_invalid_content_range")
    start, end, total = (int(found.group(i)) for i in (2, 3, 4))
    if not start <= end <= total or total == 0:
        raise AppwriteError("storage_invalid_content_range")
    return ContentRange(start, min(end, total - 1), total)


@dataclass
class Upload:
    """One upload request, after its checks: who, where, what."""

    project_id: str
    bucket: Row
    file_id: str
    name: str
    permissions: list[str]
    roles: list[str] | None


class _Meter:
    """Counts, hashes and samples bytes on their way to the device, cutting off past ``limit``."""

    def __init__(self, limit: int | None = None, error: AppwriteError | None = None, *, exact: bool = False) -> None:
        self.limit, self.error, self.exact = limit, error, exact
        self.size = 0
        self.md5 = hashlib.md5()
        self.head = bytearray()

    def through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                assert self.error is not None
                raise self.error
            self.md5.update(chunk)
            if len(self.head) < SNIFF_BYTES:
                self.head += chunk[: SNIFF_BYTES - len(self.head)]
            yield chunk
        if self.exact and self.size != self.limit:
            # Raised before the device commits the object: a short chunk is never stored.
            assert self.error is not None
            raise self.error

    def drain(self, chunks: Iterable[bytes]) -> None:
        for _ in self.through(chunks):
            pass

    def mime_type(self) -> str:
        """From the content, as Appwrite (libmagic), never from the client's part header."""
        return magic.from_buffer(bytes(self.head), mime=True) or "application/octet-stream"


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
    upload = Upload(project_id, bucket, _file_id(values["fileId"], headers), part.filename, permissions, roles)
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

    if content_range is None or content_range.whole:
        return _single(db, device, settings, upload, part.chunks(), limit, content_range, late_permissions)
    return _chunk(db, device, settings, upload, part.chunks(), content_range, late_permissions)


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


def _object_path(upload: Upload) -> str:
    return f"{file_prefix(upload.project_id, upload.bucket['id'], upload.file_id)}data-{new_secret(16)}"


def _locked(conn: Connection, upload: Upload) -> Row | None:
    statement = sa.select(files).where(
        files.c.project_id == upload.project_id, files.c.bucket_id == upload.bucket["id"], files.c.id == upload.file_id
    )
    return conn.execute(statement.with_for_update()).mappings().first()


def _new_row(upload: Upload, **values: Any) -> Row:
    now = dates.now()
    return {
        "project_id": upload.project_id,
        "bucket_id": upload.bucket["id"],
        "id": upload.file_id,
        "created_at": now,
        "updated_at": now,
        "name": upload.name,
        "permissions": upload.permissions,
        "search": search.normalize(upload.file_id, upload.name),
        **values,
    }


def _insert(conn: Connection, row: Row) -> Row:
    seq = conn.execute(files.insert().values(row).returning(files.c.seq)).scalar_one()
    store_permissions(conn, seq, row["permissions"])
    return {**row, "seq": seq}


# ---------------------------------------------------------------------------------------------
# One request


def _single(db, device, settings, upload: Upload, chunks, limit: int, content_range, late_permissions) -> Row:
    existing = _find(db, upload)
    if existing is not None and existing["status"] == READY:
        raise AppwriteError("storage_file_already_exists")
    meter = _Meter(limit, AppwriteError("storage_invalid_file_size", "File size not allowed"))
    object_path = _object_path(upload)
    device.write(object_path, meter.through(chunks))  # a failure leaves no object behind
    stored = None
    try:
        if meter.size == 0:
            raise AppwriteError("storage_file_empty")
        if content_range is not None and meter.size != content_range.total:
            raise AppwriteError("storage_invalid_content_range")
        upload.permissions = late_permissions()
        stored = _process(device, settings, upload, object_path, meter.size)
        row, replaced = _save_single(db, upload, meter, stored)
    except BaseException:
        device.delete(object_path)
        if stored is not None and stored.object != object_path:
            device.delete(stored.object)
        raise
    if replaced is not None:  # an abandoned chunked upload of the same ID
        device.abort_parts(replaced["object"], replaced["upload_handle"])
        device.delete(replaced["object"])
    return row


def _save_single(db: Database, upload: Upload, meter: _Meter, stored: processing.Stored) -> tuple[Row, Row | None]:
    values = {
        "status": READY,
        "mime_type": meter.mime_type(),
        "signature": meter.md5.hexdigest(),
        "size_original": meter.size,
        "chunks_total": 1,
        "chunks_uploaded": 1,
        "chunk_size": meter.size,
        "upload_handle": "",
        **_stored_values(stored),
    }
    for attempt in range(_ATTEMPTS):
        try:
            with db.write() as conn:
                current = _locked(conn, upload)
                if current is None:
                    return _insert(conn, _new_row(upload, **values)), None
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
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _stored_values(stored: processing.Stored) -> dict[str, Any]:
    return {
        "object": stored.object,
        "size_actual": stored.size_actual,
        "compression": stored.compression,
        "encryption": stored.encryption,
        "transform": stored.transform,
    }


def _process(device: Device, settings: Settings, upload: Upload, object_path: str, size: int) -> processing.Stored:
    """The hooks between complete bytes and a visible file: antivirus, then transforms."""
    processing.scan(device, settings, bucket=upload.bucket, object=object_path, size=size)
    return processing.transform(
        device, settings, project_id=upload.project_id, bucket=upload.bucket, object=object_path, size=size
    )


def _find(db: Database, upload: Upload) -> Row | None:
    with db.read() as conn:
        statement = sa.select(files).where(
            files.c.project_id == upload.project_id,
            files.c.bucket_id == upload.bucket["id"],
            files.c.id == upload.file_id,
        )
        return conn.execute(statement).mappings().first()


# ---------------------------------------------------------------------------------------------
# Chunks


def _chunk(db, device, settings, upload: Upload, chunks, content_range: ContentRange, late_permissions) -> Row:
    row, created = _claim(db, device, upload, content_range)
    try:
        number = _chunk_number(row, content_range)
        meter = _Meter(content_range.length, _chunk_mismatch(), exact=True)
        try:
            device.write_part(row["object"], row["upload_handle"], number, meter.through(chunks))
        except AppwriteError:
            raise
        except Exception:
            if _status(db, row["seq"]) == READY:  # a late repeat of a chunk (S3: the upload is closed)
                raise AppwriteError("storage_file_already_exists") from None
            raise
        upload.permissions = late_permissions()
    except BaseException:
        if created:
            _discard(db, device, row)
        raise
    row, completes = _count(db, device, upload, row["seq"], number)
    if completes:
        row = _finish(db, device, settings, upload, row)
    return row


def _chunk_mismatch() -> AppwriteError:
    return AppwriteError("storage_invalid_content_range", "The chunk size does not match the Content-Range header.")


def _discard(db: Database, device: Device, row: Row) -> None:
    """Undo the row a refused first chunk created, unless another chunk has been counted since."""
    with db.write() as conn:
        gone = conn.execute(files.delete().where(files.c.seq == row["seq"], files.c.chunks_uploaded == 0)).rowcount
    if gone:
        device.abort_parts(row["object"], row["upload_handle"])


def _claim(db: Database, device: Device, upload: Upload, content_range: ContentRange) -> tuple[Row, bool]:
    """The upload's row, created by the first chunk to arrive (with the device's handle), and
    whether this request created it."""
    last = content_range.end == content_range.total - 1
    for attempt in range(_ATTEMPTS):
        object_path = handle = None
        try:
            with db.write() as conn:
                row = _locked(conn, upload)
                if row is not None:
                    if row["status"] == READY:
                        raise AppwriteError("storage_file_already_exists")
                    if row["size_original"] != content_range.total:
                        raise AppwriteError("storage_invalid_content_range", "The total size differs from the upload's.")
                    return dict(row), False
                chunk_size = CHUNK_SIZE if last else content_range.length
                object_path = _object_path(upload)
                handle = device.begin_parts(object_path)
                created = _insert(
                    conn,
                    _new_row(
                        upload,
                        status=UPLOADING,
                        size_original=content_range.total,
                        chunks_total=math.ceil(content_range.total / chunk_size),
                        chunks_uploaded=0,
                        chunk_size=chunk_size,
                        object=object_path,
                        upload_handle=handle,
                    ),
                )
                return created, True
        except BaseException as error:
            if handle is not None:  # our new handle lost (or failed): nothing else uses it
                device.abort_parts(object_path, handle)
            if not isinstance(error, IntegrityError) or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _chunk_number(row: Row, content_range: ContentRange) -> int:
    """Part number of this chunk (1-based), checked against the upload's chunk size (§7.5)."""
    size, total = row["chunk_size"], row["chunks_total"]
    if content_range.end == content_range.total - 1:
        if content_range.start != (total - 1) * size:
            raise AppwriteError("storage_invalid_content_range", "The last chunk does not start where expected.")
        return total
    if content_range.length != size or content_range.start % size:
        raise AppwriteError("storage_invalid_content_range", "The chunk size differs from the upload's.")
    return content_range.start // size + 1


def _status(db: Database, seq: int) -> str | None:
    with db.read() as conn:
        return conn.execute(sa.select(files.c.status).where(files.c.seq == seq)).scalar()


def _insert_chunk(conn: Connection, seq: int, number: int) -> bool:
    """Record chunk ``number``; ``False`` when it was already recorded (a repeat)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(file_chunks)
        .values(file_seq=seq, number=number)
        .on_conflict_do_nothing()
        .returning(file_chunks.c.number)
    )
    return conn.execute(statement).first() is not None


def _count(db: Database, device: Device, upload: Upload, seq: int, number: int) -> tuple[Row, bool]:
    """Count the chunk once, under the row lock: ``(row, this request completes the upload)``."""
    with db.write() as conn:
        row = conn.execute(sa.select(files).where(files.c.seq == seq).with_for_update()).mappings().first()
        if row is None:
            raise AppwriteError("storage_file_not_found")  # deleted while the chunk was streaming
        if row["status"] == READY:
            late = True
        else:
            late = False
            counted = _insert_chunk(conn, seq, number)
            values = {"updated_at": dates.now(), "permissions": upload.permissions}
            if counted:
                values["chunks_uploaded"] = row["chunks_uploaded"] + 1
            conn.execute(files.update().where(files.c.seq == seq).values(values))
            store_permissions(conn, seq, upload.permissions)
            row = {**row, **values}
    if late:
        # A repeat of a chunk whose upload completed meanwhile: drop the part it just wrote.
        device.abort_parts(row["object"], row["upload_handle"])
        raise AppwriteError("storage_file_already_exists")
    return row, counted and row["chunks_uploaded"] == row["chunks_total"]


def _finish(db: Database, device: Device, settings: Settings, upload: Upload, row: Row) -> Row:
    """Join the parts, measure the object once, run the hooks, make the file ready."""
    object_path, handle = row["object"], row["upload_handle"]
    device.complete_parts(object_path, handle, row["chunks_total"])
    meter = _Meter()
    meter.drain(device.read(object_path))
    stored = None
    try:
        if meter.size != row["size_original"]:
            raise AppwriteError("storage_invalid_content_range", "The chunks do not add up to the file size.")
        stored = _process(device, settings, upload, object_path, meter.size)
        values = {
            "status": READY,
            "updated_at": dates.now(),
            "mime_type": meter.mime_type(),
            "signature": meter.md5.hexdigest(),
            **_stored_values(stored),
        }
        # upload_handle stays: a late repeated chunk aborts it to drop the part it rewrote.
        with db.write() as conn:
            done = conn.execute(
                files.update().where(files.c.seq == row["seq"], files.c.status == UPLOADING).values(values)
            )
            if done.rowcount != 1:
                raise AppwriteError("storage_file_not_found")  # deleted while completing
    except BaseException:
        # Refused (antivirus, bad sizes) or deleted meanwhile: nothing of the file may remain.
        with db.write() as conn:
            conn.execute(files.delete().where(files.c.seq == row["seq"], files.c.status == UPLOADING))
        device.delete(object_path)
        if stored is not None and stored.object != object_path:
            device.delete(stored.object)
        raise
    # A repeated chunk may have rewritten a part after the join: drop any such leftover.
    device.abort_parts(object_path, handle)
    return {**row, **values}
