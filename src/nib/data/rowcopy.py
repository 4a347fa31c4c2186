"""Rows of a database as JSON Lines and back: the logical copy behind backups taken without
``pg_dump``.

The tables are reflected from the database itself, so the copy follows whatever schema revision
it holds. A dump is, per table, one header line ``{"table": name, "columns": [...]}`` followed by
one JSON array per row. Values are typed by the reading driver (datetimes, JSON, booleans) and
written as JSON; loading decodes them by the destination column's type. Tables are written
parents first (foreign keys), so loading them in file order satisfies every constraint.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

_BATCH = 1000


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot store {type(value).__name__} in a row dump")


def dump(conn: Connection, out: IO[bytes], *, skip: Iterable[str] = ()) -> int:
    """Write every table of ``conn``'s database but those named in ``skip``; returns the rows
    written. Run it inside one REPEATABLE READ transaction for a consistent copy."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    skipped = set(skip)
    written = 0
    for table in metadata.sorted_tables:
        if table.name in skipped:
            continue
        columns = [column.name for column in table.columns]
        out.write(orjson.dumps({"table": table.name, "columns": columns}) + b"\n")
        order = list(table.primary_key.columns) or list(table.columns)
        for row in conn.execution_options(yield_per=_BATCH).execute(sa.select(table).order_by(*order)):
            out.write(orjson.dumps(list(row), default=_encode) + b"\n")
            written += 1
    return written


def load(conn: Connection, lines: Iterable[bytes]) -> int:
    """Insert the rows of a ``dump`` into ``conn``'s database (same schema revision, tables
    empty); returns the rows inserted. Integer ``seq`` counters continue after the loaded rows."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    loaded = 0
    for table, rows in _tables(metadata, lines):
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == _BATCH:
                conn.execute(table.insert(), batch)
                loaded += len(batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)
            loaded += len(batch)
        if "seq" in table.c and conn.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence(:t, 'seq'), COALESCE(MAX(seq), 0) + 1, false) FROM "
                    + table.name
                ),
                {"t": table.name},
            )
    return loaded


def _tables(metadata: sa.MetaData, lines: Iterable[bytes]) -> Iterator[tuple[sa.Table, Iterator[dict[str, Any]]]]:
    stream = iter(lines)
    header = next(stream, None)
    while header is not None:
        head = orjson.loads(header)
        if head["table"] not in metadata.tables:
            raise ValueError(f"the dump holds table {head['table']!r}, which this database lacks")
        table = metadata.tables[head["table"]]
        decoders = [_decoder(table.c[name].type) for name in head["columns"]]
        names = head["columns"]
        following: list[bytes | None] = [None]

        def rows() -> Iterator[dict[str, Any]]:
            for line in stream:
                value = orjson.loads(line)
                if isinstance(value, dict):
                    following[0] = line
                    return
                yield {name: decode(item) for name, decode, item in zip(names, decoders, value)}

        yield table, rows()
        header = following[0]


def _decoder(kind: sa.types.TypeEngine[Any]) -> Any:
    if isinstance(kind, sa.DateTime):
        return lambda value: None if value is None else datetime.fromisoformat(value)
    if isinstance(kind, sa.LargeBinary):
        return lambda value: None if value is None else base64.b64decode(value)
    return lambda value: value
