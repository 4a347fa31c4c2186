"""One provider request: an HTTP status of 400 or more becomes a ``ProviderError`` whose message
is what the provider said, summed up as Appwrite does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from . import ProviderError

if TYPE_CHECKING:
    import httpx


def call(http: httpx.Client, method: str, url: str, **options: Any) -> Any:
    """The JSON answer of a request (``ProviderError`` for HTTP >= 400 or a body that is not JSON)."""
    response = http.request(method, url, **options)
    if response.status_code >= 400:
        raise ProviderError(response.status_code, error_message(response.text))
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ProviderError(response.status_code, response.text or "Empty response") from None


def error_message(body: str) -> str:
    """``<status>: <message>`` of an ``error`` object, ``<error>: <first of errors>``, or
    ``<error>: <error_description>``; a body that is not JSON as it is."""
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(found, dict):
        return body
    error = found.get("error")
    if isinstance(error, dict):
        return f"{error.get('status', '')}: {error.get('message', '')}"
    summary = error or found.get("message") or "Unknown error"
    errors = found.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return f"{summary}: {errors[0].get('message', '')}"
    return f"{summary}: {found.get('error_description') or 'No description'}"


def tokens_from(answer: Any, refresh_token: str = "") -> dict[str, Any]:
    """``access_token``, ``refresh_token`` (``refresh_token`` when none came) and ``expires_in``
    of a token answer; ``ProviderError`` when it holds no access token."""
    if not isinstance(answer, dict) or not answer.get("access_token"):
        raise ProviderError(400, error_message(orjson.dumps(answer).decode()))
    try:
        expires_in = int(answer.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    return {
        "access_token": str(answer["access_token"]),
        "refresh_token": str(answer.get("refresh_token") or refresh_token),
        "expires_in": expires_in,
        "id_token": str(answer.get("id_token") or ""),
    }
