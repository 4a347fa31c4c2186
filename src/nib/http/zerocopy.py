"""ASGI's zero-copy send extension for uvicorn: file bytes go from the page cache to the socket
with ``os.sendfile``, as nginx serves static files.

uvicorn does not implement ``http.response.zerocopysend`` (ASGI extensions spec): without it a
1 MiB download is read into Python and copied into the socket, which costs twice the CPU of the
sendfile. ``ZeroCopyHttpProtocol`` is uvicorn's httptools protocol with that one extension
added: ``nib serve`` runs it (``http=``). It relies on uvicorn's ``RequestResponseCycle``
internals (``transport``, ``flow``, ``expected_content_length``); pyproject.toml pins uvicorn's
minor version; tests/unit/test_zerocopy.py runs it under a real uvicorn and the storage API
tests download through it.

The message: ``{"type": "http.response.zerocopysend", "file": <file object>, "offset": int,
"count": int, "more_body": bool}`` after ``http.response.start`` with a Content-Length. Bytes
the socket does not take at once (its buffer is full) are read and written through the transport
in 1 MiB pieces under uvicorn's flow control. Reads happen on the event loop: nib sends files this
way only up to 1 MiB (storage/file_responses.py), as nginx sends from its event loop.

It also bounds a graceful shutdown for requests that wait on their client: uvicorn cancels the
requests still running when ``timeout_graceful_shutdown`` ends, but a streaming upload's handler
waits for its body in a worker thread, which no cancellation reaches, so the process would wait
for that client forever. Closing their connections then ends those waits (the body ends early).
"""

from __future__ import annotations

import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

EXTENSION = "http.response.zerocopysend"
PIECE = 1 << 20  # what the socket did not take is read and written this much at a time


class ZeroCopyHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with ``http.response.zerocopysend`` in every request's scope."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app) -> None:
        async def with_zerocopy(scope, receive, send) -> None:
            scope.setdefault("extensions", {})[EXTENSION] = {}

            async def send_or_sendfile(message) -> None:
                if message["type"] == EXTENSION:
                    await _sendfile(cycle, message)
                else:
                    await send(message)

            await app(scope, receive, send_or_sendfile)

        super()._start_asgi_task(cycle, with_zerocopy)

    def shutdown(self) -> None:
        super().shutdown()  # idle connections close now, busy ones after their response
        if self.config.timeout_graceful_shutdown is not None:
            self.loop.call_later(self.config.timeout_graceful_shutdown, self.transport.close)


async def _sendfile(cycle: RequestResponseCycle, message) -> None:
    if not cycle.response_started or cycle.response_complete or cycle.chunked_encoding is not False:
        raise RuntimeError(f"{EXTENSION} needs a started response with a Content-Length")
    if cycle.flow.write_paused and not cycle.disconnected:
        await cycle.flow.drain()
    count = message["count"]
    if cycle.disconnected or cycle.scope["method"] == "HEAD":
        count = 0
    if count > cycle.expected_content_length:
        raise RuntimeError("Response content longer than Content-Length")
    cycle.expected_content_length -= count
    fd, offset = message["file"].fileno(), message.get("offset", 0)
    sent = 0
    transport = cycle.transport
    if count and not transport.get_write_buffer_size():  # nothing queued ahead of these bytes
        sock = transport.get_extra_info("socket").fileno()
        try:
            while sent < count and (n := os.sendfile(sock, fd, offset + sent, count - sent)):
                sent += n
        except ConnectionError:  # the client went away
            transport.close()
            return
        except OSError:
            pass  # EAGAIN (the socket's buffer is full) or no sendfile here: the rest goes below
    while sent < count:
        piece = os.pread(fd, min(count - sent, PIECE), offset + sent)
        if not piece:  # the file is shorter than announced: end the connection, not the body
            transport.close()
            return
        transport.write(piece)
        sent += len(piece)
        if cycle.flow.write_paused and sent < count:
            await cycle.flow.drain()
    await cycle.send({"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)})
