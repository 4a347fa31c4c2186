"""Raw request parameters, gathered as Appwrite does.

GET/HEAD take the query string; other methods take the body only (JSON, urlencoded or
multipart). PHP-style keys (``a[]``, ``a[0]``, ``a[k]``) build lists and dicts.

Whatever the source, a parameter nests at most ``MAX_DEPTH`` levels and holds no lone UTF-16
surrogate (only a JSON ``\\ud800`` escape can make one) and no NUL character: otherwise the
request is refused with 400 before anything reads it. Deeper values would overflow the recursion
of the parsers and serialisers downstream; neither UTF-8 nor PostgreSQL can store a lone surrogate,
and PostgreSQL's text cannot hold NUL (refused on SQLite too, so both backends answer alike).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from ..tools.errors import AppwriteError
from ..tools.validators import MAX_DEPTH, TOO_DEEP, refusal, text_refusal

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")

MAX_BODY_BYTES = 12 * 1024 * 1024  # Appwrite's request body limit

# What nesting depends on in raw JSON text: strings (skipped whole), brackets and colons.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:]')


def _refused(name: str | None, problem: str) -> AppwriteError:
    """400 naming the parameter, or the body when the problem is in no parameter's value."""
    if name is None:
        return AppwriteError("general_argument_invalid", f"Request body {problem}.")
    return AppwriteError("general_argument_invalid", f"Invalid `{name}` param: Value {problem}.")


def check_path_params(path_params: dict[str, str]) -> None:
    """Path segments are text like any other parameter: a NUL or lone surrogate in one is 400."""
    for name, value in path_params.items():
        problem = text_refusal(value)
        if problem:
            raise _refused(name, problem)


def _body_params(body: Any) -> dict[str, Any]:
    """A parsed JSON body's params: an object's members; any other value means none (as Appwrite).
    A problem (``refusal``) anywhere in the body refuses the request."""
    if not isinstance(body, dict):
        problem = refusal(body)
        if problem:
            raise _refused(None, problem)
        return {}
    for name, value in body.items():
        problem = text_refusal(name)
        if problem:
            raise _refused(None, problem)
        problem = refusal(value)
        if problem:
            raise _refused(name, problem)
    return body


def _deep_member(body: bytes) -> str | None:
    """The member of a JSON object body whose value nests deeper than ``MAX_DEPTH``, read from
    the raw text of a body too deep to parse; None when the excess is in no (nameable) member."""
    depth, member, previous = 0, None, b""
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            if depth > MAX_DEPTH + 1:  # the body object itself is one level
                break
        elif token in (b"}", b"]"):
            depth -= 1
        elif token == b":" and depth == 1:
            member = previous
        previous = token
    else:
        return None
    try:
        name = json.loads(member) if member else None
    except ValueError:
        return None
    return name if isinstance(name, str) and not text_refusal(name) else None


def php_params(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build nested params from PHP-style ``name[...]`` keys, keeping list order by index."""
    result: dict[str, Any] = {}
    for raw_key, value in pairs:
        bracket = raw_key.find("[")
        name = raw_key[:bracket] if bracket > 0 else raw_key
        problem = text_refusal(raw_key)  # a NUL would also pass for the appended-item marker below
        if problem:
            raise _refused(None, problem)
        problem = text_refusal(value) if isinstance(value, str) else None
        if problem:
            raise _refused(name, problem)
        if bracket <= 0 or not raw_key.endswith("]"):
            result[raw_key] = value
            continue
        path = _BRACKETS.findall(raw_key[bracket:])
        if len(path) > MAX_DEPTH:
            raise _refused(name, TOO_DEEP)
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
    """A JSON object body; empty, invalid or non-object bodies mean "no params" (as Appwrite).
    Values nested too deep or holding lone surrogates are refused (see the module's doc)."""
    if not body:
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses numbers beyond a double; PHP reads them as INF, which validators then
        # reject. The standard parser does the same, so such a body is not mistaken for "{}".
        # It also reads lone surrogates and nesting past orjson's limit, left for _body_params
        # to refuse, or overflows its recursion on nesting deeper still.
        try:
            value = json.loads(body)
        except RecursionError:
            raise _refused(_deep_member(body), TOO_DEEP) from None
        except ValueError:
            return {}
    return _body_params(value)


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


async def request_params(request: Request, method: str, headers: dict[str, str]) -> dict[str, Any]:
    """The raw parameters of a request whose body is not streamed, read on the event loop."""
    if method in ("GET", "HEAD"):
        return query_params(request.scope.get("query_string", b""))
    content_type = headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except Exception:  # malformed multipart: no usable params, as a bad JSON body
            return {}
        return php_params(list(form.multi_items()))
    body = await read_body(request.receive)
    if content_type.startswith("application/x-www-form-urlencoded"):
        return form_params(body)
    return json_params(body)
