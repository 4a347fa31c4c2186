"""``GET /v1/realtime``: the WebSocket the Appwrite SDKs subscribe through.

A connection is accepted, then judged as Appwrite does, each refusal an ``error`` frame followed
by closing the socket: the project (1008 "Missing or unknown project ID"; a disabled project's
403 closes with 1008), the connection rate (more than 128 per minute from one IP: 1013), the
page's origin (a web platform of the project, or the server's host; 1008), a JWT that does not
verify (401, closing with 1008) and the URL's channels (1008). Then ``connected`` tells the client
its channels, its user (or null) and its subscriptions' IDs.

Messages (JSON ``{"type", "data"}``): ``authentication`` (the session cookie's value), ``ping``,
``subscribe`` and ``unsubscribe``. A bad message gets an ``error`` frame with 1003 and the socket
stays open; more than 32 messages a minute get 1013 "Too many messages.".
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser

from ..auth import credentials, impersonation, platforms, principals
from ..data.db import Database
from ..data.instance import server_secret
from ..http import ratelimit
from ..http.events import Event
from ..http.incoming import client_ip
from ..http.observe import note_caller
from ..http.origins import BrowserRequest
from ..http.params import query_params
from ..http.wsframes import frame_writer
from ..tools.carriers import Carrier, open_carrier
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from . import identity as identities
from . import subscriptions
from .hub import SLOW_CLIENT_CLOSE, Connection, Hub

log = logging.getLogger("nib")

INVALID_FORMAT = 1003  # a message that is not what the protocol allows
POLICY = 1008  # refused: the SDKs do not reconnect after it
TRY_LATER = 1013
MESSAGES_PER_MINUTE = 32
_UNKNOWN_PROJECT = "Missing or unknown project ID"


class Refusal(Exception):
    def __init__(self, code: int, message: str, close: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close


class Realtime:
    """The realtime side of one process: its connections (``Hub``) and the carrier that brings
    every process's events to them. ``http.pipeline.Api`` serves it and hands it events."""

    def __init__(self, db: Database, settings: Settings, limiter: ratelimit.Limiter, deployment: str = "") -> None:
        self.db = db
        self.settings = settings
        self.carrier: Carrier = open_carrier(settings, deployment)
        self.hub = Hub(db)
        self.limiter = limiter  # the API's: connections count in its table, its store

    async def start(self) -> None:
        await self.hub.start()
        await self.carrier.start(self.hub.receive)

    async def stop(self) -> None:
        await self.carrier.stop()
        await self.hub.stop()

    def listening(self, project_id: str) -> bool:
        """Whether an event of the project may reach anyone: always across processes; in one
        process, only while one of its connections is open (the write skips building it)."""
        return self.carrier.crosses_processes or self.hub.serves(project_id)

    def publish(self, event: Event) -> None:
        self.carrier.publish(event.encode())

    async def __call__(self, scope, receive, send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        session = _Session(self, scope, receive, send)
        try:
            await session.run()
        except Refusal as refusal:
            await session.refuse(refusal)
        except Exception:
            log.exception("realtime connection failed")
            await session.refuse(Refusal(1011, "Server Error", close=1011))
        finally:
            session.end()


class _Session:
    """One connection's life: the checks at connect, then its messages until it closes."""

    def __init__(self, realtime: Realtime, scope, receive, send) -> None:
        self.realtime = realtime
        self.hub = realtime.hub
        self.scope = scope
        self.receive = receive
        self.send = send
        self.conn: Connection | None = None
        self.closed = False
        self.window = (0, 0)  # (minute, messages counted in it)
        self.closing: asyncio.Future[None] | None = None

    async def frame(self, data: dict[str, Any]) -> None:
        await self.send({"type": "websocket.send", "text": orjson.dumps(data).decode()})

    async def refuse(self, refusal: Refusal) -> None:
        if self.closed:
            return
        try:
            await self.frame({"type": "error", "data": {"code": refusal.code, "message": refusal.message}})
            if refusal.close is not None:
                self.closed = True
                await self.send({"type": "websocket.close", "code": refusal.close, "reason": refusal.message[:120]})
        except Exception:
            self.closed = True  # the client is gone already

    def end(self) -> None:
        if self.conn is not None:
            self.hub.remove(self.conn)
            self.conn = None

    async def run(self) -> None:
        scope = self.scope
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        params = query_params(scope.get("query_string", b""))
        project_id = str(headers.get("x-appwrite-project") or params.get("project") or "")
        ip = client_ip(scope, headers)
        note_caller(scope, project_id=project_id, ip=ip)
        db, settings = self.realtime.db, self.realtime.settings
        try:
            if not project_id or project_id == "console":
                raise Refusal(POLICY, _UNKNOWN_PROJECT, close=POLICY)
            # The project (refused when unknown or disabled) and its web platforms, in one hop.
            hosts = await run_in_threadpool(_project_hosts, db, project_id)
        except AppwriteError as error:
            if error.type == "project_not_found":
                raise Refusal(POLICY, _UNKNOWN_PROJECT, close=POLICY) from None
            raise Refusal(error.code, error.message, close=POLICY) from None
        try:
            self.realtime.limiter.check(
                "GET",
                "/v1/realtime",
                project_id=project_id,
                user_id="",
                is_key=False,
                ip=ip,
                host=headers.get("host", ""),
                content_range="",
                params={},
                headers={},
            )
        except AppwriteError:
            raise Refusal(TRY_LATER, "Too many requests", close=TRY_LATER) from None
        browser = BrowserRequest({"origin": headers.get("origin", "")}, settings.hostname)
        browser.allow(hosts)
        try:
            browser.check_host()
        except AppwriteError as error:
            raise Refusal(POLICY, error.message, close=POLICY) from None
        sign_in = await self._sign_in(project_id, headers, params)
        found = await run_in_threadpool(identities.resolve, db, project_id, sign_in)
        note_caller(scope, user_id=found.user_id)
        try:
            initial = subscriptions.from_url(params, scope.get("query_string", b""), found.user_id)
        except subscriptions.Refused as refused:
            raise Refusal(POLICY, str(refused), close=POLICY) from None
        conn = Connection(project_id, found, self.send)
        conn.on_slow = self._too_slow
        for subscription in initial or ():
            conn.subscriptions[subscription.id] = subscription
        await self.frame(
            {
                "type": "connected",
                "data": {
                    "channels": [c for s in initial or () for c in s.channels],
                    "user": found.account,
                    "subscriptions": [s.id for s in initial or ()],
                },
            }
        )
        # The handshake is complete once a frame went out: events may take the direct path now,
        # and the first one comes after `connected`.
        conn.writer = frame_writer(self.send)
        self.conn = conn
        self.hub.add(conn)
        while True:
            message = await self.receive()
            if message["type"] == "websocket.disconnect" or self.closed:
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            try:
                await self._handle(text)
            except Refusal as refusal:
                await self.refuse(refusal)
                if self.closed:
                    return

    async def _sign_in(
        self, project_id: str, headers: dict[str, str], params: dict[str, Any]
    ) -> identities.SignIn | None:
        """What the handshake signs in with: the session of the cookies/headers, else a JWT
        (header, or the ``jwt`` query parameter), and any user to impersonate."""
        cookies = cookie_parser(headers.get("cookie", ""))
        creds = credentials.request_credentials(project_id, cookies, headers)
        token = creds.jwt or (params.get("jwt") if isinstance(params.get("jwt"), str) else "") or ""
        payload = None
        if token:
            secret = await run_in_threadpool(server_secret, self.realtime.db, self.realtime.settings)
            try:
                payload = credentials.verify_jwt(token, secret)
            except AppwriteError as error:
                raise Refusal(error.code, error.message, close=POLICY) from None
        if creds.session is None and payload is None:
            return None
        target = impersonation.requested(headers, params)
        return identities.SignIn(credentials.Credentials(creds.session, token), payload, target)

    def _too_slow(self) -> None:
        """The client stopped reading: close it rather than queue its frames without end."""
        conn = self.conn
        if conn is None or self.closed:
            return
        self.closed = True
        self.hub.remove(conn)
        self.conn = None
        # Called while delivering (not awaitable there): the close is sent by its own task, kept
        # here so that it is not collected before it ran.
        self.closing = asyncio.ensure_future(self.send({"type": "websocket.close", "code": SLOW_CLIENT_CLOSE}))

    def _count(self) -> None:
        minute = int(time.monotonic() // 60)
        start, count = self.window
        count = count + 1 if start == minute else 1
        self.window = (minute, count)
        if count > MESSAGES_PER_MINUTE:
            raise Refusal(TRY_LATER, "Too many messages.")

    async def _handle(self, text: str) -> None:
        self._count()
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or "type" not in message:
            raise Refusal(INVALID_FORMAT, "Message format is not valid.")
        kind, data = message["type"], message.get("data")
        if kind == "ping":
            await self.frame({"type": "pong"})
        elif kind == "authentication":
            await self._authenticate(data)
        elif kind == "subscribe":
            await self._subscribe(data)
        elif kind == "unsubscribe":
            await self._unsubscribe(data)
        else:
            raise Refusal(INVALID_FORMAT, "Message type is not valid.")

    async def _authenticate(self, data: Any) -> None:
        conn = self.conn
        assert conn is not None
        if not isinstance(data, dict) or "session" not in data:
            raise Refusal(INVALID_FORMAT, "Payload is not valid.")
        if conn.identity.impersonated:
            raise Refusal(INVALID_FORMAT, "Cannot re-authenticate on an impersonated connection.")
        ref = credentials.decode_session(data["session"] if isinstance(data["session"], str) else None)
        if ref is None:
            raise Refusal(INVALID_FORMAT, "Session is not valid.")
        sign_in = identities.SignIn(credentials.Credentials(ref, ""))
        found = await run_in_threadpool(identities.resolve, self.realtime.db, conn.project_id, sign_in)
        if found.user_id is None:
            raise Refusal(INVALID_FORMAT, "Session is not valid.")
        note_caller(self.scope, user_id=found.user_id)
        self.hub.set_identity(conn, found)
        await self.frame({"type": "response", "data": {"to": "authentication", "success": True, "user": found.account}})

    async def _subscribe(self, data: Any) -> None:
        conn = self.conn
        assert conn is not None
        try:
            added = subscriptions.from_message(data, conn.identity.user_id)
        except subscriptions.Refused as refused:
            raise Refusal(INVALID_FORMAT, str(refused)) from None
        ids = set(conn.subscriptions) | {s.id for s in added}
        if len(ids) > subscriptions.MAX_SUBSCRIPTIONS:
            raise Refusal(
                INVALID_FORMAT, f"Too many subscriptions: at most {subscriptions.MAX_SUBSCRIPTIONS} per connection."
            )

        def change() -> None:
            for subscription in added:
                conn.subscriptions[subscription.id] = subscription

        self.hub.update(conn, change)
        await self.frame(
            {
                "type": "response",
                "data": {"to": "subscribe", "success": True, "subscriptions": [s.describe() for s in added]},
            }
        )

    async def _unsubscribe(self, data: Any) -> None:
        conn = self.conn
        assert conn is not None
        if not isinstance(data, list):
            raise Refusal(INVALID_FORMAT, "Payload is not valid.")
        named: list[str] = []
        for item in data:
            subscription_id = item.get("subscriptionId") if isinstance(item, dict) else None
            if not isinstance(subscription_id, str) or not subscription_id:
                raise Refusal(INVALID_FORMAT, "items: Each unsubscribe payload must have a non-empty subscriptionId.")
            named.append(subscription_id)
        removed = [(sid, sid in conn.subscriptions) for sid in named]

        def change() -> None:
            for sid in named:
                conn.subscriptions.pop(sid, None)

        self.hub.update(conn, change)
        await self.frame(
            {
                "type": "response",
                "data": {
                    "to": "unsubscribe",
                    "success": True,
                    "subscriptions": [{"subscriptionId": sid, "removed": gone} for sid, gone in removed],
                },
            }
        )


def _project_hosts(db: Database, project_id: str) -> tuple[str, ...]:
    principals.resolve(db, project_id, None)
    return platforms.allowed_hosts(db, project_id)
