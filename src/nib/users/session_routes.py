"""HTTP routes of a user's sessions, tokens and JWTs (server side, API key)."""

from __future__ import annotations

from ..auth.credentials import issue_jwt
from ..auth.principals import encode_session
from ..data.instance import server_secret
from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional
from ..tools import validators as v
from ..tools.useragent import parse_user_agent
from . import models, service, sessions
from .provider_tokens import opened
from .routes import READ, USER_ID, WRITE, render_user

router = Router()


@router.get("/v1/users/{userId}/sessions", scope=READ, params=[USER_ID])
def list_sessions(ctx: Context, userId: str) -> dict:
    rows = sessions.list_sessions(ctx.db, project_id=ctx.project_id, user_id=userId)
    return listing("sessions", len(rows), [models.session(opened(ctx.db, ctx.settings, r)) for r in rows])


@router.post(
    "/v1/users/{userId}/sessions",
    scope=WRITE,
    status=201,
    params=[Param("userId", v.custom_id)],
    audit=("session.create", "user/{userId}"),
    event="users.[userId].sessions.[sessionId].create",
)
def create_session(ctx: Context, userId: str) -> dict:
    row, secret = sessions.create_session(
        ctx.db,
        project_id=ctx.project_id,
        user_id=userId,
        provider="server",
        factors=["server"],
        duration=ctx.policies.session_length,
        ip=ctx.ip,
        client=parse_user_agent(ctx.user_agent),
    )
    # The encoded session (as newer Appwrite) works directly with the SDKs' set_session().
    return models.session(row, secret=encode_session(userId, secret))


@router.delete(
    "/v1/users/{userId}/sessions",
    scope=WRITE,
    params=[USER_ID],
    audit=("session.delete", "user/{userId}"),
    event="users.[userId].sessions.delete",
)
def delete_sessions(ctx: Context, userId: str) -> None:
    """The event's payload is the user (whose sessions are gone), as Appwrite's."""
    sessions.delete_sessions(ctx.db, project_id=ctx.project_id, user_id=userId)
    ctx.event_payload = render_user(ctx, service.get_user(ctx.db, project_id=ctx.project_id, user_id=userId))


@router.delete(
    "/v1/users/{userId}/sessions/{sessionId}",
    scope=WRITE,
    params=[USER_ID, Param("sessionId", v.uid)],
    audit=("session.delete", "user/{userId}"),
    event="users.[userId].sessions.[sessionId].delete",
)
def delete_session(ctx: Context, userId: str, sessionId: str) -> None:
    row = sessions.delete_session(ctx.db, project_id=ctx.project_id, user_id=userId, session_id=sessionId)
    ctx.event_payload = models.session(opened(ctx.db, ctx.settings, row))


@router.post(
    "/v1/users/{userId}/tokens",
    scope=WRITE,
    status=201,
    params=[
        USER_ID,
        optional("length", v.integer_range(4, 128), default=6),
        optional("expire", v.integer_range(60, 31536000), default=900),
    ],
    audit=("tokens.create", "user/{userId}"),
    event="users.[userId].tokens.[tokenId].create",
)
def create_token(ctx: Context, userId: str, length: int, expire: int) -> dict:
    row, secret = sessions.create_token(
        ctx.db,
        project_id=ctx.project_id,
        user_id=userId,
        length=length,
        expire=expire,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
    )
    return models.token(row, secret=secret)


@router.post(
    "/v1/users/{userId}/jwts",
    scope=WRITE,
    status=201,
    params=[
        USER_ID,
        optional("sessionId", v.uid, default="recent"),
        optional("duration", v.integer_range(0, 3600), default=900),
    ],
)
def create_jwt(ctx: Context, userId: str, sessionId: str, duration: int) -> dict:
    """A JWT for the user's session (``recent`` = its newest; none -> an empty ``sessionId`` claim)."""
    session_id = sessions.jwt_session_id(ctx.db, project_id=ctx.project_id, user_id=userId, session_id=sessionId)
    key = server_secret(ctx.db, ctx.settings)
    return {"jwt": issue_jwt(key, user_id=userId, session_id=session_id, duration=duration)}
