"""Where backups are kept: a directory or an S3 prefix, behind one small seam.

Both reuse the storage devices (storage/devices), which already write atomically (a temporary
file renamed into place; one PUT or a multipart upload completed at the end), stream both ways,
and turn a full disk or an unreachable store into ``StorageUnavailable``. A destination adds
listing and keeps every key under its prefix.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..storage.devices import Device
from ..tools.config import Settings
from ..tools.errors import StorageUnavailable
from .errors import OperationRefused

if TYPE_CHECKING:
    from ..storage.devices.s3 import S3Device


# Objects being written under a name that is not yet their checksum's; a run killed mid-copy
# leaves them for the next run to delete.
INCOMING = "incoming/"
# The file a directory destination's lock is taken on (hidden: listings skip it).
LOCK = ".lock"


class Destination(Protocol):
    """Objects addressed by ``/``-separated paths relative to the destination."""

    # How many objects a backup copies at once.
    copies_at_once: int

    def put(self, path: str, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` at ``path`` atomically; returns the bytes written."""

    def put_by_checksum(
        self, read: Callable[[], Iterable[bytes]], path_of: Callable[[str], str], present: Container[str]
    ) -> tuple[str, bool]:
        """Store the bytes ``read()`` yields at ``path_of(their sha256)`` unless that checksum is
        in ``present``: (the sha256, whether it was present)."""

    def get(self, path: str) -> Iterator[bytes]:
        """The bytes of ``path``, streamed; ``FileNotFoundError`` when missing."""

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(path, size) of every object under ``prefix`` (``"backups/"``), in no set order."""

    def exists(self, path: str) -> bool: ...

    def size(self, path: str) -> int: ...

    def delete(self, path: str) -> None:
        """Remove ``path``; missing is not an error."""

    def exclusive(self) -> AbstractContextManager[None]:
        """Held while a backup or a prune changes the destination: where the destination can
        lock (a directory), a second one meanwhile is refused (``OperationRefused``) before it
        changes anything."""


def open_destination(url: str, settings: Settings) -> Destination:
    """``s3://bucket/prefix`` (endpoint, region and keys from ``NIB_S3_*``) or a directory path;
    ``OperationRefused`` for a malformed S3 URL."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise OperationRefused(f"{url!r} names no bucket: give s3://bucket/prefix")
        from ..storage.devices.s3 import s3_device  # boto3 loads only for an S3 destination

        device = s3_device(replace(settings, s3_bucket=bucket))
        return S3Destination(device, prefix.strip("/"), url)
    return DirectoryDestination(Path(url))


class _OnDevice:
    def __init__(self, device: Device, prefix: str, url: str) -> None:
        self.device = device
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = url

    @contextmanager
    def _named(self) -> Iterator[None]:
        """The device's outage message, naming this destination instead of the file store."""
        try:
            yield
        except StorageUnavailable as error:
            full = "full" in str(error)
            problem = "is full" if full else "is not reachable (or failing)"
            raise StorageUnavailable(f"the backup destination {self.url} {problem}") from error

    def put(self, path: str, chunks: Iterable[bytes]) -> int:
        with self._named():
            return self.device.write(self.prefix + path, chunks)

    def put_by_checksum(
        self, read: Callable[[], Iterable[bytes]], path_of: Callable[[str], str], present: Container[str]
    ) -> tuple[str, bool]:
        # Read twice: a store without renames takes the object's name before its first byte.
        digest = hashlib.sha256()
        for chunk in read():
            digest.update(chunk)
        sha256 = digest.hexdigest()
        if sha256 in present:
            return sha256, True
        self.put(path_of(sha256), read())
        return sha256, False

    def get(self, path: str) -> Iterator[bytes]:
        return self.device.read(self.prefix + path)

    def exists(self, path: str) -> bool:
        with self._named():
            return self.device.exists(self.prefix + path)

    def size(self, path: str) -> int:
        with self._named():
            return self.device.size(self.prefix + path)

    def delete(self, path: str) -> None:
        with self._named():
            self.device.delete(self.prefix + path)

    def exclusive(self) -> AbstractContextManager[None]:
        # S3 offers no lock that a killed process lets go of: runs there are not guarded.
        return nullcontext()


class DirectoryDestination(_OnDevice):
    """A directory (created on first write)."""

    # One stream already keeps a disk busy; more only queue behind each other, and the server's
    # own reads behind them (measured: 8 at once stalled GETs 30x longer than one copy does).
    copies_at_once = 1

    def __init__(self, root: Path) -> None:
        from ..storage.devices.local import LocalDevice

        super().__init__(LocalDevice(root, bulk=True), "", str(root))
        self.root = root
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="nib-backup-sha256")

    def put_by_checksum(
        self, read: Callable[[], Iterable[bytes]], path_of: Callable[[str], str], present: Container[str]
    ) -> tuple[str, bool]:
        # One pass: written under a name of its own in INCOMING, hashed on the way, renamed to
        # its checksum's path. The hash runs beside the writes, as the two cost about the same.
        incoming = f"{INCOMING}{secrets.token_hex(8)}"
        digest = hashlib.sha256()
        chunks = read()  # a FileNotFoundError from here on is the destination's, not the source's
        try:
            self.put(incoming, self._hashing(chunks, digest))
            sha256 = digest.hexdigest()
            if sha256 in present:
                (self.root / incoming).unlink()
                return sha256, True
            target = self.root / path_of(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.root / incoming, target)
        except FileNotFoundError as error:
            # Something outside this run deleted it (runs at one directory exclude each other).
            raise StorageUnavailable(
                f"the backup destination {self.url} lost an object while it was written: did another program delete it?"
            ) from error
        finally:
            self._remove_empty_dirs((self.root / incoming).parent)
        return sha256, False

    def _hashing(self, chunks: Iterable[bytes], digest: hashlib._Hash) -> Iterator[bytes]:
        """``chunks``, each hashed into ``digest`` on the hasher thread while the caller writes
        it (hashlib lets go of the GIL on large updates)."""
        pending: Future[None] | None = None
        try:
            for chunk in chunks:
                if pending is not None:
                    pending.result()
                pending = self._hasher.submit(digest.update, chunk)
                yield chunk
        finally:
            if pending is not None:
                pending.result()

    def delete(self, path: str) -> None:
        super().delete(path)
        # A pruned backup's directory goes too, not just its files.
        self._remove_empty_dirs((self.root / path).parent)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "ab") as handle:
            try:
                # The kernel lets go of it when the process ends, however it ends.
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OperationRefused(
                    f"another backup or prune is running at {self.url}: try again when it has ended"
                ) from None
            yield

    def _remove_empty_dirs(self, directory: Path) -> None:
        """``directory`` and each parent it leaves empty, up to the destination's root."""
        while directory != self.root and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        base = self.root / prefix
        for directory, _, names in os.walk(base):
            for name in names:
                if name.startswith("."):  # a write in progress (the device's temporary files)
                    continue
                full = Path(directory) / name
                yield full.relative_to(self.root).as_posix(), full.stat().st_size


class S3Destination(_OnDevice):
    """A prefix of an S3 bucket (the bucket must exist)."""

    copies_at_once = 8  # each upload waits on round trips: several at once fill the link

    def __init__(self, device: S3Device, prefix: str, url: str) -> None:
        super().__init__(device, prefix, url)
        self.s3 = device

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        with self._named():
            found = self.s3.listing(self.prefix + prefix)
        for key, size in found:
            yield key[len(self.prefix) :], size
