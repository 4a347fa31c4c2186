"""The responses every route shares: JSON bodies, Appwrite's error JSON, empty answers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from ..tools.errors import AppwriteError

JSON_TYPE = "application/json; charset=UTF-8"
BASE_HEADERS = {"X-Content-Type-Options": "nosniff", "Server": "nib"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type=JSON_TYPE, headers={**BASE_HEADERS, **(headers or {})}
    )


def error_response(error: AppwriteError) -> Response:
    """``{message, code, type, version}`` with the error's status, never cached."""
    return json_response(
        error.body(),
        error.status,
        {"Cache-Control": "no-cache, no-store, must-revalidate", "Expires": "0", "Pragma": "no-cache"},
    )


def empty_response(status: int = 204) -> Response:
    # The Python SDK reads Content-Type unconditionally, so even 204s carry one (as Appwrite).
    return Response(b"", status_code=status, media_type="text/html; charset=UTF-8", headers=BASE_HEADERS)
