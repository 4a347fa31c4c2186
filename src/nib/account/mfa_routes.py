"""HTTP routes of the Account service's MFA: parse, call account.mfa or users.mfa, serialise.

Listing the factors and creating or answering a challenge are reachable before the second
factor (``mfa_exempt``). Newer SDKs call ``/account/mfa/challenges``; both spellings are served.
The Users API's ``GET /v1/users/{userId}/mfa/challenges/{challengeId}`` (a custom challenge's
code, for the app's backend) is here too: challenges are this domain's.
"""

from __future__ import annotations

from ..http.context import Context
from ..http.routing import Param, Router, optional
from ..tools import validators as v
from ..tools.dates import fmt
from ..users import mfa as user_mfa
from ..users import models, sessions
from ..users.provider_tokens import opened
from ..users.routes import READ, USER_ID
from . import mfa as account_mfa
from .routes import ACCOUNT, SELF, SESSION_CREATED, current_session, current_user, reloaded_account

router = Router()

# Only ``totp`` (as the Users route): Appwrite's validator lets "TOTP" through and then fails.
TYPE = Param("type", v.whitelist([account_mfa.TOTP], strict=True))
OTP = Param("otp", v.text(256))
# Case-insensitive, as Appwrite's WhiteList: the SDKs send "recoverycode", Appwrite's tests
# "recoveryCode"; the service gets the canonical key.
FACTOR = Param("factor", v.whitelist(list(account_mfa.CHALLENGE_FACTORS)))
MFA_UPDATED = "users.[userId].update.mfa"


def _announce_account(ctx: Context) -> None:
    """A new authenticator's secret and recovery codes are secrets: their events carry the
    account instead (Appwrite's carry them to every connection of the user, also those still
    short of their second factor)."""
    ctx.event_payload = reloaded_account(ctx)


@router.patch("/v1/account/mfa", scope=ACCOUNT, params=[Param("mfa", v.boolean)], audit=SELF, event=MFA_UPDATED)
def update_mfa(ctx: Context, mfa: bool) -> dict:
    account_mfa.update_mfa(
        ctx.db,
        project_id=ctx.project_id,
        user_id=current_user(ctx)["id"],
        session_id=current_session(ctx).id,
        enabled=mfa,
    )
    return reloaded_account(ctx)


@router.get("/v1/account/mfa/factors", scope=ACCOUNT, mfa_exempt=True)
def list_factors(ctx: Context) -> dict:
    """What the user can prove; ``custom`` whenever the project allows the factor."""
    return models.mfa_factors(
        **user_mfa.mfa_factors(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"])
    )


# -- authenticators ------------------------------------------------------------------------------


@router.post("/v1/account/mfa/authenticators/{type}", scope=ACCOUNT, params=[TYPE], audit=SELF, event=MFA_UPDATED)
def create_authenticator(ctx: Context, type: str) -> dict:
    secret, uri = account_mfa.create_authenticator(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"])
    _announce_account(ctx)
    return {"secret": secret, "uri": uri}


@router.put("/v1/account/mfa/authenticators/{type}", scope=ACCOUNT, params=[TYPE, OTP], audit=SELF, event=MFA_UPDATED)
def verify_authenticator(ctx: Context, type: str, otp: str) -> dict:
    account_mfa.verify_authenticator(
        ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], session_id=current_session(ctx).id, otp=otp
    )
    return reloaded_account(ctx)


# ``otp`` is required by Appwrite 1.5 and gone in newer SDKs (a recent challenge replaces it).
# Its event's payload is empty, as Appwrite's (there is no model of an authenticator).
@router.delete(
    "/v1/account/mfa/authenticators/{type}",
    scope=ACCOUNT,
    params=[TYPE, optional("otp", v.text(256))],
    audit=SELF,
    event="users.[userId].delete.mfa",
)
def delete_authenticator(ctx: Context, type: str, otp: str | None) -> None:
    user_id = current_user(ctx)["id"]
    account_mfa.delete_authenticator(
        ctx.db,
        project_id=ctx.project_id,
        user_id=user_id,
        otp=otp,
        challenged_at=current_session(ctx).mfa_updated_at,
    )
    ctx.event_params["userId"] = user_id


# -- recovery codes ------------------------------------------------------------------------------


@router.post("/v1/account/mfa/recovery-codes", scope=ACCOUNT, status=201, audit=SELF, event=MFA_UPDATED)
def create_recovery_codes(ctx: Context) -> dict:
    codes = user_mfa.create_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"])
    _announce_account(ctx)
    return {"recoveryCodes": codes}


@router.get("/v1/account/mfa/recovery-codes", scope=ACCOUNT)
def get_recovery_codes(ctx: Context) -> dict:
    user_id = current_user(ctx)["id"]
    account_mfa.require_recent_challenge(current_session(ctx).mfa_updated_at)
    return {"recoveryCodes": user_mfa.get_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=user_id)}


@router.patch("/v1/account/mfa/recovery-codes", scope=ACCOUNT, audit=SELF, event=MFA_UPDATED)
def regenerate_recovery_codes(ctx: Context) -> dict:
    user_id = current_user(ctx)["id"]
    account_mfa.require_recent_challenge(current_session(ctx).mfa_updated_at)
    codes = user_mfa.regenerate_recovery_codes(ctx.db, project_id=ctx.project_id, user_id=user_id)
    _announce_account(ctx)
    return {"recoveryCodes": codes}


# -- challenges ----------------------------------------------------------------------------------

_CREATE_CHALLENGE = dict(
    scope=ACCOUNT,
    status=201,
    mfa_exempt=True,
    params=[FACTOR],
    audit=("challenge.create", "user/{actor}"),
    event="users.[userId].challenges.[challengeId].create",
)
# Completing a challenge announces the session it upgrades, as a session created.
_COMPLETE_CHALLENGE = dict(
    scope=ACCOUNT,
    mfa_exempt=True,
    params=[Param("challengeId", v.text(256)), OTP],
    audit=("challenges.update", "user/{actor}"),
    event=SESSION_CREATED,
)


@router.post("/v1/account/mfa/challenge", **_CREATE_CHALLENGE)
@router.post("/v1/account/mfa/challenges", **_CREATE_CHALLENGE)
def create_challenge(ctx: Context, factor: str) -> dict:
    row = account_mfa.create_challenge(
        ctx.db,
        ctx.settings,
        project_id=ctx.project_id,
        user_id=current_user(ctx)["id"],
        factor=factor,
        user_agent=ctx.user_agent,
    )
    return _challenge(row)


def _challenge(row: dict) -> dict:
    """The MfaChallenge model."""
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "userId": row["user_id"],
        "expire": fmt(row["expire"]),
    }


@router.get(
    "/v1/users/{userId}/mfa/challenges/{challengeId}",
    scope=READ,
    params=[USER_ID, Param("challengeId", v.text(256))],
)
def get_custom_challenge(ctx: Context, userId: str, challengeId: str) -> dict:
    """The MfaChallengeSecret model: the challenge and its code."""
    row = account_mfa.custom_challenge(
        ctx.db, ctx.settings, project_id=ctx.project_id, user_id=userId, challenge_id=challengeId
    )
    return {**_challenge(row), "code": row["code"]}


@router.put("/v1/account/mfa/challenge", **_COMPLETE_CHALLENGE)
@router.put("/v1/account/mfa/challenges", **_COMPLETE_CHALLENGE)
def complete_challenge(ctx: Context, challengeId: str, otp: str) -> dict:
    """200 with the session, its new factor and ``mfaUpdatedAt`` (Appwrite's spec says 204)."""
    user_id, session_id = current_user(ctx)["id"], current_session(ctx).id
    account_mfa.complete_challenge(
        ctx.db, project_id=ctx.project_id, user_id=user_id, session_id=session_id, challenge_id=challengeId, otp=otp
    )
    row = sessions.get_session(ctx.db, project_id=ctx.project_id, user_id=user_id, session_id=session_id)
    return models.session(opened(ctx.db, ctx.settings, row), current=True)
