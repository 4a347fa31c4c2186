"""Running validated list queries (``list_rows``) with statements prepared per query shape.

Building SQLAlchemy statements and executing them through a ``Connection`` costs several times
the SQL itself for a page of an indexed list. So the statements depend only on the *shape* of a
request (the spec's table, the scope's column names, each filter's method, attribute and number
of values, the sort keys, whether there is a search…), are built and compiled once per shape
(``Database.cached``) with a bind parameter for every value, and run on the driver path
(``Database.run``) with the request's values.

A plan records, for each bind parameter it names, where its value comes from in the request
(``_Binder``), so building and binding cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.util import ClauseAdapter

from ..tools.errors import AppwriteError
from . import search as fulltext
from .db import Database, Prepared
from .db.schema import totals
from .query import TOTAL_CAP, Filter, ListSpec, Order, ParsedQueries
from .rows import Row

SortKey = tuple[sa.ColumnElement[Any], bool]  # (column, descending)


@dataclass(frozen=True)
class Restriction:
    """The rows of a list a caller may read, when that derives from its roles.

    ``condition(table, values)`` is the SQL condition, given ``values`` as one expanding bind
    parameter (a handful of IDs or role strings, whatever the table's size). ``name`` tells
    conditions apart in the statement cache: one name, one condition.
    """

    name: str
    condition: Callable[[sa.Table, sa.BindParameter[Any]], sa.ColumnElement[bool]]
    values: Sequence[str]


def ids_in(ids: Sequence[str]) -> Restriction:
    """Only the rows with these ``$id``s (e.g. the teams a user is a member of)."""
    return Restriction("ids", lambda table, values: table.c.id.in_(values), ids)


def list_rows(
    db: Database,
    spec: ListSpec,
    *,
    scope: Mapping[str, Any],
    queries: ParsedQueries,
    search: str | None = None,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
    restriction: Restriction | None = None,
) -> tuple[int, list[Row]]:
    """Run validated queries: ``(total, page)``, rows as dicts by column key.

    ``scope`` is the caller's scope as column equalities by name (``{"project_id": …}``); cursors
    must exist within it. ``search`` is the endpoint's ``search`` param (empty/None = no search).
    ``total`` counts the rows matching scope, filters and search, ignoring pagination, capped at
    ``TOTAL_CAP``. ``columns`` defaults to the whole table. ``restriction`` limits the rows
    (cursor included) to those the caller may read, when that derives from its roles (teams, a
    fileSecurity bucket's files). Raises ``general_query_invalid`` for
    a search on a table without a ``search`` column and ``general_cursor_not_found`` for a cursor
    outside the scope.
    """
    table, dialect = spec.table, db.dialect
    filters = tuple(_filter_shape(spec, item, dialect) for item in queries.filters)
    # Empty for no search: a search of no words (``None``) is another shape.
    searched = (_search_shape(table, "search", search, dialect),) if search else ()
    keys = _sort_keys(table, queries.orders)
    if queries.cursor is not None and queries.cursor.before:
        keys = [(column, not descending) for column, descending in keys]
    scope_names = tuple(scope)
    restricted = None if restriction is None else restriction.name
    values = None if restriction is None else list(restriction.values)

    cursor_row = None
    if queries.cursor is not None:
        lookup = db.cached(
            ("cursor", table, scope_names, restricted, tuple(keys)),
            lambda: _cursor_plan(db, table, scope_names, restriction, keys),
        )
        found = db.run(lookup.statement, lookup.binder.params(_Request(queries, search, scope, None, values)))
        if not found:
            raise AppwriteError(
                "general_cursor_not_found", f"{spec.entity} '{queries.cursor.id}' for the 'cursor' value not found."
            )
        cursor_row = found[0]
    # NULL cursor values take other conditions (IS NULL), so they are part of the shape.
    nulls = None if cursor_row is None else tuple(value is None for value in cursor_row.values())
    shape = (
        "list",
        table,
        scope_names,
        restricted,
        filters,
        searched,
        tuple(keys),
        nulls,
        None if columns is None else tuple(columns),
    )
    plan = db.cached(
        shape, lambda: _list_plan(db, spec, queries, search, scope_names, restriction, keys, nulls, columns)
    )

    params = plan.binder.params(_Request(queries, search, scope, cursor_row, values))
    if plan.sorted_page is not None:
        # A search on PostgreSQL: the capped count first (through the search index), then the
        # page: few matches are sorted, many are met soon enough walking the list's order.
        counted = db.run(plan.count, params)
        total = counted[0]["total"] if counted else 0
        rows = db.run(plan.sorted_page if total < TOTAL_CAP else plan.page, params)
        if queries.cursor is not None and queries.cursor.before:
            rows.reverse()
        return total, rows
    rows = db.run(plan.page, params)
    if queries.cursor is not None and queries.cursor.before:
        rows.reverse()
    if queries.cursor is None and (0 < len(rows) < queries.limit or (not rows and queries.offset == 0)):
        # A short page (no cursor) ends the result set, so its end position is the total.
        return min(queries.offset + len(rows), TOTAL_CAP), rows
    counted = db.run(plan.count, params)
    # No row: a project that never had a row of a counted table has no ``totals`` row either.
    return (counted[0]["total"] if counted else 0), rows


# ---------------------------------------------------------------------------------------------
# Shapes: everything the statements depend on, cheap to compute per request


def _filter_shape(spec: ListSpec, item: Filter, dialect: str) -> tuple[Any, ...]:
    if item.method in ("and", "or"):
        return item.method, tuple(_filter_shape(spec, nested, dialect) for nested in item.values)
    if item.method == "search":
        return "search", _search_shape(spec.table, item.attribute, item.values[0], dialect)
    assert item.target is not None
    return item.method, item.target.column, item.target.kind, len(item.values)


def _search_shape(table: sa.Table, attribute: str, term: str, dialect: str) -> bool | None:
    """Whether the term is an exact phrase; ``None`` when it has no words (matches nothing)."""
    if "search" not in table.c:
        raise AppwriteError("general_query_invalid", f'Searching by attribute "{attribute}" requires a fulltext index.')
    words, exact = fulltext.parse_term(term)
    return exact if words else None


def _sort_keys(table: sa.Table, orders: Sequence[Order]) -> list[SortKey]:
    """(column, descending) pairs ending with ``seq``, which is unique: keys after it are moot."""
    keys: list[SortKey] = []
    for order in orders:
        column = table.c.seq if order.target is None else order.target.column
        keys.append((column, order.descending))
        if column is table.c.seq:
            return keys
    keys.append((table.c.seq, False))
    return keys


# ---------------------------------------------------------------------------------------------
# Plans


class _Request(NamedTuple):
    """Where bind values come from."""

    queries: ParsedQueries
    search: str | None
    scope: Mapping[str, Any]
    cursor_row: Row | None
    restriction_values: list[str] | None


Source = Callable[[_Request], Any]


class _Binder:
    """Names a plan's bind parameters and remembers each one's source in the request."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}

    def param(self, source: Source, type_: Any, *, expanding: bool = False) -> sa.BindParameter[Any]:
        name = f"p{len(self.sources)}"
        self.sources[name] = source
        return sa.bindparam(name, type_=type_, expanding=expanding)

    def search(self, table: sa.Table, dialect: str, exact: bool, term: Source) -> sa.ColumnElement[bool]:
        name = f"p{len(self.sources)}"
        clause = fulltext.search_clause(table, dialect, exact=exact, name=name)
        roles = ("match", "phrase") if exact and dialect == "postgresql" else ("match",)
        for role in roles:
            self.sources[f"{name}_{role}"] = _search_value(term, dialect, role)
        return clause

    def fts_match(self, fts: sa.Table, term: Source) -> sa.ColumnElement[bool]:
        """SQLite: the rows of the FTS5 index ``fts`` matching the term that ``term`` finds."""
        name = f"p{len(self.sources)}_match"
        self.sources[name] = _search_value(term, "sqlite", "match")
        return fulltext.fts_match(fts, sa.bindparam(name, type_=sa.String))

    def params(self, request: _Request) -> dict[str, Any]:
        """The bind values for ``request``."""
        return {name: source(request) for name, source in self.sources.items()}


@dataclass(frozen=True)
class _CursorPlan:
    statement: Prepared
    binder: _Binder


@dataclass(frozen=True)
class _ListPlan:
    page: Prepared
    count: Prepared
    binder: _Binder  # of every statement
    # The page with its matches sorted (PostgreSQL searches): for fewer than TOTAL_CAP matches.
    sorted_page: Prepared | None = None


def _scope_conditions(
    table: sa.Table, names: Sequence[str], restriction: Restriction | None, b: _Binder
) -> list[sa.ColumnElement[bool]]:
    conditions = [table.c[name] == b.param(_scope_value(name), table.c[name].type) for name in names]
    if restriction is not None:
        values = b.param(lambda r: r.restriction_values, sa.String(), expanding=True)
        conditions.append(restriction.condition(table, values))
    return conditions


def _cursor_plan(
    db: Database, table: sa.Table, scope_names: Sequence[str], restriction: Restriction | None, keys: list[SortKey]
) -> _CursorPlan:
    """The cursor row's sort-key values (``k0``, ``k1``…) within the scope."""
    b = _Binder()
    lookup = (
        sa.select(*(column.label(f"k{i}") for i, (column, _) in enumerate(keys)))
        .where(
            *_scope_conditions(table, scope_names, restriction, b), table.c.id == b.param(_cursor_id, table.c.id.type)
        )
        .limit(1)
    )
    return _CursorPlan(db.prepare(lookup), b)


def _cursor_id(r: _Request) -> str:
    assert r.queries.cursor is not None
    return r.queries.cursor.id


def _cursor_value(i: int) -> Source:
    """The cursor row's ``i``th sort-key value (plans with cursor conditions run with that row)."""

    def value(r: _Request) -> Any:
        assert r.cursor_row is not None
        return r.cursor_row[f"k{i}"]

    return value


def _scope_value(name: str) -> Source:
    return lambda r: r.scope[name]


def _filter_at(i: int) -> Callable[[_Request], Filter]:
    return lambda r: r.queries.filters[i]


def _nested_at(at: Callable[[_Request], Filter], j: int) -> Callable[[_Request], Filter]:
    """The ``j``th filter nested in the and/or filter that ``at`` finds."""
    return lambda r: at(r).values[j]


def _search_value(term: Source, dialect: str, role: str) -> Source:
    """The ``role`` value of ``search_values`` for the search term that ``term`` finds."""

    def value(r: _Request) -> str:
        values = fulltext.search_values(term(r), dialect)
        assert values is not None  # a plan searches only for a term with words
        return values[role]

    return value


def _list_plan(
    db: Database,
    spec: ListSpec,
    queries: ParsedQueries,
    search: str | None,
    scope_names: Sequence[str],
    restriction: Restriction | None,
    keys: list[SortKey],
    nulls: tuple[bool, ...] | None,
    columns: Sequence[sa.ColumnElement[Any]] | None,
) -> _ListPlan:
    """Page and count statements for the shape of these queries (their values are not used)."""
    table, dialect, b = spec.table, db.dialect, _Binder()
    source: sa.FromClause = table
    conditions = _scope_conditions(table, scope_names, restriction, b)
    for i, item in enumerate(queries.filters):
        conditions.append(_condition(spec, item, dialect, b, _filter_at(i)))
    if search:
        exact = _search_shape(table, "search", search, dialect)
        if exact is None:
            conditions.append(sa.false())
        elif dialect == "sqlite":
            # The matches drive the statements, read from the full-text index in rowid (seq)
            # order: a page in seq order stops after ``limit`` matches in scope and the count
            # after TOTAL_CAP, where ``seq IN (matches)`` would collect every match first.
            fts = fulltext.fts_table(table)
            source = fulltext.FtsJoin(fts, table)
            conditions.append(b.fts_match(fts, lambda r: r.search))
            keys = [(fts.c.rowid if column is table.c.seq else column, descending) for column, descending in keys]
        else:
            conditions.append(b.search(table, dialect, exact, lambda r: r.search))
    matching = sa.and_(sa.true(), *conditions)  # an empty scope and no filters: every row

    page_condition = matching
    if nulls is not None:
        page_condition = sa.and_(matching, _after_cursor(keys, nulls, b))
    selected = columns if columns is not None else [table]
    ordering = [_order_clause(column, descending) for column, descending in keys]
    limit = b.param(lambda r: r.queries.limit, sa.BigInteger)
    offset = b.param(lambda r: r.queries.offset, sa.BigInteger)
    page = (
        sa.select(*selected).select_from(source).where(page_condition).order_by(*ordering).limit(limit).offset(offset)
    )
    sorted_page = None
    if search and dialect == "postgresql":
        # The same page, its matches found through the search index first and then sorted: the
        # subquery's OFFSET 0 keeps PostgreSQL from walking an index in list order instead,
        # checking every row against the term until the page is full (all rows, for a rare
        # word, since the planner cannot tell how rare a prefix is).
        matches = sa.select(table).where(page_condition).offset(sa.literal_column("0")).subquery("matches")
        adapter = ClauseAdapter(matches)
        sorted_page = (
            sa.select(*(adapter.traverse(column) for column in (columns or table.c)))
            .select_from(matches)
            .order_by(*(adapter.traverse(clause) for clause in ordering))
            .limit(limit)
            .offset(offset)
        )
    if (
        spec.counted
        and tuple(scope_names) == ("project_id",)
        and restriction is None
        and not queries.filters
        and not search
    ):
        # Every row of the project: its maintained count, capped.
        count = sa.select(sa.case((totals.c.total > TOTAL_CAP, TOTAL_CAP), else_=totals.c.total).label("total")).where(
            totals.c.table_name == table.name, *_scope_conditions(totals, scope_names, None, b)
        )
    else:
        capped = (
            sa.select(sa.literal_column("1").label("one"))
            .select_from(source)
            .where(matching)
            .limit(TOTAL_CAP)
            .subquery()
        )
        count = sa.select(sa.func.count().label("total")).select_from(capped)
    return _ListPlan(db.prepare(page), db.prepare(count), b, None if sorted_page is None else db.prepare(sorted_page))


def _condition(
    spec: ListSpec, item: Filter, dialect: str, b: _Binder, at: Callable[[_Request], Filter]
) -> sa.ColumnElement[bool]:
    """The condition for the filter that ``at`` finds in a request."""
    method, values = item.method, item.values
    if method in ("and", "or"):
        nested = [_condition(spec, inner, dialect, b, _nested_at(at, j)) for j, inner in enumerate(values)]
        return sa.and_(*nested) if method == "and" else sa.or_(*nested)

    def value(k: int) -> Source:
        return lambda r: at(r).values[k]

    def all_values(r: _Request) -> list[Any]:
        return list(at(r).values)

    if method == "search":
        exact = _search_shape(spec.table, item.attribute, values[0], dialect)
        return sa.false() if exact is None else b.search(spec.table, dialect, exact, value(0))
    assert item.target is not None
    column, kind = item.target.column, item.target.kind
    if kind.endswith("[]"):
        if method == "contains":
            return _array_contains_any(column, b, all_values, dialect)
        null = sa.or_(column.is_(None), _json_type(column, dialect) == sa.literal_column("'null'"))
        return null if method == "isNull" else sa.not_(null)

    def bind(k: int) -> sa.BindParameter[Any]:
        # Typed like the column (datetimes bind as stored; ``<`` works for booleans).
        return b.param(value(k), column.type)

    def pattern(k: int) -> sa.BindParameter[Any]:
        # LIKE wildcards in values are literal (as ``autoescape`` does for literal values).
        return b.param(lambda r: fulltext.like_escape(at(r).values[k]), sa.String)

    match method:
        case "equal":
            if len(values) > 1:
                return column.in_(b.param(all_values, column.type, expanding=True))
            return column == bind(0)
        case "notEqual":
            return column != bind(0)
        case "lessThan":
            return column < bind(0)
        case "lessThanEqual":
            return column <= bind(0)
        case "greaterThan":
            return column > bind(0)
        case "greaterThanEqual":
            return column >= bind(0)
        case "between":
            return column.between(bind(0), bind(1))
        case "isNull":
            return column.is_(None)
        case "isNotNull":
            return column.is_not(None)
        # Case-insensitive like MariaDB's collation.
        case "contains":
            return sa.or_(*(column.icontains(pattern(k), escape="/") for k in range(len(values))))
        case "startsWith":
            return column.istartswith(pattern(0), escape="/")
        case "endsWith":
            return column.iendswith(pattern(0), escape="/")
    raise ValueError(f"unhandled filter {method!r}")


def _array_contains_any(
    column: sa.ColumnElement[Any], b: _Binder, values: Source, dialect: str
) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return column.op("?|")(sa.cast(b.param(values, ARRAY(sa.Text)), ARRAY(sa.Text)))
    elements = sa.func.json_each(column).table_valued("value")
    matching = elements.c.value.in_(b.param(values, sa.String, expanding=True))
    return sa.exists(sa.select(sa.literal_column("1")).select_from(elements).where(matching))


def _json_type(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[str]:
    return sa.func.jsonb_typeof(column) if dialect == "postgresql" else sa.func.json_type(column)


def _nullable(column: sa.ColumnElement[Any]) -> bool:
    return getattr(column, "nullable", True) is not False


def _order_clause(column: sa.ColumnElement[Any], descending: bool) -> sa.ColumnElement[Any]:
    # NULL sorts as the smallest value on both dialects (SQLite's and MariaDB's behaviour);
    # NOT NULL columns get a plain clause so PostgreSQL can use their indexes for the order.
    clause = column.desc() if descending else column.asc()
    if _nullable(column):
        clause = clause.nulls_last() if descending else clause.nulls_first()
    return clause


def _after_cursor(keys: list[SortKey], nulls: tuple[bool, ...], b: _Binder) -> sa.ColumnElement[bool]:
    """Rows strictly after the cursor row in the ordering ``keys`` (a compound keyset);
    ``nulls`` tells which of the cursor row's key values are NULL."""
    alternatives = []
    equal_so_far: list[sa.ColumnElement[bool]] = []
    for i, ((column, descending), null) in enumerate(zip(keys, nulls, strict=True)):
        value = None if null else b.param(_cursor_value(i), column.type)
        alternatives.append(sa.and_(*equal_so_far, _beyond(column, descending, value)))
        equal_so_far.append(column.is_(None) if value is None else column == value)
    return sa.or_(*alternatives)


def _beyond(
    column: sa.ColumnElement[Any], descending: bool, value: sa.BindParameter[Any] | None
) -> sa.ColumnElement[bool]:
    """``column`` strictly after ``value`` in one sort direction, NULL (``None``) being the smallest."""
    if value is None:
        return sa.false() if descending else column.is_not(None)
    if not descending:
        return column > value
    if _nullable(column):
        return sa.or_(column < value, column.is_(None))
    return column < value
