"""HTTP routes of the Account service (client side): parse, call the service, serialise.

Every ``/account`` route acts on the signed-in user (``ctx.principal.user``); sign-in routes are
in the session group (refused when already signed in) and set the session cookies.
"""

from __future__ import annotations

from ..auth.credentials import issue_jwt
from ..auth.principals import CurrentSession, encode_session
from ..data.instance import server_secret
from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional, queries_param
from ..tools import validators as v
from ..tools.errors import AppwriteError
from ..tools.useragent import parse_user_agent
from ..users import activity, models, sessions, targets
from ..users import service as user_service
from ..users.provider_tokens import opened
from . import service
from .models import account
from .oauth2 import flow as oauth2_flow
from .oauth2.providers import PROVIDER_KEYS
from .oauth2.routes import signed_in_caller
from .oauth2.routes import visit as oauth2_visit
from .oauth2.routes import where as oauth2_where

router = Router()

ACCOUNT, SESSIONS = "account", "sessions.write"
SELF = ("user.update", "user/{actor}")
SESSION_CREATE = ("session.create", "user/{actor}")
# Appwrite's event patterns (http/events.py) shared by several routes.
SESSION_CREATED = "users.[userId].sessions.[sessionId].create"
SESSION_DELETED = "users.[userId].sessions.[sessionId].delete"
TOKEN_CREATED = "users.[userId].tokens.[tokenId].create"
SESSION_ID = Param("sessionId", v.uid)
JWT_SECONDS = 900  # 15 minutes


def current_user(ctx: Context) -> dict:
    """The signed-in user; an API key on a route it has the scope for is nobody's account."""
    if ctx.principal.user is None:
        raise AppwriteError("user_unauthorized")
    return ctx.principal.user


def current_session(ctx: Context) -> CurrentSession:
    """The session of the signed-in user, on a route only signed-in users hold the scope for."""
    session = ctx.principal.session
    assert session is not None, "signed-in users always run under a session, and keys or guests lack the scope"
    return session


def render_account(ctx: Context, row, owned) -> dict:
    """The Account model of ``row`` in the request's response format; while an impersonator acts
    as this user, ``impersonatorUserId`` names the impersonator."""
    principal = ctx.principal
    acting = principal.impersonator is not None and principal.user is not None and principal.user["id"] == row["id"]
    return account(
        row,
        owned,
        impersonation=ctx.format_at_least(*models.IMPERSONATION_FORMAT),
        impersonator_id=principal.impersonator["id"] if acting and principal.impersonator else None,
    )


def _account(ctx: Context, result) -> dict:
    row, owned = result
    return render_account(ctx, row, owned)


def reloaded_account(ctx: Context) -> dict:
    return _account(ctx, user_service.get_user(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"]))


# -- the account --------------------------------------------------------------------------------


@router.post(
    "/v1/account",
    scope=SESSIONS,
    status=201,
    auth_method="email-password",
    audit=("user.create", "user/{id}"),
    event="users.[userId].create",
    params=[
        Param("userId", v.custom_id),
        Param("email", v.email),
        Param("password", v.new_password),
        optional("name", v.text(128)),
    ],
)
def create(ctx: Context, userId: str, email: str, password: str, name) -> dict:
    row, owned = service.create_account(
        ctx.db, project_id=ctx.project_id, user_id=userId, email=email, password=password, name=name
    )
    ctx.actor = row
    return render_account(ctx, row, owned)


@router.get("/v1/account", scope=ACCOUNT)
def get(ctx: Context) -> dict:
    return render_account(ctx, current_user(ctx), ctx.principal.targets)


@router.get("/v1/account/prefs", scope=ACCOUNT)
def get_prefs(ctx: Context) -> dict:
    return current_user(ctx)["prefs"] or {}


@router.patch(
    "/v1/account/prefs",
    scope=ACCOUNT,
    params=[Param("prefs", v.assoc)],
    audit=SELF,
    event="users.[userId].update.prefs",
)
def update_prefs(ctx: Context, prefs: dict) -> dict:
    user_service.update_prefs(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], prefs=prefs)
    return reloaded_account(ctx)


@router.patch(
    "/v1/account/name",
    scope=ACCOUNT,
    params=[Param("name", v.text(128))],
    audit=SELF,
    event="users.[userId].update.name",
)
def update_name(ctx: Context, name: str) -> dict:
    return _account(
        ctx, user_service.update_user(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], name=name)
    )


@router.patch(
    "/v1/account/password",
    scope=ACCOUNT,
    params=[Param("password", v.new_password), optional("oldPassword", v.password)],
    audit=SELF,
    event="users.[userId].update.password",
)
def update_password(ctx: Context, password: str, oldPassword) -> dict:
    return _account(
        ctx,
        service.update_password(
            ctx.db, project_id=ctx.project_id, user=current_user(ctx), password=password, old_password=oldPassword
        ),
    )


@router.patch(
    "/v1/account/email",
    scope=ACCOUNT,
    params=[Param("email", v.email), Param("password", v.password)],
    audit=SELF,
    event="users.[userId].update.email",
)
def update_email(ctx: Context, email: str, password: str) -> dict:
    return _account(
        ctx,
        service.update_email(ctx.db, project_id=ctx.project_id, user=current_user(ctx), email=email, password=password),
    )


@router.patch(
    "/v1/account/phone",
    scope=ACCOUNT,
    params=[Param("phone", v.phone), Param("password", v.password)],
    audit=SELF,
    event="users.[userId].update.phone",
)
def update_phone(ctx: Context, phone: str, password: str) -> dict:
    return _account(
        ctx,
        service.update_phone(ctx.db, project_id=ctx.project_id, user=current_user(ctx), phone=phone, password=password),
    )


@router.patch("/v1/account/status", scope=ACCOUNT, audit=SELF, event="users.[userId].update.status")
def block_self(ctx: Context) -> dict:
    """Self-block: the account stays, its sessions stop working and the browser is signed out."""
    result = user_service.update_user(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], status=False)
    ctx.sign_out()
    return _account(ctx, result)


# -- signing in ---------------------------------------------------------------------------------


def _signed_in(ctx: Context, created: tuple) -> dict:
    """Cookies for the new session; its secret only for API-key callers, encoded (usable as X-Appwrite-Session)."""
    row, secret, user = created
    ctx.actor = user
    encoded = encode_session(row["user_id"], secret)
    ctx.sign_in(encoded, row["expire"])
    return models.session(
        opened(ctx.db, ctx.settings, row), secret=encoded if ctx.principal.is_key else "", current=True
    )


def _session_fields(ctx: Context) -> dict:
    return {
        "duration": ctx.policies.session_length,
        "ip": ctx.ip,
        "client": parse_user_agent(ctx.user_agent),
    }


_EMAIL_SESSION = dict(
    scope=SESSIONS,
    status=201,
    session_group=True,
    audit=SESSION_CREATE,
    event=SESSION_CREATED,
    params=[Param("email", v.email), Param("password", v.password)],
    auth_method="email-password",
)


@router.post("/v1/account/sessions/email", **_EMAIL_SESSION)
@router.post("/v1/account/sessions", **_EMAIL_SESSION)
def create_email_session(ctx: Context, email: str, password: str) -> dict:
    return _signed_in(
        ctx,
        service.sign_in_with_password(
            ctx.db, project_id=ctx.project_id, email=email, password=password, **_session_fields(ctx)
        ),
    )


@router.post(
    "/v1/account/sessions/anonymous",
    scope=SESSIONS,
    status=201,
    auth_method="anonymous",
    session_group=True,
    audit=SESSION_CREATE,
    event=SESSION_CREATED,
)
def create_anonymous_session(ctx: Context) -> dict:
    return _signed_in(
        ctx, service.sign_in_anonymously(ctx.db, project_id=ctx.project_id, user_id="unique()", **_session_fields(ctx))
    )


_TOKEN_SESSION = dict(
    scope=SESSIONS,
    status=201,
    session_group=True,
    audit=SESSION_CREATE,
    event=SESSION_CREATED,
    params=[Param("userId", v.custom_id), Param("secret", v.text(256))],
)


# Appwrite serves the magic-URL and phone confirmations with the same exchange as tokens.
@router.post("/v1/account/sessions/token", **_TOKEN_SESSION)
@router.put("/v1/account/sessions/magic-url", **_TOKEN_SESSION)
@router.put("/v1/account/sessions/phone", **_TOKEN_SESSION)
def create_token_session(ctx: Context, userId: str, secret: str) -> dict:
    return _signed_in(
        ctx,
        service.exchange_token(
            ctx.db, project_id=ctx.project_id, user_id=userId, secret=secret, **_session_fields(ctx)
        ),
    )


@router.post(
    "/v1/account/sessions/id-token",
    scope=SESSIONS,
    status=201,
    audit=SESSION_CREATE,
    event=SESSION_CREATED,
    blocking=True,  # the provider's signing keys may be fetched
    params=[
        Param("provider", v.whitelist(PROVIDER_KEYS, strict=True)),
        Param("idToken", v.text(8192)),
        optional("nonce", v.text(256, 0), default=""),
        optional("accessToken", v.text(4096, 0), default=""),
        optional("accessTokenExpiry", v.integer_range(0, 31536000), default=0),
        optional("name", v.text(128, 0), default=""),
    ],
)
def create_id_token_session(
    ctx: Context, provider: str, idToken: str, nonce: str, accessToken: str, accessTokenExpiry: int, name: str
) -> dict:
    """A session from an ID token a mobile app got natively (Google, Apple); a signed-in caller
    gets the identity linked and its session replaced, as in the browser flow."""
    done = oauth2_flow.id_token_session(
        ctx.db,
        ctx.settings,
        oauth2_where(ctx),
        provider=provider,
        id_token=idToken,
        nonce=nonce,
        access_token=accessToken,
        access_token_expiry=accessTokenExpiry,
        name=name,
        caller=signed_in_caller(ctx),
        visit=oauth2_visit(ctx),
    )
    assert done.session is not None and done.user is not None, "the session flow always ends with both"
    return _signed_in(ctx, (done.session, done.secret, done.user))


# -- sessions -----------------------------------------------------------------------------------


def _session_id(ctx: Context, session_id: str) -> str:
    return current_session(ctx).id if session_id == "current" else session_id


@router.get("/v1/account/sessions", scope=ACCOUNT)
def list_sessions(ctx: Context) -> dict:
    rows = sessions.list_sessions(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"])
    current = current_session(ctx).id
    return listing(
        "sessions",
        len(rows),
        [models.session(opened(ctx.db, ctx.settings, r), current=r["id"] == current) for r in rows],
    )


@router.delete("/v1/account/sessions", scope=ACCOUNT, audit=("session.delete", "user/{actor}"), event=SESSION_DELETED)
def delete_sessions(ctx: Context) -> None:
    """Sign out everywhere; the event names the current session (Appwrite's)."""
    user_id, current = current_user(ctx)["id"], current_session(ctx).id
    deleted = sessions.delete_sessions(ctx.db, project_id=ctx.project_id, user_id=user_id)
    ctx.event_params.update(userId=user_id, sessionId=current)
    for row in deleted:
        if row["id"] == current:
            ctx.event_payload = models.session(opened(ctx.db, ctx.settings, row), current=True)
    ctx.sign_out()


@router.get("/v1/account/sessions/{sessionId}", scope=ACCOUNT, params=[SESSION_ID])
def get_session(ctx: Context, sessionId: str) -> dict:
    session_id = _session_id(ctx, sessionId)
    row = sessions.get_session(
        ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], session_id=session_id
    )
    return models.session(opened(ctx.db, ctx.settings, row), current=session_id == current_session(ctx).id)


@router.patch(
    "/v1/account/sessions/{sessionId}",
    scope=ACCOUNT,
    params=[SESSION_ID],
    audit=("session.update", "user/{actor}"),
    event="users.[userId].sessions.[sessionId].update",
)
def update_session(ctx: Context, sessionId: str) -> dict:
    """Extend the session; an OAuth2 session with a refresh token gets new provider tokens too."""
    session_id = _session_id(ctx, sessionId)
    user_id = current_user(ctx)["id"]
    row = sessions.get_session(ctx.db, project_id=ctx.project_id, user_id=user_id, session_id=session_id)
    row = service.extend_session(
        ctx.db,
        project_id=ctx.project_id,
        user_id=user_id,
        session_id=session_id,
        duration=ctx.policies.session_length,
        also=oauth2_flow.refreshed(ctx.db, ctx.settings, oauth2_where(ctx), row),
    )
    return models.session(opened(ctx.db, ctx.settings, row), current=session_id == current_session(ctx).id)


@router.delete(
    "/v1/account/sessions/{sessionId}",
    scope=ACCOUNT,
    params=[SESSION_ID],
    audit=("session.delete", "user/{actor}"),
    mfa_exempt=True,
    event=SESSION_DELETED,
)
def delete_session(ctx: Context, sessionId: str) -> None:
    session_id = _session_id(ctx, sessionId)
    row = sessions.delete_session(
        ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], session_id=session_id
    )
    current = session_id == current_session(ctx).id
    ctx.event_payload = models.session(opened(ctx.db, ctx.settings, row), current=current)
    if current:
        ctx.sign_out()


# -- JWT ----------------------------------------------------------------------------------------


def _jwt(ctx: Context, duration: int) -> dict:
    token = issue_jwt(
        server_secret(ctx.db, ctx.settings),
        user_id=current_user(ctx)["id"],
        session_id=current_session(ctx).id,
        duration=duration,
    )
    return {"jwt": token}


@router.post("/v1/account/jwt", scope=ACCOUNT, status=201, auth_method="jwt")
def create_jwt(ctx: Context) -> dict:
    if current_session(ctx).via_jwt:
        raise AppwriteError("user_session_not_found")  # 1.5: a JWT is not a session
    return _jwt(ctx, JWT_SECONDS)


@router.post(
    "/v1/account/jwts",
    scope=ACCOUNT,
    status=201,
    auth_method="jwt",
    params=[optional("duration", v.integer_range(0, 3600), default=JWT_SECONDS)],
)
def create_jwts(ctx: Context, duration: int) -> dict:
    if current_session(ctx).via_jwt:
        raise AppwriteError("user_jwt_creation_denied")
    return _jwt(ctx, duration)


# -- logs and identities ------------------------------------------------------------------------


@router.get("/v1/account/logs", scope=ACCOUNT, params=[queries_param(activity.LOG_LIST)])
def list_logs(ctx: Context, queries) -> dict:
    total, rows = activity.list_logs(
        ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], queries=queries
    )
    return listing("logs", total, [models.log(r) for r in rows])


@router.get("/v1/account/identities", scope=ACCOUNT, params=[queries_param(activity.IDENTITY_LIST)])
def list_identities(ctx: Context, queries) -> dict:
    total, rows = activity.list_identities(
        ctx.db, project_id=ctx.project_id, queries=queries, user_id=current_user(ctx)["id"]
    )
    return listing("identities", total, [models.identity(opened(ctx.db, ctx.settings, r)) for r in rows])


@router.delete(
    "/v1/account/identities/{identityId}",
    scope=ACCOUNT,
    params=[Param("identityId", v.uid)],
    audit=("identity.delete", "identity/{identityId}"),
    event="users.[userId].identities.[identityId].delete",
)
def delete_identity(ctx: Context, identityId: str) -> None:
    row = activity.delete_identity(
        ctx.db, project_id=ctx.project_id, identity_id=identityId, user_id=current_user(ctx)["id"]
    )
    ctx.event_payload = models.identity(opened(ctx.db, ctx.settings, row))


# -- push targets -------------------------------------------------------------------------------

TARGET_ID = Param("targetId", v.uid)


def _device_name(ctx: Context) -> str:
    """Appwrite names a push target after the device: "<brand> <model>"."""
    client = parse_user_agent(ctx.user_agent)
    return f"{client.get('deviceBrand', '')} {client.get('deviceModel', '')}".strip()


@router.post(
    "/v1/account/targets/push",
    scope="targets.write",
    status=201,
    params=[Param("targetId", v.custom_id), Param("identifier", v.text(255)), optional("providerId", v.uid)],
    audit=("target.create", "target/{id}"),
    event="users.[userId].targets.[targetId].create",
)
def create_push_target(ctx: Context, targetId: str, identifier: str, providerId) -> dict:
    row = targets.create_target(
        ctx.db,
        project_id=ctx.project_id,
        user_id=current_user(ctx)["id"],
        target_id=targetId,
        provider_type="push",
        identifier=identifier,
        provider_id=providerId,
        name=_device_name(ctx),
    )
    return models.target(row)


@router.put(
    "/v1/account/targets/{targetId}/push",
    scope="targets.write",
    params=[TARGET_ID, Param("identifier", v.text(255))],
    audit=("target.update", "target/{targetId}"),
    event="users.[userId].targets.[targetId].update",
)
def update_push_target(ctx: Context, targetId: str, identifier: str) -> dict:
    row = targets.update_target(
        ctx.db,
        project_id=ctx.project_id,
        user_id=current_user(ctx)["id"],
        target_id=targetId,
        changes={"identifier": identifier, "name": _device_name(ctx)},
        validate_identifier=lambda provider_type, value: value,
    )
    return models.target(row)


@router.delete(
    "/v1/account/targets/{targetId}/push",
    scope="targets.write",
    params=[TARGET_ID],
    audit=("target.delete", "target/{targetId}"),
    event="users.[userId].targets.[targetId].delete",
)
def delete_push_target(ctx: Context, targetId: str) -> None:
    row = targets.delete_target(ctx.db, project_id=ctx.project_id, user_id=current_user(ctx)["id"], target_id=targetId)
    ctx.event_payload = models.target(row)
