"""roles_of: the roles of a request, as a table."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from nib.auth.principals import GUEST_SCOPES, KEY_BASE_SCOPES, USER_SCOPES, Principal
from nib.auth.roles import request_roles, roles_of
from nib.auth.tables import memberships
from nib.data.db import Database
from nib.data.db.schema import metadata


def _user(**fields) -> Principal:
    user = {"id": "u1", "email_verification": False, "phone_verification": False, "labels": [], **fields}
    return Principal(project_id="p", role="users", scopes=USER_SCOPES, user=user)


def _membership(id: str, team: str, roles: list[str], confirm: bool = True) -> dict:
    return {"id": id, "team_id": team, "roles": roles, "confirm": confirm}


GUEST = Principal(project_id="p", role="guests", scopes=GUEST_SCOPES)
KEY = Principal(project_id="p", role="apps", scopes=KEY_BASE_SCOPES, key_id="k1")
UNVERIFIED = ["any", "users", "user:u1", "users/unverified", "user:u1/unverified"]


@pytest.mark.parametrize(
    "principal,memberships,expected",
    [
        (GUEST, [], ["any", "guests"]),
        (KEY, [], ["any"]),
        (_user(), [], UNVERIFIED),
        (_user(email_verification=True), [], ["any", "users", "user:u1", "users/verified", "user:u1/verified"]),
        (_user(phone_verification=True), [], ["any", "users", "user:u1", "users/verified", "user:u1/verified"]),
        (_user(labels=["vip", "beta"]), [], [*UNVERIFIED, "label:vip", "label:beta"]),
        (
            _user(),
            [_membership("m1", "t1", ["owner", "editor"])],
            [*UNVERIFIED, "team:t1", "member:m1", "team:t1/owner", "team:t1/editor"],
        ),
        (_user(), [_membership("m1", "t1", ["owner"], confirm=False)], UNVERIFIED),
        (
            _user(labels=["vip"]),
            [_membership("m1", "t1", []), _membership("m2", "t2", ["viewer"])],
            [*UNVERIFIED, "team:t1", "member:m1", "team:t2", "member:m2", "team:t2/viewer", "label:vip"],
        ),
    ],
    ids=[
        "guest",
        "key",
        "user",
        "email verified",
        "phone verified",
        "labels",
        "confirmed membership",
        "pending membership",
        "teams and labels",
    ],
)
def test_roles_of(principal, memberships, expected):
    assert roles_of(principal, memberships) == expected


def test_request_roles_reads_confirmed_memberships(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'roles.db'}")
    metadata.create_all(db.engine)
    now = datetime.now(timezone.utc)
    rows = [("m1", "t1", "u1", ["owner"], True), ("m2", "t2", "u1", [], False), ("m3", "t1", "u2", [], True)]
    with db.write() as conn:
        for id, team, user, roles, confirm in rows:
            conn.execute(
                memberships.insert().values(
                    project_id="p",
                    id=id,
                    created_at=now,
                    updated_at=now,
                    team_id=team,
                    user_id=user,
                    roles=roles,
                    confirm=confirm,
                )
            )
    try:
        assert request_roles(db, _user()) == [*UNVERIFIED, "team:t1", "member:m1", "team:t1/owner"]
        assert request_roles(db, GUEST) == ["any", "guests"]
    finally:
        db.dispose()
