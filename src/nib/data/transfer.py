"""What the domains' ``transfer`` modules (a project's records exported and imported in nib's
export format, docs/export-format.md) share: the outcome of importing one record, the conflict
they report instead of writing when not asked to overwrite, reading a record's fields with a
clear message for a wrong one, and comparing what is stored with what is imported."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from ..tools import dates
from ..tools.validators import is_key
from .db import Database
from .rows import Row

# ``created``: it was not there; ``unchanged``: it was, with the same content; ``overwritten``:
# something else was there (the same ID, or the same unique value under another ID) and the
# record replaced it.
Outcome = Literal["created", "unchanged", "overwritten"]

# Fields that say when, not what: a record is the same as the stored one whatever they hold
# (a membership imported after its team moves the team's $updatedAt; a user signing in on the
# target moves accessedAt).
VOLATILE = frozenset({"$updatedAt", "accessedAt"})

_REQUIRED: Any = object()


class Conflict(Exception):
    """The record clashes with what is stored (the message says how); nothing was written."""


def field(record: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
    """``record[name]`` when of ``kind`` (``default`` when absent); ``ValueError`` naming the
    field otherwise. A boolean is not an integer here."""
    value = record.get(name, default)
    if value is _REQUIRED:
        raise ValueError(f"missing field {name!r}")
    if value is default and name not in record:
        return value
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ValueError(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def key_field(record: Mapping[str, Any], name: str) -> str:
    """An ID (Appwrite's Key rule)."""
    value = field(record, name, str)
    if not is_key(value):
        raise ValueError(f"field {name!r} is not a valid ID: {value!r}")
    return str(value)


def date_field(record: Mapping[str, Any], name: str, default: Any = _REQUIRED) -> datetime | None:
    """An ISO 8601 date/time (``null`` or ``""``: ``None``) as stored: UTC, milliseconds."""
    value = field(record, name, (str, type(None)), default)
    try:
        return dates.parse(value)
    except ValueError:
        raise ValueError(f"field {name!r} is not an ISO 8601 date: {value!r}") from None


def record_date(value: datetime | None) -> str | None:
    """A stored date as records hold it (``null`` when unset)."""
    return dates.fmt(value) if value is not None else None


def pages(
    db: Database, table: sa.Table, project_id: str, *where: sa.ColumnElement[bool], size: int = 500
) -> Iterator[list[Row]]:
    """The project's rows of ``table`` (and ``where``) in creation order, a page of ``size`` per
    read: an export of any size holds one page in memory, and no transaction stays open while
    the caller writes a page out."""
    after = 0
    while True:
        statement = (
            sa.select(table)
            .where(table.c.project_id == project_id, table.c.seq > after, *where)
            .order_by(table.c.seq)
            .limit(size)
        )
        with db.read() as conn:
            rows = [dict(row) for row in conn.execute(statement).mappings()]
        if not rows:
            return
        yield rows
        after = rows[-1]["seq"]


def comparable(record: Any) -> Any:
    """``record`` without its ``VOLATILE`` fields, at any depth."""
    if isinstance(record, dict):
        return {name: comparable(value) for name, value in record.items() if name not in VOLATILE}
    if isinstance(record, list):
        return [comparable(item) for item in record]
    return record


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
