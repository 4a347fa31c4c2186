"""A TCP proxy on loopback that the outage tests put between nib and its S3 server (moto), and
switch between behaving and failing the ways a real object store fails:

* ``PASS``: bytes go both ways untouched;
* ``REFUSE``: nothing listens on the port any more (connections are refused);
* ``ERROR_500``: every request is answered ``500 InternalError`` (S3's error XML), as a store
  that is up but broken;
* ``DROP``: connections pass until ``drop_after`` bytes have gone one way, then both sides are
  closed (a store that dies mid-stream).

Switching modes closes every open connection, so the client's pooled keep-alive connections meet
the new mode too.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

from live_server import free_port

PASS, REFUSE, ERROR_500, DROP = "pass", "refuse", "error-500", "drop"
_S3_ERROR = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code><Message>injected</Message></Error>"
)


class FaultyProxy:
    def __init__(self, upstream: str, drop_after: int = 256 * 1024) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.drop_after = drop_after
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.mode = PASS
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._listen()

    def set(self, mode: str) -> None:
        """Behave as ``mode`` from now on, for new and already open connections alike."""
        with self._lock:
            self.mode = mode
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            _close(sock)
        if mode == REFUSE and self._listener is not None:
            _close(self._listener)
            self._listener = None
        elif mode != REFUSE and self._listener is None:
            self._listen()

    def close(self) -> None:
        self.set(REFUSE)

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: REFUSE or the end
                return
            with self._lock:
                mode = self.mode
                self._sockets.add(client)
            if mode == ERROR_500:
                threading.Thread(target=_answer_500, args=(client,), daemon=True).start()
            else:
                threading.Thread(target=self._forward, args=(client, mode == DROP), daemon=True).start()

    def _forward(self, client: socket.socket, drop: bool) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _close(client)
            return
        server.settimeout(None)
        with self._lock:
            self._sockets.add(server)
        limit = self.drop_after if drop else None
        threading.Thread(target=_pump, args=(client, server, limit), daemon=True).start()
        _pump(server, client, limit)


def _answer_500(client: socket.socket) -> None:
    try:
        head = _read_head(client)
        if head is None:
            return
        if b"100-continue" not in head.lower():  # else the body never comes: answer now
            _skip_body(client, head)
        client.sendall(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n"
            + f"Content-Length: {len(_S3_ERROR)}\r\nConnection: close\r\n\r\n".encode()
            + _S3_ERROR
        )
    except OSError:
        pass
    finally:
        _close(client)


def _pump(source: socket.socket, target: socket.socket, limit: int | None) -> None:
    sent = 0
    try:
        while limit is None or sent < limit:
            data = source.recv(65536 if limit is None else min(65536, limit - sent))
            if not data:
                break
            target.sendall(data)
            sent += len(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _read_head(sock: socket.socket) -> bytes | None:
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            return None
        head += data
    return head


def _skip_body(sock: socket.socket, head: bytes) -> None:
    header, _, already = head.partition(b"\r\n\r\n")
    length = 0
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    remaining = length - len(already)
    while remaining > 0:
        data = sock.recv(min(65536, remaining))
        if not data:
            return
        remaining -= len(data)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
