"""The event carriers' contract, run over each backend: memory (one process), local sockets (the
workers of one machine) and Redis (the machine's server at 127.0.0.1:6379).

Two carriers of one backend stand for two processes: what one publishes, both receive, in the
order it was published, whichever thread published it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading

import pytest

from nib.tools.carriers import LocalCarrier, MemoryCarrier, RedisCarrier

REDIS_URL = os.environ.get("NIB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _group(kind: str, tmp_path, size: int):
    if kind == "memory":
        return [MemoryCarrier()]  # one process only, by definition
    if kind == "local":
        return [LocalCarrier(tmp_path / "sockets") for _ in range(size)]
    return [_redis_carrier() for _ in range(size)]


def _redis_carrier() -> RedisCarrier:
    carrier = RedisCarrier(REDIS_URL)
    # A channel of this test's own, so that parallel test runs do not hear each other.
    carrier.channel = f"nib:test:{secrets.token_hex(6)}"
    return carrier


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.arrived = asyncio.Event()

    def __call__(self, message: bytes) -> None:
        self.messages.append(message)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5) -> list[bytes]:
        async def enough() -> None:
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.messages


async def _started(carriers) -> list[Inbox]:
    shared = getattr(carriers[0], "channel", None)
    inboxes = []
    for carrier in carriers:
        if shared is not None:
            carrier.channel = shared
        inbox = Inbox()
        await carrier.start(inbox)
        inboxes.append(inbox)
    return inboxes


@pytest.fixture(params=["memory", "local", "redis"])
def kind(request) -> str:
    return request.param


def test_every_process_receives_what_one_publishes_in_order(kind, tmp_path):
    async def scenario():
        carriers = _group(kind, tmp_path, 2)
        inboxes = await _started(carriers)
        try:
            sent = [f"event {n}".encode() for n in range(200)]
            for message in sent:
                carriers[0].publish(message)
            for inbox in inboxes:
                assert await inbox.wait_for(len(sent)) == sent
        finally:
            for carrier in carriers:
                await carrier.stop()

    asyncio.run(scenario())


def test_publishing_from_worker_threads(kind, tmp_path):
    """Handlers run in the worker pool: publish is called off the event loop."""

    async def scenario():
        carriers = _group(kind, tmp_path, 2)
        inboxes = await _started(carriers)
        try:

            def publish_batch(prefix: str) -> None:
                for n in range(50):
                    carriers[-1].publish(f"{prefix}-{n}".encode())

            threads = [threading.Thread(target=publish_batch, args=(name,)) for name in ("a", "b")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for inbox in inboxes:
                received = [m.decode() for m in await inbox.wait_for(100)]
                assert sorted(received) == sorted(f"{p}-{n}" for p in "ab" for n in range(50))
                # Each thread's messages keep their order.
                for prefix in "ab":
                    mine = [m for m in received if m.startswith(prefix + "-")]
                    assert mine == [f"{prefix}-{n}" for n in range(50)]
        finally:
            for carrier in carriers:
                await carrier.stop()

    asyncio.run(scenario())


def test_large_messages_arrive_whole(kind, tmp_path):
    async def scenario():
        carriers = _group(kind, tmp_path, 2)
        inboxes = await _started(carriers)
        try:
            big = secrets.token_bytes(3 * 1024 * 1024)
            carriers[0].publish(big)
            carriers[0].publish(b"after")
            for inbox in inboxes:
                assert await inbox.wait_for(2) == [big, b"after"]
        finally:
            for carrier in carriers:
                await carrier.stop()

    asyncio.run(scenario())


def test_publishing_before_start_or_after_stop_is_a_no_op(kind, tmp_path):
    async def scenario():
        carrier = _group(kind, tmp_path, 1)[0]
        carrier.publish(b"too early")  # not serving: nobody can be waiting for it
        inbox = (await _started([carrier]))[0]
        carrier.publish(b"served")
        assert await inbox.wait_for(1) == [b"served"]
        await carrier.stop()
        carrier.publish(b"too late")
        await asyncio.sleep(0.2)
        assert inbox.messages == [b"served"]

    asyncio.run(scenario())


def test_local_sockets_skip_a_dead_worker(tmp_path):
    """A worker killed without cleaning up leaves its socket file: the others remove it and
    keep delivering to the live ones."""

    async def scenario():
        directory = tmp_path / "sockets"
        directory.mkdir()
        stale = directory / "999999-dead.sock"
        left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        left.bind(str(stale))
        left.close()  # bound, never listening: connecting is refused
        carriers = [LocalCarrier(directory) for _ in range(2)]
        inboxes = await _started(carriers)
        try:
            carriers[0].publish(b"one")
            for inbox in inboxes:
                assert await inbox.wait_for(1) == [b"one"]
            for _ in range(50):
                if not stale.exists():
                    break
                await asyncio.sleep(0.02)
            assert not stale.exists()
        finally:
            for carrier in carriers:
                await carrier.stop()
        assert list(directory.glob("*.sock")) == []

    asyncio.run(scenario())


def test_a_stopped_worker_stops_receiving_and_the_rest_go_on(tmp_path):
    async def scenario():
        carriers = [LocalCarrier(tmp_path / "sockets") for _ in range(3)]
        inboxes = await _started(carriers)
        carriers[0].publish(b"first")
        for inbox in inboxes:
            await inbox.wait_for(1)
        await carriers[2].stop()
        await asyncio.sleep(1.1)  # past the directory rescan
        carriers[0].publish(b"second")
        try:
            for inbox in inboxes[:2]:
                assert await inbox.wait_for(2) == [b"first", b"second"]
            assert inboxes[2].messages == [b"first"]
        finally:
            for carrier in carriers[:2]:
                await carrier.stop()

    asyncio.run(scenario())
