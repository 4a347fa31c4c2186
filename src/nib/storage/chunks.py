"""Appwrite's chunked upload protocol, safe across requests and processes.

The first chunk to arrive creates the row (``uploading``) and the device's multi-part handle in
one transaction (a concurrent first chunk waits on the unique index, then sees the row). Each
chunk is written as part ``n`` (idempotent per number), then counted in a second transaction that
holds the row lock: a ``file_chunks`` primary key makes a repeated chunk count once, so exactly
one request sees ``chunksUploaded == chunksTotal``, whichever process serves it. That request
takes the assembly lease (``completing_until``), joins the parts, computes md5/mimeType/size by
streaming the object once, runs the antivirus and transform hooks (storage/processing.py) and
marks the row ``ready``.

The lease is short and renewed while the assembly runs, so it outlives its holder by at most
``LEASE_SECONDS`` whatever the file's size, on any node sharing the database. A chunk repeated
while every chunk is in (a client resuming an upload whose assembly was interrupted resends the
last one) waits for the holder: it answers the ready file, or takes the assembly over once the
lease has lapsed (the holder died), and never answers an unfinished file as the last chunk's.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..data.batches import delete_batch
from ..data.db import Database
from ..data.rows import Row
from ..tools import dates
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from .devices import Device
from .files import READY, UPLOADING, store_permissions
from .processing import delete_objects
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

CHUNK_SIZE = 5 * 1024 * 1024  # the SDKs' chunk size: assumed when the last chunk comes first
LEASE_SECONDS = 10
RENEW_SECONDS = 2  # a lease survives a few late renewals (a busy database or machine)
# A repeated chunk waits this long for an assembly held elsewhere: longer than a dead holder's
# lease can still run, so only an assembly that is really running outlasts it.
ASSEMBLY_WAIT_SECONDS = LEASE_SECONDS + 2 * RENEW_SECONDS
POLL_SECONDS = 0.25

log = logging.getLogger("nib.storage")


def receive(db, device, settings, upload: Upload, data, content_range: ContentRange, late_permissions) -> Row:
    """Receive one chunk: write it as its part, count it, complete the file if it was the last one."""
    row, created = _claim(db, device, upload, content_range)
    try:
        number = _chunk_number(row, content_range)
        meter = Meter(content_range.length, _chunk_mismatch(), exact=True, digest=False)
        try:
            device.write_part(row["object"], row["upload_handle"], number, meter.through(data))
        except AppwriteError:
            raise
        except Exception as error:
            if not _redundant(db, row["seq"], number, error):
                raise
        upload.permissions = late_permissions()
    except BaseException:
        if created:
            _discard(db, device, row)
        raise
    row, completes = _count(db, device, upload, row["seq"], number)
    if not completes and row["chunks_uploaded"] == row["chunks_total"]:
        row, completes = _await_assembly(db, row["seq"])
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
    for attempt in range(ATTEMPTS):
        object_path = handle = None
        try:
            with db.write() as conn:
                row = locked_row(conn, upload)
                if row is not None:
                    if row["status"] == READY:
                        raise AppwriteError("storage_file_already_exists")
                    if row["size_original"] != content_range.total:
                        raise AppwriteError(
                            "storage_invalid_content_range", "The total size differs from the upload's."
                        )
                    return row, False
                chunk_size = CHUNK_SIZE if last else content_range.length
                object_path = new_object_path(upload)
                handle = device.begin_parts(object_path)
                created = insert_row(
                    conn,
                    new_row(
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
                assert object_path is not None, "the handle is begun on object_path"
                device.abort_parts(object_path, handle)
            if not isinstance(error, IntegrityError) or attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _chunk_number(row: Row, content_range: ContentRange) -> int:
    """Part number of this chunk (1-based), checked against the upload's chunk size."""
    size, total = row["chunk_size"], row["chunks_total"]
    if content_range.end == content_range.total - 1:
        if content_range.start != (total - 1) * size:
            raise AppwriteError("storage_invalid_content_range", "The last chunk does not start where expected.")
        return total
    if content_range.length != size or content_range.start % size:
        raise AppwriteError("storage_invalid_content_range", "The chunk size differs from the upload's.")
    return content_range.start // size + 1


def _redundant(db: Database, seq: int, number: int, error: Exception) -> bool:
    """Why the device refused chunk ``number``, when the upload moved on meanwhile: finished
    (409, a late repeat), deleted (404), or being assembled with this chunk already counted (its
    parts are being joined, so the device's write is gone: ``True``, the repeat needs no bytes).
    ``False`` for a genuine device failure."""
    with db.read() as conn:
        status = conn.execute(sa.select(files.c.status).where(files.c.seq == seq)).scalar()
        counted = conn.execute(
            sa.select(file_chunks.c.number).where(file_chunks.c.file_seq == seq, file_chunks.c.number == number)
        ).first()
    if status is None:
        raise AppwriteError("storage_file_not_found") from None
    if status == READY:
        raise AppwriteError("storage_file_already_exists") from None
    return isinstance(error, FileNotFoundError) and counted is not None


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


def _contiguous(conn: Connection, seq: int, known: int) -> int:
    """How many chunks from the first are all in, given that 1..``known`` are."""
    numbers = conn.execute(
        sa.select(file_chunks.c.number)
        .where(file_chunks.c.file_seq == seq, file_chunks.c.number > known)
        .order_by(file_chunks.c.number)
    ).scalars()
    for number in numbers:
        if number != known + 1:
            break
        known = number
    return known


def _count(db: Database, device: Device, upload: Upload, seq: int, number: int) -> tuple[Row, bool]:
    """Count the chunk once, under the row lock: ``(row, this request completes the upload)``."""
    with db.write() as conn:
        row = conn.execute(sa.select(files).where(files.c.seq == seq).with_for_update()).mappings().first()
        if row is None:
            raise AppwriteError("storage_file_not_found")  # deleted while the chunk was streaming
        late = row["status"] == READY
        if not late:
            now = dates.now()
            values: dict = {"updated_at": now}
            if upload.permissions != list(row["permissions"]):  # the latest chunk's win, as in Appwrite
                values["permissions"] = upload.permissions
                store_permissions(conn, seq, upload.permissions)
            if _insert_chunk(conn, seq, number):
                values["chunks_uploaded"] = row["chunks_uploaded"] + 1
                if number == row["chunks_contiguous"] + 1:
                    values["chunks_contiguous"] = _contiguous(conn, seq, row["chunks_contiguous"])
            # All chunks in and nobody assembling (or its holder died: lease over): this request does it.
            all_in = values.get("chunks_uploaded", row["chunks_uploaded"]) == row["chunks_total"]
            completes = all_in and _lease_free(row["completing_until"], now)
            if completes:
                values["completing_until"] = _lease_end()
            conn.execute(files.update().where(files.c.seq == seq).values(values))
    if late:
        # A repeat of a chunk whose upload completed meanwhile: drop the part it just wrote.
        device.abort_parts(row["object"], row["upload_handle"])
        raise AppwriteError("storage_file_already_exists")
    return {**row, **values}, completes


def _lease_free(completing_until: datetime | None, now: datetime) -> bool:
    return completing_until is None or completing_until < now


def _lease_end() -> datetime:
    return dates.now() + timedelta(seconds=LEASE_SECONDS)


def _await_assembly(db: Database, seq: int) -> tuple[Row, bool]:
    """Every chunk is in and another request holds the assembly: wait until the file is ready
    (``(row, False)``) or the holder's lease lapses, then take it over (``(row, True)``); 503 when
    the assembly is still running after ``ASSEMBLY_WAIT_SECONDS``."""
    deadline = time.monotonic() + ASSEMBLY_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        # Watch with plain reads: a write lock every poll would queue every other writer (on
        # SQLite, the whole database) behind the wait. Lock only to take a lease that looks free.
        with db.read() as conn:
            seen = conn.execute(sa.select(files.c.status, files.c.completing_until).where(files.c.seq == seq)).first()
        if seen is not None and seen.status != READY and not _lease_free(seen.completing_until, dates.now()):
            continue
        with db.write() as conn:
            row = conn.execute(sa.select(files).where(files.c.seq == seq).with_for_update()).mappings().first()
            if row is None:
                raise AppwriteError("storage_file_not_found")  # deleted meanwhile
            if row["status"] == READY:
                return dict(row), False
            if _lease_free(row["completing_until"], dates.now()):
                lease = {"completing_until": _lease_end()}
                conn.execute(files.update().where(files.c.seq == seq).values(lease))
                return {**row, **lease}, True
    raise AppwriteError(
        "general_server_error", "The file is still being assembled: send its last chunk again.", status=503
    )


@contextmanager
def _renewed_lease(db: Database, seq: int) -> Iterator[None]:
    """Renew the assembly lease of file ``seq`` every ``RENEW_SECONDS`` while the block runs."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_SECONDS):
            try:
                with db.write() as conn:
                    conn.execute(
                        files.update()
                        .where(files.c.seq == seq, files.c.status == UPLOADING)
                        .values(completing_until=_lease_end())
                    )
            except Exception:  # the next renewal tries again; the lease covers a few misses
                log.exception("could not renew the assembly lease of file %s", seq)

    renewer = threading.Thread(target=renew, name=f"assembly-lease-{seq}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def _finish(db: Database, device: Device, settings: Settings, upload: Upload, row: Row) -> Row:
    """Join the parts, measure the object once, run the hooks, make the file ready."""
    object_path, handle = row["object"], row["upload_handle"]
    try:
        with _renewed_lease(db, row["seq"]):
            if not device.exists(object_path):  # else joined by a request that died before "ready"
                device.complete_parts(object_path, handle, row["chunks_total"])
            meter = Meter()
            meter.drain(device.read(object_path))
            if meter.size != row["size_original"]:
                raise AppwriteError("storage_invalid_content_range", "The chunks do not add up to the file size.")
            stored = process(db, device, settings, upload, object_path, meter.size)
            values = {
                "status": READY,
                "updated_at": dates.now(),
                "mime_type": meter.mime_type(),
                "signature": meter.md5.hexdigest(),
                **stored_values(stored),
            }
            # upload_handle stays: a late repeated chunk aborts it to drop the part it rewrote.
            with db.write() as conn:
                done = conn.execute(
                    files.update().where(files.c.seq == row["seq"], files.c.status == UPLOADING).values(values)
                )
                if done.rowcount != 1:
                    raise AppwriteError("storage_file_not_found")  # deleted while completing
    except AppwriteError:
        # Refused (antivirus, bad sizes) or deleted meanwhile: nothing of the file may remain.
        with db.write() as conn:
            conn.execute(files.delete().where(files.c.seq == row["seq"], files.c.status == UPLOADING))
        delete_objects(device, object_path)
        raise
    except BaseException:
        # Unexpected (device or database trouble): keep the upload, let the next try assemble it.
        with db.write() as conn:
            conn.execute(files.update().where(files.c.seq == row["seq"]).values(completing_until=None))
        raise
    # A repeated chunk may have rewritten a part after the join: drop any such leftover.
    device.abort_parts(object_path, handle)
    return {**row, **values}


def sweep_abandoned(db: Database, device: Device, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` uploads no chunk has reached since ``before`` (and that nobody is
    assembling), then their parts on the device; how many went. Rows go first, as when a file
    is deleted: a crash in between leaves unreferenced parts, never a row without them. A chunk
    arriving afterwards starts the upload again, as after a delete."""
    abandoned = sa.and_(
        files.c.status == UPLOADING,
        files.c.updated_at < before,
        sa.or_(files.c.completing_until.is_(None), files.c.completing_until < dates.now()),
    )
    gone = delete_batch(db, files, abandoned, limit, files.c.object)
    for row in gone:
        try:
            delete_objects(device, row["object"])
        except Exception:  # left on the device, unreferenced; the other uploads' parts still go
            log.exception("could not delete the parts of abandoned upload %s", row["object"])
    return len(gone)
