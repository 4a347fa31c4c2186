"""Database access: one engine per process, read and write transactions.

Services are synchronous and run in worker threads (never on the event loop); they open
short transactions with ``db.read()`` / ``db.write()``. On SQLite, write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock (busy_timeout) instead of failing
on a read-to-write upgrade.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


class Database:
    """The process-wide engine and its transaction helpers."""

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url, pool_size)
        else:
            self.engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.dialect: str = self.engine.dialect.name
        self._writer = self.engine.execution_options(nib_write=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (consistent snapshot)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success and rolled back on any exception."""
        with self._writer.begin() as conn:
            yield conn

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn, _record) -> None:
        # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("nib_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
