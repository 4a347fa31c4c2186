"""Realtime's direct frame writer (http/wsframes.py) under a real uvicorn serving a real
WebSocket client: frames of every length encoding arrive whole and in order, interleaved with
the ASGI sends, and a closed connection refuses further writes."""

from __future__ import annotations

import asyncio
import socket
import threading

import uvicorn
from websockets.sync.client import connect

from nib.http.wsframes import frame_writer, text_frame


def test_header_lengths_follow_rfc_6455():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame(b"x" * 70000)[:10] == b"\x81\x7f" + (70000).to_bytes(8, "big")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_frames_written_directly_reach_a_websocket_client():
    seen: dict = {}
    done = threading.Event()

    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "first, through ASGI"})
        writer = frame_writer(send)
        seen["writer"] = writer is not None
        for size in (5, 200, 70000):
            assert writer.write("y" * size)
        await send({"type": "websocket.send", "text": "last, through ASGI"})
        message = await receive()  # the client closes
        seen["closed"] = message["type"] == "websocket.disconnect"
        seen["refused"] = writer.write("after close") is False
        done.set()

    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws="websockets-sansio", log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            threading.Event().wait(0.05)
        with connect(f"ws://127.0.0.1:{port}/", max_size=2**20) as client:
            received = [client.recv(timeout=10) for _ in range(5)]
        assert received == ["first, through ASGI", "y" * 5, "y" * 200, "y" * 70000, "last, through ASGI"]
        assert done.wait(10)
        assert seen == {"writer": True, "closed": True, "refused": True}
    finally:
        server.should_exit = True
        thread.join(10)
