"""The HTTP side of ``POST /storage/buckets/{bucketId}/files``: the request body read as a form
(storage.multipart) up to the file part, the fields around that part, and the headers of
Appwrite's upload protocol (``Content-Range``, ``X-Appwrite-ID``), turned into the plain values
storage/uploads.py takes.

The file part is left unread: its bytes are pulled by the upload service as it writes them. The
web SDK sends ``permissions`` after the file, so those are read only once the bytes are in
(``UploadForm.late_permissions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from ..auth.permissions import FILE_TYPES
from ..auth.permissions import validator as permissions_validator
from ..http.params import form_params, json_params, php_params
from ..http.routing import Param, optional, validate
from ..tools import validators as v
from ..tools.errors import AppwriteError
from .multipart import FormReader, Part
from .writing import ContentRange

FIELDS = (Param("fileId", v.custom_id), optional("permissions", permissions_validator(FILE_TYPES)))
_CONTENT_RANGE = re.compile(r"(\w+) (\d+)-(\d+)/(\d+)", re.ASCII)


class UploadForm:
    """An upload request's form, read up to its file part: the fields sent before it, validated
    (``file_id``, ``permissions``), and the part itself (``None`` when the body has none)."""

    def __init__(self, body: Iterable[bytes], content_type: str) -> None:
        self._early: list[tuple[str, Any]] = []
        self.file: Part | None = None
        self._rest: Iterator[Part]
        if content_type.startswith("multipart/form-data"):
            self._rest = iter(FormReader(body, content_type))
            for candidate in self._rest:
                if candidate.name == "file" and candidate.filename is not None:
                    self.file = candidate
                    break
                self._early.append((candidate.name, candidate.text()))
            raw = php_params(self._early)
        else:  # no file can be in a JSON or url-encoded body: its fields are still validated first
            self._rest = iter(())
            data = b"".join(body)
            raw = (
                form_params(data) if content_type.startswith("application/x-www-form-urlencoded") else json_params(data)
            )
        values = validate(FIELDS, raw)
        self.file_id: str = values["fileId"]
        self.permissions: list[str] | None = values["permissions"]

    def late_permissions(self) -> list[str] | None:
        """Reads the fields after the file part (call it once the part is read): the permissions
        as they stand with those fields when one of them is a permission, else ``None``."""
        late = [(part.name, part.text()) for part in self._rest]
        if not any(name.startswith("permissions") for name, _ in late):
            return None
        return validate(FIELDS, php_params(self._early + late))["permissions"]


def parse_content_range(header: str | None) -> ContentRange | None:
    """``bytes <start>-<end>/<size>`` (``end == size`` tolerated as the last byte, as by Appwrite)."""
    if header is None:
        return None
    found = _CONTENT_RANGE.fullmatch(header.strip())
    if found is None:
        raise AppwriteError("storage_invalid_content_range")
    start, end, total = (int(found.group(i)) for i in (2, 3, 4))
    if not start <= end <= total or total == 0:
        raise AppwriteError("storage_invalid_content_range")
    return ContentRange(start, min(end, total - 1), total)


def requested_file_id(field: str, header: str) -> str:
    """``X-Appwrite-ID`` (later chunks; the newest SDKs also on the first) overrides ``fileId``."""
    if header:
        try:
            return v.uid(header)
        except v.Invalid:
            raise AppwriteError("storage_invalid_appwrite_id") from None
    return field
