"""Running previews: bounded CPU, identical requests merged, results cached on the device.

Rendering is CPU work that releases the GIL inside libvips: at most ``workers`` renders run at
once (default: one per core), the rest wait their turn. Two requests for the same preview of the
same file never render twice (PocketBase's thumbnail handling): the second waits for the first's
result, or its error. Rendered previews are stored beside the file's bytes, at
``<file dir>/previews/<key>``, so deleting the file's prefix drops them; the key hashes the file's
signature, the normalised parameters and the output format, so a re-uploaded file never shows an
old preview even if a stale object survived.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future

from . import preview
from .devices import Device
from .preview import PreviewParams

log = logging.getLogger("nib.storage")


class PreviewEngine:
    """Renders previews for the storage routes; one per process, shared by every request."""

    def __init__(self, *, workers: int | None = None, max_pixels: int = preview.MAX_PIXELS) -> None:
        self._slots = threading.BoundedSemaphore(workers or os.cpu_count() or 1)
        self._max_pixels = max_pixels
        self._lock = threading.Lock()
        self._running: dict[str, Future] = {}
        self.rendered = 0  # renders actually run (cache misses not merged into another)

    def render(
        self, source: bytes, *, mime_type: str, params: PreviewParams, accept: str, size: int | None = None
    ) -> tuple[bytes, str]:
        """``preview.render`` within the worker bound."""
        with self._slots:
            with self._lock:
                self.rendered += 1
            return preview.render(
                source, mime_type=mime_type, params=params, accept=accept, size=size, max_pixels=self._max_pixels
            )

    def cached_render(
        self,
        device: Device,
        file_dir: str,
        signature: str,
        load: Callable[[], bytes],
        *,
        mime_type: str,
        size: int,
        params: PreviewParams,
        accept: str,
    ) -> tuple[bytes, str]:
        """The preview of the file stored under ``file_dir`` (``<project>/<bucket>/<file>``):
        (image bytes, Content-Type). ``signature`` is the file's MD5, ``size`` its original size;
        ``load()`` returns its plain bytes (or a local path) and is called only on a cache miss
        for a previewable image. Errors (AppwriteError) reach every merged caller."""
        chosen = preview.plan(mime_type=mime_type, size=size, params=params, accept=accept)
        digest = hashlib.sha256(f"{signature}|{params.key()}|{chosen.output}|{chosen.icon}".encode()).hexdigest()
        path = f"{file_dir}/previews/{digest[:40]}"
        cached = _read(device, path)
        if cached is not None:
            return cached, chosen.content_type
        with self._lock:
            running = self._running.get(path)
            if running is None:
                running = self._running[path] = Future()
                leader = True
            else:
                leader = False
        if not leader:
            return running.result()
        try:
            # A render finished between our cache read and our turn as leader: no second render.
            cached = _read(device, path)
            if cached is not None:
                result = cached, chosen.content_type
            else:
                source = load() if chosen.icon is None else b""  # render draws the icon itself
                result = self.render(source, mime_type=mime_type, params=params, accept=accept, size=size)
                _store(device, path, result[0])
            running.set_result(result)
            return result
        except BaseException as error:
            running.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._running[path]


def _read(device: Device, path: str) -> bytes | None:
    try:
        return b"".join(device.read(path))
    except FileNotFoundError:
        return None


def _store(device: Device, path: str, data: bytes) -> None:
    try:
        device.write(path, [data])
    except OSError:  # a full or read-only store costs the next request a render, not this one its answer
        log.warning("preview not cached at %s", path, exc_info=True)
