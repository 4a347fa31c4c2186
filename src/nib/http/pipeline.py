"""The request pipeline every API route goes through (``Api``), its checks in Appwrite's order.

For each request the pipeline:

1. on the event loop, matches the route (declared with ``http.routing``) on the raw path and
   reads the raw parameters (query string or body, ``http.params``) and what the request says of
   its caller (``http.incoming``);
2. in one worker thread (inline for GETs on SQLite, where a read is cheaper than a thread hop; on
   PostgreSQL, those GETs in a few threads of their own):
   verifies a JWT, resolves the project and key, then the session and the user it may
   impersonate (``auth.impersonation``); checks the origin (``http.origins``), the scope and the
   signed-in user (blocked, MFA factors, account read-only while impersonating); counts the
   route's abuse limits (``http.ratelimit``); refuses a route of an auth method the project
   switched off and a sign-in by a signed-in caller (session group); validates parameters in declaration
   order (first failure wins); runs the handler with its ``Context``, records the route's audit
   entry and serialises the result;
3. renders any ``AppwriteError`` as ``{message, code, type, version}`` (``http.responses``), a
   database or storage outage as 503 and anything unexpected as Appwrite's 500.

A ``blocking`` route (one that calls OAuth2 providers) always runs in the worker pool. So does a
``streaming`` route (file uploads, previews), whose body is
not parsed: the handler pulls it chunk by chunk from ``ctx.body`` (``RequestBody``), so no request
ever holds a whole upload in memory; its declared params come from the path and query string.
Preflight ``OPTIONS`` requests are answered before any of this. A route that declares an event
(``http.events``) hands it to realtime after success; WebSocket connections to ``/v1/realtime``
go to realtime, any other handshake is refused. Paths under ``/console`` go to the web console.
With the access log or metrics on, an ``http.observe.Observer`` sees every request first; the
pipeline tells its ``Trace`` the route's template and the caller.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import anyio.to_thread
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.background import BackgroundTask, BackgroundTasks
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from ..auth import admins, credentials, impersonation, platforms, principals, projects
from ..data import audit
from ..data.db import Database
from ..data.instance import server_secret
from ..tools import metrics
from ..tools.config import Settings
from ..tools.errors import AppwriteError, StorageUnavailable
from . import events, origins, ratelimit
from .context import Context, RequestBody
from .incoming import Incoming, read_incoming
from .observe import TRACE, Observer, Trace
from .params import check_path_params, query_params, request_params
from .responses import empty_response, error_response, json_response
from .routing import Route, Router, validate

log = logging.getLogger("nib")

REALTIME_PATH = "/v1/realtime"
# Per process. 3 to 8 threads served GETs within noise of each other; 8 leaves room for reads
# stuck in a connect to a database that is down without refusing (3 s each), so a handful of
# them does not hold up the others' 503s.
READ_THREADS = 8
CONSOLE_PATH = "/console"  # the web console's pages (a separate app, given to Api by app.py)


class Realtime(Protocol):
    """The WebSocket side of the API (the realtime domain): it serves ``/v1/realtime`` and is
    told of every announced event; started and stopped with the app."""

    async def __call__(self, scope, receive, send) -> None: ...

    def listening(self, project_id: str) -> bool: ...

    def publish(self, event: events.Event) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Api:
    """The ASGI application for ``/v1``: route matching and the pipeline."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        routers: Sequence[Router],
        *,
        limiter: ratelimit.Limiter | None = None,
        realtime: Realtime | None = None,
        console: ASGIApp | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.db = db
        self.observer = observer
        self.console = console
        self.settings = settings
        self.realtime = realtime
        self.inline_reads = db.dialect == "sqlite"
        # On PostgreSQL, the reads SQLite would serve inline share a few threads of their own. A
        # read waits on the database's socket with the GIL let go, so a few threads keep the
        # server and the database busy; dozens only take turns at the GIL (the default pool of 40
        # served a fifth fewer GETs a second, at five times the p99: bench/RESULTS.md's notes).
        # Everything that may wait on something slower (uploads, providers, mail, Redis) keeps
        # the default pool, so it cannot hold these threads.
        self.read_threads = anyio.CapacityLimiter(READ_THREADS)
        self.limiter = limiter or ratelimit.Limiter.from_settings(settings)
        routes = [r for router in routers for r in router.routes]
        local_device = settings.storage_device == "local"
        # The reads SQLite serves inline (PostgreSQL in ``read_threads``), by (method, path): GETs
        # that stream nothing, call no provider, read no remote device and count no limit in Redis.
        self.quick_reads = frozenset(
            (r.method, r.path)
            for r in routes
            if r.method == "GET"
            and not r.streaming
            and not r.blocking
            and (local_device or not r.reads_device)
            and not self.limiter.limited(r.method, r.path)
        )
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
        if self.observer is not None and scope["type"] != "lifespan":
            await self.observer(scope, receive, send, self.serve)
        else:
            await self.serve(scope, receive, send)

    async def serve(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            if self.realtime is not None and scope["path"] == REALTIME_PATH:
                if TRACE in scope:
                    scope[TRACE].route = REALTIME_PATH
                await self.realtime(scope, receive, send)
            else:
                await _refuse_websocket(scope, receive, send)
            return
        # The console's pages, except the few Appwrite itself serves under /console (the OAuth2
        # relay pages), which are API routes.
        path = scope["path"]
        if self.console is not None and path.startswith(CONSOLE_PATH) and self.match(scope["method"], path)[0] is None:
            if TRACE in scope:
                scope[TRACE].route = CONSOLE_PATH
            await self.console(scope, receive, send)
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
                threading.Thread(target=_settle_gc, name="gc-settle", daemon=True).start()
                if self.realtime is not None:
                    await self.realtime.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.realtime is not None:
                    await self.realtime.stop()
                self.db.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, request: Request, headers: dict[str, str], browser: origins.BrowserRequest) -> Response:
        scope = request.scope
        method = request.method
        if method == "HEAD":
            method = "GET"
        # Match on the raw path so an encoded "/" stays inside its parameter (and fails its
        # validator) instead of reaching another route; read_incoming decodes the parameters.
        raw_path = scope.get("raw_path")
        route, path_params = self.match(method, raw_path.decode("latin-1") if raw_path else scope["path"])
        streaming = route is not None and route.streaming
        if streaming:
            raw = query_params(scope.get("query_string", b""))
        else:
            raw = await request_params(request, method, headers)
        incoming = read_incoming(request, method, headers, browser, route, path_params, raw)
        trace = scope.get(TRACE)
        if trace is not None:
            trace.route, trace.project, trace.ip = (
                route.path if route is not None else "",
                incoming.project_id,
                incoming.ip,
            )
        if route is None or (route.method, route.path) not in self.quick_reads:
            return await run_in_threadpool(self._run, incoming, trace)
        if self.inline_reads:
            # SQLite reads take microseconds and never wait on a lock (WAL): a thread hop would
            # cost more than the query.
            return self._run(incoming, trace, on_event_loop=True)
        return await anyio.to_thread.run_sync(self._run, incoming, trace, limiter=self.read_threads)

    def _run(self, incoming: Incoming, trace: Trace | None, on_event_loop: bool = False) -> Response:
        """Everything after parsing, in one worker thread (or inline, ``on_event_loop``)."""
        limit_headers: dict[str, str] = {}  # X-RateLimit-*: on every response once counted
        response = self._respond(incoming, trace, limit_headers, on_event_loop=on_event_loop)
        response.headers.update(limit_headers)
        return response

    def _respond(
        self, incoming: Incoming, trace: Trace | None, limit_headers: dict[str, str], *, on_event_loop: bool
    ) -> Response:
        route, project_id, headers, browser = incoming.route, incoming.project_id, incoming.headers, incoming.browser
        try:
            if route is None and project_id in ("", "console"):
                raise AppwriteError("general_route_not_found")
            if route is not None and route.public:
                principal = principals.Principal(project_id=project_id, role="guests", scopes=principals.GUEST_SCOPES)
            else:
                # An invalid JWT fails before the project is looked at (Appwrite's order).
                creds = incoming.credentials
                payload = (
                    credentials.verify_jwt(creds.jwt, server_secret(self.db, self.settings)) if creds.jwt else None
                )
                browser.allow(platforms.allowed_hosts(self.db, project_id))
                principal = principals.resolve(self.db, project_id, incoming.key)
                if incoming.console_session is not None and self.console is not None:
                    principal = self._administrator(incoming, principal)
                elif creds.session is not None or payload is not None:
                    principal = credentials.authenticate(self.db, principal, creds, payload)
                    if incoming.impersonate is not None:
                        principal = impersonation.impersonate(self.db, principal, incoming.impersonate)
            if trace is not None:
                trace.principal = principal
            if route is None:
                raise AppwriteError("general_route_not_found")
            if not route.any_origin:
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
                ip=incoming.ip,
                host=incoming.host,
                content_range=headers.get("content-range", ""),
                params=incoming.raw,
                headers=limit_headers,
            )
            # Appwrite's group checks, after the rate limit: the route's auth method (API keys
            # are never refused one), then sign-in routes refuse a signed-in caller.
            if route.auth_method is not None and not principal.is_key:
                projects.require_auth_method(self.db, principal.project_id, route.auth_method)
            if route.session_group and principal.user is not None:
                raise AppwriteError("user_session_already_exists")
            user_agent = incoming.user_agent
            if principal.is_key:
                user_agent = headers.get("x-forwarded-user-agent") or user_agent
            check_path_params(incoming.path_params)
            values = validate(
                route.params,
                {**incoming.raw, **incoming.path_params},
                browser.allowed_hosts,
                lambda: projects.auth_policies(self.db, principal.project_id).password_dictionary,
            )
            ctx = Context(
                self.db,
                self.settings,
                principal,
                incoming.ip,
                user_agent,
                incoming.host,
                incoming.secure,
                incoming.timestamp,
                headers=headers,
                allowed_hosts=browser.allowed_hosts,
                on_event_loop=on_event_loop,
            )
            if incoming.receive is None:
                result = route.handler(ctx, **values)
            else:
                ctx.body = RequestBody(incoming.receive, headers.get("content-length"))
                with metrics.METRICS.uploading():
                    result = route.handler(ctx, **values)
        except AppwriteError as error:
            return error_response(error)
        except IntegrityError:
            # A uniqueness race no service anticipated: Appwrite's DB Duplicate mapping.
            return error_response(AppwriteError("document_already_exists"))
        except (OperationalError, InterfaceError, SATimeoutError):
            log.exception("database unavailable on %s", incoming.path)
            return error_response(AppwriteError("general_server_error", "Database is not available", status=503))
        except StorageUnavailable as error:
            log.error("storage unavailable on %s: %r", incoming.path, error.__cause__)
            return error_response(AppwriteError("general_server_error", str(error), status=503))
        if route.audit and not ctx.declined:
            self._audit(route.audit, ctx, values, result)
        if route.event and self.realtime is not None and not ctx.declined and self.realtime.listening(ctx.project_id):
            self._announce(ctx.event or route.event, ctx, values, result)
        if result is None:
            response = empty_response(204)
        elif isinstance(result, Response):
            response = result
        else:
            response = json_response(result, route.status)
        for name, value in ctx.response_headers:
            response.headers.append(name, value)
        # The real caller's access: an impersonated target's accessedAt stays as it was.
        accessing = principal.impersonator or principal.user
        if accessing is not None and credentials.access_due(accessing):
            # After the response is sent and in the worker pool: a GET served inline on the
            # event loop must not wait for SQLite's write lock.
            task = BackgroundTask(self._record_access, principal.project_id, accessing["id"])
            # A handler's own task (a file token's accessedAt) runs too.
            response.background = task if response.background is None else BackgroundTasks([response.background, task])
        return response

    def _administrator(self, incoming: Incoming, base: principals.Principal) -> principals.Principal:
        """The console's own scripts acting as its signed-in administrator: only from the
        console's origin (a page elsewhere, even one the project allows, gets nothing)."""
        origin = incoming.browser.origin
        if origin is not None and origin.split("://", 1)[-1] != incoming.host:
            raise AppwriteError("general_unknown_origin", "Admin mode is only available to the console's own pages.")
        method = incoming.route.method if incoming.route is not None else "GET"
        assert incoming.console_session is not None
        return admins.admin_principal(
            self.db, base, incoming.console_session, incoming.headers.get("x-nib-csrf"), method
        )

    @staticmethod
    def _check_user(route: Route, principal: principals.Principal) -> None:
        """Signed-in users: blocked and MFA factor checks, in Appwrite's order."""
        assert principal.user is not None, "only called for a signed-in user"
        if not principal.user["status"]:
            raise AppwriteError("user_blocked")
        if not route.mfa_exempt and credentials.requires_more_factors(principal):
            raise AppwriteError("user_more_factors_required")
        # An impersonator sees the target's account but changes nothing of it.
        if principal.impersonator is not None and route.method != "GET" and route.path.startswith("/v1/account"):
            raise AppwriteError("user_impersonation_read_only")

    def _record_access(self, project_id: str, user_id: str) -> None:
        try:
            credentials.record_access(self.db, project_id, user_id)
        except Exception:
            # The request succeeded; a missed accessedAt refresh is retried on the next one.
            log.exception("accessedAt of %s not recorded", user_id)

    def _announce(self, pattern: str, ctx: Context, values: dict, result: Any) -> None:
        """Hand the route's event to realtime (after the handler: its writes are committed)."""
        assert self.realtime is not None
        payload = ctx.event_payload if ctx.event_payload is not None else result
        if not isinstance(payload, dict):
            payload = {}
        try:
            params = events.fill(pattern, payload, values, ctx.event_params)
            actor = ctx.principal.user["id"] if ctx.principal.user else ""
            event = events.build(ctx.project_id, pattern, params, payload, file_roles=ctx.event_roles, actor=actor)
            if event is not None:
                self.realtime.publish(event)
        except Exception:
            # The change is committed and answered; subscribers miss this one event.
            log.exception("event %s of %s not announced", pattern, ctx.project_id)

    def _audit(self, declared: tuple[str, str], ctx: Context, values: dict, result: Any) -> None:
        principal = ctx.principal
        # While impersonating, the impersonator acted (as Appwrite, the target is kept beside).
        impersonated = principal.user["id"] if principal.impersonator and principal.user and not ctx.actor else ""
        user = ctx.actor or principal.impersonator or principal.user
        if user:
            actor = audit.Actor("user", user["id"], user.get("email") or "", user.get("name") or "")
        elif principal.admin is not None:
            actor = audit.Actor("admin", principal.admin["id"], principal.admin["email"], principal.admin["name"])
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
                impersonated=impersonated,
                ip=ctx.ip,
                user_agent=ctx.user_agent,
            )
        except Exception:
            # The change is committed: answer for it, and report the lost entry in the log.
            log.exception("audit entry %s for %s not recorded", event, ctx.project_id)


def _settle_gc() -> None:
    """Keep the garbage collector off what start-up loaded: the collector's full passes walk every
    tracked object, and most of a started process's memory is module data that lives as long as
    it does. Frozen, it is never walked (the User-Agent detector freezes its own tables when a
    first parse loads them: tools/useragent.py); and with fewer, larger young generations, the
    many short-lived objects of a realtime fan-out or a busy request stream are collected in
    fewer passes (bench/RESULTS.md: full collections of up to 232 ms under 1,000 subscribers
    before this).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


async def _refuse_websocket(scope, receive, send) -> None:
    """A handshake anywhere but realtime's path is answered with the 404 JSON error of an
    unknown route where the server can send an HTTP response instead of accepting (the ASGI
    ``websocket.http.response`` extension), else closed before acceptance (an HTTP 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client went away first
    if "websocket.http.response" in scope.get("extensions", {}):
        await error_response(AppwriteError("general_route_not_found"))(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": 1000})
