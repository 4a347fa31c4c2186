"""Backups: take one, list the complete ones, prune old ones.

Layout at a destination::

    backups/<name>/database.*       the database part (operations/snapshots.py)
    backups/<name>/manifest.json    written last: a backup without it is incomplete
    objects/<sha256[:2]>/<sha256>   stored objects by content, shared by every backup there
    incoming/<random>               an object being copied, before its checksum names it

A backup's name is its UTC start time (``20261207T041736.123Z``), so names sort by age. An
incomplete backup (a run killed mid-way) is never listed and the next run deletes it; objects
no manifest refers to are deleted by ``prune``.

Incremental without re-reading: an object's name on the storage device is unique per upload and
never rewritten, so an object whose device path and size match an entry of the newest complete
manifest keeps that entry's checksum, and is not read or copied again while its content is still
at the destination. Restore verifies every checksum all the same.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from ..data.db import Database
from ..data.instance import server_secret
from ..storage import transforms
from ..storage.devices import Device
from ..tools.config import Settings
from .destinations import INCOMING, Destination
from .progress import Progress
from .snapshots import FILE_NAMES, Snapshot, full_snapshot, project_snapshot

FORMAT, FORMAT_VERSION = "nib-backup", 1
MANIFEST = "manifest.json"
BACKUPS, OBJECTS = "backups/", "objects/"
FULL, PROJECT = "full", "project"


@dataclass
class Taken:
    """What ``take`` did, for the summary line."""

    name: str
    database_bytes: int
    database_seconds: float
    objects: int
    object_bytes: int
    objects_seconds: float
    reused: int
    missing: int


@dataclass
class Listed:
    name: str
    created: str
    kind: str
    projects: list[str]
    size: int  # database part + objects (shared objects counted in every backup holding them)
    objects: int


def yield_to_server() -> None:
    """Run this process (and the threads and programs it starts later) at idle CPU priority: a
    backup on the server's machine takes only the CPU its requests leave, so their latency holds
    while it runs. Where idle scheduling is not offered, the lowest nice level."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


_RATE_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_rate(text: str) -> float:
    """Bytes a second from ``150M`` (150 MB/s), ``1.5G``, ``500k`` or a plain number."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*", text.lower())
    if not found or float(found[1]) <= 0:
        raise ValueError(f"{text!r} is not a rate: give a positive number of bytes a second, e.g. 150M or 1.5G")
    return float(found[1]) * _RATE_UNITS[found[2]]


class Pace:
    """Holds the bytes that pass through ``wrap`` (from any thread) to ``rate`` bytes a second.

    A copy slower than the rate for a while earns no credit to burst later: the cap is there to
    leave the rest of the disk's bandwidth to the server at every moment, not on average."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self._next = 0.0  # when the next chunk may pass
        self._lock = threading.Lock()

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        if self.rate is None:
            yield from chunks
            return
        for chunk in chunks:
            with self._lock:
                now = self.clock()
                start = max(self._next, now)
                self._next = start + len(chunk) / self.rate
            if start > now:
                self.sleep(start - now)
            yield chunk


def object_path(sha256: str) -> str:
    return f"{OBJECTS}{sha256[:2]}/{sha256}"


def new_name() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


def take(
    db: Database,
    settings: Settings,
    device: Device,
    destination: Destination,
    progress: Progress,
    project_id: str | None = None,
    max_rate: float | None = None,
) -> Taken:
    """A backup of ``db`` (or of one project's rows) and the objects its files rows refer to, at
    ``destination``, copied at most ``max_rate`` bytes a second."""
    pace = Pace(max_rate)
    with destination.exclusive():
        name = new_name()
        remove_incomplete(destination)
        previous = newest_manifest(destination)
        with tempfile.TemporaryDirectory(prefix="nib-backup-") as workdir:
            started = time.monotonic()
            snapshots = (
                project_snapshot(db, Path(workdir), project_id) if project_id else full_snapshot(db, Path(workdir))
            )
            with snapshots as snapshot:
                database = _put_database(destination, name, snapshot, progress, pace)
                database_seconds = time.monotonic() - started
                started = time.monotonic()
                entries, missing, reused = _copy_objects(
                    device, destination, snapshot.objects, previous, progress, pace
                )
                objects_seconds = time.monotonic() - started
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "nib": version("nib"),
            "schema": snapshot.revision,
            "kind": PROJECT if project_id else FULL,
            "projects": [project_id] if project_id else [],
            "created": datetime.now(timezone.utc).isoformat(),
            "database": database,
            "objects": entries,
            "missing": missing,
        }
        if project_id:
            # Encrypted objects stay sealed with the project's key: restored under another ID or into
            # an instance with another secret, they are opened with this one and sealed again.
            manifest["storage_key"] = transforms.project_key(server_secret(db, settings), project_id).hex()
        destination.put(f"{BACKUPS}{name}/{MANIFEST}", [orjson.dumps(manifest, option=orjson.OPT_INDENT_2)])
        return Taken(
            name,
            database["size"],
            database_seconds,
            len(entries),
            sum(entry["size"] for entry in entries),
            objects_seconds,
            reused,
            len(missing),
        )


def _put_database(
    destination: Destination, name: str, snapshot: Snapshot, progress: Progress, pace: Pace
) -> dict[str, Any]:
    size = snapshot.path.stat().st_size
    step = progress.step("database", size, unit="bytes")
    digest = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        with open(snapshot.path, "rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                step.advance(len(chunk))
                yield chunk

    file_name = FILE_NAMES[snapshot.format]
    written = destination.put(f"{BACKUPS}{name}/{file_name}", pace.wrap(chunks()))
    return {"file": file_name, "format": snapshot.format, "size": written, "sha256": digest.hexdigest()}


def _copy_objects(
    device: Device,
    destination: Destination,
    objects: list[tuple[str, int]],
    previous: dict[str, Any] | None,
    progress: Progress,
    pace: Pace,
) -> tuple[list[dict[str, Any]], list[str], int]:
    """(manifest entries, paths deleted since the snapshot, how many were not copied)."""
    known = {(e["path"], e["size"]): e["sha256"] for e in (previous or {}).get("objects", [])}
    present = {path.rsplit("/", 1)[-1] for path, _ in destination.list(OBJECTS)}
    step = progress.step("objects", len(objects), unit="objects")

    def copy(item: tuple[str, int]) -> tuple[str, int, str | None, bool]:
        path, size = item
        sha256 = known.get(item)
        if sha256 in present:
            return path, size, sha256, True
        try:
            sha256, was_present = destination.put_by_checksum(
                lambda: pace.wrap(device.read(path)), object_path, present
            )
        except FileNotFoundError:  # its file was deleted after the snapshot
            return path, size, None, False
        return path, size, sha256, was_present

    entries: list[dict[str, Any]] = []
    missing: list[str] = []
    reused = 0
    pool = ThreadPoolExecutor(destination.copies_at_once)
    try:
        for path, size, sha256, was_present in pool.map(copy, objects):
            step.advance()
            if sha256 is None:
                missing.append(path)
                continue
            present.add(sha256)
            reused += was_present
            entries.append({"path": path, "size": size, "sha256": sha256})
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure, the copies not started yet never start
    return entries, missing, reused


def read_manifest(destination: Destination, name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = orjson.loads(b"".join(destination.get(f"{BACKUPS}{name}/{MANIFEST}")))
    return manifest


def _names(destination: Destination) -> tuple[set[str], set[str]]:
    """(complete backups, every backup directory) at ``destination``."""
    complete, every = set(), set()
    for path, _ in destination.list(BACKUPS):
        name, _, rest = path[len(BACKUPS) :].partition("/")
        every.add(name)
        if rest == MANIFEST:
            complete.add(name)
    return complete, every


def complete_names(destination: Destination) -> list[str]:
    """Names of the complete backups, oldest first."""
    return sorted(_names(destination)[0])


def newest_manifest(destination: Destination) -> dict[str, Any] | None:
    names = complete_names(destination)
    return read_manifest(destination, names[-1]) if names else None


def list_backups(destination: Destination) -> list[Listed]:
    """The complete backups at ``destination``, oldest first."""
    found = []
    for name in complete_names(destination):
        manifest = read_manifest(destination, name)
        objects = manifest["objects"]
        size = manifest["database"]["size"] + sum(entry["size"] for entry in objects)
        found.append(Listed(name, manifest["created"], manifest["kind"], manifest["projects"], size, len(objects)))
    return found


def _delete_backup(destination: Destination, name: str) -> None:
    # The manifest first: from then on the backup is incomplete, never half listed.
    destination.delete(f"{BACKUPS}{name}/{MANIFEST}")
    for path, _ in destination.list(f"{BACKUPS}{name}/"):
        destination.delete(path)


def remove_incomplete(destination: Destination) -> list[str]:
    """Delete the backups a killed run left without a manifest, and the objects it left half
    copied; returns the backups' names."""
    for path, _ in destination.list(INCOMING):
        destination.delete(path)
    complete, every = _names(destination)
    for name in every - complete:
        _delete_backup(destination, name)
    return sorted(every - complete)


def prune(destination: Destination, keep: int) -> tuple[list[str], int]:
    """Keep the ``keep`` newest complete backups: delete the others, then every object no
    remaining manifest refers to. Returns (deleted backups, deleted objects)."""
    with destination.exclusive():
        names = complete_names(destination)
        gone = names[: max(len(names) - keep, 0)]
        for name in gone:
            _delete_backup(destination, name)
        referenced: set[str] = set()
        for name in names[len(gone) :]:
            referenced.update(entry["sha256"] for entry in read_manifest(destination, name)["objects"])
        unreferenced = [path for path, _ in destination.list(OBJECTS) if path.rsplit("/", 1)[-1] not in referenced]
        for path in unreferenced:
            destination.delete(path)
        return gone, len(unreferenced)
