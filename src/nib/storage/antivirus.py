"""Virus scanning through clamd, ClamAV's daemon, over TCP.

**When** (``applies``): clamd is configured (``NIB_CLAMAV_HOST``/``NIB_CLAMAV_PORT``), the bucket
has ``antivirus`` on (its default) and the complete file is at most ``SCAN_LIMIT`` bytes
(20,000,000, Appwrite's ``APP_LIMIT_ANTIVIRUS``); larger files are kept unscanned, as in Appwrite.
Appwrite scans only on its local device, because clamd reads the file by path (``SCAN``); nib
streams the bytes (``INSTREAM``), so it scans on every device and clamd needs no access to nib's
files.

**Protocol**: ``zINSTREAM\\0``, then the bytes as chunks of at most ``CHUNK`` bytes, each prefixed
by its length (4 bytes, big-endian), then a zero length; clamd answers one NUL-terminated line,
``stream: OK`` or ``stream: <signature> FOUND``, and closes. clamd refuses a stream longer than
its ``StreamMaxLength`` (default 100M, above ``SCAN_LIMIT``; keep it at least 20M) with
``INSTREAM size limit exceeded. ERROR``; nib watches for that answer while sending.

**Outcomes** of ``scan``:

* clean -> ``ScanResult(signature=None)``;
* infected -> ``ScanResult(signature="<name clamd reported>")``: the service deletes the bytes and
  raises ``AppwriteError("storage_invalid_file")`` (403), as Appwrite;
* not scanned (clamd unreachable, silent for ``NIB_CLAMAV_TIMEOUT`` seconds, or answering an
  error) -> ``AppwriteError("general_server_error", "The file could not be scanned for viruses:
  <reason>. Please try again later.", status=503)``; the cause is logged. Appwrite lets its
  socket exception become a 500; nib fails closed as well (a bucket that asks for scanning never
  gets an unscanned file) but says what happened: the file is not known to be bad (so not
  ``storage_invalid_file``), the server side failed, and 503 says it is temporary (a 500's
  message would be hidden). The same choice as an unreachable SMTP server (``tools.mail``).

The timeout bounds connecting, each send and the wait for the verdict; time the caller's chunks
take to arrive is not counted.

No PyPI client is used: ``clamd`` and ``pyclamd`` are unmaintained since 2014 and 2017, and the
maintained ones (``clamdpy``, ``clamav-client``) scan paths or file objects, not an iterator of
chunks, without the error reporting above; the protocol itself is these few lines.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from ..tools.config import Settings
from ..tools.errors import AppwriteError

log = logging.getLogger("nib.antivirus")

SCAN_LIMIT = 20_000_000
CHUNK = 64 * 1024

_LENGTH = struct.Struct(">I")
_REPLY_LIMIT = 4096
_UNSCANNED = "The file could not be scanned for viruses: {}. Please try again later."


@dataclass(frozen=True)
class ScanResult:
    """clamd's verdict: ``signature`` is the name of what it found, ``None`` when clean."""

    signature: str | None = None

    @property
    def infected(self) -> bool:
        return self.signature is not None


class _Unscanned(Exception):
    """No verdict: the message is the reason the client is told, ``detail`` is only logged."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.detail = detail


def applies(settings: Settings, *, antivirus: bool, size: int) -> bool:
    """Whether a complete file of ``size`` bytes in a bucket with ``antivirus`` is scanned."""
    return bool(settings.clamav_host) and antivirus and size <= SCAN_LIMIT


def scan(settings: Settings, chunks: Iterable[bytes]) -> ScanResult:
    """Stream ``chunks`` to clamd and return its verdict; raises 503 when there is none.

    Errors raised by ``chunks`` itself (e.g. a device read) propagate unchanged.
    """
    if not settings.clamav_host:
        raise ValueError("no clamd configured (NIB_CLAMAV_HOST); check applies() first")
    try:
        return _verdict(_instream(settings, chunks))
    except _Unscanned as failure:
        log.warning(
            "virus scan via clamd at %s:%s failed: %s %s",
            settings.clamav_host,
            settings.clamav_port,
            failure,
            failure.detail or repr(failure.__cause__),
        )
        raise AppwriteError("general_server_error", _UNSCANNED.format(failure), status=503) from failure


def version(settings: Settings) -> str | None:
    """clamd's answer to ``VERSION`` (e.g. ``ClamAV 1.0.7/27412/Sun Oct  6 08:35:21 2024``), the
    health check's; ``None`` when it cannot be reached or says nothing within the timeout."""
    try:
        with socket.create_connection(
            (settings.clamav_host, settings.clamav_port), timeout=settings.clamav_timeout
        ) as sock:
            sock.sendall(b"zVERSION\0")
            return _reply(sock) or None
    except (OSError, _Unscanned):
        return None


def _instream(settings: Settings, chunks: Iterable[bytes]) -> str:
    """Send the stream; clamd's answer, as text."""
    try:
        sock = socket.create_connection((settings.clamav_host, settings.clamav_port), timeout=settings.clamav_timeout)
    except TimeoutError as error:
        raise _Unscanned("the antivirus server did not answer in time") from error
    except OSError as error:
        raise _Unscanned("the antivirus server could not be reached") from error
    with sock, selectors.DefaultSelector() as answer:
        answer.register(sock, selectors.EVENT_READ)
        if not _send(sock, b"zINSTREAM\0"):
            return _reply(sock)
        for chunk in chunks:
            view = memoryview(chunk)
            for offset in range(0, len(view), CHUNK):
                piece = view[offset : offset + CHUNK]
                # An answer before the end means clamd stopped reading (StreamMaxLength).
                if answer.select(0) or not _send(sock, _LENGTH.pack(len(piece)), piece):
                    return _reply(sock)
        _send(sock, _LENGTH.pack(0))
        return _reply(sock)


def _send(sock: socket.socket, *parts: bytes | memoryview) -> bool:
    """Send ``parts``; ``False`` when clamd has closed the connection (its answer may say why)."""
    try:
        for part in parts:
            sock.sendall(part)
    except TimeoutError as error:
        raise _Unscanned("the antivirus server did not answer in time") from error
    except OSError:
        return False
    return True


def _reply(sock: socket.socket) -> str:
    """clamd's NUL-terminated answer (it closes the connection after it)."""
    data = b""
    try:
        while not data.endswith(b"\0") and len(data) < _REPLY_LIMIT:
            received = sock.recv(_REPLY_LIMIT)
            if not received:
                break
            data += received
    except TimeoutError as error:
        raise _Unscanned("the antivirus server did not answer in time") from error
    except OSError as error:
        if not data:
            raise _Unscanned("the antivirus server closed the connection without a verdict") from error
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def _verdict(reply: str) -> ScanResult:
    if reply == "stream: OK":
        return ScanResult()
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        return ScanResult(signature=reply[len("stream: ") : -len(" FOUND")])
    if "size limit exceeded" in reply:
        raise _Unscanned("the file is larger than the antivirus server accepts (StreamMaxLength)", reply)
    if not reply:
        raise _Unscanned("the antivirus server closed the connection without a verdict")
    raise _Unscanned("the antivirus server reported an error", reply)
