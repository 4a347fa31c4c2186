"""The hook points between the upload pipeline and the modules that change stored bytes.

Uploads call, once a file's original bytes are complete on the device and before the file
becomes visible (status ``ready``): ``scan`` (antivirus, storage/antivirus.py), then ``transform``
(compression and encryption of the stored object, storage/transforms.py). Reads call ``decode``
to get the original bytes back. Only this module knows about either, so uploads.py and
downloads.py stay the same whatever a bucket asks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..data.rows import Row
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from . import antivirus, transforms
from .devices import Device

STORED_SUFFIX = "-stored"  # a transformed object is written beside the original, at its path plus this


@dataclass(frozen=True)
class Stored:
    """What a file's row records about its stored object.

    ``object`` is the device path of the bytes to serve (the transforms may write a new object and
    delete the original), ``size_actual`` its size, ``compression`` (``none|gzip|zstd``) and
    ``encryption`` what was applied (the File model shows both), ``transform`` any parameters
    ``decode`` needs (e.g. IV and tag), kept as JSON in ``files.transform``.
    """

    object: str
    size_actual: int
    compression: str = "none"
    encryption: bool = False
    transform: dict[str, Any] | None = field(default=None)


def scan(device: Device, settings: Settings, *, bucket: Row, object: str, size: int) -> None:
    """Antivirus: check the complete original object at ``object`` (``size`` bytes) when the
    bucket asks for it and the instance has a scanner (``antivirus.applies``).

    Raises ``AppwriteError("storage_invalid_file")`` (403) for an infected file; the caller then
    deletes the object and the file row.
    """
    if not antivirus.applies(settings, antivirus=bucket["antivirus"], size=size):
        return
    if antivirus.scan(settings, device.read(object)).infected:
        raise AppwriteError("storage_invalid_file")


def transform(
    device: Device, settings: Settings, *, secret: str, project_id: str, bucket: Row, object: str, size: int
) -> Stored:
    """Compress and/or encrypt the complete original object at ``object`` as the bucket's
    ``compression`` and ``encryption`` ask (only files up to 20 MB, as Appwrite:
    ``transforms.plan``). The encoded object replaces the original; returns what the row records.
    """
    compression, encrypt = transforms.plan(
        size=size, compression=bucket["compression"], encryption=bucket["encryption"]
    )
    if compression == "none" and not encrypt:
        return Stored(object=object, size_actual=size)
    key = transforms.project_key(secret, project_id) if encrypt else None
    stream, info = transforms.encode(device.read(object), compression=compression, key=key)
    stored_object = object + STORED_SUFFIX
    size_actual = device.write(stored_object, stream)
    device.delete(object)
    return Stored(stored_object, size_actual, compression, encrypt, info.to_dict())


def delete_objects(device: Device, object: str) -> None:
    """Remove every object of the upload whose row records ``object``: the original and the
    transforms' output (either may be half-written or left by a process that died), and what
    unfinished writes of them left (``Device.delete``)."""
    original = object.removesuffix(STORED_SUFFIX)
    device.delete(original)
    device.delete(original + STORED_SUFFIX)


def decode(
    device: Device, settings: Settings, *, secret: str, project_id: str, file: Row, start: int, end: int
) -> Iterator[bytes]:
    """The *original* bytes ``start..end`` (inclusive) of a ready file, streamed, from its stored
    object as ``file["transform"]`` describes it. Raises ``FileNotFoundError`` when the object is
    missing (when called, before the first chunk, so the caller can still answer 404)."""
    info = _info(file)
    if info.identity:
        return device.read(file["object"], start, end)
    key = transforms.project_key(secret, project_id) if info.encryption != "none" else None
    return transforms.byte_range(transforms.decode(device.read(file["object"]), info, key), start, end)


def encoded(file: Row) -> bool:
    """Whether the stored object of ``file`` holds its bytes compressed and/or encrypted."""
    return not _info(file).identity


def _info(file: Row) -> transforms.TransformInfo:
    return transforms.TransformInfo.from_dict(file["transform"]) if file["transform"] else transforms.TransformInfo()
