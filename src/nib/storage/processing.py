"""The hook points between the upload pipeline and the modules that change stored bytes.

Uploads call, once a file's original bytes are complete on the device and before the file
becomes visible (status ``ready``): ``scan`` (antivirus), then ``transform`` (compression and
encryption of the stored object). Reads call ``decode`` to get original bytes back. Today they
are the identity: the stored object *is* the original. The antivirus (core/antivirus.py) and
transforms (storage/transforms.py) modules plug in here, and only here, so that uploads.py and
downloads.py never change for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.config import Settings
from .devices import Device

Row = dict[str, Any]


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
    """Antivirus hook: check the complete original object at ``object`` (``size`` bytes) when the
    bucket asks for it (``bucket["antivirus"]``) and the instance has a scanner.

    Raises ``AppwriteError("storage_invalid_file")`` (403) for an infected file; the caller then
    deletes the object and the file row. Returns ``None`` when clean or not scanned.
    """
    return None


def transform(device: Device, settings: Settings, *, project_id: str, bucket: Row, object: str, size: int) -> Stored:
    """Transforms hook: compress and/or encrypt the complete original object at ``object``
    (``size`` bytes, md5 and mimeType already computed) as the bucket's ``compression`` and
    ``encryption`` settings ask (Appwrite applies them only to files up to 20 MB).

    Returns the ``Stored`` description the file row records; the identity today.
    """
    return Stored(object=object, size_actual=size)


def decode(device: Device, settings: Settings, *, project_id: str, file: Row, start: int, end: int) -> Iterator[bytes]:
    """Read hook: the *original* bytes ``start..end`` (inclusive) of a ready file, streamed, from its
    stored object ``file["object"]`` as ``file["compression"]``, ``file["encryption"]`` and
    ``file["transform"]`` describe it. Raises ``FileNotFoundError`` when the object is missing.
    """
    return device.read(file["object"], start, end)
