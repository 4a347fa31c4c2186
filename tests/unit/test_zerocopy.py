"""http/zerocopy.py under a real uvicorn on loopback, and file_responses.FileSpanResponse on either side
of it: the bytes a client receives, whatever path they took (sendfile, the transport fallback
when the socket is full, HEAD, a file shorter than announced)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from live_server import free_port
from nib.http import zerocopy
from nib.storage.file_responses import FileSpanResponse


def file_app(path: Path, *, announce: int | None = None):
    """ASGI app: ``GET /<offset>/<count>`` sends that span of ``path`` with a zero-copy send;
    ``announce`` overrides the Content-Length (a file shorter than announced)."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/extensions":
            body = ",".join(sorted(scope.get("extensions", {}))).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        offset, count = (int(part) for part in scope["path"].strip("/").split("/"))
        length = announce if announce is not None else count
        with open(path, "rb") as file:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(length).encode())]}
            )
            await send({"type": zerocopy.EXTENSION, "file": file, "offset": offset, "count": length})

    return app


class Served:
    """``app`` under uvicorn with ZeroCopyHttpProtocol (uvloop, as ``nib serve``), in a thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, loop="uvloop", http=zerocopy.ZeroCopyHttpProtocol,
            lifespan="off", log_level="critical", access_log=False,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, bytes]:
    content = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "object"
    path.write_bytes(content)
    return path, content


def test_the_extension_is_offered_in_every_scope(data):
    with Served(file_app(data[0])) as base:
        assert httpx.get(f"{base}/extensions").text == zerocopy.EXTENSION


@pytest.mark.parametrize(
    ("offset", "count"), [(0, 1), (0, 1 << 20), (12345, 1 << 20), (3 * 1024 * 1024, 17), (0, 3 * 1024 * 1024 + 17)]
)
def test_a_span_arrives_byte_for_byte(data, offset, count):
    path, content = data
    with Served(file_app(path)) as base, httpx.Client(base_url=base) as client:
        for _ in range(3):  # one kept-alive connection: each response ends where it should
            response = client.get(f"/{offset}/{count}")
            assert response.status_code == 200
            assert response.headers["content-length"] == str(count)
            assert response.content == content[offset : offset + count]


def test_head_sends_no_body_and_keeps_the_connection_usable(data):
    path, content = data
    with Served(file_app(path)) as base, httpx.Client(base_url=base) as client:
        head = client.head("/0/1000")
        assert head.status_code == 200 and head.headers["content-length"] == "1000" and head.content == b""
        assert client.get("/5/10").content == content[5:15]


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, bytes]:
    """48 MiB: far more than a loopback socket's buffers hold."""
    content = os.urandom(48 * 1024 * 1024)
    path = tmp_path / "big"
    path.write_bytes(content)
    return path, content


def raw_get(base: str, count: int) -> socket.socket:
    """A socket that has sent ``GET /0/<count>`` (bytes 0..count of the file) and read nothing."""
    sock = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
    sock.sendall(f"GET /0/{count} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_a_reader_slower_than_the_socket_still_gets_every_byte(big):
    # A client that waits before reading: the socket's buffer fills, sendfile stops (EAGAIN) and
    # the rest goes through the transport under flow control.
    path, content = big
    with Served(file_app(path)) as base:
        with raw_get(base, len(content)) as sock:
            time.sleep(0.5)
            received = bytearray()
            while len(received) < len(content) + 1024:
                piece = sock.recv(1 << 20)
                if not piece:
                    break
                received += piece
                if b"\r\n\r\n" in received[:4096] and len(received) - received.index(b"\r\n\r\n") - 4 == len(content):
                    break
    head, body = bytes(received).split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and f"content-length: {len(content)}".encode() in head.lower()
    assert body == content


def test_a_client_that_leaves_mid_response_does_not_disturb_the_next(big):
    path, content = big
    with Served(file_app(path)) as base:
        for _ in range(3):
            with raw_get(base, len(content)) as sock:
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
                # closed with a reset (linger on, 0 s) while the server still has most of the body to send
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert httpx.get(f"{base}/7/1000").content == content[7:1007]


def test_a_file_shorter_than_announced_ends_the_connection(data):
    path, content = data
    with Served(file_app(path, announce=len(content) + 100)) as base:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{base}/0/0")


def test_file_span_response_reads_and_sends_without_the_extension(data):
    # A server without the zero-copy extension (none in the scope): the span is read and sent.
    path, content = data
    sent = []

    async def send(message):
        sent.append(message)

    response = FileSpanResponse(open(path, "rb"), 100, 5000, status_code=206, headers={"Content-Length": "5000"})
    asyncio.run(response({"type": "http", "method": "GET"}, None, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 206 and (b"content-length", b"5000") in sent[0]["headers"]
    assert sent[1]["body"] == content[100:5100]
    assert response.file.closed
