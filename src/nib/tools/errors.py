"""Appwrite's error catalogue as data, and the one exception every layer raises.

Code raises ``AppwriteError("user_not_found")`` (optionally with a custom message); the HTTP
layer renders it as ``{message, code, type, version}``. Nothing else builds error JSON.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

APPWRITE_VERSION = "1.5.11"

# Appwrite only exposes these statuses; anything else is sent as 500 "Server Error".
EXPOSED_STATUSES = frozenset({400, 401, 402, 403, 404, 408, 409, 412, 413, 416, 429, 451, 501, 503})


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """Error type -> {code, description}, as defined by Appwrite 1.5.11 (errors.json)."""
    entries: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "errors.json").read_text())
    return entries


class AppwriteError(Exception):
    """An error with an Appwrite type string; ``message`` defaults to the catalogue text."""

    def __init__(self, type: str, message: str | None = None, *, status: int | None = None) -> None:
        entry = catalogue().get(type)
        if entry is None:
            raise KeyError(f"unknown Appwrite error type {type!r}")
        self.type = type
        # A few call sites send a catalogue type with another status (as Appwrite does).
        self.code: int = status or entry["code"]
        self.message = message if message is not None else entry["description"]
        super().__init__(self.message)

    @property
    def status(self) -> int:
        """The HTTP status actually sent."""
        return self.code if self.code in EXPOSED_STATUSES else 500

    def body(self) -> dict[str, Any]:
        if self.status == 500:
            return {"message": "Server Error", "code": 500, "type": self.type, "version": APPWRITE_VERSION}
        return {"message": self.message, "code": self.code, "type": self.type, "version": APPWRITE_VERSION}


class StorageUnavailable(OSError):
    """The file store cannot take or give bytes for now: its disk is full, or its S3 endpoint is
    unreachable, failing or broke a transfer off. Devices raise it with a message for the client;
    the pipeline answers 503 ``general_server_error`` (a status clients may retry) and logs the
    cause. An ``OSError``, so code that tolerates a failing store (the preview cache) still does."""


def invalid_argument(message: str) -> AppwriteError:
    """400 general_argument_invalid with a message naming the parameter."""
    return AppwriteError("general_argument_invalid", message)
