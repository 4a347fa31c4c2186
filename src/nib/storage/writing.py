"""What single and chunked uploads share: the request's facts (``Upload``), its content range
(``ContentRange``, in numbers), the ``Meter`` that counts, hashes and samples bytes on their way
to the device (and cuts them off past a limit), and the file-row and hook helpers of both paths."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..data import search
from ..data.db import Database
from ..data.instance import server_secret
from ..data.rows import Row
from ..tools import dates
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret
from . import processing
from .devices import Device
from .files import file_prefix, locked_file, store_permissions
from .tables import buckets, files

SNIFF_BYTES = 256 * 1024  # what libmagic sees of a file to name its MIME type
ATTEMPTS = 3  # a lost race for a new row is retried: the second attempt sees the winner's row


@dataclass(frozen=True)
class ContentRange:
    """The bytes ``start..end`` of a ``total``-byte file that one upload request carries."""

    start: int
    end: int  # inclusive
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end == self.total - 1


@dataclass
class Upload:
    """One upload request, after its checks: who, where, what."""

    project_id: str
    bucket: Row
    file_id: str
    name: str
    permissions: list[str]


class Meter:
    """Counts, hashes and samples bytes on their way to the device, cutting off past ``limit``."""

    def __init__(
        self, limit: int | None = None, error: AppwriteError | None = None, *, exact: bool = False, digest: bool = True
    ) -> None:
        # digest=False: count only (a chunk: the whole file is hashed once, when joined)
        self.limit, self.error, self.exact, self.digest = limit, error, exact, digest
        self.size = 0
        self.md5 = hashlib.md5()
        self.head = bytearray()

    def through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                assert self.error is not None
                raise self.error
            if self.digest:
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
        import magic  # libmagic and its database: loaded by the first upload, not at start

        return magic.from_buffer(bytes(self.head), mime=True) or "application/octet-stream"


def new_object_path(upload: Upload) -> str:
    return f"{file_prefix(upload.project_id, upload.bucket['id'], upload.file_id)}data-{new_secret(16)}"


def locked_row(conn: Connection, upload: Upload) -> Row | None:
    """The upload's file row, locked (``files.locked_file``)."""
    return locked_file(conn, upload.project_id, upload.bucket["id"], upload.file_id)


def new_row(upload: Upload, **values: Any) -> Row:
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


def insert_row(conn: Connection, row: Row) -> Row:
    """Insert a file row, into a bucket that still exists (else 404 ``storage_bucket_not_found``).

    The bucket row is read with a key-share lock (PostgreSQL; SQLite has one writer at a time):
    a concurrent bucket delete waits for this transaction and then deletes this row with the
    others, or has already committed and this upload is refused. No file row outlives its bucket.
    """
    bucket = conn.execute(
        sa.select(buckets.c.seq)
        .where(buckets.c.project_id == row["project_id"], buckets.c.id == row["bucket_id"])
        .with_for_update(read=True, key_share=True)
    ).first()
    if bucket is None:
        raise AppwriteError("storage_bucket_not_found")
    seq = conn.execute(files.insert().values(row).returning(files.c.seq)).scalar_one()
    store_permissions(conn, seq, row["permissions"])
    return {**row, "seq": seq}


def stored_values(stored: processing.Stored) -> dict[str, Any]:
    return {
        "object": stored.object,
        "size_actual": stored.size_actual,
        "compression": stored.compression,
        "encryption": stored.encryption,
        "transform": stored.transform,
    }


def process(
    db: Database, device: Device, settings: Settings, upload: Upload, object_path: str, size: int
) -> processing.Stored:
    """The hooks between complete bytes and a visible file: antivirus, then transforms."""
    processing.scan(device, settings, bucket=upload.bucket, object=object_path, size=size)
    return processing.transform(
        device,
        settings,
        secret=server_secret(db, settings),
        project_id=upload.project_id,
        bucket=upload.bucket,
        object=object_path,
        size=size,
    )
