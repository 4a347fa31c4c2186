"""The ``state`` an OAuth2 sign-in carries through the provider and back.

Appwrite's JSON ``{"success", "failure", "token"}`` with three more members: ``expire`` (Unix
seconds; a sign-in must come back within ``LIFETIME``), ``nonce`` (a one-time value, sent to
OpenID Connect providers, which put it in their ID token) and ``signature``, an HMAC-SHA256 under
the server secret of everything else plus the project and provider it was made for. A state that
was changed, made for another project or provider, or is too old is refused, so nobody can send a
user back to a URL of their choosing (with a login secret in it) by crafting a link.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import orjson

LIFETIME = 600  # seconds between the start of a sign-in and its return


class StateError(ValueError):
    """The state is not one nib made for this sign-in, or it expired."""


@dataclass(frozen=True)
class State:
    success: str
    failure: str
    token: bool  # the token flow (a secret for the success URL) rather than a session
    nonce: str


def _mac(key: str, project_id: str, provider: str, body: dict) -> str:
    message = orjson.dumps([project_id, provider, body], option=orjson.OPT_SORT_KEYS)
    return hmac.new(key.encode(), b"nib oauth2 state\x00" + message, hashlib.sha256).hexdigest()


def pack(key: str, *, project_id: str, provider: str, success: str, failure: str, token: bool, nonce: str) -> str:
    """A signed state, as the JSON text sent to the provider."""
    body = {
        "success": success,
        "failure": failure,
        "token": token,
        "expire": int(time.time()) + LIFETIME,
        "nonce": nonce,
    }
    return orjson.dumps({**body, "signature": _mac(key, project_id, provider, body)}).decode()


def unpack(key: str, text: str, *, project_id: str, provider: str) -> State:
    """The state nib made, checked; ``StateError`` when it is not JSON, not signed by this server
    for this project and provider, or expired."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise StateError("not JSON") from None
    if not isinstance(body, dict):
        raise StateError("not a JSON object")
    signature = body.pop("signature", None)
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _mac(key, project_id, provider, body)):
        raise StateError("not signed by this server for this sign-in")
    if not isinstance(body.get("expire"), int) or body["expire"] < time.time():
        raise StateError("expired")
    return State(str(body["success"]), str(body["failure"]), bool(body["token"]), str(body["nonce"]))
