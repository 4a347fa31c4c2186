"""HTTP routes of the signed-in user's passkeys (/account/passkeys…) and of signing in with one
(/account/tokens/passkey): parse, call account.passkeys or users.passkeys, serialise."""

from __future__ import annotations

from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional
from ..tools import validators as v
from ..tools.dates import fmt
from ..users import models
from ..users import passkeys as stored
from ..users.passkey_routes import LIST_PARAMS, PASSKEY_ID, PASSKEY_NAME
from . import passkeys
from .routes import ACCOUNT, SESSIONS, current_session, current_user

router = Router()

CREDENTIAL = Param("credential", v.assoc)


def _challenge(row: dict, options: dict) -> dict:
    """The PasskeyChallenge model: ``publicKey`` goes to navigator.credentials.create()/get()."""
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "passkeyId": row["passkey_id"],
        "expire": fmt(row["expire"]),
        "publicKey": options,
    }


@router.get("/v1/account/passkeys", scope=ACCOUNT, params=LIST_PARAMS)
def list_passkeys(ctx: Context, queries, total: bool) -> dict:
    count, rows = stored.list_passkeys(
        ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], queries=queries, total=total
    )
    return listing("passkeys", count, [models.passkey(r) for r in rows])


@router.post(
    "/v1/account/passkeys",
    scope=ACCOUNT,
    status=201,
    auth_method="passkey",
    params=[optional("passkeyId", v.custom_id, default="unique()"), optional("name", v.text(128, 0), default="")],
)
def create_passkey(ctx: Context, passkeyId: str, name: str) -> dict:
    row, options = passkeys.start_registration(
        ctx.db,
        ctx.settings,
        project_id=ctx.project_id,
        user_id=current_user(ctx)["id"],
        session_id=current_session(ctx).id,
        passkey_id=passkeyId,
        name=name,
    )
    return _challenge(row, options)


@router.get("/v1/account/passkeys/{passkeyId}", scope=ACCOUNT, params=[PASSKEY_ID])
def get_passkey(ctx: Context, passkeyId: str) -> dict:
    row = stored.get_passkey(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], passkey_id=passkeyId)
    return models.passkey(row)


@router.patch("/v1/account/passkeys/{passkeyId}", scope=ACCOUNT, params=[PASSKEY_ID, PASSKEY_NAME])
def update_passkey(ctx: Context, passkeyId: str, name: str) -> dict:
    row = stored.rename_passkey(
        ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], passkey_id=passkeyId, name=name
    )
    return models.passkey(row)


@router.delete(
    "/v1/account/passkeys/{passkeyId}", scope=ACCOUNT, params=[PASSKEY_ID], audit=("passkey.delete", "user/{actor}")
)
def delete_passkey(ctx: Context, passkeyId: str) -> None:
    passkeys.require_recent_session(ctx.db, project_id=ctx.project_id, session_id=current_session(ctx).id)
    stored.delete_passkey(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], passkey_id=passkeyId)


@router.put(
    "/v1/account/passkeys/{passkeyId}/verification",
    scope=ACCOUNT,
    params=[PASSKEY_ID, CREDENTIAL],
    audit=("passkey.create", "user/{actor}"),
)
def verify_passkey(ctx: Context, passkeyId: str, credential: dict) -> dict:
    row = passkeys.finish_registration(
        ctx.db,
        ctx.settings,
        project_id=ctx.project_id,
        user_id=current_user(ctx)["id"],
        session_id=current_session(ctx).id,
        passkey_id=passkeyId,
        credential=credential,
    )
    return models.passkey(row)


# Signing in: open to guests (and to anyone signed in, as Appwrite), before any second factor.
@router.post("/v1/account/tokens/passkey", scope=SESSIONS, status=201, mfa_exempt=True, auth_method="passkey")
def create_passkey_token(ctx: Context) -> dict:
    row, options = passkeys.start_sign_in(ctx.db, ctx.settings, project_id=ctx.project_id)
    return _challenge(row, options)


@router.put(
    "/v1/account/tokens/passkey",
    scope=SESSIONS,
    status=201,
    mfa_exempt=True,
    params=[Param("challengeId", v.uid), CREDENTIAL],
    audit=("passkey.token.create", "user/{actor}"),
)
def update_passkey_token(ctx: Context, challengeId: str, credential: dict) -> dict:
    token, secret, user = passkeys.finish_sign_in(
        ctx.db,
        ctx.settings,
        project_id=ctx.project_id,
        challenge_id=challengeId,
        credential=credential,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
    )
    ctx.actor = user
    return models.token(token, secret=secret)
