"""Restore a full backup into an empty data dir or database, or one project's backup into a
running instance.

Everything is checked before anything is written: the manifest's format and schema revision (a
newer schema than this nib's is refused; an older one is migrated after the restore) and the
checksum of the database part and of every object. Then the objects are written to the
configured storage device at their paths, and the database last: SQLite's file is copied under
a temporary name and renamed into place; PostgreSQL's part is loaded in one transaction
(``pg_restore --single-transaction``, or the row copy in one write transaction). A restore killed
mid-way therefore leaves at most objects on the device and an empty database, and running it
again completes it (objects are rewritten whole, atomically).

A project's backup replaces that project (or becomes a new one, ``--as``): its objects are written
first, under their own paths, so a crash leaves the old project whole; then one write transaction
deletes the project's rows and inserts the backup's; only then are the replaced objects deleted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..data import rowcopy
from ..data.db import Database
from ..data.db.migrate import head_revision, known_revision, upgrade
from ..data.instance import server_secret
from ..storage import backup_objects, transforms
from ..storage.devices import Device
from ..storage.files import forget_objects, stored_objects
from ..tools.config import Settings
from ..tools.validators import is_key
from .backups import BACKUPS, FORMAT, FORMAT_VERSION, FULL, PROJECT, complete_names, object_path, read_manifest
from .destinations import Destination
from .errors import OperationRefused
from .progress import Progress
from .snapshots import DERIVED_TABLES, PG_DUMP, ROWS, SQLITE, libpq_url, pg_program


def chosen_backup(destination: Destination, name: str | None) -> str:
    """``name``, or the newest complete backup; refused when there is none such."""
    names = complete_names(destination)
    if name is None:
        if not names:
            raise OperationRefused("no complete backup at this destination")
        return names[-1]
    if name not in names:
        raise OperationRefused(f"no complete backup named {name!r} at this destination")
    return name


def check_manifest(manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("version"), int):
        raise OperationRefused("this is not a nib backup (its manifest has no nib-backup format)")
    if manifest["version"] > FORMAT_VERSION:
        raise OperationRefused(
            f"the backup's format version {manifest['version']} is newer than this nib's "
            f"({FORMAT_VERSION}): restore it with nib {manifest.get('nib', 'of that version')} or newer"
        )
    if not known_revision(manifest["schema"]):
        raise OperationRefused(
            f"the backup's schema revision {manifest['schema']!r} is unknown to this nib (made by a newer nib "
            f"{manifest.get('nib', '')}): upgrade nib first"
        )


def verify(destination: Destination, name: str, manifest: dict[str, Any], progress: Progress) -> None:
    """Every checksum of backup ``name``; ``OperationRefused`` naming the first damaged part."""
    database = manifest["database"]
    step = progress.step("verifying", 1 + len(manifest["objects"]), unit="parts")
    _check(destination, f"{BACKUPS}{name}/{database['file']}", database, "database part")
    step.advance()
    for entry in manifest["objects"]:
        _check(destination, object_path(entry["sha256"]), entry, f"object {entry['path']}")
        step.advance()


def _check(destination: Destination, path: str, entry: dict[str, Any], what: str) -> None:
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in destination.get(path):
            digest.update(chunk)
            size += len(chunk)
    except FileNotFoundError:
        raise OperationRefused(f"the backup is damaged: its {what} is missing ({path})") from None
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise OperationRefused(f"the backup is damaged: its {what} does not match its checksum ({path})")


def restore_full(
    settings: Settings, device: Device, destination: Destination, name: str, progress: Progress
) -> dict[str, Any]:
    """Restore backup ``name`` into ``settings``' (empty) database and storage device; returns its
    manifest."""
    manifest = read_manifest(destination, name)
    check_manifest(manifest)
    if manifest["kind"] != FULL:
        raise OperationRefused(
            f"backup {name} holds project {', '.join(manifest['projects'])}: restore it with --project"
        )
    kind = manifest["database"]["format"]
    if (kind == SQLITE) != (settings.database_url is None):
        holds = "a SQLite database" if kind == SQLITE else "a PostgreSQL database"
        wants = "--database-url (PostgreSQL)" if settings.database_url else "no --database-url (SQLite)"
        raise OperationRefused(f"backup {name} holds {holds}; this restore was given {wants}")
    if kind == PG_DUMP and not pg_program("pg_restore"):
        raise OperationRefused("this backup was made with pg_dump: restoring it needs pg_restore on PATH")
    _require_empty(settings)
    verify(destination, name, manifest, progress)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        step = progress.step("objects", len(manifest["objects"]), unit="objects")
        for entry in manifest["objects"]:
            device.write(entry["path"], destination.get(object_path(entry["sha256"])))
            step.advance()
        with tempfile.TemporaryDirectory(prefix="nib-restore-") as workdir:
            part = Path(workdir) / manifest["database"]["file"]
            _fetch(destination, f"{BACKUPS}{name}/{manifest['database']['file']}", part)
            _load_database(db, settings, kind, part, manifest["schema"])
        upgrade(db)
        if manifest["missing"]:
            with db.write() as conn:
                forget_objects(conn, manifest["missing"])
    finally:
        db.dispose()
    return manifest


def _require_empty(settings: Settings) -> None:
    """A database is empty while no project exists in it (a restore killed before its database
    part was loaded may have left the schema). A missing SQLite file is not created here."""
    if settings.database_url is None and not (settings.data_dir / "nib.db").exists():
        return
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        with db.read() as conn:
            if not sa.inspect(conn).has_table("projects"):
                return
            if conn.exec_driver_sql("SELECT COUNT(*) FROM projects").scalar():
                raise OperationRefused(
                    "the target database is not empty: a full restore needs an empty data dir or database "
                    "(restore one project into a running instance with --project)"
                )
    finally:
        db.dispose()


def _fetch(destination: Destination, path: str, target: Path) -> None:
    with open(target, "wb") as out:
        for chunk in destination.get(path):
            out.write(chunk)


def _load_database(db: Database, settings: Settings, kind: str, part: Path, revision: str) -> None:
    if kind == SQLITE:
        db.dispose()
        target = settings.data_dir / "nib.db"
        temporary = settings.data_dir / ".nib.db.restoring"
        shutil.copyfile(part, temporary)
        for leftover in ("nib.db-wal", "nib.db-shm"):  # of an empty database's earlier opening
            (settings.data_dir / leftover).unlink(missing_ok=True)
        os.replace(temporary, target)
        return
    if kind == PG_DUMP:
        _pg_restore(db, part)
        return
    if kind != ROWS:
        raise OperationRefused(f"unknown database part format {kind!r}")
    upgrade(db, revision)
    with db.write() as conn, open(part, "rb") as source:
        rowcopy.load(conn, _lines(source))


def _pg_restore(db: Database, part: Path) -> None:
    command = [pg_program("pg_restore") or "pg_restore", "--no-owner", "--no-acl", "--clean", "--if-exists"]
    command += ["--single-transaction", "--exit-on-error", "-d", libpq_url(db), str(part)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise OperationRefused(f"pg_restore failed: {lines[-1] if lines else done.returncode}")


def _lines(source: Any) -> Iterator[bytes]:
    for line in source:
        if line.strip():
            yield line


def restore_project(
    db: Database,
    settings: Settings,
    device: Device,
    destination: Destination,
    name: str,
    project_id: str,
    as_id: str | None,
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, int]]:
    """Replace project ``project_id`` of a running instance with its backup ``name`` (or restore it
    as the new project ``as_id``); returns the manifest and the rows left out per table."""
    manifest = read_manifest(destination, name)
    check_manifest(manifest)
    if manifest["kind"] == PROJECT and project_id not in manifest["projects"]:
        raise OperationRefused(f"backup {name} holds project {', '.join(manifest['projects'])}, not {project_id!r}")
    if manifest["schema"] != head_revision():
        raise OperationRefused(
            f"backup {name} has schema revision {manifest['schema']}, this nib {head_revision()}: "
            "a project is restored only by a nib of the same schema"
        )
    target = as_id or project_id
    if as_id is not None:
        if not is_key(as_id):
            raise OperationRefused(f"--as {as_id!r}: a project ID is 1-36 letters, digits, '.', '-' or '_'")
        with db.read() as conn:
            if _project_exists(conn, as_id):
                raise OperationRefused(
                    f"project {as_id!r} exists: choose another --as, or restore over it without --as"
                )
    verify(destination, name, manifest, progress)
    hashes = {entry["path"]: entry["sha256"] for entry in manifest["objects"]}

    def read(path: str) -> Iterable[bytes] | None:
        return destination.get(object_path(hashes[path])) if path in hashes else None

    key = transforms.project_key(server_secret(db, settings), target)
    with tempfile.TemporaryDirectory(prefix="nib-restore-") as workdir:
        part = Path(workdir) / manifest["database"]["file"]
        _fetch(destination, f"{BACKUPS}{name}/{manifest['database']['file']}", part)
        if manifest["kind"] == PROJECT:
            sealed_with = bytes.fromhex(manifest["storage_key"])
        else:
            progress.step("project rows from the full backup", unit="steps")
            part, sealed_with = _project_of_full(db, settings, manifest, part, project_id)
        progress.step("objects", len(manifest["objects"]), unit="objects")
        with open(part, "rb") as source:
            restored = backup_objects.restore_objects(
                device,
                rowcopy.rows_of(_lines(source), backup_objects.FILES),
                read,
                project_id=target,
                sealed_with=sealed_with,
                key=key,
            )
        progress.step("rows", unit="steps")
        with db.write() as conn, open(part, "rb") as source:
            replaced = [path for path, _ in stored_objects(conn, target)]
            rowcopy.delete_project(conn, target, skip=DERIVED_TABLES)
            left_out = rowcopy.load_project(
                conn, _lines(source), target, rewrite={backup_objects.FILES: backup_objects.file_rewrite(restored)}
            )
    backup_objects.delete_replaced(device, replaced, {changes["object"] for changes in restored.values()})
    return manifest, left_out


def _project_of_full(
    db: Database, settings: Settings, manifest: dict[str, Any], part: Path, project_id: str
) -> tuple[Path, bytes]:
    """One project's rows (as ``--project`` backs them up) read out of a full backup's database
    part, and the key its encrypted objects are sealed with. The part is opened as a database:
    SQLite's file as it is; a row copy loaded into a scratch SQLite file; a pg_dump restored into a
    scratch PostgreSQL database beside the target one (created and dropped here: that needs the
    CREATEDB right)."""
    kind = manifest["database"]["format"]
    scratch_url: str | None = None
    if kind == SQLITE:
        url = f"sqlite:///{part}"
    elif kind == ROWS:
        url = f"sqlite:///{part.with_suffix('.scratch.sqlite')}"
        scratch = Database(url, pool_size=1)
        try:
            upgrade(scratch, manifest["schema"])
            with scratch.write() as conn, open(part, "rb") as source:
                rowcopy.load(conn, _lines(source))
        finally:
            scratch.dispose()
    else:
        if db.dialect != "postgresql":
            raise OperationRefused("this full backup was made with pg_dump: restore a project from it into PostgreSQL")
        scratch_url = url = _create_scratch(db)
    try:
        found = Database(url, pool_size=1)
        try:
            if scratch_url is not None:
                _pg_restore(found, part)
            with found.read() as conn:
                if not _project_exists(conn, project_id):
                    raise OperationRefused(f"the backup holds no project {project_id!r}")
                rows = part.with_suffix(".project.jsonl")
                with open(rows, "wb") as out:
                    rowcopy.dump_project(conn, out, project_id, skip=DERIVED_TABLES)
            secret = settings.secret or server_secret(found, Settings())
        finally:
            found.dispose()
    finally:
        if scratch_url is not None:
            _drop_scratch(db, scratch_url)
    return rows, transforms.project_key(secret, project_id)


def _create_scratch(db: Database) -> str:
    name = f"nib_scratch_{os.urandom(6).hex()}"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return db.engine.url.set(database=name).render_as_string(hide_password=False)


def _drop_scratch(db: Database, url: str) -> None:
    name = sa.make_url(url).database
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _project_exists(conn: sa.Connection, project_id: str) -> bool:
    found = conn.execute(sa.text(f"SELECT 1 FROM {rowcopy.PROJECTS} WHERE id = :id"), {"id": project_id}).first()
    return found is not None
