"""The embedded default: objects as files under ``<data dir>/storage``.

Every object is written to a temporary file in its final directory and renamed into place, so a
reader never sees half an object and a crash leaves only a temporary file, named after its
object (``.tmp-<name>.<random>``) so that deleting the object finds it.
Parts of unfinished multi-part writes live under ``.parts/<path>/<handle>/<number>``; the handle
is a random token naming that directory, so a restarted write never mixes with an older one.
A write that meets a full disk removes what it wrote and raises ``StorageUnavailable``.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import re
import secrets
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ...tools.errors import StorageUnavailable
from . import HEALTH_BYTES, HEALTH_PREFIX
from .keys import check_path, check_prefix

READ_SIZE = 1 << 20  # per read and per response chunk: 64 KiB cost a thread hop per 64 KiB sent
DIRECT_BYTES = 4 << 20  # the buffer a bulk device keeps per thread to write from (it reads into one of READ_SIZE)
DIRECT_ALIGN = 4096  # direct writes start and end on the file system's blocks (512 or 4096 bytes)
COPY_BYTES = 1 << 30  # per copy_file_range call (the kernel copies less when it likes)


class LocalDevice:
    """A ``Device`` on the local file system.

    ``bulk``: for bulk copies (backups). Whole files are read and written around the page cache
    (``O_DIRECT``, through aligned buffers kept per thread); written files are synced before they
    are renamed into place. Through the cache, a copy of gigabytes piles up dirty pages whose
    flush stalls every other process's I/O; flushing and dropping them as the copy goes frees
    memory all the time, and on a virtual machine that hands free memory back to its host, each
    such return stops both CPUs for tens of milliseconds, the server's requests with them. Direct
    I/O neither dirties nor frees a page, pushes the server's hot pages out of the cache no more,
    and on such a machine costs a fraction of the CPU: the guest's fresh cache pages are the ones
    its host must fault back in (here cached reads cost 1.9 CPU seconds a GB, direct ones 0.04).
    A file system that refuses direct I/O (some do) gets cached reads and writes instead.
    """

    def __init__(self, root: Path, *, bulk: bool = False) -> None:
        self.root = Path(root)
        self.bulk = bulk
        self._direct_buffers = threading.local()

    def _file(self, path: str) -> Path:
        return self.root / check_path(path)

    def _parts(self, path: str, handle: str) -> Path:
        if not handle.isalnum():
            raise ValueError(f"bad multi-part handle: {handle!r}")
        return self.root / ".parts" / check_path(path) / handle

    @contextmanager
    def _new_file(self, target: Path, make_dirs: bool = True) -> Iterator[BinaryIO]:
        """A temporary file beside ``target``, renamed into place when the block ends well and
        removed when it fails."""
        with _full_disk_unavailable():
            if make_dirs:
                target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".tmp-{target.name}.{secrets.token_hex(8)}")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                with os.fdopen(fd, "wb") as out:
                    yield out
                os.replace(temp, target)
            except BaseException:
                os.unlink(temp)
                raise

    def _write_file(self, target: Path, chunks: Iterable[bytes], make_dirs: bool = True) -> int:
        written = 0
        with self._new_file(target, make_dirs) as out:
            if self.bulk:
                written = _write_direct(out.fileno(), chunks, self._direct_buffer("write", DIRECT_BYTES))
                os.fdatasync(out.fileno())
            else:
                for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
        return written

    def _direct_buffer(self, use: str, size: int) -> mmap.mmap:
        """This thread's page-aligned buffer of ``size`` bytes for direct reads or writes (``use``),
        kept for the device's life: one mapped and unmapped per file would free memory all the time
        too."""
        buffer = getattr(self._direct_buffers, use, None)
        if buffer is None:
            buffer = mmap.mmap(-1, size)
            setattr(self._direct_buffers, use, buffer)
        return buffer

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        return self._write_file(self._file(path), chunks)

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if self.bulk and start == 0 and end is None:
            raw = open(self._file(path), "rb", buffering=0)  # FileNotFoundError before the first chunk
            return _read_direct(raw, self._direct_buffer("read", READ_SIZE))
        handle = open(self._file(path), "rb")  # FileNotFoundError before the first chunk
        return _read_range(handle, start, end)

    def open_local(self, path: str) -> BinaryIO:
        return open(self._file(path), "rb")

    def size(self, path: str) -> int:
        return self._file(path).stat().st_size

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def delete(self, path: str) -> None:
        target = self._file(path)
        target.unlink(missing_ok=True)
        temporary = re.compile(re.escape(f".tmp-{target.name}.") + "[0-9a-f]{16}")
        try:
            entries = list(target.parent.iterdir())
        except FileNotFoundError:  # the directory is gone (its bucket deleted meanwhile): so are they
            entries = []
        for entry in entries:
            if temporary.fullmatch(entry.name):
                entry.unlink(missing_ok=True)
        shutil.rmtree(self.root / ".parts" / path, ignore_errors=True)

    def delete_prefix(self, prefix: str) -> None:
        prefix = check_prefix(prefix)
        for base in (self.root, self.root / ".parts"):
            shutil.rmtree(base / prefix, ignore_errors=True)

    def begin_parts(self, path: str) -> str:
        handle = uuid.uuid4().hex
        with _full_disk_unavailable():
            self._parts(path, handle).mkdir(parents=True)
        return handle

    def write_part(self, path: str, handle: str, number: int, chunks: Iterable[bytes]) -> int:
        parts = self._parts(path, handle)
        if number < 1:
            raise ValueError(f"bad part number: {number}")
        if not parts.is_dir():
            raise FileNotFoundError(f"no multi-part write {handle} for {path}")
        # Not recreating the directory: a part racing an abort must not resurrect the write.
        return self._write_file(parts / str(number), chunks, make_dirs=False)

    def complete_parts(self, path: str, handle: str, count: int) -> None:
        if count < 1:
            raise ValueError(f"bad part count: {count}")
        parts = self._parts(path, handle)
        target = self._file(path)
        if not parts.is_dir():
            if target.is_file():
                return  # completed before (a retry after a crash): nothing left to do
            raise FileNotFoundError(f"no multi-part write {handle} for {path}")
        missing = [n for n in range(1, count + 1) if not (parts / str(n)).is_file()]
        if missing:
            raise FileNotFoundError(f"parts {missing} of {path} are missing")

        with self._new_file(target) as out:
            for number in range(1, count + 1):
                with open(parts / str(number), "rb") as part:
                    _append(part, out)
            if self.bulk:
                os.fdatasync(out.fileno())
        shutil.rmtree(parts, ignore_errors=True)

    def abort_parts(self, path: str, handle: str) -> None:
        shutil.rmtree(self._parts(path, handle), ignore_errors=True)

    def check(self) -> None:
        probe = self.root / HEALTH_PREFIX / f"probe-{secrets.token_hex(8)}"
        try:
            self._write_file(probe, [HEALTH_BYTES])
            try:
                if probe.read_bytes() != HEALTH_BYTES:
                    raise StorageUnavailable(f"The storage directory {self.root} returned other bytes than written.")
            finally:
                probe.unlink(missing_ok=True)
        except StorageUnavailable:
            raise
        except OSError as error:
            reason = error.strerror or str(error)
            raise StorageUnavailable(f"The storage directory {self.root} is not writable: {reason}.") from error


@contextmanager
def _full_disk_unavailable() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise StorageUnavailable("The storage device is full. Please try again later.") from error


def _write_direct(fd: int, chunks: Iterable[bytes], buffer: mmap.mmap) -> int:
    """Write ``chunks`` to ``fd`` around the page cache: gathered in ``buffer`` and written a
    whole buffer at a time with ``O_DIRECT``; the last few bytes that do not fill a block go
    through the cache (the caller syncs). Where the file system refuses direct writes, the
    rest goes through the cache. Returns the bytes written."""
    staged = memoryview(buffer)
    direct = _set_direct(fd, True)
    written = filled = 0
    for chunk in chunks:
        data = memoryview(chunk)
        while data:
            n = min(len(data), len(staged) - filled)
            staged[filled : filled + n] = data[:n]
            filled, data = filled + n, data[n:]
            if filled == len(staged):
                direct = _write_all(fd, staged, direct)
                filled = 0
        written += len(chunk)
    whole = filled - filled % DIRECT_ALIGN
    direct = _write_all(fd, staged[:whole], direct)
    if filled > whole:
        if direct:
            _set_direct(fd, False)
        _write_all(fd, staged[whole:filled], False)
    return written


def _read_direct(raw: BinaryIO, buffer: mmap.mmap) -> Iterator[bytes]:
    """All of the file ``raw`` in ``READ_SIZE`` chunks, read around the page cache into ``buffer``
    (each chunk a copy of it). After a short read (the end of a file whose size is not a whole
    number of blocks) or where the file system refuses direct reads, the rest is read cached."""
    staged = memoryview(buffer)
    with raw:
        fd = raw.fileno()
        direct = _set_direct(fd, True)
        while True:
            n, direct = _refused_retried_cached(_readv, fd, staged, direct)
            if not n:
                return
            if direct and n < len(staged):
                direct = _set_direct(fd, False)
            yield bytes(staged[:n])


def _write_all(fd: int, data: memoryview, direct: bool) -> bool:
    """Write all of ``data``; whether the file is still in direct mode (a refused direct write
    switches it to cached writes and is retried)."""
    while data:
        n, direct = _refused_retried_cached(os.write, fd, data, direct)
        data = data[n:]
    return direct


def _readv(fd: int, buffer: memoryview) -> int:
    return os.readv(fd, [buffer])


def _refused_retried_cached(
    call: Callable[[int, memoryview], int], fd: int, buffer: memoryview, direct: bool
) -> tuple[int, bool]:
    """``call(fd, buffer)``'s bytes moved, and whether ``fd`` is still direct: a direct read or
    write the file system refuses (EINVAL) switches the file to cached I/O and is tried again."""
    while True:
        try:
            return call(fd, buffer), direct
        except OSError as error:
            if not direct or error.errno != errno.EINVAL:
                raise
            direct = _set_direct(fd, False)


def _set_direct(fd: int, on: bool) -> bool:
    """Switch ``O_DIRECT`` on ``fd`` on or off; whether it is on (a file system may refuse it)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
        return False
    return on


def _append(source: BinaryIO, out: BinaryIO) -> None:
    """Copy the rest of ``source`` to ``out`` inside the kernel where it can (``copy_file_range``:
    the bytes never pass through Python, once instead of twice), else through ``READ_SIZE`` reads."""
    copy_range = getattr(os, "copy_file_range", None)  # Linux only
    if copy_range is not None:
        out.flush()
        try:
            while copy_range(source.fileno(), out.fileno(), COPY_BYTES):
                pass
            return
        except OSError as error:
            # Not between these files (another file system, an old kernel): the rest by reads;
            # both offsets moved by what was copied, so the reads go on from there.
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
    shutil.copyfileobj(source, out, READ_SIZE)


def _read_range(handle, start: int, end: int | None) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            chunk = handle.read(READ_SIZE if remaining is None else min(READ_SIZE, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
