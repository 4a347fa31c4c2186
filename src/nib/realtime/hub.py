"""The connections of one process and the delivery of events to them.

Every event announced anywhere in the deployment arrives here once (``receive``, from the
carrier) and is handled in arrival order by one task: first the identities the event may have
changed are resolved again (the user it names, or every connection holding the role of a
deleted team), then it goes to each connection that listens to one of its channels **and** holds
one of its roles (any connection when its roles include ``any``) before or after that change,
with the IDs of the connection's subscriptions whose channels and queries match; then the new
identities take effect for the events that follow.

A connection's frames are written straight to its socket where the server allows it
(``http/wsframes.py``), else they wait in a bounded queue sent by a task that exists only while
there is something to send; a client that stops reading fills its socket's buffer (or the
queue) and is disconnected, so it cannot make the server hold an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from ..data.db import Database
from ..http.events import Event
from ..http.wsframes import FrameWriter
from ..tools import dates
from . import identity as identities
from . import queries
from .subscriptions import Subscription

log = logging.getLogger("nib")

# What may wait for one connection before it counts as not reading: frames queued for the ASGI
# send, or bytes in the socket's buffer when frames are written directly.
MAX_PENDING = 256
MAX_BACKLOG = 1 << 20
SLOW_CLIENT_CLOSE = 1013  # "try again later": the client may reconnect and resubscribe

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Connection:
    """One WebSocket: who it is, what it listens to, and its outgoing frames."""

    __slots__ = (
        "project_id",
        "identity",
        "subscriptions",
        "_send",
        "_pending",
        "_sender",
        "closed",
        "on_slow",
        "writer",
    )

    def __init__(self, project_id: str, identity: identities.Identity, send: Send) -> None:
        self.project_id = project_id
        self.identity = identity
        self.subscriptions: dict[str, Subscription] = {}
        self._send = send
        self._pending: deque[str] = deque()
        self._sender: asyncio.Task[None] | None = None
        self.closed = False
        self.on_slow: Callable[[], None] | None = None
        # Frames straight to the socket where the server allows it (http/wsframes.py).
        self.writer: FrameWriter | None = None

    @property
    def channels(self) -> set[str]:
        return {channel for subscription in self.subscriptions.values() for channel in subscription.channels}

    def push(self, frame: str) -> None:
        """Send or queue one text frame; a connection with too much waiting is closed instead."""
        if self.closed:
            return
        writer = self.writer
        if writer is not None:
            if writer.backlog > MAX_BACKLOG:
                if self.on_slow is not None:
                    self.on_slow()
            elif not writer.write(frame):
                self.closed = True  # closing: the receive side ends the connection
            return
        if len(self._pending) >= MAX_PENDING:
            self._pending.clear()
            if self.on_slow is not None:
                self.on_slow()
            return
        self._pending.append(frame)
        if self._sender is None:
            self._sender = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending and not self.closed:
                await self._send({"type": "websocket.send", "text": self._pending.popleft()})
        except Exception:  # the client went away: the receive side ends the connection
            self._pending.clear()
        finally:
            self._sender = None

    def stop(self) -> None:
        self.closed = True
        self._pending.clear()
        if self._sender is not None:
            self._sender.cancel()


class Hub:
    """This process's connections, indexed by (project, channel) and (project, user)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_channel: dict[tuple[str, str], set[Connection]] = {}
        self._by_user: dict[tuple[str, str], set[Connection]] = {}
        self._by_project: dict[str, set[Connection]] = {}
        self._inbox: asyncio.Queue[bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._inbox = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def serves(self, project_id: str) -> bool:
        """Whether a connection of the project is open here (read from worker threads: one
        dict lookup)."""
        return project_id in self._by_project

    # -- membership ------------------------------------------------------------------------------

    def add(self, conn: Connection) -> None:
        self._by_project.setdefault(conn.project_id, set()).add(conn)
        self._index(conn)

    def remove(self, conn: Connection) -> None:
        self._unindex(conn)
        _discard(self._by_project, conn.project_id, conn)
        conn.stop()

    def update(self, conn: Connection, change: Callable[[], None]) -> None:
        """Apply ``change`` to a connection's identity or subscriptions, keeping the indexes."""
        self._unindex(conn)
        try:
            change()
        finally:
            self._index(conn)

    def _index(self, conn: Connection) -> None:
        for channel in conn.channels:
            self._by_channel.setdefault((conn.project_id, channel), set()).add(conn)
        if conn.identity.user_id:
            self._by_user.setdefault((conn.project_id, conn.identity.user_id), set()).add(conn)

    def _unindex(self, conn: Connection) -> None:
        for channel in conn.channels:
            _discard(self._by_channel, (conn.project_id, channel), conn)
        if conn.identity.user_id:
            _discard(self._by_user, (conn.project_id, conn.identity.user_id), conn)

    def set_identity(self, conn: Connection, identity: identities.Identity) -> None:
        """A connection's new identity, its subscriptions converted for it (``account`` ->
        the new user's channel)."""

        def change() -> None:
            conn.identity = identity
            conn.subscriptions = {
                sid: subscription.for_user(identity.user_id) for sid, subscription in conn.subscriptions.items()
            }

        self.update(conn, change)

    # -- events ----------------------------------------------------------------------------------

    def receive(self, message: bytes) -> None:
        """From the carrier, on the event loop: handled in order by ``_run``."""
        if self._inbox is not None:
            self._inbox.put_nowait(message)

    async def _run(self) -> None:
        assert self._inbox is not None
        while True:
            message = await self._inbox.get()
            try:
                event = Event.decode(message)
                if event.project_id not in self._by_project:
                    continue
                changed = await self._recheck(event)
                self.deliver(event, changed)
                for conn, found in changed.items():
                    if not conn.closed:
                        self.set_identity(conn, found)
            except Exception:
                log.exception("realtime event not delivered")

    async def _recheck(self, event: Event) -> dict[Connection, identities.Identity]:
        """The identities of the connections an event may change (its user's; every holder of a
        deleted team's role), resolved again as they are now that the write is done."""
        project = event.project_id
        stale: set[Connection] = set()
        if event.refresh_user:
            stale |= self._by_user.get((project, event.refresh_user), set())
        if event.refresh_team:
            role = f"team:{event.refresh_team}"
            stale |= {conn for conn in self._by_project.get(project, ()) if role in conn.identity.roles}
        found: dict[Connection, identities.Identity] = {}
        for conn in stale:
            found[conn] = await run_in_threadpool(identities.resolve, self.db, conn.project_id, conn.identity.sign_in)
        return found

    def deliver(self, event: Event, changed: Mapping[Connection, identities.Identity] | None = None) -> None:
        """Send ``event`` to every connection that listens to one of its channels with one of
        its roles. A connection whose identity the event ``changed`` qualifies with its roles
        before or after: a member who just joined hears of joining, one who was removed (or
        signed out, or blocked) hears of that last change, and nothing after it."""
        project = event.project_id
        listeners: set[Connection] = set()
        for channel in event.channels:
            listeners |= self._by_channel.get((project, channel), set())
        if not listeners:
            return
        changed = changed or {}
        channels = frozenset(event.channels)
        roles = frozenset(event.roles)
        everyone = "any" in roles
        payload = event.payload
        common = orjson.dumps(
            {"events": event.names, "channels": event.channels, "timestamp": event.timestamp, "payload": payload}
        ).decode()
        head = '{"type":"event","data":' + common[:-1] + ',"subscriptions":'
        now = dates.now()
        for conn in listeners:
            if conn.identity.expired(now):
                # Its session ended: from now on a guest (its account channels fall away).
                self.set_identity(conn, identities.GUEST)
            if not everyone and roles.isdisjoint(conn.identity.roles):
                after = changed.get(conn)
                if after is None or roles.isdisjoint(after.roles):
                    continue
            matched = _matching(conn.subscriptions.values(), channels, payload)
            if matched:
                conn.push(head + orjson.dumps(matched).decode() + "}}")


def _matching(subscriptions: Iterable[Subscription], channels: frozenset[str], payload: dict[str, Any]) -> list[str]:
    return [
        s.id
        for s in subscriptions
        if not s.channel_set.isdisjoint(channels) and (not s.queries or queries.matches(s.queries, payload))
    ]


def _discard(index: dict[Any, set[Connection]], key: Any, conn: Connection) -> None:
    group = index.get(key)
    if group is not None:
        group.discard(conn)
        if not group:
            del index[key]
