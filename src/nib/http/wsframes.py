"""WebSocket text frames written straight to the socket: realtime's fan-out fast path.

One event goes to hundreds of connections, and each ASGI ``websocket.send`` through uvicorn
costs a coroutine per connection and the websockets library's framing (measured: a task and a
send per subscriber made one upload's event to 1,000 subscribers cost more CPU than the upload
itself, bench/RESULTS.md). A server-to-client
frame is only a 2-10 byte header and the payload (never masked, RFC 6455 §5.1); permessage-deflate
is off in ``nib serve`` (and would allow uncompressed messages anyway). So when the connection
is served by uvicorn's sans-I/O ``websockets`` protocol (what ``nib serve`` runs), the frame is
written to its transport in one ``write`` call, whole, so it never interleaves with the
library's own frames (pings, close); otherwise the ASGI send is used. pyproject.toml pins uvicorn's minor
version for this and for zerocopy.py; tests/unit/test_wsframes.py runs it under a real uvicorn.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

_TEXT = 0x81  # FIN + opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", _TEXT, 126, size) + payload
    return struct.pack("!BBQ", _TEXT, 127, size) + payload


class FrameWriter:
    """Writes text frames to one open connection's transport; knows how much waits unsent."""

    __slots__ = ("_protocol", "_transport", "_open")

    def __init__(self, protocol: Any, open_state: Any) -> None:
        self._protocol = protocol
        self._transport: asyncio.Transport = protocol.transport
        self._open = open_state

    @property
    def backlog(self) -> int:
        """Bytes written but not yet taken by the client's socket."""
        return self._transport.get_write_buffer_size()

    def write(self, text: str) -> bool:
        """Send one text message; False once the connection is closing or closed."""
        protocol = self._protocol
        if protocol.close_sent or protocol.conn.state is not self._open or self._transport.is_closing():
            return False
        self._transport.write(text_frame(text.encode()))
        return True


def frame_writer(send: Callable[..., Any]) -> FrameWriter | None:
    """The direct writer of the connection behind an ASGI ``send`` (once the handshake is
    done), or None when it is not served by uvicorn's sans-I/O ``websockets`` protocol."""
    protocol = getattr(send, "__self__", None)
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
        from websockets.protocol import State
    except ImportError:  # pragma: no cover - uvicorn[standard] ships both
        return None
    if not isinstance(protocol, WebSocketsSansIOProtocol) or protocol.transport is None:
        return None
    return FrameWriter(protocol, State.OPEN)
