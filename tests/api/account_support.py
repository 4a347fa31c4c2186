"""Shared helpers of the Account API tests: guests, signed-in members, client-mode SDKs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import sqlalchemy as sa
from appwrite.client import Client
from appwrite.id import ID
from appwrite.services.account import Account
from users_support import unique_email

from nib.auth.tables import sessions, tokens

PASSWORD = "correct-horse-1"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.77 Safari/537.36"
)


def guest(server, **headers: str) -> httpx.Client:
    """Raw HTTP as an app in a browser or phone would call: project header, no key."""
    return httpx.Client(base_url=server.endpoint, headers={"X-Appwrite-Project": server.project, **headers}, timeout=30)


def account(server, *, session: str | None = None, jwt: str | None = None) -> Account:
    """The official SDK's Account service in client mode (a session or a JWT, never a key)."""
    client = Client().set_endpoint(server.endpoint).set_project(server.project)
    if session:
        client.set_session(session)
    if jwt:
        client.set_jwt(jwt)
    return Account(client)


def fallback_session(response: httpx.Response, project: str) -> str:
    """The encoded session a sign-in sent in X-Fallback-Cookies."""
    return json.loads(response.headers["x-fallback-cookies"])[f"a_session_{project}"]


@dataclass
class Member:
    """A signed-up user and one session of it."""

    user: dict
    email: str
    password: str
    session: str  # encoded, for X-Appwrite-Session / set_session
    session_id: str


def sign_up(server, *, email: str | None = None, password: str = PASSWORD, name: str = "") -> dict:
    email = email or unique_email("acct")
    with guest(server) as http:
        body = {"userId": ID.unique(), "email": email, "password": password, **({"name": name} if name else {})}
        response = http.post("/account", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def sign_in(server, email: str, password: str = PASSWORD) -> tuple[dict, str]:
    """(Session JSON, encoded session) of an e-mail/password sign-in."""
    with guest(server) as http:
        response = http.post("/account/sessions/email", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return response.json(), fallback_session(response, server.project)


def member(server, **fields) -> Member:
    user = sign_up(server, **fields)
    session, encoded = sign_in(server, user["email"], fields.get("password", PASSWORD))
    return Member(user, user["email"], fields.get("password", PASSWORD), encoded, session["$id"])


def as_member(server, who: Member, **headers: str) -> httpx.Client:
    return guest(server, **{"X-Appwrite-Session": who.session, **headers})


def expire_row(db, table: sa.Table, project: str, row_id: str) -> None:
    """Move a session's or token's expiry into the past (seeding an expired one)."""
    past = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    with db.write() as conn:
        conn.execute(table.update().where(table.c.project_id == project, table.c.id == row_id).values(expire=past))


def expire_session(db, project: str, session_id: str) -> None:
    expire_row(db, sessions, project, session_id)


def expire_token(db, project: str, token_id: str) -> None:
    expire_row(db, tokens, project, token_id)
