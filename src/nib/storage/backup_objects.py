"""A project's stored objects moved in from a backup: written under the project they are restored
as, re-encrypted when that project's storage key differs from the one they were sealed with (a
project restored under another ID, or into an instance with another secret)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import processing, transforms
from .devices import Device
from .files import READY, file_prefix

# The table of file rows in a project's row dump (data/rowcopy.py), whose rows name their objects.
FILES = "files"

RestoredObjects = dict[str, dict[str, Any]]  # the backup's object path -> the row's new values


def relocated(path: str, project_id: str) -> str:
    """``path`` under ``project_id`` (objects are stored under ``<project>/<bucket>/<file>/``)."""
    return f"{project_id}/{path.split('/', 1)[1]}"


def restore_objects(
    device: Device,
    rows: Iterable[dict[str, Any]],
    read: Callable[[str], Iterable[bytes] | None],
    *,
    project_id: str,
    sealed_with: bytes,
    key: bytes,
) -> RestoredObjects:
    """Write the object of every ready file row that ``read`` (backup path -> bytes, ``None`` when
    the backup lacks it) can give; returns what those rows must change."""
    restored: RestoredObjects = {}
    for row in rows:
        chunks = read(row["object"]) if row["status"] == READY else None
        if chunks is None:
            continue
        target = relocated(row["object"], project_id)
        info = transforms.TransformInfo.from_dict(row["transform"]) if row["transform"] else None
        if info is not None and info.encryption != "none" and sealed_with != key:
            stream, sealed = transforms.encode(
                transforms.decode(chunks, info, sealed_with), compression=info.compression, key=key
            )
            restored[row["object"]] = {
                "object": target,
                "size_actual": device.write(target, stream),
                "transform": sealed.to_dict(),
            }
        else:
            device.write(target, chunks)
            restored[row["object"]] = {"object": target}
    return restored


def file_rewrite(restored: RestoredObjects) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """For ``rowcopy.load_project``: a file row with its restored object's values; a row whose
    object was not restored (deleted while the backup ran, or an upload in progress) is left out."""

    def rewrite(row: dict[str, Any]) -> dict[str, Any] | None:
        changes = restored.get(row["object"])
        return {**row, **changes} if changes is not None else None

    return rewrite


def delete_replaced(device: Device, paths: Iterable[str], kept: set[str]) -> None:
    """Delete the objects (and cached previews) of a replaced project's files, but those at
    ``kept`` paths, which the restored files use again."""
    for path in paths:
        if path in kept:
            continue
        processing.delete_objects(device, path)
        project_id, bucket_id, file_id = path.split("/", 3)[:3]
        device.delete_prefix(file_prefix(project_id, bucket_id, file_id) + "previews/")
