"""Download and view responses, the HTTP side of storage/downloads.py: a file's original bytes
with Appwrite's headers, single HTTP ranges (206/416) and conditional requests (ETag = the md5
signature, 304); small local files by sendfile, small decoded ones in one buffer, larger ones
streamed.

Stored HTML or SVG must never run script in the server's origin: every response carries
``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: script-src 'none'`` (Appwrite
sends ``script-src none;``), and ``view`` only names the types of Appwrite's viewable list
(images, audio, video, PDF, Office): anything else is served as ``text/plain``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from email.utils import formatdate
from typing import BinaryIO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ..http import zerocopy
from ..http.responses import error_response
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from .devices import Device
from .downloads import Download, open_local, original_bytes

log = logging.getLogger("nib.storage")

EXPIRES_SECONDS = 45 * 24 * 3600  # Appwrite: "+45 days"
DOWNLOAD_RANGE_CHUNK = 10 * 1024 * 1024  # an open range ("bytes=N-") serves at most this much
VIEW_RANGE_CHUNK = 2_000_000
# Responses up to this size go out in one piece (a local file by sendfile); larger ones stream.
WHOLE_SEND = 1 << 20
CSP = "script-src 'none'"
_RANGE = re.compile(r"(\w+)=(\d*)-(\d*)", re.ASCII)
_UNSAFE_IN_QUOTES = re.compile(r'[\x00-\x1f\x7f"\\]')

# app/config/storage/mimes.php of Appwrite 1.5 (its duplicates and typos left out)
VIEWABLE = frozenset(
    {
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/webp",
        "video/mp4",
        "video/x-flv",
        "application/x-mpegURL",
        "video/MP2T",
        "video/3gpp",
        "video/quicktime",
        "video/x-msvideo",
        "video/x-ms-wmv",
        "audio/basic",
        "audio/L24",
        "audio/mid",
        "audio/mpeg",
        "audio/mp4",
        "audio/x-aiff",
        "audio/x-mpegurl",
        "audio/vnd.rn-realaudio",
        "audio/ogg",
        "audio/vorbis",
        "audio/vnd.wav",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
        "application/vnd.ms-word.document.macroEnabled.12",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
        "application/vnd.ms-excel.sheet.macroEnabled.12",
        "application/vnd.ms-excel.template.macroEnabled.12",
        "application/vnd.ms-excel.addin.macroEnabled.12",
        "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.presentationml.template",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
        "application/vnd.ms-powerpoint.addin.macroEnabled.12",
        "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
        "application/vnd.ms-powerpoint.template.macroEnabled.12",
        "application/vnd.ms-powerpoint.slideshow.macroEnabled.12",
        "application/vnd.ms-access",
        "application/pdf",
    }
)


def parse_range(header: str, size: int, open_chunk: int) -> tuple[int, int]:
    """``bytes=<start>-<end>`` or ``bytes=<start>-`` -> inclusive ``(start, end)``; 416 otherwise."""
    found = _RANGE.fullmatch(header.strip())
    if found is None or found.group(1) != "bytes" or not found.group(2):
        raise AppwriteError("storage_invalid_range")
    start = int(found.group(2))
    end = int(found.group(3)) if found.group(3) else min(start + open_chunk - 1, size - 1)
    if start >= end or end >= size:
        raise AppwriteError("storage_invalid_range")
    return start, end


def _disposition(kind: str, name: str) -> str:
    """Appwrite's ``<kind>; filename="<name>"``, safe for any stored name: the plain ``filename``
    is ASCII with control characters (CR/LF would end the header), ``"`` and ``\\`` as ``_`` and
    non-ASCII ones as ``?``; whenever that differs from the name, RFC 6266 ``filename*`` carries
    the exact name, percent-encoded UTF-8."""
    plain = _UNSAFE_IN_QUOTES.sub("_", name).encode("ascii", "replace").decode()
    value = f'{kind}; filename="{plain}"'
    if plain != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def file_response(
    device: Device,
    settings: Settings,
    *,
    secret: str,
    project_id: str,
    download: Download,
    view: bool,
    headers: Mapping[str, str],
    on_event_loop: bool = False,
) -> Response:
    """The file's bytes (or the requested range of them) as a response to a request with
    ``headers``. On the event loop (``on_event_loop``) nothing is decoded here: a small range to
    decode becomes a ``PooledBodyResponse``."""
    file = download.file
    etag = f'"{file["signature"]}"'
    mime = file["mime_type"]
    common = {
        "Content-Type": (mime if mime in VIEWABLE else "text/plain") if view else mime,
        "Content-Disposition": _disposition("inline" if view else "attachment", file["name"]),
        "ETag": etag,
        "Cache-Control": f"private, max-age={EXPIRES_SECONDS}",
        "Expires": formatdate(time.time() + EXPIRES_SECONDS, usegmt=True),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Accept-Ranges": "bytes",
    }
    if _matches(headers.get("if-none-match"), file["signature"]):
        return Response(status_code=304, headers={k: common[k] for k in ("ETag", "Cache-Control", "Expires")})
    size = download.size
    status, start, end = 200, 0, size - 1
    if headers.get("range"):
        start, end = parse_range(headers["range"], size, VIEW_RANGE_CHUNK if view else DOWNLOAD_RANGE_CHUNK)
        status = 206
        common["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = end - start + 1
    common["Content-Length"] = str(length)
    # Open now, so a missing object is a 404 rather than a broken 200.
    local = open_local(device, download) if length <= WHOLE_SEND else None
    if local is not None:
        return FileSpanResponse(local, start, length, status_code=status, headers=common)
    chunks = original_bytes(
        device, settings, secret=secret, project_id=project_id, download=download, start=start, end=end
    )
    if length > WHOLE_SEND:
        # Iterated in the worker pool by Starlette, a step at a time.
        return StreamingResponse(chunks, status_code=status, headers=common)
    if on_event_loop:
        # Decrypting or decompressing (up to all 20 MB before the range) would block the loop.
        return PooledBodyResponse(chunks, status_code=status, headers=common)
    # One buffer: no StreamingResponse thread hop per chunk.
    return Response(b"".join(chunks), status_code=status, headers=common)


class FileSpanResponse(Response):
    """``count`` bytes of an open local file from ``offset``, sent with sendfile where the server
    offers ASGI's zero-copy extension (``nib serve``: http/zerocopy.py), read and sent otherwise.
    Closes the file once sent."""

    def __init__(
        self, file: BinaryIO, offset: int, count: int, *, status_code: int, headers: Mapping[str, str]
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self.file, self.offset, self.count = file, offset, count

    async def __call__(self, scope, receive, send) -> None:
        with self.file:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            if zerocopy.EXTENSION in scope.get("extensions", {}):
                await send({"type": zerocopy.EXTENSION, "file": self.file, "offset": self.offset, "count": self.count})
            else:
                await send(
                    {"type": "http.response.body", "body": os.pread(self.file.fileno(), self.count, self.offset)}
                )
        if self.background is not None:
            await self.background()


class PooledBodyResponse(Response):
    """A body of up to ``WHOLE_SEND`` bytes joined from ``chunks`` in the worker pool when the
    response is sent: how a handler running on the event loop hands decoding (decompression,
    decryption) to the pool instead of doing it there. Nothing is sent before the body is
    complete, so a failure (a damaged object) is still answered as Appwrite's 500 JSON."""

    def __init__(self, chunks: Iterator[bytes], *, status_code: int, headers: Mapping[str, str]) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self.chunks = chunks

    async def __call__(self, scope, receive, send) -> None:
        try:
            self.body = await run_in_threadpool(b"".join, self.chunks)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            failed = error_response(AppwriteError("general_unknown"))
            # The CORS headers the pipeline gave this response, so a browser can read the error.
            failed.headers.update({k: v for k, v in self.headers.items() if k.startswith("access-control-")})
            failed.background = self.background
            await failed(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _matches(header: str | None, signature: str) -> bool:
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return "*" in tags or signature in tags
