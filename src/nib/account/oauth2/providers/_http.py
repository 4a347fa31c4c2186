"""What every adapter repeats: its requests, their errors, token answers and packed secrets.

Every request goes through the provider's injected client, to ``Provider.url`` of its URL, with
Appwrite's User-Agent. A provider's HTTP status >= 400 becomes ``ProviderError`` with that status
and Appwrite's reading of the error body; a failed code exchange says so in front of it, as the
failure redirect shows it ("Failed to obtain access token. The GitHub OAuth2 provider returned an
error: bad_verification_code: The code passed is incorrect or expired.").
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from nib.account.oauth2.providers import USER_AGENT, Provider, ProviderError, Tokens

# The status of a provider that could not be reached or answered something unusable without
# saying so with an HTTP status (the code of `user_oauth2_provider_error`).
UNUSABLE = 424


def authorize_url(p: Provider, url: str, params: dict[str, str]) -> str:
    """The browser's way to the provider's consent page (spaces in values encoded as '+')."""
    return f"{p.url(url)}?{urlencode(params)}"


def secret_fields(p: Provider) -> dict[str, str]:
    """The fields of a JSON-packed secret; a plain secret is the client secret itself."""
    try:
        packed = json.loads(p.config.secret)
    except ValueError:
        packed = None
    if not isinstance(packed, dict):
        return {"clientSecret": p.config.secret}
    return {key: value for key, value in packed.items() if isinstance(value, str)}


def error_message(body: str) -> str:
    """A provider's error answer as Appwrite words it: ``<error>: <description>`` from the
    JSON shapes providers use, the raw body when it is not JSON."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if not isinstance(answer, dict):
        return body
    error = answer.get("error")
    if isinstance(error, dict):  # {"error": {"status", "message"}} (Google APIs, Facebook)
        return f"{error.get('status') or 'Unknown error'}: {error.get('message') or 'No description'}"
    title = error or answer.get("message") or "Unknown error"
    errors = answer.get("errors")
    if isinstance(errors, list):  # {"message", "errors": [{"message"}]} (GitHub's API)
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        return f"{title}: {first.get('message') or 'No description'}"
    return f"{title}: {answer.get('error_description') or 'No description'}"


def send(
    p: Provider,
    method: str,
    url: str,
    *,
    params: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    bearer: str = "",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to the provider; ``ProviderError`` unless it answers below 400."""
    sent = {"User-Agent": USER_AGENT, **(headers or {})}
    if bearer:
        sent["Authorization"] = f"Bearer {bearer}"
    try:
        response = p.http.request(method, p.url(url), params=params, data=form, headers=sent)
    except httpx.HTTPError as exc:
        raise ProviderError(UNUSABLE, f"Connection failed: {exc}") from exc
    if response.status_code >= 400:
        raise ProviderError(response.status_code, error_message(response.text))
    return response


def get_json(p: Provider, url: str, *, expect: type = dict, **request: Any) -> Any:
    """GET ``url`` and its JSON answer, which must be an ``expect`` (an object unless said)."""
    response = send(p, "GET", url, **request)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, expect):
        raise ProviderError(UNUSABLE, f"Unexpected answer: {response.text[:200]}")
    return answer


def fetch_tokens(p: Provider, method: str, url: str, *, refreshing: str = "", **request: Any) -> Tokens:
    """Tokens from the provider's token endpoint, answered as JSON or form-encoded.

    ``refreshing`` is the refresh token being used (empty for a code exchange): it is kept when
    the answer brings no new one. An answer without an access token is the provider's refusal
    even when its status says 200 (GitHub answers errors that way)."""
    try:
        response = send(p, method, url, **request)
        answer = _token_answer(response.text)
        if not answer.get("access_token"):
            raise ProviderError(400, error_message(response.text))
    except ProviderError as err:
        if refreshing:
            raise
        message = f"Failed to obtain access token. The {p.name} OAuth2 provider returned an error: {err.message}"
        raise ProviderError(err.status, message) from err
    try:
        expires_in = int(answer.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    return Tokens(
        access_token=str(answer["access_token"]),
        refresh_token=str(answer.get("refresh_token") or refreshing),
        expires_in=expires_in,
        id_token=str(answer.get("id_token") or ""),
    )


def _token_answer(body: str) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        return dict(parse_qsl(body))
    return answer if isinstance(answer, dict) else {}
