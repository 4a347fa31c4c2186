"""Database access: one engine per process, read and write transactions.

Services are synchronous; they open short transactions with ``db.read()`` / ``db.write()``.
On SQLite, write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue on the
lock (busy_timeout) instead of failing on a read-to-write upgrade, and reads run in autocommit
mode: each statement sees a committed state (WAL readers never wait), without the cost of
BEGIN/COMMIT round trips on the hot read path.
"""

from __future__ import annotations

import select
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeAlias, TypeVar, Unpack, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine

from ...tools import metrics
from .types import RawJSON, UTCDateTime, utc_from_text

# orjson instead of the standard library for JSON columns (prefs, labels, targets of a page…).
_JSON_CODEC = {"json_serializer": lambda value: orjson.dumps(value).decode(), "json_deserializer": orjson.loads}
# Prepared statements built per query shape (``cached``): enough for every shape a client uses
# in practice, bounded because shapes come from request input.
_CACHE_SIZE = 1024
# Arbitrary constant: the PostgreSQL advisory lock of ``Database.exclusive``.
_EXCLUSIVE_LOCK_KEY = 0x6E6962
# How long opening a PostgreSQL connection may take (unless the URL sets connect_timeout): a
# database host that is down without refusing connections must not hold requests for the
# system's TCP timeout, minutes; they answer 503 instead.
_CONNECT_TIMEOUT_SECONDS = 3

T = TypeVar("T")
# A SELECT of any columns (a string: SQLAlchemy 2.0's Select takes no unpacked tuple at run time).
AnySelect: TypeAlias = "sa.Select[Unpack[tuple[Any, ...]]]"


class Database:
    """The process-wide engine and its transaction helpers."""

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = url
        if url.startswith("sqlite"):
            # SQLite runs one writer at a time and GETs read inline on the event loop, so a few
            # connections serve every request; each more would only hold its own page cache.
            self.engine = _sqlite_engine(url, min(pool_size, 4))
        else:
            timeout = (
                {} if "connect_timeout" in sa.make_url(url).query else {"connect_timeout": _CONNECT_TIMEOUT_SECONDS}
            )
            self.engine = sa.create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, connect_args=timeout, **_JSON_CODEC
            )
            event.listen(self.engine, "checkout", _refuse_closed)
        if metrics.METRICS.enabled:
            event.listen(self.engine, "checkout", _checked_out)
            event.listen(self.engine, "checkin", _checked_in)
        self.dialect: str = self.engine.dialect.name
        self._writer = self.engine.execution_options(nib_write=True)
        self._plans: dict[AnySelect, Prepared] = {}
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._cache_lock = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (a transaction on PostgreSQL, autocommit statements on SQLite)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success and rolled back on any exception."""
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def exclusive(self) -> Iterator[Connection]:
        """A write transaction that runs alone among every process on this database: for start-up
        work that writes according to what it has just read (migrations, the first-start
        bootstrap). On SQLite ``BEGIN IMMEDIATE`` already admits one writer at a time; PostgreSQL
        takes a transaction-scoped advisory lock first."""
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_EXCLUSIVE_LOCK_KEY})")
            yield conn

    def fetch(self, statement: AnySelect, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run a module-level SELECT straight on the driver: the hot read path.

        SQLAlchemy's per-execution machinery (connection wrapper, transaction, result
        processing) costs more than an indexed lookup; here the statement is compiled once (see
        ``Prepared``) and run by ``run``.
        """
        plan = self._plans.get(statement)
        if plan is None:
            plan = self._plans[statement] = self.prepare(statement)
        return self.run(plan, params)

    def prepare(self, statement: AnySelect) -> Prepared:
        """``statement`` compiled for this database, to execute with ``run``."""
        return Prepared(statement, self.engine.dialect)

    def run(self, plan: Prepared, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Execute a prepared SELECT on a pooled driver connection: rows as dicts by column key."""
        sql, parameters = plan.bind(params)
        driver_error = self.engine.dialect.loaded_dbapi.Error
        raw = None
        try:
            raw = self.engine.raw_connection()
            cursor = raw.cursor()
            cursor.execute(sql, parameters)
            rows = cursor.fetchall()
            cursor.close()
            if self.dialect != "sqlite":
                raw.commit()  # end the driver's implicit transaction before the pool takes it back
        except driver_error as error:
            # What SQLAlchemy does for its own executions: a connection the server dropped is not
            # pooled again, and the error is SQLAlchemy's class (OperationalError: a 503).
            if raw is not None and self.engine.dialect.is_disconnect(error, raw.dbapi_connection, None):
                raw.invalidate(error)
            raise sa.exc.DBAPIError.instance(
                sql, parameters, error, driver_error, dialect=self.engine.dialect
            ) from error
        finally:
            if raw is not None:
                raw.close()
        return [plan.convert(row) for row in rows]

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value cached under ``key`` (least recently used out), made by ``build`` on a miss.

        For prepared statements of request-dependent shapes (list queries): the bound keeps a
        client sending ever new shapes from growing the cache without limit.
        """
        with self._cache_lock:
            value: T | None = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
                return value
        value = build()  # outside the lock: a concurrent miss just builds the same value twice
        with self._cache_lock:
            self._cache[key] = value
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _checked_out(_dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    metrics.METRICS.pool(1)


def _checked_in(_dbapi_conn: Any, _record: Any) -> None:
    metrics.METRICS.pool(-1)


def _refuse_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled PostgreSQL connection that its server has closed (restarted, or ended the
    session) so the pool opens a new one instead of a request failing on it. Such a server has
    said goodbye and shut the socket, which is then readable while the connection idles: one
    local poll, where a pre-ping would cost a round trip to the server on every checkout."""
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN)
    if poller.poll(0):
        raise sa.exc.DisconnectionError("the server has closed this pooled connection")


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        **_JSON_CODEC,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Connections are in autocommit mode between explicit write transactions, which
        # SQLAlchemy always ends itself: a rollback on every check-in would only cost time.
        pool_reset_on_return=None,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
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
        if conn.get_execution_options().get("nib_write", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Prepared:
    """A compiled SELECT: how to bind its parameters and turn its driver rows into Python values.

    Parameters are given by bind name as Python values (those without a value in the
    statement); each goes through its type's bind processing (e.g. datetimes to SQLite text).
    ``expanding`` IN parameters take lists.
    """

    def __init__(self, statement: AnySelect, dialect: Dialect) -> None:
        self._compiled = compiled = statement.compile(dialect=dialect)
        names = compiled.bind_names  # {bind: its name in the SQL}
        self._expanding = any(bind.expanding for bind in names)
        # Values fixed in the statement (e.g. ``.limit(1)``, which SQLAlchemy binds too).
        self._constants = {name: bind.value for bind, name in names.items() if not bind.required}
        # Processors are resolved once here; most types (strings, integers) have none.
        self._processors = [
            (name, bind.expanding, processor)
            for bind, name in names.items()
            if (processor := bind.type._cached_bind_processor(dialect)) is not None
        ]
        # Every column nib selects is a table column or a labelled expression, so it has a key.
        self._names = [cast(str, column.key) for column in statement.selected_columns]
        sqlite = dialect.name == "sqlite"
        # Only the columns whose driver value needs converting (datetimes, JSON and booleans on
        # SQLite); the rest are taken as they come.
        self._conversions = [
            (name, convert)
            for name, column in zip(self._names, statement.selected_columns, strict=True)
            if (convert := _converter(column.type, sqlite)) is not None
        ]

    def bind(self, params: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL text and driver parameters for these values (IN lists expanded)."""
        compiled = self._compiled
        if self._constants:
            params = {**self._constants, **params}
        if self._processors:
            params = dict(params)
            for name, expanding, process in self._processors:
                value = params.get(name)
                if value is not None:
                    params[name] = [process(item) for item in value] if expanding else process(value)
        if self._expanding:
            state = compiled.construct_expanded_state(dict(params))
            sql, positions, params = state.statement, state.positiontup, state.parameters
        else:
            sql, positions = compiled.string, compiled.positiontup
        if positions is not None:
            return sql, [params[name] for name in positions]
        return sql, params

    def convert(self, row: Sequence[Any]) -> dict[str, Any]:
        """One driver row as ``{column key: value}``."""
        values = dict(zip(self._names, row, strict=True))
        for name, convert in self._conversions:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        return values


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc)


def _converter(column_type: sa.types.TypeEngine[Any], sqlite: bool) -> Callable[[Any], Any] | None:
    if isinstance(column_type, RawJSON):
        return orjson.Fragment
    if isinstance(column_type, UTCDateTime):
        return utc_from_text if sqlite else _as_utc  # SQLite stores text
    if isinstance(column_type, sa.JSON):
        return orjson.loads if sqlite else None
    if isinstance(column_type, sa.Boolean):
        return bool if sqlite else None
    return None
