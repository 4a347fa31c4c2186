"""What each request leaves behind: its ID, its access-log line and its metrics (``Observer``).

``Api`` hands every HTTP request and WebSocket handshake to its ``Observer`` (when the access log
or metrics are on; otherwise nothing of this runs). The observer gives the request an ID (the
caller's ``X-Request-Id`` when it is a sane token, else a new one), echoes it as ``X-Request-Id``
on the response, and watches the ASGI messages for the status and the body bytes. The pipeline
fills in what only it knows on the request's ``Trace`` (``scope[TRACE]``): the route's template
and the caller. When the response is sent, one line goes to the access log (``tools.logs``) and
the request is counted (``tools.metrics``). A realtime connection's line is written when it closes
(status 101 once accepted), as nginx logs WebSockets; its lifetime is not a request's latency,
so it counts only as a realtime connection.

``GET /v1/metrics`` serves the metrics of every worker when ``NIB_METRICS_TOKEN`` is set and the
request says ``Authorization: Bearer <token>`` (compared in constant time).
"""

from __future__ import annotations

import hmac
import os
import re
from time import perf_counter
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..tools import logs
from ..tools.errors import AppwriteError
from ..tools.logs import REQUEST_ID
from ..tools.metrics import CONTENT_TYPE, Metrics, exposition
from .incoming import client_ip
from .responses import error_response
from .zerocopy import EXTENSION as ZEROCOPY

TRACE = "nib.trace"  # the scope key of a request's Trace
METRICS_PATH = "/v1/metrics"
UNMATCHED = "unmatched"  # the route of a request no route matched (never its raw path)
# A caller's request ID is kept when it is a short token of these characters (a UUID, a
# trace ID, base64): nothing that could break a log line or hide another one in it.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:+/=@-]{1,128}")


class Trace:
    """One request as the observer sees it; the pipeline sets ``route``, ``project``, ``ip``
    and ``principal`` (or, for realtime, ``user``) as it learns them."""

    __slots__ = ("ip", "project", "principal", "received", "request_id", "route", "sent", "status", "user")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.route = ""
        self.project = ""
        self.ip = ""
        self.principal: Any = None  # auth.principals.Principal, once resolved
        self.user = ""
        self.status = 0
        self.sent = 0
        self.received = 0

    def caller(self) -> tuple[str, str, str]:
        """(user ID, API key ID, impersonator's user ID), each "" when absent; never a secret."""
        principal = self.principal
        if principal is None:
            return self.user, "", ""
        user = principal.user["id"] if principal.user else ""
        impersonator = principal.impersonator["id"] if principal.impersonator else ""
        return user, principal.key_id or "", impersonator


def note_caller(scope, *, project_id: str | None = None, ip: str | None = None, user_id: str | None = None) -> None:
    """Realtime tells a connection's trace what it learns of its caller (what is given)."""
    trace = scope.get(TRACE)
    if trace is not None:
        for name, value in (("project", project_id), ("ip", ip), ("user", user_id)):
            if value is not None:
                setattr(trace, name, value)


class Observer:
    """Request IDs, the access log and metrics around an ASGI app (``Api.serve``)."""

    def __init__(self, metrics: Metrics, *, access: bool, metrics_token: str) -> None:
        self.metrics = metrics if metrics.enabled else None
        self.access = access
        self.token = metrics_token.encode() if metrics.enabled and metrics_token else None

    async def __call__(self, scope, receive, send, app) -> None:
        started = perf_counter()
        websocket = scope["type"] == "websocket"
        request_id = _request_id(scope["headers"])
        trace = Trace(request_id)
        scope[TRACE] = trace
        echoed = (b"x-request-id", request_id.encode())
        metrics = self.metrics
        ended = 0.0

        async def observed_send(message) -> None:
            nonlocal ended
            kind = message["type"]
            if kind == "http.response.body":
                trace.sent += len(message.get("body", b""))
                if not message.get("more_body", False):
                    ended = perf_counter()
            elif kind == "http.response.start" or kind == "websocket.http.response.start":
                trace.status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            elif kind == ZEROCOPY:
                trace.sent += message["count"]
                if not message.get("more_body", False):
                    ended = perf_counter()
            elif kind == "websocket.accept":
                trace.status = 101
                message["headers"] = [*message.get("headers", ()), echoed]
                if metrics is not None:
                    metrics.realtime(1)
            elif kind == "websocket.http.response.body":
                trace.sent += len(message.get("body", b""))
            elif kind == "websocket.close" and not trace.status:
                trace.status = 403  # closed before acceptance: the server answers 403
            await send(message)

        observed_receive = receive
        if metrics is not None:

            async def observed_receive():
                message = await receive()
                if message["type"] == "http.request":
                    trace.received += len(message.get("body", b""))
                return message

        if (
            self.token is not None
            and not websocket
            and scope["path"] == METRICS_PATH
            and scope["method"] in ("GET", "HEAD")
        ):
            trace.route, app = METRICS_PATH, self._metrics
        context = REQUEST_ID.set(request_id)
        if metrics is not None and not websocket:
            metrics.in_flight(1)
        try:
            await app(scope, observed_receive, observed_send)
        finally:
            seconds = (ended or perf_counter()) - started
            if metrics is not None:
                if not websocket:
                    metrics.in_flight(-1)
                    metrics.request(
                        scope["method"],
                        trace.route or UNMATCHED,
                        trace.status or 500,
                        seconds,
                        trace.received,
                        trace.sent,
                    )
                elif trace.status == 101:
                    metrics.realtime(-1)
            if self.access:
                _log(scope, trace, seconds)
            REQUEST_ID.reset(context)

    async def _metrics(self, scope, receive, send) -> None:
        """Every worker's metrics, for a request that carries the token."""
        assert self.token is not None
        presented = b""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
        if hmac.compare_digest(presented, self.token):
            response = Response(await run_in_threadpool(exposition), media_type=CONTENT_TYPE)
        else:
            response = error_response(
                AppwriteError("general_access_forbidden", "The metrics need Authorization: Bearer <NIB_METRICS_TOKEN>.")
            )
            response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


def _request_id(headers) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            if _SANE_ID.fullmatch(value):
                return value.decode()
            break
    return os.urandom(16).hex()


def _log(scope, trace: Trace, seconds: float) -> None:
    user, key, impersonator = trace.caller()
    fields = {
        "requestId": trace.request_id,
        "method": scope.get("method", "GET"),  # a WebSocket handshake is a GET
        "route": trace.route or UNMATCHED,
        "status": trace.status or 500,
        "bytes": trace.sent,
        "durationMs": round(seconds * 1000, 2),
        "project": trace.project,
        "userId": user,
        "keyId": key,
        "ip": trace.ip or client_ip(scope, {}),  # the pipeline's (X-Forwarded-For), else the peer
    }
    if impersonator:
        fields["impersonatorId"] = impersonator
    logs.access(fields, _text)


def _text(fields: dict[str, Any]) -> str:
    impersonator = fields.get("impersonatorId")
    return (
        f"{fields['method']} {fields['route']} {fields['status']} {fields['bytes']}B {fields['durationMs']:.2f}ms"
        f" project={fields['project'] or '-'} user={fields['userId'] or '-'} key={fields['keyId'] or '-'}"
        + (f" impersonator={impersonator}" if impersonator else "")
        + f" ip={fields['ip'] or '-'} id={fields['requestId']}"
    )
