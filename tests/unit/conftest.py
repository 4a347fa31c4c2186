"""Unit-test fixtures: a throwaway database engine on each dialect."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """SQLite in a temporary file, and the PostgreSQL test database (required in CI)."""
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    else:
        eng = sa.create_engine(PG_URL)
        try:
            eng.connect().close()
        except sa.exc.OperationalError:
            pytest.skip("PostgreSQL is not reachable")
    yield eng
    eng.dispose()
