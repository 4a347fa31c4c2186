"""The request pipeline every API route goes through, its checks in Appwrite's order.

A route is a plain synchronous function ``handler(ctx, **params)`` declared with
``@router.route(method, path, scope=..., params=[...])``. For each request the pipeline:

1. reads the raw parameters (query string or body) on the event loop;
2. in one worker thread (inline for GETs on SQLite, where a read is cheaper than a thread hop):
   resolves the project, key and session, checks the origin (http/origins.py), the scope and the
   user, counts the route's abuse limits (``http.ratelimit``), validates parameters in declaration
   order (first failure wins), runs the handler and serialises its result;
3. renders any ``AppwriteError`` as ``{message, code, type, version}``.

Handlers return a JSON-able dict (status from the route), ``None`` (204) or a Starlette
``Response`` (downloads). They never build error JSON themselves.

A ``streaming`` route (file uploads, previews) always runs in the worker pool and its body is
not parsed: the handler pulls it chunk by chunk from ``ctx.body`` (``RequestBody``), so no request
ever holds a whole upload in memory; its declared params come from the path and query string.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import anyio.from_thread
import orjson
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..auth import credentials, platforms, principals
from ..auth.roles import request_roles
from ..data import audit
from ..data.db import Database
from ..data.instance import server_secret
from ..data.query import ListSpec, parse_queries
from ..tools import useragent
from ..tools.config import Settings
from ..tools.errors import AppwriteError, StorageUnavailable
from ..tools.validators import Invalid, Validator
from . import cookies, origins, ratelimit
from .params import MAX_BODY_BYTES, form_params, json_params, php_params, query_params, read_body

log = logging.getLogger("nib")

JSON_TYPE = "application/json; charset=UTF-8"
BASE_HEADERS = {"X-Content-Type-Options": "nosniff", "Server": "nib"}

_MISSING = object()


@dataclass(frozen=True)
class Param:
    """One declared parameter: ``validator`` converts or raises ``Invalid``."""

    name: str
    validator: Validator | None = None
    required: bool = True
    default: Any = None


class RequestBody:
    """The body of a streaming route, iterated from the handler's worker thread.

    Each step fetches the next ASGI message on the event loop (the server stops reading the
    socket while its buffer is full, so memory stays bounded by a few socket reads). More than
    ``MAX_BODY_BYTES`` (Appwrite's 12 MiB request limit) is refused with 413, up front when
    ``Content-Length`` says so; a client that disconnects ends the upload with an error.
    """

    def __init__(self, receive, content_length: str | None) -> None:
        self._receive = receive
        self._done = False
        if content_length and content_length.isdigit() and int(content_length) > MAX_BODY_BYTES:
            raise _too_large()

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        while not self._done:
            message = anyio.from_thread.run(self._receive)
            if message["type"] == "http.disconnect":
                self._done = True
                raise AppwriteError("general_argument_invalid", "The request body ended early.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                self._done = True
                raise _too_large()
            self._done = not message.get("more_body", False)
            if chunk:
                yield chunk


def _too_large() -> AppwriteError:
    return AppwriteError("general_argument_invalid", "Request body is larger than 12 MiB.", status=413)


def optional(name: str, validator: Validator | None = None, default: Any = None) -> Param:
    return Param(name, validator, required=False, default=default)


def queries_param(spec: ListSpec) -> Param:
    """The ``queries`` parameter of a list route over ``spec`` (Appwrite's JSON queries)."""
    return optional("queries", lambda raw: parse_queries(raw, spec), default=parse_queries([], spec))


@dataclass
class Context:
    """What a handler may know about its request: no HTTP objects, only facts.

    A handler that signs a browser in or out calls ``sign_in``/``sign_out``; the pipeline adds
    the cookies and headers to the response. A handler that acts for a user who is not yet the
    principal (sign-up, sign-in) names them in ``actor`` for the audit log.
    """

    db: Database
    settings: Settings
    principal: principals.Principal
    ip: str
    user_agent: str
    host: str = ""
    secure: bool = False
    timestamp: str = ""  # X-Appwrite-Timestamp, read by the routes that honour it
    actor: dict | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # the request's (lower-case names)
    body: RequestBody | None = None  # streaming routes only
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    # Running inline on the event loop (GETs on SQLite): a handler leaves blocking work to the
    # response, which runs it in the worker pool.
    on_event_loop: bool = False

    @property
    def project_id(self) -> str:
        return self.principal.project_id

    def roles(self) -> list[str] | None:
        """The caller's roles (one read of its confirmed memberships); ``None`` for an API key,
        which bypasses permission checks."""
        return None if self.principal.is_key else request_roles(self.db, self.principal)

    def sign_in(self, encoded: str, expire: datetime) -> None:
        """Session cookies and ``X-Fallback-Cookies`` for a new session."""
        for value in cookies.session_cookies(self.project_id, encoded, expire, self.host, self.secure):
            self.response_headers.append(("set-cookie", value))
        self.response_headers.append(("x-fallback-cookies", cookies.fallback_header(self.project_id, encoded)))

    def unchanged_since(self) -> datetime | None:
        """The ``X-Appwrite-Timestamp`` of an update that must not overwrite a newer change
        (409 ``document_update_conflict`` then); ``None`` without the header."""
        if not self.timestamp:
            return None
        try:
            moment = datetime.fromisoformat(self.timestamp)
        except ValueError:
            raise AppwriteError("general_argument_invalid", "Invalid X-Appwrite-Timestamp header value") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)

    def sign_out(self) -> None:
        """Clear the session cookies (``deleted``) and send ``X-Fallback-Cookies: []``."""
        for value in cookies.cleared_cookies(self.project_id, self.host, self.secure):
            self.response_headers.append(("set-cookie", value))
        self.response_headers.append(("x-fallback-cookies", cookies.fallback_header(self.project_id, None)))


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: str | None
    params: Sequence[Param]
    status: int
    pattern: re.Pattern = field(compare=False)
    literal_segments: int = 0
    public: bool = False  # no project needed (health)
    # (event, resource template): resource is formatted with the params, {id} = result $id and
    # {actor} = the acting user's ID.
    audit: tuple[str, str] | None = None
    session_group: bool = False  # creates a session: refused when already signed in
    mfa_exempt: bool = False  # reachable before the second factor
    streaming: bool = False  # body left unread for the handler (ctx.body); always in the pool
    # Opens stored files (downloads): inline like other GETs only where the device is local disk
    # (an open() costs what a SQLite read does), in the pool where it is remote (S3).
    reads_device: bool = False


class Router:
    """Collects routes; each domain package has one and the app merges them."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        scope: str | None,
        params: Sequence[Param] = (),
        status: int = 200,
        public: bool = False,
        audit: tuple[str, str] | None = None,
        session_group: bool = False,
        mfa_exempt: bool = False,
        streaming: bool = False,
        reads_device: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
            literal = sum(1 for part in path.split("/") if part and not part.startswith("{"))
            self.routes.append(
                Route(
                    method, path, handler, scope, tuple(params), status, pattern, literal, public, audit,
                    session_group, mfa_exempt, streaming, reads_device,
                )
            )
            return handler

        return register

    def get(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE, headers={**BASE_HEADERS, **(headers or {})})


def error_response(error: AppwriteError) -> Response:
    return json_response(
        error.body(),
        error.status,
        {"Cache-Control": "no-cache, no-store, must-revalidate", "Expires": "0", "Pragma": "no-cache"},
    )


def empty_response(status: int = 204) -> Response:
    # The Python SDK reads Content-Type unconditionally, so even 204s carry one (as Appwrite).
    return Response(b"", status_code=status, media_type="text/html; charset=UTF-8", headers=BASE_HEADERS)


def validate(params: Sequence[Param], raw: dict[str, Any], allowed_hosts: Sequence[str] = ()) -> dict[str, Any]:
    """Declaration-order validation; an explicit JSON null means "not provided".

    ``allowed_hosts`` (the request's, see http/origins.py) go to validators that need them.
    """
    values: dict[str, Any] = {}
    for param in params:
        value = raw.get(param.name, _MISSING)
        if value is _MISSING or value is None:
            if param.required:
                raise AppwriteError("general_argument_invalid", f'Param "{param.name}" is not optional.')
            values[param.name] = param.default
            continue
        if param.validator is not None:
            try:
                if getattr(param.validator, "needs_allowed_hosts", False):
                    value = param.validator(value, allowed_hosts)
                else:
                    value = param.validator(value)
            except Invalid as invalid:
                raise AppwriteError("general_argument_invalid", f"Invalid `{param.name}` param: {invalid}") from None
        values[param.name] = value
    return values


class Api:
    """The ASGI application for ``/v1``: route matching and the pipeline."""

    def __init__(self, db: Database, settings: Settings, routers: Sequence[Router]) -> None:
        self.db = db
        self.settings = settings
        self.inline_reads = db.dialect == "sqlite"
        self.inline_device_reads = self.inline_reads and settings.storage_device == "local"
        self.limiter = ratelimit.Limiter.from_settings(settings)
        routes = [r for router in routers for r in router.routes]
        # Literal paths win over parametrised ones (/users/identities before /users/{userId}).
        self.routes = sorted(routes, key=lambda r: -r.literal_segments)
        # Candidates per (method, number of "/"): a request is matched against a handful of
        # patterns, not every route of every service.
        self._candidates: dict[tuple[str, int], list[Route]] = {}
        for route in self.routes:
            self._candidates.setdefault((route.method, route.path.count("/")), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._candidates.get((method, path.count("/")), ()):
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None, {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await _refuse_websocket(scope, receive, send)
            return
        request = Request(scope, receive)
        if scope["method"] == "OPTIONS":
            # Preflight: no auth, the origin echoed as is (Appwrite 1.5).
            response = empty_response(204)
            response.headers.update(origins.preflight_headers(request.headers.get("origin")))
            await response(scope, receive, send)
            return
        # One plain dict of the request's headers (names arrive lower-cased): every later lookup
        # is a dict hit instead of a scan of the raw header list.
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        browser = origins.BrowserRequest(headers, self.settings.hostname)
        try:
            response = await self.handle(request, headers, browser)
        except AppwriteError as error:
            response = error_response(error)
        except Exception:  # never leak a traceback: log it and answer Appwrite's 500
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            response = error_response(AppwriteError("general_unknown"))
        browser.add_cors_headers(response)
        await response(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The device detector's data takes seconds to load: do it beside serving.
                threading.Thread(target=useragent.warm_up, name="ua-warm-up", daemon=True).start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.db.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, request: Request, headers: dict[str, str], browser: origins.BrowserRequest) -> Response:
        method = request.method
        path = request.scope["path"]
        if method == "HEAD":
            method = "GET"
        # Match on the raw path so an encoded "/" stays inside its parameter (and fails its
        # validator) instead of reaching another route; parameters are decoded afterwards.
        raw_path = request.scope.get("raw_path")
        route, path_params = self.match(method, raw_path.decode("latin-1") if raw_path else path)
        path_params = {name: unquote(value) for name, value in path_params.items()}
        streaming = route is not None and route.streaming
        if streaming:
            raw = query_params(request.scope.get("query_string", b""))
        else:
            raw = await self._raw_params(request, method, headers)
        project_id = headers.get("x-appwrite-project") or raw.get("project") or ""
        key = headers.get("x-appwrite-key")
        ip = _client_ip(request, headers)
        user_agent = headers.get("user-agent", "")
        project_id = str(project_id)
        creds = credentials.request_credentials(project_id, request.cookies if "cookie" in headers else {}, headers)
        forwarded_proto = headers.get("x-forwarded-proto", "")
        secure = (forwarded_proto.split(",")[0].strip() or request.scope["scheme"]) == "https"
        where = (headers.get("host", ""), secure, headers.get("x-appwrite-timestamp", ""))
        receive = request.receive if streaming and method != "GET" else None
        args = (route, path_params, raw, project_id, key, ip, user_agent, headers, path, browser, creds, where, receive)
        limited = route is not None and self.limiter.limited(route.method, route.path)
        inline = self.inline_device_reads if route is not None and route.reads_device else self.inline_reads
        if method == "GET" and inline and not streaming and not limited:
            # SQLite reads take microseconds and never wait on a lock (WAL): a thread hop would
            # cost more than the query. Everything else (rate-limited GETs may wait on Redis) runs in the pool.
            return self._run(*args, on_event_loop=True)
        return await run_in_threadpool(self._run, *args)

    async def _raw_params(self, request: Request, method: str, headers: dict[str, str]) -> dict[str, Any]:
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

    def _run(self, *args, on_event_loop: bool = False) -> Response:
        """Everything after parsing, in one worker thread (or inline, ``on_event_loop``)."""
        limit_headers: dict[str, str] = {}  # X-RateLimit-*: on every response once counted
        response = self._respond(limit_headers, *args, on_event_loop=on_event_loop)
        response.headers.update(limit_headers)
        return response

    def _respond(
        self, limit_headers, route, path_params, raw, project_id, key, ip, user_agent, headers, path, browser, creds, where,
        receive, *, on_event_loop: bool,
    ) -> Response:
        try:
            if route is None and project_id in ("", "console"):
                raise AppwriteError("general_route_not_found")
            if route is not None and route.public:
                principal = principals.Principal(project_id=project_id, role="guests", scopes=principals.GUEST_SCOPES)
            else:
                # An invalid JWT fails before the project is looked at (Appwrite's order).
                payload = credentials.verify_jwt(creds.jwt, server_secret(self.db, self.settings)) if creds.jwt else None
                browser.allow(platforms.allowed_hosts(self.db, project_id))
                principal = principals.resolve(self.db, project_id, key)
                if creds.session is not None or payload is not None:
                    principal = credentials.authenticate(self.db, principal, creds, payload)
            if route is None:
                raise AppwriteError("general_route_not_found")
            browser.check(route.method, principal.is_key)
            if route.scope:
                principal.require(route.scope, self.settings.hostname)
            if principal.user is not None:
                self._check_user(route, principal)
            self.limiter.check(
                route.method,
                route.path,
                project_id=principal.project_id,
                user_id=(principal.user or {}).get("id", ""),
                is_key=principal.is_key,
                ip=ip,
                host=headers.get("host", ""),
                content_range=headers.get("content-range", ""),
                params=raw,
                headers=limit_headers,
            )
            if principal.is_key:
                user_agent = headers.get("x-forwarded-user-agent") or user_agent
            values = validate(route.params, {**raw, **path_params}, browser.allowed_hosts)
            ctx = Context(
                self.db, self.settings, principal, ip, user_agent, *where, headers=headers, on_event_loop=on_event_loop
            )
            if receive is not None:
                ctx.body = RequestBody(receive, headers.get("content-length"))
            result = route.handler(ctx, **values)
        except AppwriteError as error:
            return error_response(error)
        except IntegrityError:
            # A uniqueness race no service anticipated: Appwrite's DB Duplicate mapping.
            return error_response(AppwriteError("document_already_exists"))
        except (OperationalError, InterfaceError, SATimeoutError):
            log.exception("database unavailable on %s", path)
            return error_response(AppwriteError("general_server_error", "Database is not available", status=503))
        except StorageUnavailable as error:
            log.error("storage unavailable on %s: %r", path, error.__cause__)
            return error_response(AppwriteError("general_server_error", str(error), status=503))
        if route.audit:
            self._audit(route.audit, ctx, values, result)
        if result is None:
            response = empty_response(204)
        elif isinstance(result, Response):
            response = result
        else:
            response = json_response(result, route.status)
        for name, value in ctx.response_headers:
            response.headers.append(name, value)
        if principal.user is not None and credentials.access_due(principal):
            # After the response is sent and in the worker pool: a GET served inline on the
            # event loop must not wait for SQLite's write lock.
            response.background = BackgroundTask(self._record_access, principal)
        return response

    @staticmethod
    def _check_user(route: Route, principal: principals.Principal) -> None:
        """Signed-in users: blocked, MFA factor and session-group checks, in Appwrite's order."""
        if not principal.user["status"]:
            raise AppwriteError("user_blocked")
        if not route.mfa_exempt and credentials.requires_more_factors(principal):
            raise AppwriteError("user_more_factors_required")
        if route.session_group:
            raise AppwriteError("user_session_already_exists")

    def _record_access(self, principal: principals.Principal) -> None:
        try:
            credentials.record_access(self.db, principal)
        except Exception:
            # The request succeeded; a missed accessedAt refresh is retried on the next one.
            log.exception("accessedAt of %s not recorded", principal.user["id"])

    def _audit(self, declared: tuple[str, str], ctx: Context, values: dict, result: Any) -> None:
        principal = ctx.principal
        if ctx.actor is not None or principal.user:
            user = ctx.actor or principal.user
            actor = audit.Actor("user", user["id"], user.get("email") or "", user.get("name") or "")
        elif principal.is_key:
            actor = audit.Actor("key", key_id=principal.key_id or "")
        else:
            return  # guests leave no trace, as in Appwrite
        event, template = declared
        created = result.get("$id", "") if isinstance(result, dict) else ""
        try:
            audit.record(
                self.db,
                project_id=ctx.project_id,
                event=event,
                resource=template.format(**values, id=created, actor=actor.user_id),
                actor=actor,
                ip=ctx.ip,
                user_agent=ctx.user_agent,
            )
        except Exception:
            # The change is committed: answer for it, and report the lost entry in the log.
            log.exception("audit entry %s for %s not recorded", event, ctx.project_id)


def _client_ip(request: Request, headers: dict[str, str]) -> str:
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else ""


async def _refuse_websocket(scope, receive, send) -> None:
    """No route speaks WebSocket yet: the handshake is answered with the 404 JSON error of an
    unknown route where the server can send an HTTP response instead of accepting (the ASGI
    ``websocket.http.response`` extension), else closed before acceptance (an HTTP 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client went away first
    if "websocket.http.response" in scope.get("extensions", {}):
        await error_response(AppwriteError("general_route_not_found"))(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": 1000})
