"""Event carriers: how an announced event reaches every process serving the API.

A ``Carrier`` takes opaque messages from any thread (``publish``, never waiting on the network)
and hands each of them, on the event loop, to the receiver of every process of the deployment,
this one included, in the order one process published them. Three backends:

* ``MemoryCarrier``: one process; the message goes straight to its own receiver.
* ``LocalCarrier``: the workers of one ``nib serve`` (``--workers N``) on one machine, without
  Redis: each worker listens on a Unix socket in a directory named after the data dir and
  writes each message, length-prefixed, to every socket it finds there.
* ``RedisCarrier``: any number of processes and machines: Redis pub/sub (``NIB_REDIS_URL``).

``open_carrier(settings)`` picks one: Redis when configured, local sockets with several
workers, memory otherwise. A message that cannot be carried (Redis down, a worker gone) is
logged and dropped: events are announcements, never the record of a change.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import struct
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import Settings

log = logging.getLogger("nib")

Receiver = Callable[[bytes], None]


class Carrier(ABC):
    """Publish from any thread; receive on the event loop, in every process."""

    # Whether messages reach other processes (else only this one's receiver hears them).
    crosses_processes = True

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receive: Receiver | None = None

    async def start(self, receive: Receiver) -> None:
        """Begin receiving: ``receive`` is called on this event loop for every message."""
        self._loop = asyncio.get_running_loop()
        self._receive = receive

    def publish(self, message: bytes) -> None:
        """Send ``message`` to every process (this one too); returns at once."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not serving (yet): no connection can be waiting for it
        loop.call_soon_threadsafe(self._send, message)

    @abstractmethod
    def _send(self, message: bytes) -> None:
        """On the event loop: carry one message."""

    async def stop(self) -> None:
        self._loop = None


class MemoryCarrier(Carrier):
    """One process: messages go straight to its receiver."""

    crosses_processes = False

    def _send(self, message: bytes) -> None:
        if self._receive is not None:
            self._receive(message)


_LENGTH = struct.Struct(">I")
# A peer that stopped reading is dropped once this much waits for it.
_PEER_BACKLOG = 64 * 1024 * 1024
_RESCAN_SECONDS = 1.0


class LocalCarrier(Carrier):
    """The processes of one machine sharing ``directory``: one Unix socket each."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        self._server: asyncio.AbstractServer | None = None
        self._peers: dict[Path, _Peer] = {}
        self._scanned = 0.0

    async def start(self, receive: Receiver) -> None:
        await super().start(receive)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(self._serve_peer, path=str(self.path))
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        await super().stop()
        for peer in self._peers.values():
            peer.close()
        self._peers.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        self.path.unlink(missing_ok=True)

    def _send(self, message: bytes) -> None:
        if self._receive is not None:
            self._receive(message)
        now = time.monotonic()
        if now - self._scanned > _RESCAN_SECONDS:
            self._scanned = now
            self._rescan()
        frame = _LENGTH.pack(len(message)) + message
        for path, peer in list(self._peers.items()):
            if not peer.send(frame):
                del self._peers[path]

    def _rescan(self) -> None:
        """Peers come and go with the workers: the directory lists the live ones (a socket
        nobody listens on any more is removed by the first process that fails to reach it)."""
        try:
            found = {path for path in self.directory.glob("*.sock") if path != self.path}
        except OSError:
            return
        for path in found - self._peers.keys():
            self._peers[path] = _Peer(path)
        for path in self._peers.keys() - found:
            self._peers.pop(path).close()

    async def _serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(_LENGTH.size)
                message = await reader.readexactly(_LENGTH.unpack(header)[0])
                if self._receive is not None:
                    try:
                        self._receive(message)
                    except Exception:
                        log.exception("realtime message from a peer not delivered")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _Peer:
    """A connection to another process's socket, opened on first use; frames wait in order
    while it connects."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: asyncio.StreamWriter | None = None
        self._pending: list[bytes] | None = []
        self._task = asyncio.ensure_future(self._connect())
        self._dead = False

    async def _connect(self) -> None:
        try:
            _, writer = await asyncio.open_unix_connection(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError):
            # A worker that died without removing its socket.
            self.path.unlink(missing_ok=True)
            self._dead = True
            return
        except OSError as error:
            log.warning("realtime peer %s unreachable: %s", self.path.name, error)
            self._dead = True
            return
        self._writer = writer
        for frame in self._pending or ():
            writer.write(frame)
        self._pending = None

    def send(self, frame: bytes) -> bool:
        """Queue one frame; False once the peer is gone (the carrier forgets it)."""
        if self._dead:
            return False
        writer = self._writer
        if writer is None:
            assert self._pending is not None
            self._pending.append(frame)
            return True
        if writer.is_closing() or writer.transport.get_write_buffer_size() > _PEER_BACKLOG:
            log.warning("realtime peer %s stopped reading: dropped", self.path.name)
            self.close()
            return False
        writer.write(frame)
        return True

    def close(self) -> None:
        self._dead = True
        self._task.cancel()
        if self._writer is not None:
            self._writer.close()


class RedisCarrier(Carrier):
    """Redis pub/sub on one channel; publishing is ordered by one sender task."""

    def __init__(self, url: str, channel: str = "nib:realtime") -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._outbox: asyncio.Queue[bytes] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Any = None
        self._subscribed = asyncio.Event()

    async def start(self, receive: Receiver) -> None:
        import redis.asyncio  # only processes configured with Redis load it

        await super().start(receive)
        self._client = redis.asyncio.Redis.from_url(self.url)
        self._outbox = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._publish_all())]
        # Events published once start() returned reach this process too.
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=5)
        except asyncio.TimeoutError:
            log.error("realtime: Redis at %s did not answer; retrying in the background", self.url)

    async def stop(self) -> None:
        await super().stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _send(self, message: bytes) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    async def _publish_all(self) -> None:
        assert self._outbox is not None
        while True:
            message = await self._outbox.get()
            try:
                await self._client.publish(self.channel, message)
            except Exception as error:  # Redis down: this event is lost, later ones retry
                log.error("realtime event not published to Redis: %r", error)

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                delay = 0.1
                while True:
                    found = await pubsub.get_message(timeout=None)
                    if found is not None and self._receive is not None:
                        self._receive(found["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.error("realtime: Redis subscription lost (%r); reconnecting", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass


def open_carrier(settings: Settings, deployment: str = "") -> Carrier:
    """Redis when configured (on the channel of ``deployment``: deployments sharing a Redis
    never hear each other's events); local sockets for several workers; else memory."""
    if settings.redis_url:
        return RedisCarrier(settings.redis_url, f"nib:{deployment}:realtime" if deployment else "nib:realtime")
    if settings.workers > 1:
        # A socket path holds at most 107 bytes: the directory is named after the data dir,
        # which every worker shares, under the temporary directory.
        digest = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:16]
        return LocalCarrier(Path(tempfile.gettempdir()) / f"nib-realtime-{digest}")
    return MemoryCarrier()
