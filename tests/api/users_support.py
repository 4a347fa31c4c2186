"""Shared helpers of the Users API tests: unique data, error assertions, DB seeding.

Seeding is only for rows no API creates yet (TOTP authenticators, identities, audit log entries
by a user actor) and for states no API produces (a team total out of step with its memberships);
everything else goes through the API.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from appwrite.exception import AppwriteException
from appwrite.id import ID

from nib.auth.tables import authenticators, identities, memberships
from nib.auth.tables import users as users_table
from nib.data.db.schema import audit_logs
from nib.data.instance import server_secret
from nib.teams.tables import teams
from nib.tools.config import Settings
from nib.users.provider_tokens import sealed

NOT_FOUND_MESSAGE = "User with the requested ID could not be found."
MISSING_ID = "missing-user-0000"  # a valid UID that no test ever creates


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}@example.com"


def unique_phone() -> str:
    return "+1" + f"{uuid.uuid4().int % 10**12:012d}"


def parse_dt(value: str) -> datetime:
    assert value.endswith("+00:00"), value
    return datetime.fromisoformat(value)


def fresh_project(server) -> tuple[str, str]:
    """A new project of its own with a full key."""
    project = f"f{uuid.uuid4().hex[:16]}"
    server.cli("projects", "create", project, "--name", "Fresh")
    key = server.cli("keys", "create", "--project", project, "--name", "k").stdout.strip().splitlines()[-1]
    return project, key


def create_user(http: httpx.Client, **fields: Any) -> dict:
    """POST /users with a fresh id; returns the User JSON.

    ``email`` and ``phone`` default to fresh unique values; pass ``None`` to create the user
    without them (see test_users_without_email_or_phone_coexist for why the default exists).
    """
    for key, make in (("email", unique_email), ("phone", unique_phone)):
        if key not in fields:
            fields[key] = make()
    body = {"userId": ID.unique(), **{k: v for k, v in fields.items() if v is not None}}
    response = http.post("/users", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, type_: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == type_, body
    assert body["code"] == status
    if message is not None:
        assert body["message"] == message
    return body


def assert_not_found(response: httpx.Response) -> None:
    assert_error(response, 404, "user_not_found", NOT_FOUND_MESSAGE)


def assert_invalid(response: httpx.Response, message: str) -> None:
    assert_error(response, 400, "general_argument_invalid", message)


@contextlib.contextmanager
def sdk_error(status: int, type_: str):
    with pytest.raises(AppwriteException) as info:
        yield info
    assert info.value.code == status, info.value.message
    assert info.value.type == type_, info.value.message


# -- seeding --------------------------------------------------------------------------------------


def _now() -> datetime:
    t = datetime.now(timezone.utc)
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


def seed_team(db, project: str, *, name: str, total: int = 0) -> str:
    team_id = "team" + uuid.uuid4().hex[:16]
    now = _now()
    with db.write() as conn:
        conn.execute(
            teams.insert().values(
                project_id=project,
                id=team_id,
                created_at=now,
                updated_at=now,
                name=name,
                total=total,
                prefs={},
                search=f"{team_id} {name}",
            )
        )
    return team_id


def seed_membership(db, project: str, *, team_id: str, user_id: str, confirm: bool, roles: list[str]) -> str:
    membership_id = "memb" + uuid.uuid4().hex[:16]
    now = _now()
    with db.write() as conn:
        conn.execute(
            memberships.insert().values(
                project_id=project,
                id=membership_id,
                created_at=now,
                updated_at=now,
                team_id=team_id,
                user_id=user_id,
                roles=roles,
                invited=now,
                joined=now if confirm else None,
                confirm=confirm,
                secret_hash=None if confirm else "0" * 64,
                search=f"{membership_id} {user_id}",
            )
        )
    return membership_id


def team_total(db, project: str, team_id: str) -> int:
    with db.read() as conn:
        return conn.execute(
            sa.select(teams.c.total).where(teams.c.project_id == project, teams.c.id == team_id)
        ).scalar_one()


def seed_authenticator(db, project: str, user_id: str, *, verified: bool) -> str:
    authenticator_id = "auth" + uuid.uuid4().hex[:16]
    now = _now()
    with db.write() as conn:
        conn.execute(
            authenticators.insert().values(
                project_id=project,
                id=authenticator_id,
                created_at=now,
                updated_at=now,
                user_id=user_id,
                type="totp",
                verified=verified,
                secret="JBSWY3DPEHPK3PXP",
            )
        )
    return authenticator_id


def seed_identity(
    db, project: str, user_id: str, *, provider: str = "github", email: str = "", expiry: datetime | None = None
) -> str:
    """An identity as an OAuth2 sign-in stores it (its tokens sealed with the server's secret)."""
    identity_id = "iden" + uuid.uuid4().hex[:16]
    now = _now()
    key = server_secret(db, Settings())
    with db.write() as conn:
        conn.execute(
            identities.insert().values(
                project_id=project,
                id=identity_id,
                created_at=now,
                updated_at=now,
                user_id=user_id,
                provider=provider,
                provider_uid="uid-" + identity_id,
                provider_email=email,
                provider_access_token=sealed(key, "access-" + identity_id),
                provider_access_token_expiry=expiry if expiry is not None else now + timedelta(hours=1),
                provider_refresh_token=sealed(key, "refresh-" + identity_id),
            )
        )
    return identity_id


def seed_log(
    db,
    project: str,
    user: dict,
    *,
    event: str,
    ip: str = "10.1.2.3",
    client: dict | None = None,
    when: datetime | None = None,
    resource: str = "",
) -> None:
    with db.write() as conn:
        conn.execute(
            audit_logs.insert().values(
                project_id=project,
                event=event,
                resource=resource or f"user/{user['$id']}",
                user_id=user["$id"],
                user_email=user["email"],
                user_name=user["name"],
                user_type="user",
                mode="default",
                ip=ip,
                time=when or _now(),
                client=client or {},
            )
        )


def user_row(db, project: str, user_id: str):
    with db.read() as conn:
        return (
            conn.execute(sa.select(users_table).where(users_table.c.project_id == project, users_table.c.id == user_id))
            .mappings()
            .first()
        )


def count_rows(db, table: sa.Table, project: str, **where: Any) -> int:
    with db.read() as conn:
        clauses = [table.c.project_id == project] + [table.c[k] == v for k, v in where.items()]
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*clauses)).scalar_one()
