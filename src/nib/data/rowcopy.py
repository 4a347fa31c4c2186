"""Rows of a database as JSON Lines and back: the logical copy behind backups taken without
``pg_dump``, and behind the backup and restore of one project.

The tables are reflected from the database itself, so the copy follows whatever schema revision
it holds. A dump is, per table, one header line ``{"table": name, "columns": [...]}`` followed by
one JSON array per row. Values are typed by the reading driver (datetimes, JSON, booleans) and
written as JSON; loading decodes them by the destination column's type. Tables are written
parents first, so loading them in file order satisfies every reference: a foreign key, or a
``<name>_seq`` column, which refers to the ``seq`` of table ``<name>s`` by nib's convention.

A project's rows are those of every table with a ``project_id`` column, its ``projects`` row,
and the rows referring to those rows' ``seq`` (a file's chunks and permissions). Loaded into a
running instance they get new ``seq`` values (references follow), so they may sit beside the
rows they were copied from.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
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


def _ordered(metadata: sa.MetaData) -> list[sa.Table]:
    """Every table, each after those it refers to (foreign keys and ``<name>_seq`` columns)."""
    extra = [(parent, table) for table in metadata.tables.values() for parent in _references(metadata, table).values()]
    return sa.schema.sort_tables(metadata.tables.values(), extra_dependencies=extra)


def _references(metadata: sa.MetaData, table: sa.Table) -> dict[str, sa.Table]:
    """Column name -> the table whose ``seq`` it holds."""
    found: dict[str, sa.Table] = {}
    for column in table.columns:
        if column.name == "seq" or not column.name.endswith("_seq"):
            continue
        keys = [key.column.table for key in column.foreign_keys]
        parent = keys[0] if keys else metadata.tables.get(column.name[: -len("_seq")] + "s")
        if parent is not None and "seq" in parent.c:
            found[column.name] = parent
    return found


def _write_table(conn: Connection, out: IO[bytes], table: sa.Table, where: Any = None) -> int:
    columns = [column.name for column in table.columns]
    out.write(orjson.dumps({"table": table.name, "columns": columns}) + b"\n")
    order = list(table.primary_key.columns) or list(table.columns)
    select = sa.select(table).order_by(*order)
    if where is not None:
        select = select.where(where)
    written = 0
    for row in conn.execution_options(yield_per=_BATCH).execute(select):
        out.write(orjson.dumps(list(row), default=_encode) + b"\n")
        written += 1
    return written


def dump(conn: Connection, out: IO[bytes], *, skip: Iterable[str] = ()) -> int:
    """Write every table of ``conn``'s database but those named in ``skip``; returns the rows
    written. Run it inside one REPEATABLE READ transaction for a consistent copy."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    skipped = set(skip)
    return sum(_write_table(conn, out, table) for table in _ordered(metadata) if table.name not in skipped)


def _project_scope(metadata: sa.MetaData, project_id: str, skip: Iterable[str]) -> list[tuple[sa.Table, Any]]:
    """(table, condition) for every table holding rows of the project, parents first."""
    skipped = set(skip)
    scoped: list[tuple[sa.Table, Any]] = []
    for table in _ordered(metadata):
        if table.name in skipped:
            continue
        if "project_id" in table.c:
            scoped.append((table, table.c.project_id == project_id))
        elif table.name == PROJECTS:
            scoped.append((table, table.c.id == project_id))
        else:
            parents = [
                table.c[name].in_(sa.select(parent.c.seq).where(parent.c.project_id == project_id))
                for name, parent in _references(metadata, table).items()
                if "project_id" in parent.c
            ]
            if parents:
                scoped.append((table, sa.and_(*parents)))
    return scoped


# Auth's table of projects, keyed by ``id`` rather than holding a ``project_id``.
PROJECTS = "projects"


def dump_project(conn: Connection, out: IO[bytes], project_id: str, *, skip: Iterable[str] = ()) -> int:
    """Write the rows of one project; returns how many. Run it inside one read transaction."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    return sum(_write_table(conn, out, table, where) for table, where in _project_scope(metadata, project_id, skip))


def delete_project(conn: Connection, project_id: str, *, skip: Iterable[str] = ()) -> None:
    """Delete every row of the project (children first; rows referring to them by foreign key go
    with them)."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    for table, where in reversed(_project_scope(metadata, project_id, skip)):
        conn.execute(table.delete().where(where))


Rewrite = Callable[[dict[str, Any]], dict[str, Any] | None]


def load_project(
    conn: Connection, lines: Iterable[bytes], project_id: str, *, rewrite: dict[str, Rewrite] | None = None
) -> dict[str, int]:
    """Insert the rows of a ``dump_project`` as project ``project_id`` (the project must not
    exist). Rows get new ``seq`` values and references follow them; ``rewrite[table]`` may change
    a row or drop it (``None``), and a row referring to a dropped one is dropped too. A row whose
    value of a single-column unique constraint another project already holds (an API key's or a
    session's secret) is left out. Returns the rows left out per table."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    referenced = {parent.name for table in metadata.tables.values() for parent in _references(metadata, table).values()}
    new_seqs: dict[str, dict[int, int]] = {name: {} for name in referenced}
    left_out: dict[str, int] = {}
    for table, rows in _tables(metadata, lines):
        references = _references(metadata, table)
        uniques = [
            next(iter(constraint.columns))
            for constraint in table.constraints
            if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) == 1
        ]
        batch: list[dict[str, Any]] = []
        for found in rows:
            row = _as_project(found, table, project_id, references, new_seqs, (rewrite or {}).get(table.name))
            if row is not None and any(
                conn.execute(sa.select(sa.literal(1)).where(column == row[column.name])).first() for column in uniques
            ):
                row = None
            if row is None:
                left_out[table.name] = left_out.get(table.name, 0) + 1
                continue
            old_seq = row.pop("seq") if "seq" in table.c and table.c.seq.primary_key else None
            if table.name in referenced and old_seq is not None:
                new_seqs[table.name][old_seq] = conn.execute(
                    table.insert().values(row).returning(table.c.seq)
                ).scalar_one()
                continue
            batch.append(row)
            if len(batch) == _BATCH:
                conn.execute(table.insert(), batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)
    return left_out


def _as_project(
    row: dict[str, Any],
    table: sa.Table,
    project_id: str,
    references: dict[str, sa.Table],
    new_seqs: dict[str, dict[int, int]],
    rewrite: Rewrite | None,
) -> dict[str, Any] | None:
    if "project_id" in row:
        row["project_id"] = project_id
    if table.name == PROJECTS:
        row["id"] = project_id
    for name, parent in references.items():
        if row[name] is not None:
            row[name] = new_seqs[parent.name].get(row[name])
            if row[name] is None:
                return None
    return rewrite(row) if rewrite else row


def rows_of(lines: Iterable[bytes], table_name: str) -> Iterator[dict[str, Any]]:
    """The rows of one table of a dump, as stored (JSON values, no database needed)."""
    stream = iter(lines)
    names: list[str] | None = None
    for line in stream:
        value = orjson.loads(line)
        if isinstance(value, dict):
            names = value["columns"] if value["table"] == table_name else None
        elif names is not None:
            yield dict(zip(names, value))


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
