"""Appwrite list queries: validation (``parse_queries``); ``nib.data.listing`` runs them.

The ``queries`` param is a list of JSON strings such as
``{"method":"equal","attribute":"name","values":["a"]}``. ``parse_queries`` checks them against a
``ListSpec`` (the endpoint's attribute allow-list and accepted methods) and raises
``AppwriteError`` 400 with Appwrite 1.5's messages.

Every listable table has ``seq`` (integer primary key, insertion order: the default order and
the tie-breaker) and ``id`` (the public ``$id``); searchable tables also have ``search`` (see
``nib.data.search``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from ..tools.errors import invalid_argument
from ..tools.validators import LONE_SURROGATE, TOO_DEEP, refusal

FILTER_METHODS = frozenset(
    {
        "equal", "notEqual", "lessThan", "lessThanEqual", "greaterThan", "greaterThanEqual",
        "contains", "search", "isNull", "isNotNull", "between", "startsWith", "endsWith",
    }
)  # fmt: skip
LOGICAL_METHODS = frozenset({"and", "or"})
ORDER_METHODS = frozenset({"orderAsc", "orderDesc"})
CURSOR_METHODS = frozenset({"cursorAfter", "cursorBefore"})
# Everything a list endpoint with an allow-list accepts (``select`` is not among them).
ALL_METHODS = FILTER_METHODS | LOGICAL_METHODS | ORDER_METHODS | CURSOR_METHODS | {"limit", "offset"}
_KNOWN_METHODS = ALL_METHODS | {"select"}

MAX_QUERIES = 100
MAX_QUERY_LENGTH = 4096
MAX_VALUES = 100
TOTAL_CAP = 5000  # Appwrite's APP_LIMIT_COUNT

_PREFIX = "Invalid `queries` param: "
_INT64_MAX = 2**63 - 1
_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,35}")
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
_NUMERIC_TEXT = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)
_UID_MESSAGE = (
    "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore. "
    "Can't start with a leading underscore"
)


@dataclass(frozen=True)
class Attribute:
    """A queryable attribute: its column and kind.

    ``kind`` is ``string``, ``integer``, ``boolean``, ``datetime`` or ``string[]`` (a JSON array
    of strings).
    """

    column: sa.ColumnElement[Any]
    kind: str


STRING, BOOL, DATE = "string", "boolean", "datetime"


def standard_attributes(table: sa.Table) -> dict[str, Attribute]:
    """``$id``, ``$createdAt`` and ``$updatedAt``: queryable on every listable table."""
    return {
        "$id": Attribute(table.c.id, STRING),
        "$createdAt": Attribute(table.c.created_at, DATE),
        "$updatedAt": Attribute(table.c.updated_at, DATE),
    }


@dataclass(frozen=True)
class ListSpec:
    """What one list endpoint accepts.

    ``attributes`` is the allow-list by public name (callers include ``$id``, ``$createdAt``,
    ``$updatedAt``); ``entity`` names the resource in the cursor-not-found message; ``methods``
    narrows the accepted methods (log endpoints pass ``{"limit", "offset"}``). ``counted``: the
    table's rows per project are counted in ``totals`` (``nib.data.totals``), which then gives
    the total of lists scoped by project alone, without filters or search.
    """

    entity: str
    table: sa.Table
    attributes: Mapping[str, Attribute]
    methods: frozenset[str] = ALL_METHODS
    default_limit: int = 25
    counted: bool = False


@dataclass(frozen=True)
class Filter:
    """One validated filter; for ``and``/``or`` ``values`` holds the nested filters."""

    method: str
    attribute: str
    target: Attribute | None
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Order:
    """Sort key; ``target`` is ``None`` for the natural (insertion) order."""

    target: Attribute | None
    descending: bool


@dataclass(frozen=True)
class Cursor:
    """Page after (or before) the row with this ``$id``."""

    id: str
    before: bool


@dataclass(frozen=True)
class ParsedQueries:
    """Validated queries. Only the first limit, offset and cursor count (as in Appwrite)."""

    filters: tuple[Filter, ...]
    orders: tuple[Order, ...]
    limit: int
    offset: int = 0
    cursor: Cursor | None = None


# ---------------------------------------------------------------------------------------------
# Validation


class _Invalid(Exception):
    """Message after ``Invalid `queries` param: ``."""


def parse_queries(raw: object, spec: ListSpec) -> ParsedQueries:
    """Validate the raw ``queries`` param against ``spec``.

    Raises ``AppwriteError("general_argument_invalid")`` whose message is Appwrite's, e.g.
    ``Invalid `queries` param: Invalid query: Attribute not found in schema: x``. Queries are
    checked in order and the first failure is reported.
    """
    if raw is None:
        raw = []
    if not isinstance(raw, (list, tuple)):
        raise invalid_argument(_PREFIX + "Queries must be an array")
    if len(raw) > MAX_QUERIES or any(not isinstance(q, str) or len(q) > MAX_QUERY_LENGTH for q in raw):
        raise invalid_argument(
            _PREFIX + f"Value must a valid array no longer than {MAX_QUERIES} items and Value must be a "
            f"valid string and at least 1 chars and no longer than {MAX_QUERY_LENGTH} chars"
        )
    filters: list[Filter] = []
    orders: list[Order] = []
    limit: int | None = None
    offset: int | None = None
    cursor: Cursor | None = None
    try:
        for text in raw:
            method, attribute, values = _decode(text)
            if method not in spec.methods:
                raise _Invalid(f"Invalid query method: {method}")
            if method in FILTER_METHODS or method in LOGICAL_METHODS:
                filters.append(_filter(spec, method, attribute, values))
            elif method in ORDER_METHODS:
                orders.append(_order(spec, method, attribute))
            elif method == "limit":
                given = _limit(values)
                limit = given if limit is None else limit
            elif method == "offset":
                given = _offset(values)
                offset = given if offset is None else offset
            else:
                cursor_id = _cursor(values)
                cursor = cursor or Cursor(cursor_id, before=method == "cursorBefore")
    except _Invalid as error:
        raise invalid_argument(_PREFIX + str(error)) from None
    return ParsedQueries(
        filters=tuple(filters),
        orders=tuple(orders),
        limit=spec.default_limit if limit is None else limit,
        offset=offset or 0,
        cursor=cursor,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # PHP's json_decode has no NaN/Infinity


# What PHP's json_decode says (json_last_error_msg) of values nib refuses to take as parameters.
_PHP_JSON_ERRORS = {
    TOO_DEEP: "Maximum stack depth exceeded",
    LONE_SURROGATE: "Single unpaired UTF-16 surrogate in unicode escape",
}


def _decode(text: str) -> tuple[str, str, list[Any]]:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _Invalid("Invalid query: Invalid query: " + _PHP_JSON_ERRORS[TOO_DEEP]) from None
    except ValueError:
        raise _Invalid("Invalid query: Invalid query: Syntax error") from None
    problem = refusal(document)
    if problem:
        # PHP reads NUL, but nib stores no NUL, so that refusal is nib's own sentence.
        raise _Invalid("Invalid query: Invalid query: " + _PHP_JSON_ERRORS.get(problem, f"Value {problem}."))
    return _query_parts(document)


def _query_parts(document: Any) -> tuple[str, str, list[Any]]:
    """Utopia's ``Query::parseQuery`` (a JSON list is a PHP array without the expected keys)."""
    if isinstance(document, list):
        document = {}
    if not isinstance(document, dict):
        raise _Invalid(f"Invalid query: Invalid query. Must be an array, got {_php_type(document)}")
    method = _default(document.get("method"), "")
    attribute = _default(document.get("attribute"), "")
    values = _default(document.get("values"), [])
    if not isinstance(method, str):
        raise _Invalid(f"Invalid query: Invalid query method. Must be a string, got {_php_type(method)}")
    if method not in _KNOWN_METHODS:
        raise _Invalid(f"Invalid query: Invalid query method: {method}")
    if not isinstance(attribute, str):
        raise _Invalid(f"Invalid query: Invalid query attribute. Must be a string, got {_php_type(attribute)}")
    if isinstance(values, dict):
        values = list(values.values())
    if not isinstance(values, list):
        raise _Invalid(f"Invalid query: Invalid query values. Must be an array, got {_php_type(values)}")
    if method in LOGICAL_METHODS:
        values = [_query_parts(nested) for nested in values]
    return method, attribute, values


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _php_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "NULL"
    return "array"


def _filter(spec: ListSpec, method: str, attribute: str, values: list[Any]) -> Filter:
    """Utopia's ``Validator\\Query\\Filter``, checks in its order; nested queries recursively."""
    name = method[0].upper() + method[1:]
    if method in LOGICAL_METHODS:
        if any(m not in FILTER_METHODS and m not in LOGICAL_METHODS for m, _, _ in values):
            raise _Invalid(f"Invalid query: {name} queries can only contain filter queries")
        if len(values) < 2:
            raise _Invalid(f"Invalid query: {name} queries require at least two queries")
        nested = []
        for m, a, v in values:
            if m not in spec.methods:
                raise _Invalid(f"Invalid query method: {m}")
            nested.append(_filter(spec, m, a, v))
        return Filter(method, "", None, tuple(nested))

    if method in ("equal", "contains"):
        if not values or values[0] == []:
            raise _Invalid(f"Invalid query: {name} queries require at least one value.")
    elif method == "between":
        if len(values) != 2:
            raise _Invalid(f"Invalid query: {name} queries require exactly two values.")
    elif method not in ("isNull", "isNotNull") and len(values) != 1:
        raise _Invalid(f"Invalid query: {name} queries require exactly one value.")

    target = spec.attributes.get(attribute)
    if target is None:
        raise _Invalid(f"Invalid query: Attribute not found in schema: {attribute}")
    if len(values) > MAX_VALUES:
        raise _Invalid(f"Invalid query: Query on attribute has greater than {MAX_VALUES} values: {attribute}")
    is_array = target.kind.endswith("[]")
    base_kind = target.kind[:-2] if is_array else target.kind
    converted = []
    for value in values:
        ok, value = _convert(base_kind, value)
        if not ok:
            raise _Invalid(f'Invalid query: Query value is invalid for attribute "{attribute}"')
        converted.append(value)
    if method == "contains" and not is_array and base_kind != "string":
        raise _Invalid(
            f'Invalid query: Cannot query contains on attribute "{attribute}" because it is not an array or string.'
        )
    if is_array and method not in ("contains", "isNull", "isNotNull"):
        raise _Invalid(f'Invalid query: Cannot query {method} on attribute "{attribute}" because it is an array.')
    return Filter(method, attribute, target, tuple(converted))


def _convert(kind: str, value: Any) -> tuple[bool, Any]:
    """Type-check one filter value; datetimes become aware UTC datetimes."""
    if kind == "string":
        return isinstance(value, str), value
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool) and -_INT64_MAX - 1 <= value <= _INT64_MAX
        return ok, value
    if kind == "boolean":
        return isinstance(value, bool), value
    if kind == "datetime":
        parsed = _parse_datetime(value)
        return parsed is not None, parsed
    raise ValueError(f"unknown attribute kind {kind!r}")


def _parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date/time (naive means UTC) as an aware UTC datetime, else ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00
        return None


def _order(spec: ListSpec, method: str, attribute: str) -> Order:
    if attribute == "":
        target = None
    else:
        target = spec.attributes.get(attribute)
        if target is None:
            raise _Invalid(f"Invalid query: Attribute not found in schema: {attribute}")
    return Order(target, descending=method == "orderDesc")


def _first_value(values: list[Any]) -> Any:
    return values[0] if values else None


def _integer(value: Any, minimum: int, what: str, not_numeric: str) -> int:
    """Utopia's Numeric then Range(minimum, PHP_INT_MAX) validators."""
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) or (isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value))
    ):
        raise _Invalid(f"Invalid query: Invalid {not_numeric}: Value must be a valid number")
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and minimum <= value <= _INT64_MAX:
        return value
    raise _Invalid(f"Invalid query: Invalid {what}: Value must be a valid range between {minimum:,} and {_INT64_MAX:,}")


def _limit(values: list[Any]) -> int:
    return _integer(_first_value(values), 1, "limit", "limit")


def _offset(values: list[Any]) -> int:
    return _integer(_first_value(values), 0, "offset", "limit")  # sic: Appwrite says "limit"


def _cursor(values: list[Any]) -> str:
    value = _first_value(values)
    if isinstance(value, str) and _UID.fullmatch(value):
        return value
    raise _Invalid(f"Invalid query: Invalid cursor: {_UID_MESSAGE}")
