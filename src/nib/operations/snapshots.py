"""The database part of a full backup: a consistent copy taken while the server runs, per dialect,
with the list of stored objects read from that same copy (so rows and objects match).

* SQLite: ``VACUUM INTO`` a temporary file (a read transaction: writers go on in the WAL).
* PostgreSQL: ``pg_dump -Fc`` on a snapshot exported by a REPEATABLE READ transaction, which
  reads the object list in the same snapshot; without ``pg_dump`` on PATH (or with
  ``NIB_PG_DUMP=none``) every row as JSON Lines (data/rowcopy.py) inside that transaction.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ..data import rowcopy
from ..data.db import Database
from ..data.db.migrate import current_revision
from ..storage.files import stored_objects
from .errors import OperationRefused

SQLITE, PG_DUMP, ROWS = "sqlite", "pg_dump", "rows"
FILE_NAMES = {SQLITE: "database.sqlite", PG_DUMP: "database.pgdump", ROWS: "database.jsonl"}
# Kept by triggers as rows are inserted (data/totals.py; storage's bucket sizes): a row copy
# leaves them out and loading the other tables rebuilds them. The schema revision is the
# migrations' own.
DERIVED_TABLES = ("totals", "bucket_sizes", "alembic_version")


@dataclass
class Snapshot:
    path: Path  # the database part, a local file
    format: str  # SQLITE | PG_DUMP | ROWS
    revision: str  # its schema revision (alembic)
    objects: list[tuple[str, int]]  # (device path, size) of every stored object it refers to


def pg_program(name: str) -> str | None:
    """``pg_dump`` or ``pg_restore`` from PATH; ``NIB_PG_DUMP=none`` makes backups do without
    ``pg_dump`` (the row copy)."""
    if name == "pg_dump" and os.environ.get("NIB_PG_DUMP", "") == "none":
        return None
    return shutil.which(name)


def libpq_url(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def full_snapshot(db: Database, workdir: Path) -> Iterator[Snapshot]:
    """The whole database as one consistent file in ``workdir``."""
    if db.dialect == "sqlite":
        path = workdir / FILE_NAMES[SQLITE]
        with db.engine.connect() as conn:
            conn.exec_driver_sql("VACUUM INTO ?", (str(path),))
        copy = sa.create_engine(f"sqlite:///{path}")
        try:
            with copy.connect() as conn:
                revision, objects = current_revision(conn), stored_objects(conn)
        finally:
            copy.dispose()
        yield Snapshot(path, SQLITE, revision or "", objects)
        return
    pg_dump = pg_program("pg_dump")
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            revision, objects = current_revision(conn), stored_objects(conn)
            if pg_dump:
                path = workdir / FILE_NAMES[PG_DUMP]
                exported = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
                command = [pg_dump, "-Fc", "--no-owner", "--no-acl", f"--snapshot={exported}", "-f", str(path)]
                _run([*command, "-d", libpq_url(db)])
                kind = PG_DUMP
            else:
                path, kind = workdir / FILE_NAMES[ROWS], ROWS
                with open(path, "wb") as out:
                    rowcopy.dump(conn, out, skip=DERIVED_TABLES)
    yield Snapshot(path, kind, revision or "", objects)


def _run(command: list[str]) -> None:
    """Run a PostgreSQL client program; its own message when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise OperationRefused(f"{Path(command[0]).name} failed: {lines[-1] if lines else done.returncode}")
