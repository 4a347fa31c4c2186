"""nib's export format (docs/export-format.md): writing and reading an export, a directory or
one tar archive. Records are JSON lines per kind; each file's original bytes are an object.

The writer is resumable: opened again on the same destination it starts the record files over
(records are cheap to read again) and keeps the objects already written, which ``has_object``
tells the exporter about. ``export.json`` is written last, so a tree without it is unfinished;
an archive is packed from the finished tree and renamed into place whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from ..tools import dates
from ..tools.validators import is_key

FORMAT = "nib-export"
VERSION = 1
# The order of import: a membership after its team and user, a file after its bucket.
KINDS = ("users", "teams", "memberships", "buckets", "files")

HEADER = "export.json"
OBJECTS = "objects"
_PARTIAL = ".partial"  # objects being written; a dot name is never a bucket ID
_CHUNK = 1 << 20
_OWN_NAMES = {HEADER, HEADER + ".tmp", OBJECTS, *(f"{kind}.jsonl" for kind in KINDS)}


class ExportWriter:
    """Writes an export at ``root``: a directory, or an archive when ``root`` ends in ``.tar``
    (built in ``<root>.partial/``, packed by ``finish``). A directory holding anything but an
    export's files is refused (ValueError), never written over."""

    def __init__(self, root: Path, *, project: dict[str, Any], kinds: Sequence[str]) -> None:
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"Unknown kind {unknown[0]!r}: choose among {', '.join(KINDS)}.")
        self.root = root
        self._archive = root.suffix == ".tar"
        # The tree of ``x.tar`` is built in ``x.tar.partial/``, then packed.
        self.directory = root.with_name(root.name + ".partial") if self._archive else root
        if self._archive and root.is_dir():
            raise ValueError(f"{root} is a directory: an archive's name must be free or a file.")
        if self.directory.exists():
            if not self.directory.is_dir():
                raise ValueError(f"{self.directory} exists and is not a directory.")
            # An unfinished export here is resumed; anything else is not written over.
            foreign = sorted(item.name for item in self.directory.iterdir() if item.name not in _OWN_NAMES)
            if foreign:
                raise ValueError(
                    f"{self.directory} holds files of no export ({', '.join(foreign[:3])}): "
                    "export to a new or empty directory."
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / HEADER).unlink(missing_ok=True)  # unfinished again until `finish`
        self._project = {"$id": project["$id"], "name": project["name"]}
        self._kinds = [kind for kind in KINDS if kind in kinds]
        self._counts = dict.fromkeys(self._kinds, 0)
        self._lines: dict[str, IO[bytes]] = {kind: open(self.directory / f"{kind}.jsonl", "wb") for kind in self._kinds}
        for kind in KINDS:
            if kind not in self._kinds:
                (self.directory / f"{kind}.jsonl").unlink(missing_ok=True)

    def add(self, kind: str, record: dict[str, Any]) -> None:
        """Appends one record of ``kind`` (one JSON line)."""
        lines = self._lines.get(kind)
        if lines is None:
            raise ValueError(f"Kind {kind!r} is not part of this export ({', '.join(self._kinds)}).")
        lines.write(orjson.dumps(record) + b"\n")
        self._counts[kind] += 1

    def write_object(self, bucket_id: str, file_id: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Stores a file's original bytes; returns their size and MD5 hex. Written to a temporary
        file renamed into place, so an object present is always whole."""
        final = self._object_path(bucket_id, file_id)
        partial = self.directory / OBJECTS / _PARTIAL / f"{bucket_id}.{file_id}"
        partial.parent.mkdir(parents=True, exist_ok=True)
        md5, size = hashlib.md5(usedforsecurity=False), 0
        with open(partial, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                md5.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, final)
        return size, md5.hexdigest()

    def has_object(self, bucket_id: str, file_id: str, size: int, md5: str) -> bool:
        """Whether the object is already here with this size and MD5 (an export resumed)."""
        path = self._object_path(bucket_id, file_id)
        try:
            if path.stat().st_size != size:
                return False
        except FileNotFoundError:
            return False
        return _md5_of(path) == md5

    def finish(self, *, archive: bool = False) -> None:
        """Closes the record files and writes ``export.json`` with the counts. With ``archive``
        (implied by a ``.tar`` root) the tree is then packed into one tar, ``root`` or
        ``<root>.tar``, and the directory removed."""
        for lines in self._lines.values():
            lines.flush()
            os.fsync(lines.fileno())
            lines.close()
        shutil.rmtree(self.directory / OBJECTS / _PARTIAL, ignore_errors=True)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "nib": package_version("nib"),
            "project": self._project,
            "created": dates.fmt(dates.now()),
            "kinds": self._kinds,
            "counts": self._counts,
        }
        _write_atomically(self.directory / HEADER, orjson.dumps(header, option=orjson.OPT_INDENT_2) + b"\n")
        if archive or self._archive:
            target = self.root if self._archive else self.root.with_name(self.root.name + ".tar")
            _pack(self.directory, target)
            shutil.rmtree(self.directory)

    def _object_path(self, bucket_id: str, file_id: str) -> Path:
        return self.directory / OBJECTS / _checked_id(bucket_id) / _checked_id(file_id)


class ExportReader:
    """Reads an export: a directory or a ``.tar`` archive. Refuses anything else, another format
    or a newer version with a ValueError whose message says so."""

    header: dict[str, Any]

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None
        if path.is_dir():
            header_path = path / HEADER
            if not header_path.is_file():
                raise ValueError(f"{path} is not a finished nib export: it has no {HEADER}.")
            raw = header_path.read_bytes()
        elif path.is_file():
            try:
                self._tar = tarfile.open(path, "r:")
            except tarfile.TarError:
                raise ValueError(f"{path} is neither a nib export directory nor a tar archive.") from None
            raw = self._member_bytes(HEADER, f"{path} is not a nib export: the archive has no {HEADER}.")
        else:
            raise ValueError(f"{path} does not exist.")
        self.header = _checked_header(raw, path)

    @property
    def kinds(self) -> list[str]:
        return [kind for kind in KINDS if kind in self.header["kinds"]]

    def records(self, kind: str) -> Iterator[dict[str, Any]]:
        """The records of ``kind`` in the order written (none when the export left it out)."""
        if kind not in self.kinds:
            return
        with self._open(f"{kind}.jsonl") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise ValueError(f"{kind}.jsonl, line {number}: not valid JSON.") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{kind}.jsonl, line {number}: not a JSON object.")
                yield record

    def object_chunks(self, bucket_id: str, file_id: str) -> Iterator[bytes]:
        """A file's original bytes, in chunks of up to 1 MiB."""
        name = f"{OBJECTS}/{_checked_id(bucket_id)}/{_checked_id(file_id)}"
        with self._open(name) as data:
            while chunk := data.read(_CHUNK):
                yield chunk

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def __enter__(self) -> ExportReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _open(self, name: str) -> IO[bytes]:
        if self._tar is None:
            try:
                return open(self.path / name, "rb")
            except FileNotFoundError:
                raise ValueError(f"The export at {self.path} is missing {name}.") from None
        try:
            member = self._tar.extractfile(name)
        except KeyError:
            member = None
        if member is None:
            raise ValueError(f"The export at {self.path} is missing {name}.")
        return member

    def _member_bytes(self, name: str, missing: str) -> bytes:
        assert self._tar is not None
        try:
            member = self._tar.extractfile(name)
        except KeyError:
            member = None
        if member is None:
            raise ValueError(missing)
        with member:
            return member.read()


def _checked_header(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        header = orjson.loads(raw)
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a nib export: its {HEADER} does not say format {FORMAT!r}.")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: {HEADER} has no valid version.")
    if version > VERSION:
        raise ValueError(
            f"{path} is a nib export of format version {version}, newer than this nib reads ({VERSION}): "
            "import it with a newer nib."
        )
    if not all(
        isinstance(header.get(name), kind) for name, kind in (("kinds", list), ("project", dict), ("counts", dict))
    ):
        raise ValueError(f"{path}: {HEADER} lacks its kinds, project or counts.")
    return header


def _checked_id(value: str) -> str:
    # IDs become path names: the Key rule keeps them inside the tree.
    if not is_key(value):
        raise ValueError(f"{value!r} is not a valid bucket or file ID.")
    return value


def _md5_of(path: Path) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as data:
        while chunk := data.read(_CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _pack(directory: Path, target: Path) -> None:
    """The tree as an uncompressed tar, the header first (a reader streaming it knows at once
    what it holds); written beside ``target`` and renamed, so ``target`` is whole or absent."""
    temporary = target.with_name(target.name + ".tmp")
    with tarfile.open(temporary, "w:", format=tarfile.PAX_FORMAT) as tar:
        tar.add(directory / HEADER, arcname=HEADER)
        for kind in KINDS:
            lines = directory / f"{kind}.jsonl"
            if lines.exists():
                tar.add(lines, arcname=lines.name)
        objects = directory / OBJECTS
        if objects.is_dir():
            for bucket in sorted(objects.iterdir()):
                for item in sorted(bucket.iterdir()):
                    tar.add(item, arcname=f"{OBJECTS}/{bucket.name}/{item.name}")
    with open(temporary, "rb+") as written:
        os.fsync(written.fileno())
    os.replace(temporary, target)
