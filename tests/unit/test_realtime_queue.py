"""A connection's outgoing frames where they cannot be written straight to the socket (an ASGI
server other than uvicorn's sans-I/O websockets): queued in order, sent by a task that exists only
while frames wait, and a client that stops reading is dropped once 256 frames wait."""

from __future__ import annotations

import asyncio

from nib.realtime import identity
from nib.realtime.hub import MAX_PENDING, Connection


def test_frames_go_out_in_order_through_the_asgi_send():
    async def scenario():
        sent: list[str] = []

        async def send(message):
            await asyncio.sleep(0)  # a real send yields to the loop
            sent.append(message["text"])

        conn = Connection("p", identity.GUEST, send)
        for n in range(10):
            conn.push(f"frame {n}")
        for _ in range(50):
            await asyncio.sleep(0)
        assert sent == [f"frame {n}" for n in range(10)]
        assert conn._sender is None  # nothing waits: no task is left behind

    asyncio.run(scenario())


def test_a_client_that_stops_reading_is_dropped_not_buffered():
    async def scenario():
        stuck = asyncio.Event()
        slow: list[bool] = []

        async def send(message):
            await stuck.wait()  # the client's buffer is full and stays full

        conn = Connection("p", identity.GUEST, send)
        conn.on_slow = lambda: slow.append(True)
        for n in range(MAX_PENDING + 1):
            conn.push(f"frame {n}")
            await asyncio.sleep(0)
        assert slow == []
        conn.push("one too many")
        assert slow == [True]
        assert len(conn._pending) == 0  # what waited is let go
        conn.stop()
        conn.push("after stop")
        assert len(conn._pending) == 0

    asyncio.run(scenario())
