"""What the pipeline reads of a request on the event loop, before any check: ``Incoming``."""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import unquote

from starlette.requests import Request
from starlette.types import Receive, Scope

from ..auth import admins, credentials, impersonation
from .origins import BrowserRequest
from .params import query_params
from .routing import Route


class Incoming(NamedTuple):
    """The parsed request the pipeline's checks and the handler's ``Context`` start from.

    Immutable like a frozen dataclass, but built at a tuple's cost: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, microseconds per request.
    """

    route: Route | None
    path_params: dict[str, str]  # decoded
    raw: dict[str, Any]  # the unvalidated parameters (query string or body)
    project_id: str
    key: str | None
    ip: str
    user_agent: str
    headers: dict[str, str]  # lower-case names
    path: str
    browser: BrowserRequest
    credentials: credentials.Credentials
    host: str
    secure: bool
    timestamp: str  # X-Appwrite-Timestamp, read by the routes that honour it
    receive: Receive | None  # a streaming route's body (none for GETs)
    impersonate: impersonation.Target | None  # the user the caller asks to act as
    # The console acting as an administrator (X-Appwrite-Mode: admin, or ?mode=admin on a GET,
    # for image and download URLs): its session cookie; None otherwise.
    console_session: str | None


def read_incoming(
    request: Request,
    method: str,
    headers: dict[str, str],
    browser: BrowserRequest,
    route: Route | None,
    path_params: dict[str, str],
    raw: dict[str, Any],
) -> Incoming:
    """``Incoming`` from a request, its matched route with the path's (still encoded) parameters
    and its raw parameters; ``headers`` is the request's headers as one plain dict."""
    project_id = str(headers.get("x-appwrite-project") or raw.get("project") or "")
    forwarded_proto = headers.get("x-forwarded-proto", "")
    return Incoming(
        route=route,
        path_params={name: unquote(value) for name, value in path_params.items()},
        raw=raw,
        project_id=project_id,
        key=headers.get("x-appwrite-key"),
        ip=client_ip(request.scope, headers),
        user_agent=headers.get("user-agent", ""),
        headers=headers,
        path=request.scope["path"],
        browser=browser,
        credentials=credentials.request_credentials(
            project_id, request.cookies if "cookie" in headers else {}, headers
        ),
        host=headers.get("host", ""),
        secure=(forwarded_proto.split(",")[0].strip() or request.scope["scheme"]) == "https",
        timestamp=headers.get("x-appwrite-timestamp", ""),
        receive=request.receive if route is not None and route.streaming and method != "GET" else None,
        impersonate=impersonation.requested(headers, _query(request, method, raw)),
        console_session=_console_session(request, method, headers, raw),
    )


def _console_session(request: Request, method: str, headers: dict[str, str], raw: dict[str, Any]) -> str | None:
    mode = headers.get("x-appwrite-mode") or (raw.get("mode") if method == "GET" else None)
    if mode != "admin":
        return None
    return request.cookies.get(admins.COOKIE, "")


def _query(request: Request, method: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The query parameters: ``raw`` for a GET; otherwise parsed only when the query string
    may name an impersonation target."""
    if method == "GET":
        return raw
    query_string = request.scope.get("query_string", b"")
    return query_params(query_string) if impersonation.QUERY_MARK in query_string else {}


def client_ip(scope: Scope, headers: dict[str, str]) -> str:
    """The caller's address: the first of ``X-Forwarded-For``, else the socket's peer."""
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else ""
