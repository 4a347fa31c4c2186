"""Unit tests for nib.data.query: validation messages (wire format and per-query checks) and
execution semantics on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from nib.data.db import Database
from nib.data.db.schema import totals
from nib.data.db.types import JSONValue, UTCDateTime
from nib.data.listing import list_rows
from nib.data.query import Attribute, ListSpec, parse_queries
from nib.data.search import fts_ddl, normalize
from nib.data.totals import counter_ddl
from nib.tools.errors import AppwriteError

PREFIX = "Invalid `queries` param: "


def make_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("name", sa.String(128)),
        sa.Column("email", sa.String(320)),
        sa.Column("age", sa.Integer),
        sa.Column("active", sa.Boolean),
        sa.Column("born", UTCDateTime),
        sa.Column("labels", JSONValue),
        sa.Column("search", sa.Text),
    )


def make_spec(table: sa.Table, **kwargs) -> ListSpec:
    c = table.c
    attributes = {
        "$id": Attribute(c.id, "string"),
        "$createdAt": Attribute(c.created_at, "datetime"),
        "$updatedAt": Attribute(c.updated_at, "datetime"),
        "name": Attribute(c.name, "string"),
        "email": Attribute(c.email, "string"),
        "age": Attribute(c.age, "integer"),
        "active": Attribute(c.active, "boolean"),
        "born": Attribute(c.born, "datetime"),
        "labels": Attribute(c.labels, "string[]"),
    }
    return ListSpec(entity="User", table=table, attributes=attributes, **kwargs)


SPEC = make_spec(make_table("validation_only"))
LOGS_SPEC = make_spec(make_table("logs_only"), methods=frozenset({"limit", "offset"}))


def q(method: str, attribute: str | None = None, values: list | None = None) -> str:
    document: dict = {"method": method}
    if attribute is not None:
        document["attribute"] = attribute
    if values is not None:
        document["values"] = values
    return json.dumps(document)


def error_of(raw: object, spec: ListSpec = SPEC) -> AppwriteError:
    with pytest.raises(AppwriteError) as caught:
        parse_queries(raw, spec)
    return caught.value


def message_of(raw: object, spec: ListSpec = SPEC) -> str:
    error = error_of(raw, spec)
    assert (error.type, error.code) == ("general_argument_invalid", 400)
    return error.message


# ---------------------------------------------------------------------------------------------
# wire format


@pytest.mark.parametrize("raw", ["abc", {"method": "limit"}, 5, True])
def test_queries_must_be_an_array(raw):
    assert message_of(raw) == PREFIX + "Queries must be an array"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{bad json", "Invalid query: Invalid query: Syntax error"),
        ("", "Invalid query: Invalid query: Syntax error"),
        ('{"method": NaN}', "Invalid query: Invalid query: Syntax error"),
        ('"limit"', "Invalid query: Invalid query. Must be an array, got string"),
        ("5", "Invalid query: Invalid query. Must be an array, got integer"),
        ("1.5", "Invalid query: Invalid query. Must be an array, got double"),
        ("true", "Invalid query: Invalid query. Must be an array, got boolean"),
        ("null", "Invalid query: Invalid query. Must be an array, got NULL"),
        ('{"method":"cursorAsc","values":["x"]}', "Invalid query: Invalid query method: cursorAsc"),
        ('{"method":"notContains","attribute":"name","values":["x"]}', "Invalid query: Invalid query method: notContains"),
        ('{"attribute":"name"}', "Invalid query: Invalid query method: "),
        ("[1, 2]", "Invalid query: Invalid query method: "),
        ('{"method":5}', "Invalid query: Invalid query method. Must be a string, got integer"),
        ('{"method":"equal","attribute":["name"],"values":["x"]}', "Invalid query: Invalid query attribute. Must be a string, got array"),
        ('{"method":"equal","attribute":"name","values":"x"}', "Invalid query: Invalid query values. Must be an array, got string"),
        ('{"method":"or","values":["x","y"]}', "Invalid query: Invalid query. Must be an array, got string"),
        ('{"method":"or","values":[{"method":"bogus"},{"method":"isNull","attribute":"name"}]}', "Invalid query: Invalid query method: bogus"),
    ],
)  # fmt: skip
def test_syntax_errors(text, message):
    assert message_of([text]) == PREFIX + message


def test_absent_attribute_and_values_default_to_empty():
    parsed = parse_queries(['{"method":"orderDesc"}', '{"method":"isNull","attribute":"email","extra":1}'], SPEC)
    assert [o.descending for o in parsed.orders] == [True]
    assert parsed.orders[0].target is None
    assert [(f.method, f.attribute, f.values) for f in parsed.filters] == [("isNull", "email", ())]


def test_none_means_no_queries():
    parsed = parse_queries(None, SPEC)
    assert (parsed.filters, parsed.orders, parsed.limit, parsed.offset, parsed.cursor) == ((), (), 25, 0, None)


def test_query_count_and_length_caps():
    cap_message = (
        PREFIX + "Value must a valid array no longer than 100 items and Value must be a valid string and "
        "at least 1 chars and no longer than 4096 chars"
    )
    assert len(parse_queries([q("limit", values=[1])] * 100, SPEC).filters) == 0
    assert message_of([q("limit", values=[1])] * 101) == cap_message
    long_ok = q("equal", "name", ["x" * (4096 - len(q("equal", "name", [""])))])
    assert len(long_ok) == 4096
    assert parse_queries([long_ok], SPEC).filters[0].values[0].startswith("xxx")
    assert message_of([q("equal", "name", ["x" * 4096])]) == cap_message
    assert message_of([{"method": "limit", "values": [1]}]) == cap_message


def test_select_is_rejected():
    assert message_of([q("select", values=["name"])]) == PREFIX + "Invalid query method: select"


@pytest.mark.parametrize(
    "text",
    [
        q("equal", "name", ["x"]),
        q("orderAsc", "name"),
        q("cursorAfter", values=["abc"]),
        q("or", values=[{"method": "isNull", "attribute": "name"}] * 2),
        q("search", "name", ["x"]),
    ],
)
def test_logs_spec_accepts_only_limit_and_offset(text):
    method = json.loads(text)["method"]
    assert message_of([text], LOGS_SPEC) == PREFIX + f"Invalid query method: {method}"


def test_logs_spec_limit_offset():
    parsed = parse_queries([q("limit", values=[5]), q("offset", values=[10])], LOGS_SPEC)
    assert (parsed.limit, parsed.offset) == (5, 10)
    assert message_of([q("limit", values=[-1])], LOGS_SPEC) == (
        PREFIX + "Invalid query: Invalid limit: Value must be a valid range between 1 and 9,223,372,036,854,775,807"
    )
    assert message_of([q("offset", values=[-1])], LOGS_SPEC) == (
        PREFIX + "Invalid query: Invalid offset: Value must be a valid range between 0 and 9,223,372,036,854,775,807"
    )


# ---------------------------------------------------------------------------------------------
# per-query validation

LIMIT_RANGE = "Invalid limit: Value must be a valid range between 1 and 9,223,372,036,854,775,807"
OFFSET_RANGE = "Invalid offset: Value must be a valid range between 0 and 9,223,372,036,854,775,807"
UID = (
    "Invalid cursor: UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore. "
    "Can't start with a leading underscore"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (q("equal", "password", ["x"]), "Attribute not found in schema: password"),
        (q("equal", "", ["x"]), "Attribute not found in schema: "),
        (q("isNull", "billingPlan"), "Attribute not found in schema: billingPlan"),
        (q("orderAsc", "nope"), "Attribute not found in schema: nope"),
        (q("orderDesc", "search"), "Attribute not found in schema: search"),
        (q("equal", "name", []), "Equal queries require at least one value."),
        (q("equal", "name"), "Equal queries require at least one value."),
        (q("equal", "name", [[]]), "Equal queries require at least one value."),
        (q("contains", "name", []), "Contains queries require at least one value."),
        (q("notEqual", "name", ["a", "b"]), "NotEqual queries require exactly one value."),
        (q("lessThan", "age", []), "LessThan queries require exactly one value."),
        (q("lessThanEqual", "age", [1, 2]), "LessThanEqual queries require exactly one value."),
        (q("greaterThan", "age", []), "GreaterThan queries require exactly one value."),
        (q("greaterThanEqual", "age", [1, 2]), "GreaterThanEqual queries require exactly one value."),
        (q("search", "name", []), "Search queries require exactly one value."),
        (q("startsWith", "name", ["a", "b"]), "StartsWith queries require exactly one value."),
        (q("endsWith", "name", []), "EndsWith queries require exactly one value."),
        (q("between", "age", [1]), "Between queries require exactly two values."),
        (q("between", "age", [1, 2, 3]), "Between queries require exactly two values."),
        (q("equal", "name", ["x"] * 101), "Query on attribute has greater than 100 values: name"),
        (q("equal", "name", [5]), 'Query value is invalid for attribute "name"'),
        (q("equal", "name", [None]), 'Query value is invalid for attribute "name"'),
        (q("equal", "age", ["5"]), 'Query value is invalid for attribute "age"'),
        (q("equal", "age", [5.5]), 'Query value is invalid for attribute "age"'),
        (q("equal", "age", [True]), 'Query value is invalid for attribute "age"'),
        (q("equal", "age", [2**63]), 'Query value is invalid for attribute "age"'),
        (q("equal", "active", ["true"]), 'Query value is invalid for attribute "active"'),
        (q("equal", "active", [1]), 'Query value is invalid for attribute "active"'),
        (q("greaterThan", "born", ["yesterday"]), 'Query value is invalid for attribute "born"'),
        (q("greaterThan", "born", ["10000-01-01"]), 'Query value is invalid for attribute "born"'),
        (q("greaterThan", "$createdAt", [1700000000]), 'Query value is invalid for attribute "$createdAt"'),
        (q("between", "born", ["2020-01-01", "nope"]), 'Query value is invalid for attribute "born"'),
        (q("contains", "labels", [5]), 'Query value is invalid for attribute "labels"'),
        (q("contains", "age", [5]), 'Cannot query contains on attribute "age" because it is not an array or string.'),
        (q("contains", "active", [True]), 'Cannot query contains on attribute "active" because it is not an array or string.'),
        (q("equal", "labels", ["vip"]), 'Cannot query equal on attribute "labels" because it is an array.'),
        (q("startsWith", "labels", ["v"]), 'Cannot query startsWith on attribute "labels" because it is an array.'),
        (q("and", values=[{"method": "limit", "values": [1]}, {"method": "isNull", "attribute": "name"}]), "And queries can only contain filter queries"),
        (q("or", values=[{"method": "orderAsc", "attribute": "name"}, {"method": "isNull", "attribute": "name"}]), "Or queries can only contain filter queries"),
        (q("or", values=[{"method": "select", "values": ["name"]}, {"method": "isNull", "attribute": "name"}]), "Or queries can only contain filter queries"),
        (q("and", values=[{"method": "isNull", "attribute": "name"}]), "And queries require at least two queries"),
        (q("or", values=[]), "Or queries require at least two queries"),
        (q("or", values=[{"method": "isNull", "attribute": "name"}, {"method": "equal", "attribute": "nope", "values": ["x"]}]), "Attribute not found in schema: nope"),
        (q("and", values=[{"method": "isNull", "attribute": "name"}, {"method": "or", "values": [{"method": "equal", "attribute": "age", "values": ["x"]}, {"method": "isNull", "attribute": "age"}]}]), 'Query value is invalid for attribute "age"'),
        (q("limit", values=["abc"]), "Invalid limit: Value must be a valid number"),
        (q("limit", values=[]), "Invalid limit: Value must be a valid number"),
        (q("limit", values=[True]), "Invalid limit: Value must be a valid number"),
        (q("limit", values=[0]), LIMIT_RANGE),
        (q("limit", values=[-1]), LIMIT_RANGE),
        (q("limit", values=[2.5]), LIMIT_RANGE),
        (q("limit", values=["1.5"]), LIMIT_RANGE),
        (q("limit", values=[2**63]), LIMIT_RANGE),
        (q("offset", values=["abc"]), "Invalid limit: Value must be a valid number"),
        (q("offset", values=[None]), "Invalid limit: Value must be a valid number"),
        (q("offset", values=[-1]), OFFSET_RANGE),
        (q("cursorAfter", values=["x" * 37]), UID),
        (q("cursorAfter", values=[]), UID),
        (q("cursorBefore", values=["_leading"]), UID),
        (q("cursorBefore", values=["$notallowed"]), UID),
        (q("cursorAfter", values=[5]), UID),
    ],
)  # fmt: skip
def test_validation_messages(text, message):
    assert message_of([text]) == PREFIX + "Invalid query: " + message


def test_first_failure_wins():
    raw = [q("limit", values=[0]), "{bad", q("equal", "nope", ["x"])]
    assert message_of(raw) == PREFIX + "Invalid query: " + LIMIT_RANGE
    assert message_of([q("equal", "nope", ["x"]), q("limit", values=[0])]) == (
        PREFIX + "Invalid query: Attribute not found in schema: nope"
    )


def test_parsed_values_and_first_pagination_wins():
    parsed = parse_queries(
        [
            q("limit", values=["7"]),
            q("limit", values=[3]),
            q("offset", values=[4]),
            q("offset", values=[0]),
            q("cursorBefore", values=["abc.d-e_f"]),
            q("cursorAfter", values=["other"]),
            q("greaterThan", "born", ["2020-01-01T05:00:00+05:00"]),
            q("orderDesc", "age"),
            q("orderAsc", ""),
        ],
        SPEC,
    )
    assert (parsed.limit, parsed.offset) == (7, 4)
    assert (parsed.cursor.id, parsed.cursor.before) == ("abc.d-e_f", True)
    assert parsed.filters[0].values == (datetime(2020, 1, 1, tzinfo=timezone.utc),)
    assert [(o.target and o.target.kind, o.descending) for o in parsed.orders] == [("integer", True), (None, False)]


def test_default_limit_from_spec():
    assert parse_queries([], make_spec(SPEC.table, default_limit=10)).limit == 10


# ---------------------------------------------------------------------------------------------
# Execution on both dialects


@pytest.fixture
def db(engine):
    """The code under test reads through a ``Database`` on the same database as ``engine``."""
    database = Database(engine.url.render_as_string(hide_password=False))
    yield database
    database.dispose()


@pytest.fixture
def table(engine):
    table = make_table(f"q_{uuid.uuid4().hex[:12]}")
    with engine.begin() as conn:
        table.create(conn)
        for statement in fts_ddl(table.name, engine.dialect.name):
            conn.exec_driver_sql(statement)
    yield table
    with engine.begin() as conn:
        table.drop(conn)


T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def row(i: int, id: str, project: str = "p1", **fields) -> dict:
    values = {"name": None, "email": None, "age": None, "active": None, "born": None, "labels": None}
    values.update(fields)
    return {
        "project_id": project,
        "id": id,
        "created_at": T0 + timedelta(minutes=i),
        "updated_at": T0 + timedelta(minutes=100 - i),
        "search": normalize(id, values["email"], values["name"]),
        **values,
    }


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


PEOPLE = [
    row(0, "u0", name="Alice", email="alice@example.com", age=30, active=True, born=utc(1990, 1, 1), labels=["admin", "vip"]),
    row(1, "u1", name="Bob", email="bob@example.org", age=25, active=False, born=utc(1985, 6, 15, 12), labels=["vip"]),
    row(2, "u2", name="Carol 100% pure", email="carol@example.com", age=35, active=True, born=utc(2000, 2, 29), labels=[]),
    row(3, "u3", name="Dave 1000 pure"),  # every other attribute NULL (labels: JSON null)
    row(4, "u4", name="a_b", email="e@x.io", age=30, active=False, born=utc(1990, 1, 1), labels=["staff"]),
    row(5, "u5", name="axb", email="f@x.io", age=40, active=True, born=utc(1970, 1, 1), labels=["admin"]),
    row(6, "other", project="p2", name="Alice", email="alice@example.com", age=30, active=True, labels=["vip"]),
]  # fmt: skip


@pytest.fixture
def people(engine, table):
    with engine.begin() as conn:
        conn.execute(table.insert(), PEOPLE)
    return table


def run(db, table, queries: list[str], *, search: str | None = None, project: str = "p1", columns=None, counted=False):
    spec = make_spec(table, counted=counted)
    parsed = parse_queries(queries, spec)
    total, rows = list_rows(db, spec, scope={"project_id": project}, queries=parsed, search=search, columns=columns)
    return total, [r["id"] for r in rows]


def ids(db, table, *queries: str, **kwargs) -> list[str]:
    total, found = run(db, table, list(queries), **kwargs)
    assert total == len(found)  # all these results fit in one page
    return found


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (q("equal", "name", ["Alice"]), ["u0"]),
        (q("equal", "name", ["Alice", "Bob", "Nobody"]), ["u0", "u1"]),
        (q("equal", "$id", ["u3"]), ["u3"]),
        (q("equal", "age", [30]), ["u0", "u4"]),
        (q("equal", "active", [True]), ["u0", "u2", "u5"]),
        (q("equal", "active", [False]), ["u1", "u4"]),
        (q("equal", "born", ["1990-01-01T01:00:00+01:00"]), ["u0", "u4"]),
        (q("notEqual", "age", [30]), ["u1", "u2", "u5"]),
        (q("notEqual", "name", ["Alice"]), ["u1", "u2", "u3", "u4", "u5"]),
        (q("lessThan", "age", [30]), ["u1"]),
        (q("lessThanEqual", "age", [30]), ["u0", "u1", "u4"]),
        (q("greaterThan", "age", [30]), ["u2", "u5"]),
        (q("greaterThanEqual", "age", [35]), ["u2", "u5"]),
        (q("lessThan", "email", ["b"]), ["u0"]),
        (q("between", "age", [25, 30]), ["u0", "u1", "u4"]),
        (q("between", "age", [31, 30]), []),
        (q("greaterThan", "born", ["1989-12-31T23:00:00-01:00"]), ["u2"]),
        (q("greaterThanEqual", "born", ["1989-12-31T23:00:00-01:00"]), ["u0", "u2", "u4"]),
        (q("lessThan", "born", ["1980-01-01"]), ["u5"]),
        (q("between", "born", ["1985-06-15T12:00:00Z", "1990-01-01 00:00:00"]), ["u0", "u1", "u4"]),
        (q("greaterThan", "$createdAt", ["2024-01-01T00:04:00.000+00:00"]), ["u5"]),
        (q("lessThanEqual", "$updatedAt", ["2024-01-01T01:36:00Z"]), ["u4", "u5"]),
        (q("isNull", "email"), ["u3"]),
        (q("isNotNull", "email"), ["u0", "u1", "u2", "u4", "u5"]),
        (q("isNull", "age"), ["u3"]),
        (q("isNull", "labels"), ["u3"]),
        (q("isNotNull", "labels"), ["u0", "u1", "u2", "u4", "u5"]),
        (q("contains", "labels", ["vip"]), ["u0", "u1"]),
        (q("contains", "labels", ["staff", "admin"]), ["u0", "u4", "u5"]),
        (q("contains", "labels", ["nope"]), []),
        (q("contains", "name", ["pure"]), ["u2", "u3"]),
        (q("contains", "name", ["Bob", "pure"]), ["u1", "u2", "u3"]),
        (q("contains", "name", ["ALICE"]), ["u0"]),
        (q("contains", "email", ["@example."]), ["u0", "u1", "u2"]),
        (q("startsWith", "name", ["Carol"]), ["u2"]),
        (q("startsWith", "email", ["ALICE@"]), ["u0"]),
        (q("endsWith", "email", [".io"]), ["u4", "u5"]),
        (q("endsWith", "name", ["pure"]), ["u2", "u3"]),
        (q("search", "name", ["example"]), ["u0", "u1", "u2"]),
        (q("search", "email", ["bob"]), ["u1"]),
    ],
)  # fmt: skip
def test_filters(engine, db, people, query, expected):
    assert ids(db, people, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (q("contains", "name", ["100%"]), ["u2"]),  # not "1000" (% is literal)
        (q("contains", "name", ["%"]), ["u2"]),
        (q("startsWith", "name", ["a_"]), ["u4"]),  # not "axb" nor "Alice" (_ is literal)
        (q("contains", "name", ["_"]), ["u4"]),
        (q("endsWith", "name", ["% pure"]), ["u2"]),
        (q("endsWith", "name", ["_b"]), ["u4"]),
    ],
)
def test_like_wildcards_are_literal(engine, db, people, query, expected):
    assert ids(db, people, query) == expected


def test_like_escape_characters_are_literal(engine, db, table):
    names = ["a/b", "a//b", "a\\b", "ab", "a\\\\b", "x'y"]
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i, f"e{i}", name=n) for i, n in enumerate(names)])
    assert ids(db, table, q("startsWith", "name", ["a/"])) == ["e0", "e1"]
    assert ids(db, table, q("contains", "name", ["//"])) == ["e1"]
    assert ids(db, table, q("contains", "name", ["\\"])) == ["e2", "e4"]
    assert ids(db, table, q("endsWith", "name", ["\\b"])) == ["e2", "e4"]
    assert ids(db, table, q("contains", "name", ["\\\\"])) == ["e4"]
    assert ids(db, table, q("equal", "name", ["x'y"])) == ["e5"]
    assert ids(db, table, q("contains", "name", ["'"])) == ["e5"]


def test_and_or_nesting(engine, db, people):
    nested = q(
        "or",
        values=[
            {"method": "equal", "attribute": "name", "values": ["Alice"]},
            {
                "method": "and",
                "values": [
                    {"method": "greaterThan", "attribute": "age", "values": [30]},
                    {"method": "equal", "attribute": "active", "values": [True]},
                    {"method": "or", "values": [
                        {"method": "contains", "attribute": "labels", "values": ["admin"]},
                        {"method": "startsWith", "attribute": "name", "values": ["Car"]},
                    ]},
                ],
            },
        ],
    )  # fmt: skip
    assert ids(db, people, nested) == ["u0", "u2", "u5"]
    both = q(
        "and",
        values=[
            {"method": "isNotNull", "attribute": "email"},
            {"method": "lessThan", "attribute": "age", "values": [31]},
        ],
    )
    assert ids(db, people, both) == ["u0", "u1", "u4"]
    # Top-level filters are ANDed with the groups.
    assert ids(db, people, nested, q("notEqual", "$id", ["u5"])) == ["u0", "u2"]


def test_scope_is_applied(engine, db, people):
    assert ids(db, people, q("equal", "name", ["Alice"]), project="p2") == ["other"]
    assert run(db, people, [], project="p3") == (0, [])


ORDERINGS = {
    "natural": ([], ["u0", "u1", "u2", "u3", "u4", "u5"]),
    "natural desc": ([q("orderDesc", "")], ["u5", "u4", "u3", "u2", "u1", "u0"]),
    "natural asc": ([q("orderAsc")], ["u0", "u1", "u2", "u3", "u4", "u5"]),
    # NULL sorts first ascending, last descending; ties (age 30) by insertion order.
    "age asc": ([q("orderAsc", "age")], ["u3", "u1", "u0", "u4", "u2", "u5"]),
    "age desc": ([q("orderDesc", "age")], ["u5", "u2", "u0", "u4", "u1", "u3"]),
    "active desc, age desc": ([q("orderDesc", "active"), q("orderDesc", "age")], ["u5", "u2", "u0", "u4", "u1", "u3"]),
    "active asc, email desc": (
        [q("orderAsc", "active"), q("orderDesc", "email")],
        ["u3", "u4", "u1", "u5", "u2", "u0"],
    ),
    "born asc": ([q("orderAsc", "born")], ["u3", "u5", "u1", "u0", "u4", "u2"]),
    "createdAt desc": ([q("orderDesc", "$createdAt")], ["u5", "u4", "u3", "u2", "u1", "u0"]),
    "updatedAt asc": ([q("orderAsc", "$updatedAt")], ["u5", "u4", "u3", "u2", "u1", "u0"]),
    "id desc": ([q("orderDesc", "$id")], ["u5", "u4", "u3", "u2", "u1", "u0"]),
    "natural desc then age": ([q("orderDesc"), q("orderAsc", "age")], ["u5", "u4", "u3", "u2", "u1", "u0"]),
}


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_ordering(engine, db, people, ordering):
    queries, expected = ORDERINGS[ordering]
    assert run(db, people, queries) == (6, expected)


def test_limit_and_offset(engine, db, people):
    assert run(db, people, [q("limit", values=[2])]) == (6, ["u0", "u1"])
    assert run(db, people, [q("limit", values=[2]), q("offset", values=[2])]) == (6, ["u2", "u3"])
    assert run(db, people, [q("offset", values=[4])]) == (6, ["u4", "u5"])
    assert run(db, people, [q("offset", values=[6])]) == (6, [])
    assert run(db, people, [q("offset", values=[60])]) == (6, [])
    assert run(
        db, people, [q("limit", values=[1]), q("limit", values=[5]), q("offset", values=[1]), q("offset", values=[3])]
    ) == (6, ["u1"])
    assert run(db, people, [q("limit", values=[3]), q("orderDesc", "age"), q("offset", values=[1])]) == (
        6,
        ["u2", "u0", "u4"],
    )
    assert run(db, people, [q("equal", "active", [True]), q("limit", values=[2])]) == (3, ["u0", "u2"])
    assert run(db, people, [q("limit", values=[2**63 - 1])]) == (6, ["u0", "u1", "u2", "u3", "u4", "u5"])


def test_cursor_after_and_before(engine, db, people):
    assert run(db, people, [q("cursorAfter", values=["u0"])]) == (6, ["u1", "u2", "u3", "u4", "u5"])
    assert run(db, people, [q("cursorBefore", values=["u1"])]) == (6, ["u0"])
    assert run(db, people, [q("cursorBefore", values=["u4"]), q("limit", values=[2])]) == (6, ["u2", "u3"])
    assert run(db, people, [q("cursorAfter", values=["u1"]), q("limit", values=[2])]) == (6, ["u2", "u3"])
    assert run(db, people, [q("cursorAfter", values=["u1"]), q("offset", values=[1]), q("limit", values=[2])]) == (
        6,
        ["u3", "u4"],
    )
    assert run(db, people, [q("cursorAfter", values=["u5"])]) == (6, [])
    assert run(db, people, [q("cursorBefore", values=["u0"])]) == (6, [])
    # Only the first cursor counts.
    assert run(db, people, [q("cursorAfter", values=["u3"]), q("cursorBefore", values=["u3"])]) == (6, ["u4", "u5"])
    # The cursor row itself need not match the filters; total ignores the cursor.
    assert run(db, people, [q("equal", "active", [True]), q("cursorAfter", values=["u1"])]) == (3, ["u2", "u5"])


def test_cursor_with_order_desc(engine, db, people):
    by_age_desc = [q("orderDesc", "age")]  # u5 u2 u0 u4 u1 u3
    assert run(db, people, [*by_age_desc, q("cursorAfter", values=["u0"])]) == (6, ["u4", "u1", "u3"])
    assert run(db, people, [*by_age_desc, q("cursorBefore", values=["u4"]), q("limit", values=[2])]) == (
        6,
        ["u2", "u0"],
    )
    assert run(db, people, [*by_age_desc, q("cursorAfter", values=["u1"])]) == (6, ["u3"])
    assert run(db, people, [*by_age_desc, q("cursorAfter", values=["u3"])]) == (6, [])
    assert run(db, people, [*by_age_desc, q("cursorBefore", values=["u3"])]) == (6, ["u5", "u2", "u0", "u4", "u1"])
    assert run(db, people, [q("orderDesc"), q("cursorAfter", values=["u4"]), q("limit", values=[2])]) == (
        6,
        ["u3", "u2"],
    )


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_cursor_pages_match_the_ordering(engine, db, people, ordering):
    queries, expected = ORDERINGS[ordering]
    for limit in (1, 2, 25):
        for i, cursor in enumerate(expected):
            paging = [*queries, q("limit", values=[limit])]
            after = run(db, people, [*paging, q("cursorAfter", values=[cursor])])
            before = run(db, people, [*paging, q("cursorBefore", values=[cursor])])
            assert after == (6, expected[i + 1 :][:limit]), (cursor, limit)
            assert before == (6, expected[max(0, i - limit) : i]), (cursor, limit)


def test_cursor_walk_with_ties_covers_everything_once(engine, db, table):
    # 30 rows with only three distinct values: keyset pages must neither skip nor repeat.
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i, f"t{i}", age=[None, 1, 2][i % 3]) for i in range(30)])
    seen, cursor = [], None
    while True:
        queries = [q("orderDesc", "age"), q("limit", values=[4])]
        if cursor:
            queries.append(q("cursorAfter", values=[cursor]))
        total, page = run(db, table, queries)
        assert total == 30
        if not page:
            break
        seen += page
        cursor = page[-1]
    expected = [f"t{i}" for k in (2, 1, 0) for i in range(30) if i % 3 == k]
    assert seen == expected


@pytest.mark.parametrize("method", ["cursorAfter", "cursorBefore"])
@pytest.mark.parametrize("cursor", ["missing", "other"])  # "other" exists, but in project p2
def test_cursor_not_found(engine, db, people, method, cursor):
    with pytest.raises(AppwriteError) as caught:
        run(db, people, [q(method, values=[cursor])])
    assert (caught.value.type, caught.value.code) == ("general_cursor_not_found", 400)
    assert caught.value.message == f"User '{cursor}' for the 'cursor' value not found."


def test_total_counts_filters_and_search_but_not_pagination(engine, db, people):
    assert run(db, people, [q("limit", values=[1])]) == (6, ["u0"])
    assert run(db, people, [q("limit", values=[1]), q("offset", values=[5])]) == (6, ["u5"])
    assert run(db, people, [q("isNotNull", "email"), q("limit", values=[1]), q("offset", values=[1])]) == (5, ["u1"])
    assert run(db, people, [q("limit", values=[1])], search="example") == (3, ["u0"])
    assert run(db, people, [q("equal", "active", [True])], search="example") == (2, ["u0", "u2"])
    assert run(db, people, [q("offset", values=[10])], search="example") == (3, [])


def test_total_is_capped_at_5000(engine, db, table):
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i, f"r{i}", age=i % 7) for i in range(5003)])
    assert run(db, table, [q("limit", values=[1])]) == (5000, ["r0"])
    assert run(db, table, [q("limit", values=[10000])])[0] == 5000
    total, page = run(db, table, [q("offset", values=[5001])])
    assert (total, page) == (5000, ["r5001", "r5002"])
    total, page = run(db, table, [q("cursorBefore", values=["r5002"]), q("limit", values=[2])])
    assert (total, page) == (5000, ["r5000", "r5001"])
    total, page = run(db, table, [q("equal", "age", [3]), q("orderDesc"), q("limit", values=[2])])
    assert (total, page) == (715, ["r5001", "r4994"])


@pytest.fixture
def count_rows(engine):
    """``count_rows(table)``: keep ``table``'s rows counted per project in ``totals``, as users are."""
    counted: list[str] = []

    def install(table: sa.Table) -> None:
        with engine.begin() as conn:
            conn.execute(sa.schema.CreateTable(totals, if_not_exists=True))
            for statement in counter_ddl(table.name, engine.dialect.name):
                conn.exec_driver_sql(statement)
        counted.append(table.name)

    yield install
    with engine.begin() as conn:
        conn.execute(totals.delete().where(totals.c.table_name.in_(counted)))


def kept_total(engine, table: sa.Table, project: str) -> int | None:
    with engine.connect() as conn:
        where = (totals.c.table_name == table.name, totals.c.project_id == project)
        return conn.execute(sa.select(totals.c.total).where(*where)).scalar()


def test_counted_total_follows_inserts_and_deletes_and_is_capped(engine, db, table, count_rows):
    count_rows(table)
    # No row ever: no totals row (an offset past the end makes list_rows ask for the total).
    assert run(db, table, [q("offset", values=[10])], counted=True) == (0, [])
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i, f"r{i}", age=i % 7) for i in range(5003)])
        conn.execute(table.insert(), [row(i, f"o{i}", project="p2") for i in range(3)])
    assert run(db, table, [q("limit", values=[1])], counted=True) == (5000, ["r0"])
    assert run(db, table, [q("limit", values=[1])], counted=True, project="p2") == (3, ["o0"])
    assert (kept_total(engine, table, "p1"), kept_total(engine, table, "p2")) == (5003, 3)
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.id.in_(["r0", "r1", "r2", "r3", "o0", "o1"])))
    assert run(db, table, [q("limit", values=[1])], counted=True) == (4999, ["r4"])
    assert run(db, table, [q("offset", values=[5])], counted=True, project="p2") == (1, [])
    # Filters, search and other scopes count the matching rows, as for tables not counted.
    assert run(db, table, [q("equal", "age", [3]), q("limit", values=[1])], counted=True) == (714, ["r10"])
    assert run(db, table, [q("limit", values=[1])], counted=True, search="o2", project="p2") == (1, ["o2"])


def test_counting_starts_from_the_rows_already_there(engine, db, table, count_rows):
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i, f"r{i}") for i in range(30)])
    count_rows(table)
    count_rows(table)  # idempotent: the DDL recounts instead of adding up
    assert kept_total(engine, table, "p1") == 30
    assert run(db, table, [q("limit", values=[2])], counted=True) == (30, ["r0", "r1"])


def test_search_param_and_search_query(engine, db, people):
    assert ids(db, people, search="example") == ["u0", "u1", "u2"]
    assert ids(db, people, search="") == ["u0", "u1", "u2", "u3", "u4", "u5"]
    assert ids(db, people, search=">") == []
    assert ids(db, people, q("search", "name", ["pure"]), search="carol") == ["u2"]
    assert ids(db, people, q("orderDesc"), search="u1 u4 nothing") == ["u4", "u1"]


def test_search_needs_a_search_column(engine, db):
    bare = sa.Table(
        f"bare_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("id", sa.String(36)),
        sa.Column("name", sa.String(36)),
    )
    spec = ListSpec("Identity", bare, {"name": Attribute(bare.c.name, "string")})
    with engine.begin() as conn:
        bare.create(conn)
    try:
        with pytest.raises(AppwriteError) as caught:
            list_rows(db, spec, scope={}, queries=parse_queries([], spec), search="x")
        assert caught.value.type == "general_query_invalid"
        parsed = parse_queries([q("search", "name", ["x"])], spec)
        with pytest.raises(AppwriteError):
            list_rows(db, spec, scope={}, queries=parsed)
        assert list_rows(db, spec, scope={}, queries=parse_queries([], spec)) == (0, [])
    finally:
        with engine.begin() as conn:
            bare.drop(conn)


def test_columns_and_row_values(db, people):
    total, rows = run(db, people, [q("equal", "$id", ["u1"])], columns=[people.c.id, people.c.born, people.c.labels])
    assert (total, rows) == (1, ["u1"])
    spec = make_spec(people)
    _, (found,) = list_rows(db, spec, scope={}, queries=parse_queries([q("equal", "$id", ["u1"])], spec))
    assert found["born"] == utc(1985, 6, 15, 12)
    assert found["labels"] == ["vip"]
    assert found["active"] is False


def test_common_path_runs_at_most_two_statements(db, people, monkeypatch):
    statements: list = []
    run_statement = db.run
    monkeypatch.setattr(db, "run", lambda plan, params: statements.append(plan) or run_statement(plan, params))
    spec = make_spec(people)
    scope = {"project_id": "p1"}
    list_rows(db, spec, scope=scope, queries=parse_queries([q("limit", values=[2])], spec))
    assert len(statements) == 2  # page + count
    statements.clear()
    list_rows(db, spec, scope=scope, queries=parse_queries([], spec))
    assert len(statements) == 1  # a short first page is its own total
    statements.clear()
    list_rows(
        db, spec, scope=scope, queries=parse_queries([q("cursorAfter", values=["u1"]), q("limit", values=[1])], spec)
    )
    assert len(statements) == 3  # cursor row + page + count


def test_statements_are_prepared_once_per_shape(db, people, monkeypatch):
    prepared: list = []
    prepare = db.prepare
    monkeypatch.setattr(db, "prepare", lambda statement: prepared.append(statement) or prepare(statement))
    spec = make_spec(people)

    def page(project: str, name: str, cursor: str, search: str) -> list[str]:
        queries = [q("startsWith", "name", [name]), q("cursorAfter", values=[cursor]), q("limit", values=[1])]
        total, rows = list_rows(
            db, spec, scope={"project_id": project}, queries=parse_queries(queries, spec), search=search
        )
        return [r["id"] for r in rows]

    # A search on PostgreSQL also has its page with the matches sorted (listing._list_plan).
    sorted_page = 1 if db.dialect == "postgresql" else 0
    assert page("p1", "A", "u0", "example") == []
    assert len(prepared) == 3 + sorted_page  # cursor row, page, count
    # Same shape, other values: the prepared statements are reused and bound to the new values.
    assert page("p1", "C", "u1", "carol") == ["u2"]
    assert page("p2", "Al", "other", "alice") == []
    assert len(prepared) == 3 + sorted_page
    assert page("p1", "C", "u1", '"example com"') == ["u2"]  # an exact phrase is another shape
    assert len(prepared) == 5 + 2 * sorted_page


def test_a_search_walks_its_matches_in_list_order(engine, db, table, monkeypatch):
    # 40 rows in p1 and 20 in p2, every third holding "common": pages of a search in seq order,
    # both ways and through cursors, against the same list filtered in Python.
    rows = [
        row(i, f"r{i:02d}", project="p1" if i % 3 else "p2", name="common" if i % 2 else "rare") for i in range(60)
    ] + [row(60, "last", name="rare")]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    expected = [r["id"] for r in rows if r["project_id"] == "p1" and r["name"] == "common"]
    spec = make_spec(table)
    statements: list = []
    run_statement = db.run
    monkeypatch.setattr(
        db, "run", lambda plan, params: statements.append((plan, params)) or run_statement(plan, params)
    )

    def walk(order: str, cursor_method: str, start: str | None = None) -> list[str]:
        seen: list[str] = []
        while True:
            cursor = (seen[-1] if cursor_method == "cursorAfter" else seen[0]) if seen else start
            queries = [q("limit", values=[4]), q(order)]
            if cursor is not None:
                queries.append(q(cursor_method, values=[cursor]))
            total, page = list_rows(
                db, spec, scope={"project_id": "p1"}, queries=parse_queries(queries, spec), search="comm"
            )
            assert total == len(expected)
            if not page:
                return seen
            got = [r["id"] for r in page]
            seen = seen + got if cursor_method == "cursorAfter" else got + seen

    assert walk("orderAsc", "cursorAfter") == expected
    assert walk("orderDesc", "cursorAfter") == expected[::-1]
    # Backwards from the last row of p1, which does not match.
    assert walk("orderAsc", "cursorBefore", start="last") == expected
    if engine.dialect.name == "sqlite":
        # The full-text index drives each page in its rowid order: no sort of every match.
        with engine.connect() as conn:
            for plan, params in statements:
                sql, bound = plan.bind(params)
                steps = [str(step[-1]) for step in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(bound))]
                if f"{table.name}_fts" in sql:
                    assert steps[0].startswith(("SCAN", "CO-ROUTINE")) and not any("TEMP B-TREE" in s for s in steps), (
                        steps
                    )
