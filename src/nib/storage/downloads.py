"""Downloads and views, the storage side: the ready file a caller may read, described as a
``Download`` (which object holds it, how big its original bytes are, whether they must be
decoded), and those bytes off the device. storage/file_responses.py turns it into HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..data.db import Database
from ..data.rows import Row
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from . import processing
from .devices import Device
from .files import READY, find_file, get_file


@dataclass(frozen=True)
class Download:
    """A ready file to send: its row, its stored object, the size of its original bytes and
    whether the object holds them encoded (compressed and/or encrypted: decoding is CPU work)."""

    file: Row
    object: str
    size: int
    decoding: bool


def find_download(
    db: Database, *, project_id: str, bucket: Row, file_id: str, roles: list[str] | None, token: Row | None = None
) -> Download:
    """The file ``file_id`` of ``bucket`` as a caller with ``roles`` may read it, or as its file
    token (file_tokens.resolve) grants it; 404 until it is ready.

    A token grants its own file, whatever the permissions, and nothing else: a request carrying a
    token for another file (in this bucket or another) is refused with 401, even when the caller
    could read that file without it."""
    if token is None:
        file = get_file(db, project_id=project_id, bucket=bucket, file_id=file_id, roles=roles)
    else:
        found = find_file(db, project_id, bucket["id"], file_id)
        if found is None or found["seq"] != token["file_seq"]:
            raise AppwriteError("user_unauthorized")
        file = found
    if file["status"] != READY:
        raise AppwriteError("storage_file_not_found")
    return Download(file, file["object"], file["size_original"], processing.encoded(file))


def open_local(device: Device, download: Download) -> BinaryIO | None:
    """The stored object as an open local file when it holds the original bytes (local disk, no
    transform); ``None`` otherwise. A missing object is a 404."""
    if download.decoding:
        return None
    try:
        return device.open_local(download.object)
    except FileNotFoundError:
        raise _missing(download) from None


def original_bytes(
    device: Device, settings: Settings, *, secret: str, project_id: str, download: Download, start: int, end: int
) -> Iterator[bytes]:
    """The original bytes ``start..end`` (inclusive), decoded as they are iterated. A missing
    object is a 404, raised here, before the first byte."""
    try:
        return processing.decode(
            device, settings, secret=secret, project_id=project_id, file=download.file, start=start, end=end
        )
    except FileNotFoundError:
        raise _missing(download) from None


def _missing(download: Download) -> AppwriteError:
    return AppwriteError("storage_file_not_found", f"File not found in {download.object}")
