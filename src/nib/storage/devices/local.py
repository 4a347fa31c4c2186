"""The embedded default: objects as files under ``<data dir>/storage``.

Every object is written to a temporary file in its final directory and renamed into place, so a
reader never sees half an object and a crash leaves only a temporary file (named ``.tmp-*``).
Parts of unfinished multi-part writes live under ``.parts/<path>/<number>``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

READ_SIZE = 1 << 16


class LocalDevice:
    """A ``Device`` on the local file system."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _file(self, path: str) -> Path:
        # Paths are built by nib from validated IDs; refuse anything that could leave the root.
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"bad storage path: {path!r}")
        return self.root / path

    def _parts(self, path: str) -> Path:
        return self.root / ".parts" / path

    def _write_file(self, target: Path, chunks: Iterable[bytes]) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
            os.replace(temp, target)
        except BaseException:
            os.unlink(temp)
            raise
        return written

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        return self._write_file(self._file(path), chunks)

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        handle = open(self._file(path), "rb")  # FileNotFoundError before the first chunk
        return _read_range(handle, start, end)

    def size(self, path: str) -> int:
        return self._file(path).stat().st_size

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def delete(self, path: str) -> None:
        self._file(path).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        for base in (self.root, self.root / ".parts"):
            target = base / prefix
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            elif target.is_file():
                target.unlink(missing_ok=True)

    def begin_parts(self, path: str) -> str:
        self._file(path)  # validates the path
        return ""

    def write_part(self, path: str, handle: str, number: int, chunks: Iterable[bytes]) -> int:
        return self._write_file(self._parts(path) / str(number), chunks)

    def complete_parts(self, path: str, handle: str, count: int) -> None:
        parts = self._parts(path)

        def joined() -> Iterator[bytes]:
            for number in range(1, count + 1):
                yield from _read_range(open(parts / str(number), "rb"), 0, None)

        self._write_file(self._file(path), joined())
        shutil.rmtree(parts, ignore_errors=True)

    def abort_parts(self, path: str, handle: str) -> None:
        shutil.rmtree(self._parts(path), ignore_errors=True)


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
