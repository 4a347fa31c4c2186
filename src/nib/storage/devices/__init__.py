"""Where file bytes live: one small interface, two real devices (local disk, S3).

Paths are device-relative keys built by the storage service: a file's bytes at
``<projectId>/<bucketId>/<fileId>/data-<upload>`` (one object name per upload, recorded on the
file row, so two uploads of one ID never write the same object), its cached previews beside them under
``<projectId>/<bucketId>/<fileId>/previews/``; a device never interprets them. Every method streams:
bytes come in and go out as iterables of ``bytes`` chunks, never as one whole file.

Multi-part writes back the chunked upload protocol (storage/chunks.py): the service calls
``begin_parts`` once per file and stores the returned handle with the file row (an S3 multipart
upload ID; a random token naming the parts' directory on local disk), so any process can write
a part or complete the upload.
Parts are numbered from 1, may arrive in any order and concurrently, and writing the same part
twice keeps the last copy. Until ``complete_parts`` returns, ``path`` itself does not exist.
A path that is absolute or has an empty or dot-led segment (``..``) raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from ...tools.config import Settings


class Device(Protocol):
    """A store of immutable byte objects addressed by path."""

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` at ``path`` atomically (readers see the old object or the whole new
        one, never a part); returns the number of bytes written."""

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start..end`` (inclusive; ``None`` = to the end) of ``path``, streamed.
        Raises ``FileNotFoundError`` when there is no such object."""

    def open_local(self, path: str) -> BinaryIO | None:
        """``path`` opened for reading where it is a file on this machine (the server can then
        send it with sendfile, http/zerocopy.py); ``None`` where objects are remote.
        ``FileNotFoundError`` when a local object is missing."""

    def size(self, path: str) -> int:
        """Size in bytes; ``FileNotFoundError`` when missing."""

    def exists(self, path: str) -> bool: ...

    def delete(self, path: str) -> None:
        """Remove ``path`` and whatever writes of it left unfinished: temporary objects of writes
        a crash interrupted, parts of multi-part writes. Missing is not an error. Other paths,
        even those starting with ``path``, are untouched."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under the directory-like ``prefix`` (``"<p>/<bucket>/"``, or a
        file's ``"<p>/<bucket>/<file>/"`` with its cached previews), unfinished parts included."""

    def begin_parts(self, path: str) -> str:
        """Start a multi-part write of ``path``; returns the handle to pass to the part calls."""

    def write_part(self, path: str, handle: str, number: int, chunks: Iterable[bytes]) -> int:
        """Store part ``number`` (1-based); idempotent per number; returns its size.
        ``FileNotFoundError`` once the write was completed or aborted."""

    def complete_parts(self, path: str, handle: str, count: int) -> None:
        """Join parts ``1..count`` in order into ``path`` (atomically) and drop the parts.
        ``FileNotFoundError`` when a part is missing (the parts stay, to be resumed) or the write
        was aborted; calling it again after it succeeded does nothing."""

    def abort_parts(self, path: str, handle: str) -> None:
        """Drop every stored part of an unfinished multi-part write; missing is not an error."""

    def check(self) -> None:
        """The health check: write, read back and delete a small object under ``.health/``
        (a name no stored path can take). ``StorageUnavailable`` saying what failed."""


# The health check's object: each check writes its own, so concurrent checks never meet.
HEALTH_PREFIX = ".health/"
HEALTH_BYTES = b"nib health check"


DEVICES = ("local", "s3")


def open_device(settings: Settings, *, bulk: bool = False) -> Device:
    """The device ``NIB_STORAGE_DEVICE`` names; ``ValueError`` (a start-up error) for an unknown one.
    ``bulk``: for a backup's copy of every object (a local device reads around the page cache)."""
    if settings.storage_device == "local":
        from .local import LocalDevice

        return LocalDevice(settings.data_dir / "storage", bulk=bulk)
    if settings.storage_device == "s3":
        from .s3 import s3_device  # boto3 loads only when S3 is configured

        return s3_device(settings)
    raise ValueError(
        f"unknown storage device {settings.storage_device!r} (NIB_STORAGE_DEVICE must be one of: {', '.join(DEVICES)})"
    )
