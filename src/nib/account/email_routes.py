"""HTTP routes of the Account e-mail flows: verification, password recovery (by link or, on the
``…/otp`` paths, by a 6-digit code), magic URL and e-mail OTP tokens (the work is in
email_flows.py).

As in Appwrite 1.5: none of them is in the session group (a signed-in user may ask for a token);
the user a token belongs to is the audit actor, also when a guest asks for or confirms it; a
token's ``secret`` is only shown to API-key callers (clients read it from the e-mail).
"""

from __future__ import annotations

from ..http.context import Context
from ..http.routing import Param, Router, optional
from ..tools import validators as v
from ..users import models
from ..users.service import user_row
from . import email_flows
from .routes import ACCOUNT, SESSIONS, TOKEN_CREATED, current_user

router = Router()

USER_ID = Param("userId", v.uid)
SECRET = Param("secret", v.text(256))
PHRASE = optional("phrase", v.boolean, default=False)
MAGIC_URL_PATH = "/auth/magic-url"  # Appwrite's default landing page for magic URLs
VERIFICATION = "users.[userId].verification.[tokenId]"
RECOVERY = "users.[userId].recovery.[tokenId]"


def _token(ctx: Context, row: dict, secret: str) -> dict:
    """The Token model; its secret only for API-key callers (Appwrite's isAppUser)."""
    return models.token(row, secret=secret if ctx.principal.is_key else "")


def _act_as(ctx: Context, user_id: str) -> None:
    """Make the token's user the audit actor (Appwrite's ``audits.userId``)."""
    with ctx.db.read() as conn:
        ctx.actor = dict(user_row(conn, ctx.project_id, user_id))


# -- e-mail verification --------------------------------------------------------------------------

_CREATE_VERIFICATION = dict(
    scope=ACCOUNT,
    status=201,
    params=[Param("url", v.redirect_url)],
    audit=("verification.create", "user/{actor}"),
    event=f"{VERIFICATION}.create",
)


@router.post("/v1/account/verification", **_CREATE_VERIFICATION)
@router.post("/v1/account/verifications/email", **_CREATE_VERIFICATION)
def create_verification(ctx: Context, url: str) -> dict:
    return _create_verification(ctx, url=url)


@router.post(
    "/v1/account/verifications/email/otp",
    scope=ACCOUNT,
    status=201,
    params=[PHRASE],
    audit=("verification.create", "user/{actor}"),
    event=f"{VERIFICATION}.create",
)
def create_verification_code(ctx: Context, phrase: bool) -> dict:
    return _create_verification(ctx, phrase=phrase)


def _create_verification(ctx: Context, *, url: str = "", phrase: bool = False) -> dict:
    row, secret = email_flows.create_verification(
        ctx.db,
        ctx.settings,
        project_id=ctx.project_id,
        user_id=current_user(ctx)["id"],
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        url=url,
        phrase=phrase,
    )
    return _token(ctx, row, secret)


# Appwrite's scope is `public`: the link may be opened where nobody is signed in.
_UPDATE_VERIFICATION = dict(
    scope="public",
    params=[USER_ID, SECRET],
    audit=("verification.update", "user/{actor}"),
    event=f"{VERIFICATION}.update",
)


@router.put("/v1/account/verification", **_UPDATE_VERIFICATION)
@router.put("/v1/account/verifications/email", **_UPDATE_VERIFICATION)
def update_verification(ctx: Context, userId: str, secret: str) -> dict:
    return _confirm_verification(ctx, userId, secret)


@router.put("/v1/account/verifications/email/otp", **_UPDATE_VERIFICATION)
def update_verification_code(ctx: Context, userId: str, secret: str) -> dict:
    return _confirm_verification(ctx, userId, secret, code=True)


def _confirm_verification(ctx: Context, user_id: str, secret: str, *, code: bool = False) -> dict:
    row = email_flows.confirm_verification(ctx.db, project_id=ctx.project_id, user_id=user_id, secret=secret, code=code)
    _act_as(ctx, user_id)
    return _token(ctx, row, secret)


# -- password recovery ----------------------------------------------------------------------------


@router.post(
    "/v1/account/recovery",
    scope=SESSIONS,
    status=201,
    params=[Param("email", v.email), Param("url", v.redirect_url)],
    audit=("recovery.create", "user/{actor}"),
    event=f"{RECOVERY}.create",
)
def create_recovery(ctx: Context, email: str, url: str) -> dict:
    return _create_recovery(ctx, email, url=url)


@router.post(
    "/v1/account/recovery/otp",
    scope=SESSIONS,
    status=201,
    params=[Param("email", v.email), PHRASE],
    audit=("recovery.create", "user/{actor}"),
    event=f"{RECOVERY}.create",
)
def create_recovery_code(ctx: Context, email: str, phrase: bool) -> dict:
    return _create_recovery(ctx, email, phrase=phrase)


def _create_recovery(ctx: Context, email: str, *, url: str = "", phrase: bool = False) -> dict:
    row, secret = email_flows.create_recovery(
        ctx.db, ctx.settings, project_id=ctx.project_id, email=email, ip=ctx.ip, user_agent=ctx.user_agent,
        url=url, phrase=phrase,
    )  # fmt: skip
    _act_as(ctx, row["user_id"])
    return _token(ctx, row, secret)


_UPDATE_RECOVERY = dict(
    scope=SESSIONS,
    params=[USER_ID, SECRET, Param("password", v.new_password)],
    audit=("recovery.update", "user/{actor}"),
    event=f"{RECOVERY}.update",
)


@router.put("/v1/account/recovery", **_UPDATE_RECOVERY)
def update_recovery(ctx: Context, userId: str, secret: str, password: str) -> dict:
    return _confirm_recovery(ctx, userId, secret, password)


@router.put("/v1/account/recovery/otp", **_UPDATE_RECOVERY)
def update_recovery_code(ctx: Context, userId: str, secret: str, password: str) -> dict:
    return _confirm_recovery(ctx, userId, secret, password, code=True)


def _confirm_recovery(ctx: Context, user_id: str, secret: str, password: str, *, code: bool = False) -> dict:
    row = email_flows.confirm_recovery(
        ctx.db, project_id=ctx.project_id, user_id=user_id, secret=secret, password=password, code=code
    )
    _act_as(ctx, user_id)
    return _token(ctx, row, secret)


# -- sign-in tokens (exchanged by POST /account/sessions/token or PUT /account/sessions/magic-url) --

_MAGIC_URL_TOKEN = dict(
    scope=SESSIONS,
    status=201,
    params=[Param("userId", v.custom_id), Param("email", v.email), optional("url", v.redirect_url, default=""), PHRASE],
    audit=("session.create", "user/{actor}"),
    event=TOKEN_CREATED,
    auth_method="magic-url",
)


# POST /account/sessions/magic-url is the pre-1.5 name, still an alias in Appwrite 1.5.
@router.post("/v1/account/tokens/magic-url", **_MAGIC_URL_TOKEN)
@router.post("/v1/account/sessions/magic-url", **_MAGIC_URL_TOKEN)
def create_magic_url_token(ctx: Context, userId: str, email: str, url: str, phrase: bool) -> dict:
    if not url:
        url = f"{'https' if ctx.secure else 'http'}://{v.request_host(ctx.host)}{MAGIC_URL_PATH}"
    return _sign_in_token(ctx, email_flows.MAGIC_URL, userId, email, phrase, url)


@router.post(
    "/v1/account/tokens/email",
    scope=SESSIONS,
    status=201,
    params=[Param("userId", v.custom_id), Param("email", v.email), PHRASE],
    audit=("session.create", "user/{actor}"),
    event=TOKEN_CREATED,
    auth_method="email-otp",
)
def create_email_token(ctx: Context, userId: str, email: str, phrase: bool) -> dict:
    return _sign_in_token(ctx, email_flows.EMAIL, userId, email, phrase)


def _sign_in_token(ctx: Context, kind: str, user_id: str, email: str, phrase: bool, url: str = "") -> dict:
    row, secret = email_flows.create_sign_in_token(
        ctx.db, ctx.settings, kind=kind, project_id=ctx.project_id, user_id=user_id, email=email, phrase=phrase,
        ip=ctx.ip, user_agent=ctx.user_agent, url=url,
    )  # fmt: skip
    _act_as(ctx, row["user_id"])
    return _token(ctx, row, secret)
