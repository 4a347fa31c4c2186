"""Full-text search over a table's ``search`` column, emulating Appwrite's MariaDB boolean mode.

Services store ``normalize(...)`` of a resource's searchable parts in ``search``; migrations run
``fts_ddl`` once after creating the table; list queries add ``search_clause`` (a prepared
condition, built once per query shape) bound to ``search_values`` of the user's term. On SQLite
a list's own search instead reads from the index first (``FtsJoin`` and ``fts_match``), so the
matches come in row order and a page stops once it is full.

Term semantics (utopia-php/database ``getFulltextValue``): a term wrapped in ``"`` is an exact
phrase; otherwise ``@ + - * ) ( < > ~ "`` are dropped and the result matches rows holding **any**
of its words, the **last** word as a prefix. A term with no words matches nothing.

Backends index the same token list, so both behave identically:

* SQLite: an external-content FTS5 table ``<table>_fts`` kept in sync by triggers.
* PostgreSQL: a GIN index on ``array_to_tsvector(...)`` of the space-separated tokens (lexemes
  verbatim: no stemming, no stop words, no parser surprises with e-mails or underscores).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.compiler import compiles

# A word is a run of letters, digits or "_" (Unicode-aware, like MariaDB's fulltext parser);
# everything else separates words, so "a.b@c.com" holds the words a, b, c, com.
_WORD = re.compile(r"[^\W]+")
_OPERATORS = re.compile(r'[@+\-*)(<>~"]')
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokens(text: str | None) -> list[str]:
    """The lower-cased words of ``text`` in order (duplicates kept)."""
    if not text:
        return []
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def normalize(*parts: str | None) -> str:
    """The value to store in a ``search`` column: every word of every part, lower-cased,
    joined by single spaces (``None`` and empty parts are skipped)."""
    return " ".join(word for part in parts for word in tokens(part))


def parse_term(term: str) -> tuple[list[str], bool]:
    """Split a user's search term into ``(words, exact)``; no words means "match nothing"."""
    exact = len(term) >= 2 and term.startswith('"') and term.endswith('"')
    stripped = " ".join(_OPERATORS.sub(" ", term).split())
    words = tokens(stripped)
    if not exact:
        words = list(dict.fromkeys(words))  # OR of words: duplicates add nothing
    return words, exact


def search_condition(table: sa.Table, term: str, dialect_name: str) -> sa.ColumnElement[bool]:
    """A WHERE condition selecting the rows of ``table`` whose ``search`` column matches ``term``.

    ``search_clause`` with its values bound (unique parameters, so conditions combine): the term
    is always sent as a bound parameter. ``sa.false()`` when it has no words.
    """
    values = search_values(term, dialect_name)
    if values is None:
        return sa.false()
    binds = {role: sa.bindparam("search", value, type_=sa.String, unique=True) for role, value in values.items()}
    return _clause(table, dialect_name, binds["match"], binds.get("phrase"))


def search_values(term: str, dialect_name: str) -> dict[str, str] | None:
    """The bind values of ``search_clause`` for ``term``, by role (the names after its prefix).

    ``match`` is the backend's query (FTS5 expression or tsquery text); a PostgreSQL phrase also
    has ``phrase``, a LIKE pattern (``/`` escapes). ``None`` when the term has no words: it matches
    nothing. Whether the term is an exact phrase (``parse_term``) decides the clause's shape.
    """
    words, exact = parse_term(term)
    if not words:
        return None
    if dialect_name == "sqlite":
        return {"match": _fts5_expression(words, exact)}
    if dialect_name == "postgresql":
        values = {"match": _tsquery(words, exact)}
        if exact:
            values["phrase"] = like_escape(" " + " ".join(words) + " ")
        return values
    raise ValueError(f"full-text search is not available on {dialect_name!r}")


def search_clause(table: sa.Table, dialect_name: str, *, exact: bool, name: str) -> sa.ColumnElement[bool]:
    """The search condition on ``table`` with bind parameters ``<name>_<role>`` for the roles of
    ``search_values`` (``name`` keeps two searches in one statement apart)."""
    phrase = sa.bindparam(f"{name}_phrase", type_=sa.String) if exact and dialect_name == "postgresql" else None
    return _clause(table, dialect_name, sa.bindparam(f"{name}_match", type_=sa.String), phrase)


def _clause(
    table: sa.Table, dialect_name: str, match: sa.BindParameter[Any], phrase: sa.BindParameter[Any] | None
) -> sa.ColumnElement[bool]:
    if dialect_name == "sqlite":
        return _sqlite_condition(table, match)
    if dialect_name == "postgresql":
        return _postgresql_condition(table, match, phrase)
    raise ValueError(f"full-text search is not available on {dialect_name!r}")


def fts_ddl(table_name: str, dialect_name: str) -> list[str]:
    """DDL that makes ``table_name``'s ``search`` column searchable; run once after creating it.

    Safe on a table that already holds rows (the SQLite index is rebuilt from the content).
    """
    if not _IDENTIFIER.fullmatch(table_name):
        raise ValueError(f"not a plain table name: {table_name!r}")
    t, fts = table_name, f"{table_name}_fts"
    if dialect_name == "sqlite":
        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(search, content='{t}', "
            f"content_rowid='seq', tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {t} BEGIN "
            f"INSERT INTO {fts}(rowid, search) VALUES (new.seq, new.search); END",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {t} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, search) VALUES ('delete', old.seq, old.search); END",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF search ON {t} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, search) VALUES ('delete', old.seq, old.search); "
            f"INSERT INTO {fts}(rowid, search) VALUES (new.seq, new.search); END",
            f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
        ]
    if dialect_name == "postgresql":
        return [f"CREATE INDEX IF NOT EXISTS {t}_search_idx ON {t} USING GIN ({_PG_VECTOR_SQL})"]
    raise ValueError(f"full-text search is not available on {dialect_name!r}")


def _sqlite_condition(table: sa.Table, match: sa.BindParameter[Any]) -> sa.ColumnElement[bool]:
    fts = fts_table(table)
    return table.c.seq.in_(sa.select(fts.c.rowid).where(fts_match(fts, match)))


def fts_table(table: sa.Table) -> sa.Table:
    """``table``'s FTS5 index on SQLite: ``rowid`` is the row's ``seq``."""
    name = f"{table.name}_fts"
    return sa.Table(name, sa.MetaData(), sa.Column("rowid", sa.Integer, nullable=False), sa.Column(name, sa.Text))


def fts_match(fts: sa.Table, match: sa.BindParameter[Any]) -> sa.ColumnElement[bool]:
    """The rows of ``fts`` matching the FTS5 expression bound to ``match``."""
    return fts.c[fts.name].op("MATCH")(match)


class FtsJoin(sa.sql.expression.Join):
    """``fts CROSS JOIN table ON table.seq = fts.rowid``: SQLite keeps a CROSS JOIN's order, so
    the matches drive the query (a plain JOIN may walk the table and test every row instead)."""

    inherit_cache = True

    def __init__(self, fts: sa.Table, table: sa.Table) -> None:
        super().__init__(fts, table, table.c.seq == fts.c.rowid)


@compiles(FtsJoin, "sqlite")
def _cross_join(join: FtsJoin, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    left, right = compiler.process(join.left, **kw), compiler.process(join.right, **kw)
    return f"{left} CROSS JOIN {right} ON {compiler.process(join.onclause, **kw)}"


def _fts5_expression(words: list[str], exact: bool) -> str:
    if exact:
        return _fts5_string(" ".join(words))
    quoted = [_fts5_string(word) for word in words]
    quoted[-1] += "*"
    return " OR ".join(quoted)


def _fts5_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# The indexed expression. The condition below renders exactly this text (constants as literals,
# not parameters) so PostgreSQL matches it to the GIN index. array_remove guards against empty
# lexemes, which array_to_tsvector rejects, should a row hold a non-normalized value.
_PG_VECTOR_SQL = "array_to_tsvector(array_remove(string_to_array(search, ' '), ''))"


def _pg_vector(table: sa.Table) -> sa.ColumnElement[Any]:
    return sa.func.array_to_tsvector(
        sa.func.array_remove(
            sa.func.string_to_array(table.c.search, sa.literal_column("' '")),
            sa.literal_column("''"),
        )
    )


def _postgresql_condition(
    table: sa.Table, match: sa.BindParameter[Any], phrase: sa.BindParameter[Any] | None
) -> sa.ColumnElement[bool]:
    condition: sa.ColumnElement[bool] = _pg_vector(table).op("@@")(sa.cast(match, TSQUERY))
    if phrase is not None:
        # The index narrows to rows holding every word; the phrase itself needs adjacency.
        padded: sa.ColumnElement[str] = sa.literal_column("' '") + table.c.search + sa.literal_column("' '")
        condition = sa.and_(condition, padded.contains(phrase, escape="/"))
    return condition


def _tsquery(words: list[str], exact: bool) -> str:
    quoted = [_tsquery_lexeme(word) for word in words]
    if exact:
        return " & ".join(quoted)
    quoted[-1] += ":*"
    return " | ".join(quoted)


def like_escape(text: str) -> str:
    """``text`` as a LIKE pattern matching itself (what ``autoescape`` does for literals)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _tsquery_lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
