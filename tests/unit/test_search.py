"""Unit tests for nib.data.search: normalization, term parsing, and the MariaDB-boolean-mode
emulation of Appwrite's `search` on SQLite FTS5 and PostgreSQL tsvector."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from nib.data.search import fts_ddl, normalize, parse_term, search_condition, tokens

# ---------------------------------------------------------------------------------------------
# Pure functions


def test_normalize_lowercases_splits_and_skips_empty_parts():
    assert normalize("U1", "Cristiano.Ronaldo@Manchester-United.co.uk", None, "", "Cristiano  Ronaldo") == (
        "u1 cristiano ronaldo manchester united co uk cristiano ronaldo"
    )
    assert normalize("+910000000000") == "910000000000"
    assert normalize("label:vip", "snake_case_id") == "label vip snake_case_id"
    assert normalize() == ""
    assert normalize(None, "  ", "@@") == ""
    assert normalize("Jörg Müller", "ÉCOLE") == "jörg müller école"


def test_tokens():
    assert tokens("a.b@c.com") == ["a", "b", "c", "com"]
    assert tokens("x_y-z") == ["x_y", "z"]
    assert tokens(None) == []


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Ronaldo", (["ronaldo"], False)),
        ('"Ronaldo"', (["ronaldo"], True)),
        ('"users.service@updated.com"', (["users", "service", "updated", "com"], True)),
        ("+910000000000", (["910000000000"], False)),
        ("a a b a", (["a", "b"], False)),  # OR of words: duplicates dropped
        ('"a a b"', (["a", "a", "b"], True)),  # a phrase keeps them
        ("-foo +bar* (baz) <qux> ~q", (["foo", "bar", "baz", "qux", "q"], False)),
        (">", ([], False)),
        ('""', ([], True)),
        ('"', ([], False)),
        ("   ", ([], False)),
        ('a"b', (["a", "b"], False)),
    ],
)
def test_parse_term(term, expected):
    assert parse_term(term) == expected


def test_ddl_rejects_odd_names_and_dialects():
    with pytest.raises(ValueError):
        fts_ddl("users; DROP TABLE x", "sqlite")
    with pytest.raises(ValueError):
        fts_ddl("users", "mysql")
    table = sa.Table("users", sa.MetaData(), sa.Column("seq", sa.Integer), sa.Column("search", sa.Text))
    with pytest.raises(ValueError):
        search_condition(table, "x", "mysql")


def test_empty_term_is_false_on_every_dialect():
    table = sa.Table("users", sa.MetaData(), sa.Column("seq", sa.Integer), sa.Column("search", sa.Text))
    for dialect in ("sqlite", "postgresql"):
        assert search_condition(table, "> < ~", dialect).compare(sa.false())


def test_user_text_is_bound_not_interpolated():
    table = sa.Table("users", sa.MetaData(), sa.Column("seq", sa.Integer), sa.Column("search", sa.Text))
    for dialect_name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        compiled = (
            sa.select(table.c.seq)
            .where(search_condition(table, "robert'); drop", dialect_name))
            .compile(dialect=dialect)
        )
        assert "robert" not in str(compiled)
        assert any("robert" in str(value) for value in compiled.params.values())


# ---------------------------------------------------------------------------------------------
# Both dialects


@pytest.fixture
def make(engine):
    """Create throwaway searchable tables (unique names), dropped afterwards."""
    created: list[sa.Table] = []

    def create(rows: list[tuple[str, str]]) -> sa.Table:
        table = sa.Table(
            f"s_{uuid.uuid4().hex[:12]}",
            sa.MetaData(),
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("id", sa.String(36), nullable=False),
            sa.Column("other", sa.String(36)),
            sa.Column("search", sa.Text),
        )
        with engine.begin() as conn:
            table.create(conn)
            created.append(table)
            for statement in fts_ddl(table.name, engine.dialect.name):
                conn.exec_driver_sql(statement)
            if rows:
                conn.execute(table.insert(), [{"id": id, "search": text} for id, text in rows])
        return table

    yield create
    with engine.begin() as conn:
        for table in created:
            table.drop(conn)


def find(engine, table: sa.Table, term: str) -> list[str]:
    condition = search_condition(table, term, engine.dialect.name)
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(table.c.id).where(condition).order_by(table.c.seq)))


USER_ID = "6571c2b0e8a9f1d2c3b4"
USERS = [
    ("ronaldo", normalize(USER_ID, "cristiano.ronaldo@manchester-united.co.uk", "Cristiano Ronaldo", "+910000000000", "label:vip")),
    ("updated", normalize("65aa00bb11cc22dd33ee", "users.service@updated.com", "Updated name")),
    ("messi", normalize("65ff00aa11bb22cc33dd", "lionel@barcelona.es", "Lionel Messi", "+14155550100")),
    ("empty", normalize("no_search_parts")),
    ("null", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        # The searches Appwrite's own tests require, each finding only the intended user.
        ("Ronaldo", ["ronaldo"]),
        ("cristiano.ronaldo@manchester-united.co.uk", ["ronaldo"]),
        ("cristiano.ronaldo", ["ronaldo"]),
        ("manchester", ["ronaldo"]),
        ("united.co.uk", ["ronaldo"]),
        ("man", ["ronaldo"]),
        (USER_ID, ["ronaldo"]),
        ('"users.service@updated.com"', ["updated"]),
        ("+910000000000", ["ronaldo"]),
        ("Updated name", ["updated"]),
        ("unknown", []),
        (">", []),
        # Further semantics.
        ("RONALDO", ["ronaldo"]),
        ("910000000000", ["ronaldo"]),
        ("9100", ["ronaldo"]),  # the last word is a prefix
        ("manch zzz", []),  # ... but only the last one
        ("zzz manch", ["ronaldo"]),
        ("ronaldo messi", ["ronaldo", "messi"]),  # any word
        ("messi ronaldo updated", ["ronaldo", "updated", "messi"]),
        ('"cristiano ronaldo"', ["ronaldo"]),  # exact phrase
        ('"ronaldo cristiano"', []),
        ('"Crist"', []),  # no prefix inside a phrase
        ('"updated name"', ["updated"]),
        ('"name"', ["updated"]),
        ("label:vip", ["ronaldo"]),
        ("co", ["ronaldo", "updated"]),  # short words count (MariaDB would drop them): co, com
        ('"co"', ["ronaldo"]),
        ("no_search", ["empty"]),  # "_" belongs to words
        ("no", ["empty"]),
        ("search_parts", []),
        ('@+-*()<>~"', []),
        ("OR AND NOT", []),  # no FTS5 / tsquery operators leak through
        ("NEAR(ronaldo messi)", ["ronaldo", "messi"]),
        ("ronaldo'); DROP TABLE users; --", ["ronaldo", "updated"]),  # "users" matches users.service
        ("back\\slash ronaldo", ["ronaldo"]),
        ("_", []),
    ],
)
def test_user_search(engine, make, term, expected):
    assert find(engine, make(USERS), term) == expected


def test_team_and_membership_search(engine, make):
    teams = make([("t1", normalize("t1", "Manchester United")), ("t2", normalize("t2", "Arsenal"))])
    assert find(engine, teams, "United") == ["t1"]
    assert find(engine, teams, "t2") == ["t2"]
    memberships = make(
        [("m1", normalize("65a1b2c3d4e5f6a7b8c9", "6571c2b0e8a9f1d2c3b4")), ("m2", normalize("m2id", "u2"))]
    )
    assert find(engine, memberships, "6571c2b0e8a9f1d2c3b4") == ["m1"]
    assert find(engine, memberships, "65a1b2c3d4e5f6a7b8c9") == ["m1"]
    assert find(engine, memberships, "m2id") == ["m2"]


def test_index_follows_writes(engine, make):
    table = make([("a", normalize("alpha beta")), ("b", normalize("gamma"))])
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == "a").values(search=normalize("delta")))
        conn.execute(table.update().where(table.c.id == "b").values(other="x"))  # search untouched
        conn.execute(table.insert().values(id="c", search=normalize("alphabet")))
    assert find(engine, table, "alpha") == ["c"]
    assert find(engine, table, "delta") == ["a"]
    assert find(engine, table, "gamma") == ["b"]
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.id == "a"))
        conn.execute(table.update().where(table.c.id == "c").values(search=None))
    assert find(engine, table, "delta") == []
    assert find(engine, table, "alpha") == []
    assert find(engine, table, "gamma") == ["b"]


def test_ddl_on_a_populated_table_indexes_existing_rows(engine, make):
    table = make([])
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": "old", "search": "before ddl"}])
        for statement in fts_ddl(table.name, engine.dialect.name):  # idempotent, rebuilds on SQLite
            conn.exec_driver_sql(statement)
    assert find(engine, table, "ddl") == ["old"]


def test_unnormalized_values_do_not_break_writes(engine, make):
    table = make([("a", "  double  spaced "), ("b", "")])
    assert find(engine, table, "spaced") == ["a"]
    assert find(engine, table, "double") == ["a"]


def test_two_conditions_in_one_statement(engine, make):
    table = make(USERS)
    both = sa.and_(
        search_condition(table, "ronaldo messi", engine.dialect.name),
        search_condition(table, '"lionel messi"', engine.dialect.name),
    )
    with engine.connect() as conn:
        assert list(conn.scalars(sa.select(table.c.id).where(both))) == ["messi"]


def test_phrase_with_underscore_is_not_a_wildcard(engine, make):
    table = make([("a", normalize("x_y z")), ("b", normalize("xay z x_y"))])
    assert find(engine, table, '"x_y z"') == ["a"]
    assert find(engine, table, "x_y") == ["a", "b"]


def test_backend_uses_its_index(engine, make):
    table = make([(f"r{i}", normalize(f"user{i}", "x@example.com")) for i in range(500)])
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {table.name}")
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            explain, index = "EXPLAIN ", f"{table.name}_search_idx"
        else:
            explain, index = "EXPLAIN QUERY PLAN ", f"{table.name}_fts"
        prefix = ["r42", *(f"r{i}" for i in range(420, 430))]
        for term, expected in (("user42", prefix), ('"user42 x"', ["r42"])):
            condition = search_condition(table, term, engine.dialect.name)
            statement = sa.select(table.c.id).where(condition)
            compiled = statement.compile(engine)
            params = compiled.params if engine.dialect.name == "postgresql" else tuple(compiled.params.values())
            plan = "\n".join(str(r) for r in conn.exec_driver_sql(explain + str(compiled), params))
            assert index in plan, plan
            assert list(conn.scalars(statement.order_by(table.c.seq))) == expected
