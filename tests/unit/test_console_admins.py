"""Console administrators below HTTP: the set-up token's single use and expiry, sessions and
their CSRF token (auth/admins.py on a migrated SQLite database)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from nib.auth import admins
from nib.data.db import Database
from nib.data.db.migrate import upgrade
from nib.data.db.schema import instance_values
from nib.tools import dates
from nib.tools.errors import AppwriteError

PASSWORD = "unit-password-1"


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'nib.db'}")
    upgrade(database)
    yield database
    database.dispose()


def _stored_setup(db) -> str:
    with db.read() as conn:
        return conn.execute(
            sa.select(instance_values.c.value).where(instance_values.c.name == "console_setup")
        ).scalar()


def _age_setup(db, expire: str) -> None:
    """Rewrite the stored token's expiry (what tells its age), keeping its digest."""
    digest = _stored_setup(db).partition("|")[0]
    with db.write() as conn:
        conn.execute(
            instance_values.update().where(instance_values.c.name == "console_setup").values(value=f"{digest}|{expire}")
        )


def test_the_setup_token_is_single_use(db):
    token = admins.new_setup_token(db)
    assert admins.setup_token_valid(db, token)
    assert not admins.setup_token_valid(db, token[:-1] + ("0" if token[-1] != "0" else "1"))
    # Bad input leaves the token usable.
    with pytest.raises(AppwriteError) as bad:
        admins.complete_setup(db, token=token, email="first@example.com", password="short", name="", ip="")
    assert bad.value.type == "general_argument_invalid"
    secret, signed_in = admins.complete_setup(
        db, token=token, email="first@example.com", password=PASSWORD, name="First", ip="127.0.0.1"
    )
    assert signed_in.admin.email == "first@example.com"
    assert admins.session(db, secret) == signed_in
    with pytest.raises(AppwriteError) as used:
        admins.complete_setup(db, token=token, email="second@example.com", password=PASSWORD, name="", ip="")
    assert used.value.type == "user_invalid_token"
    # Once an administrator exists, no new token is made.
    assert admins.new_setup_token(db) is None


def test_an_expired_setup_token_is_refused(db):
    token = admins.new_setup_token(db)
    expire = datetime.fromisoformat(_stored_setup(db).partition("|")[2])
    assert (expire - dates.now()).total_seconds() == pytest.approx(3600, abs=5)
    _age_setup(db, "2020-01-01T00:00:00+00:00")
    assert not admins.setup_token_valid(db, token)
    with pytest.raises(AppwriteError):
        admins.complete_setup(db, token=token, email="first@example.com", password=PASSWORD, name="", ip="")


def test_a_later_start_replaces_the_setup_token_and_one_at_the_same_time_shares_it(db):
    first = admins.new_setup_token(db)
    # Another process starting with this one: it prints no link of its own.
    assert admins.new_setup_token(db) == ""
    assert admins.setup_token_valid(db, first)
    # A start more than a minute later makes a new one; the first link is dead.
    _age_setup(db, (dates.now() + timedelta(seconds=3600 - 61)).isoformat())
    second = admins.new_setup_token(db)
    assert second and second != first
    assert not admins.setup_token_valid(db, first) and admins.setup_token_valid(db, second)


def test_sessions_carry_their_own_csrf_token_and_end(db):
    admins.create_admin(db, email="Ann@Example.com", password=PASSWORD)
    one, signed_one = admins.sign_in(db, email="ann@example.com", password=PASSWORD, ip="")
    two, signed_two = admins.sign_in(db, email="ANN@example.com", password=PASSWORD, ip="")
    assert signed_one.csrf != signed_two.csrf and len(signed_one.csrf) == 64
    assert admins.csrf_matches(signed_one, signed_one.csrf)
    assert not admins.csrf_matches(signed_one, signed_two.csrf) and not admins.csrf_matches(signed_one, "")
    with pytest.raises(AppwriteError) as wrong:
        admins.sign_in(db, email="ann@example.com", password="wrong-password", ip="")
    assert wrong.value.type == "user_invalid_credentials"
    admins.sign_out(db, one)
    assert admins.session(db, one) is None and admins.session(db, two) == signed_two
    admins.delete_admin(db, ref="ann@example.com")
    assert admins.session(db, two) is None
