"""HTTP routes of a user's MFA (server side, API key): factors, recovery codes, authenticators."""

from __future__ import annotations

from ..http.context import Context
from ..http.routing import Param, Router
from ..tools import validators as v
from . import mfa, models
from .routes import READ, USER_ID, WRITE

router = Router()


@router.get("/v1/users/{userId}/mfa/factors", scope=READ, params=[USER_ID])
def mfa_factors(ctx: Context, userId: str) -> dict:
    factors = mfa.mfa_factors(ctx.db, project_id=ctx.project_id, user_id=userId)
    return models.mfa_factors(**factors)


@router.get("/v1/users/{userId}/mfa/recovery-codes", scope=READ, params=[USER_ID])
def get_recovery_codes(ctx: Context, userId: str) -> dict:
    return {"recoveryCodes": mfa.get_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=userId)}


# Appwrite 1.5 documents 201 here but sends 200; we follow the running server.
@router.patch(
    "/v1/users/{userId}/mfa/recovery-codes", scope=WRITE, params=[USER_ID], audit=("user.update", "user/{userId}")
)
def create_recovery_codes(ctx: Context, userId: str) -> dict:
    return {"recoveryCodes": mfa.create_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=userId)}


@router.put(
    "/v1/users/{userId}/mfa/recovery-codes", scope=WRITE, params=[USER_ID], audit=("user.update", "user/{userId}")
)
def regenerate_recovery_codes(ctx: Context, userId: str) -> dict:
    return {"recoveryCodes": mfa.regenerate_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=userId)}


@router.delete(
    "/v1/users/{userId}/mfa/authenticators/{type}",
    scope=WRITE,
    params=[USER_ID, Param("type", v.whitelist(["totp"], strict=True))],
    audit=("user.update", "user/{userId}"),
)
def delete_authenticator(ctx: Context, userId: str, type: str) -> None:
    mfa.delete_authenticator(ctx.db, project_id=ctx.project_id, user_id=userId, type=type)
