"""Raw request parameters, gathered as Appwrite does (BEHAVIOUR.md §1.1).

GET/HEAD take the query string; other methods take the body only (JSON, urlencoded or
multipart). PHP-style keys (``a[]``, ``a[0]``, ``a[k]``) build lists and dicts.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

from .errors import AppwriteError

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")

MAX_BODY_BYTES = 12 * 1024 * 1024  # Appwrite's request body limit


def php_params(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build nested params from PHP-style ``name[...]`` keys, keeping list order by index."""
    result: dict[str, Any] = {}
    for raw_key, value in pairs:
        bracket = raw_key.find("[")
        if bracket <= 0 or not raw_key.endswith("]"):
            result[raw_key] = value
            continue
        name = raw_key[:bracket]
        path = _BRACKETS.findall(raw_key[bracket:])
        node = result
        key: str = name
        for part in path:
            child = node.get(key) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node, key = child, (part if part != "" else f"\0{len(child)}")
        node[key] = value
    return {k: _listify(v) for k, v in result.items()}


def _listify(value: Any) -> Any:
    """Dicts keyed only by indexes (``0``, ``1``… or appended ``[]``) become ordered lists."""
    if not isinstance(value, dict):
        return value
    value = {k: _listify(v) for k, v in value.items()}
    if value and all(k.startswith("\0") or k.isdigit() for k in value):
        return [v for _, v in sorted(value.items(), key=lambda kv: int(kv[0].lstrip("\0")))]
    return value


def query_params(query_string: bytes) -> dict[str, Any]:
    return php_params(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def json_params(body: bytes) -> dict[str, Any]:
    """A JSON object body; empty, invalid or non-object bodies mean "no params" (as Appwrite)."""
    if not body:
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses numbers beyond a double; PHP reads them as INF, which validators then
        # reject. The standard parser does the same, so such a body is not mistaken for "{}".
        try:
            value = json.loads(body)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def form_params(body: bytes) -> dict[str, Any]:
    return php_params(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def read_body(receive) -> bytes:
    """The whole request body, refusing more than MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise AppwriteError("general_argument_invalid", "Request body is larger than 12 MiB.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
