"""HTTP routes of a user's MFA (server side, API key): factors, recovery codes, authenticators."""

from __future__ import annotations

from ..http.context import Context
from ..http.routing import Param, Router
from ..tools import validators as v
from . import mfa, models, service
from .routes import READ, USER_ID, WRITE, render_user

router = Router()


@router.get("/v1/users/{userId}/mfa/factors", scope=READ, params=[USER_ID])
def mfa_factors(ctx: Context, userId: str) -> dict:
    factors = mfa.mfa_factors(ctx.db, project_id=ctx.project_id, user_id=userId)
    return models.mfa_factors(**factors)


@router.get("/v1/users/{userId}/mfa/recovery-codes", scope=READ, params=[USER_ID])
def get_recovery_codes(ctx: Context, userId: str) -> dict:
    return {"recoveryCodes": mfa.get_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=userId)}


def _announce_user(ctx: Context, user_id: str) -> None:
    """Recovery codes are secrets: their events carry the user instead (Appwrite's carry the
    codes to every connection of the user, also those still short of their second factor)."""
    ctx.event_payload = render_user(ctx, service.get_user(ctx.db, project_id=ctx.project_id, user_id=user_id))


# Appwrite 1.5 documents 201 here but sends 200; we follow the running server.
@router.patch(
    "/v1/users/{userId}/mfa/recovery-codes",
    scope=WRITE,
    params=[USER_ID],
    audit=("user.update", "user/{userId}"),
    event="users.[userId].create.mfa.recovery-codes",
)
def create_recovery_codes(ctx: Context, userId: str) -> dict:
    codes = mfa.create_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=userId)
    _announce_user(ctx, userId)
    return {"recoveryCodes": codes}


@router.put(
    "/v1/users/{userId}/mfa/recovery-codes",
    scope=WRITE,
    params=[USER_ID],
    audit=("user.update", "user/{userId}"),
    event="users.[userId].update.mfa.recovery-codes",
)
def regenerate_recovery_codes(ctx: Context, userId: str) -> dict:
    codes = mfa.regenerate_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=userId)
    _announce_user(ctx, userId)
    return {"recoveryCodes": codes}


# Its event's payload is empty, as Appwrite's (no model for an authenticator); the user is the route's.
@router.delete(
    "/v1/users/{userId}/mfa/authenticators/{type}",
    scope=WRITE,
    params=[USER_ID, Param("type", v.whitelist(["totp"], strict=True))],
    audit=("user.update", "user/{userId}"),
    event="users.[userId].delete.mfa",
)
def delete_authenticator(ctx: Context, userId: str, type: str) -> None:
    mfa.delete_authenticator(ctx.db, project_id=ctx.project_id, user_id=userId, type=type)
