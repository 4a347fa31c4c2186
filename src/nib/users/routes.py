"""HTTP routes of the Users service (server side, API key): parse, call the service, serialise."""

from __future__ import annotations

from typing import Any

from ..auth import passwords
from ..auth.credentials import issue_jwt
from ..auth.principals import encode_session
from ..data.instance import server_secret
from ..http.context import Context
from ..http.routing import Param, Router, optional, queries_param
from ..teams import models as team_models
from ..tools import validators as v
from ..tools.errors import AppwriteError
from ..tools.useragent import parse_user_agent
from . import activity, mfa, models, service, sessions, targets

router = Router()

READ, WRITE = "users.read", "users.write"
USER_ID = Param("userId", v.uid)
NEW_USER_ID = Param("userId", v.custom_id)
NAME = optional("name", v.text(128))
SEARCH = optional("search", v.text(256), default="")


def _user(result) -> dict:
    row, owned = result
    return models.user(row, owned)


# -- create -------------------------------------------------------------------------------------


@router.post(
    "/v1/users",
    scope=WRITE,
    status=201,
    audit=("user.create", "user/{id}"),
    params=[
        NEW_USER_ID,
        optional("email", v.email),
        optional("phone", v.phone),
        optional("password", v.new_password),
        NAME,
    ],
)
def create(ctx: Context, userId: str, email, phone, password, name) -> dict:
    return _user(
        service.create_user(
            ctx.db, project_id=ctx.project_id, user_id=userId, email=email, phone=phone, password=password, name=name
        )
    )


def _import_route(path: str, algorithm: str, extra: list[Param], options) -> None:
    """Register one hash-import route; ``options(params)`` builds hashOptions beyond ``type``."""

    @router.post(
        path,
        scope=WRITE,
        status=201,
        audit=("user.create", "user/{id}"),
        params=[NEW_USER_ID, Param("email", v.email), Param("password", v.password), *extra, NAME],
    )
    def create_imported(ctx: Context, userId: str, email: str, password: str, name, **params: Any) -> dict:
        return _user(
            service.create_user(
                ctx.db,
                project_id=ctx.project_id,
                user_id=userId,
                email=email,
                name=name,
                imported_hash=password,
                hash_options={**options(params), "type": algorithm},
            )
        )


_SALT = Param("passwordSalt", v.text(128))
_import_route("/v1/users/argon2", "argon2", [], lambda p: {})
_import_route("/v1/users/bcrypt", "bcrypt", [], lambda p: {})
_import_route("/v1/users/md5", "md5", [], lambda p: {})
_import_route("/v1/users/phpass", "phpass", [], lambda p: {})
_import_route(
    "/v1/users/sha",
    "sha",
    [optional("passwordVersion", v.whitelist(passwords.SHA_VERSIONS, strict=True))],
    lambda p: {"version": p["passwordVersion"]} if p["passwordVersion"] else {},
)
_import_route(
    "/v1/users/scrypt",
    "scrypt",
    [
        _SALT,
        Param("passwordCpu", v.integer),
        Param("passwordMemory", v.integer),
        Param("passwordParallel", v.integer),
        Param("passwordLength", v.integer),
    ],
    lambda p: {
        "salt": p["passwordSalt"],
        "costCpu": p["passwordCpu"],
        "costMemory": p["passwordMemory"],
        "costParallel": p["passwordParallel"],
        "length": p["passwordLength"],
    },
)
_import_route(
    "/v1/users/scrypt-modified",
    "scryptMod",
    [_SALT, Param("passwordSaltSeparator", v.text(128)), Param("passwordSignerKey", v.text(128))],
    lambda p: {
        "signerKey": p["passwordSignerKey"],
        "saltSeparator": p["passwordSaltSeparator"],
        "salt": p["passwordSalt"],
    },
)


# -- read ---------------------------------------------------------------------------------------


@router.get("/v1/users", scope=READ, params=[queries_param(service.USER_LIST), SEARCH])
def list_users(ctx: Context, queries, search: str) -> dict:
    total, found = service.list_users(ctx.db, project_id=ctx.project_id, queries=queries, search=search or None)
    return models.listing("users", total, found)


@router.get("/v1/users/identities", scope=READ, params=[queries_param(activity.IDENTITY_LIST), SEARCH])
def list_identities(ctx: Context, queries, search: str) -> dict:
    if search:
        raise AppwriteError("general_query_invalid", "Searching is not supported on identities.")
    total, rows = activity.list_identities(ctx.db, project_id=ctx.project_id, queries=queries)
    return models.listing("identities", total, [models.identity(r) for r in rows])


@router.delete(
    "/v1/users/identities/{identityId}",
    scope=WRITE,
    params=[Param("identityId", v.uid)],
    audit=("identity.delete", "identity/{identityId}"),
)
def delete_identity(ctx: Context, identityId: str) -> None:
    activity.delete_identity(ctx.db, project_id=ctx.project_id, identity_id=identityId)


@router.get("/v1/users/{userId}", scope=READ, params=[USER_ID])
def get(ctx: Context, userId: str) -> dict:
    return _user(service.get_user(ctx.db, project_id=ctx.project_id, user_id=userId))


@router.delete("/v1/users/{userId}", scope=WRITE, params=[USER_ID], audit=("user.delete", "user/{userId}"))
def delete(ctx: Context, userId: str) -> None:
    service.delete_user(ctx.db, project_id=ctx.project_id, user_id=userId)


# -- update -------------------------------------------------------------------------------------


def _field_route(path: str, param: Param, column: str, event: str = "user.update") -> None:
    """PATCH/PUT routes that set one column from one parameter and return the User."""
    method = "PUT" if path.endswith("/labels") else "PATCH"

    @router.route(method, path, scope=WRITE, params=[USER_ID, param], audit=(event, "user/{userId}"))
    def update_field(ctx: Context, userId: str, **value: Any) -> dict:
        return _user(
            service.update_user(ctx.db, project_id=ctx.project_id, user_id=userId, **{column: value[param.name]})
        )


_field_route("/v1/users/{userId}/name", Param("name", v.text(128, 0)), "name")
_field_route("/v1/users/{userId}/status", Param("status", v.loose_boolean), "status")
_field_route("/v1/users/{userId}/labels", Param("labels", v.labels), "labels")
_field_route(
    "/v1/users/{userId}/verification",
    Param("emailVerification", v.boolean),
    "email_verification",
    "verification.update",
)
_field_route(
    "/v1/users/{userId}/verification/phone",
    Param("phoneVerification", v.boolean),
    "phone_verification",
    "verification.update",
)
_field_route("/v1/users/{userId}/mfa", Param("mfa", v.boolean), "mfa")


@router.patch(
    "/v1/users/{userId}/email",
    scope=WRITE,
    params=[USER_ID, Param("email", v.email_or_empty)],
    audit=("user.update", "user/{userId}"),
)
def update_email(ctx: Context, userId: str, email: str) -> dict:
    return _user(service.update_email(ctx.db, project_id=ctx.project_id, user_id=userId, email=email))


@router.patch(
    "/v1/users/{userId}/phone",
    scope=WRITE,
    params=[USER_ID, Param("number", v.phone_or_empty)],
    audit=("user.update", "user/{userId}"),
)
def update_phone(ctx: Context, userId: str, number: str) -> dict:
    return _user(service.update_phone(ctx.db, project_id=ctx.project_id, user_id=userId, phone=number))


@router.patch(
    "/v1/users/{userId}/password",
    scope=WRITE,
    params=[USER_ID, Param("password", v.new_password_or_empty)],
    audit=("user.update", "user/{userId}"),
)
def update_password(ctx: Context, userId: str, password: str) -> dict:
    return _user(service.update_password(ctx.db, project_id=ctx.project_id, user_id=userId, password=password))


@router.get("/v1/users/{userId}/prefs", scope=READ, params=[USER_ID])
def get_prefs(ctx: Context, userId: str) -> dict:
    return service.get_prefs(ctx.db, project_id=ctx.project_id, user_id=userId)


@router.patch("/v1/users/{userId}/prefs", scope=WRITE, params=[USER_ID, Param("prefs", v.assoc)])
def update_prefs(ctx: Context, userId: str, prefs: dict) -> dict:
    return service.update_prefs(ctx.db, project_id=ctx.project_id, user_id=userId, prefs=prefs)


# -- MFA ----------------------------------------------------------------------------------------


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


# -- sessions and tokens ------------------------------------------------------------------------


@router.get("/v1/users/{userId}/sessions", scope=READ, params=[USER_ID])
def list_sessions(ctx: Context, userId: str) -> dict:
    rows = sessions.list_sessions(ctx.db, project_id=ctx.project_id, user_id=userId)
    return models.listing("sessions", len(rows), [models.session(r) for r in rows])


@router.post(
    "/v1/users/{userId}/sessions",
    scope=WRITE,
    status=201,
    params=[Param("userId", v.custom_id)],
    audit=("session.create", "user/{userId}"),
)
def create_session(ctx: Context, userId: str) -> dict:
    row, secret = sessions.create_session(
        ctx.db,
        project_id=ctx.project_id,
        user_id=userId,
        provider="server",
        factors=["server"],
        duration=ctx.settings.session_duration,
        ip=ctx.ip,
        client=parse_user_agent(ctx.user_agent),
    )
    # The encoded session (as newer Appwrite) works directly with the SDKs' set_session().
    return models.session(row, secret=encode_session(userId, secret))


@router.delete(
    "/v1/users/{userId}/sessions", scope=WRITE, params=[USER_ID], audit=("session.delete", "user/{userId}")
)
def delete_sessions(ctx: Context, userId: str) -> None:
    sessions.delete_sessions(ctx.db, project_id=ctx.project_id, user_id=userId)


@router.delete(
    "/v1/users/{userId}/sessions/{sessionId}",
    scope=WRITE,
    params=[USER_ID, Param("sessionId", v.uid)],
    audit=("session.delete", "user/{userId}"),
)
def delete_session(ctx: Context, userId: str, sessionId: str) -> None:
    sessions.delete_session(ctx.db, project_id=ctx.project_id, user_id=userId, session_id=sessionId)


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


# -- memberships and logs -----------------------------------------------------------------------


@router.get(
    "/v1/users/{userId}/memberships", scope=READ, params=[USER_ID, queries_param(activity.MEMBERSHIP_LIST), SEARCH]
)
def list_memberships(ctx: Context, userId: str, queries, search: str) -> dict:
    total, rows = activity.list_memberships(
        ctx.db, project_id=ctx.project_id, user_id=userId, queries=queries, search=search or None
    )
    return models.listing("memberships", total, [team_models.membership(r) for r in rows])


@router.get("/v1/users/{userId}/logs", scope=READ, params=[USER_ID, queries_param(activity.LOG_LIST)])
def list_logs(ctx: Context, userId: str, queries) -> dict:
    total, rows = activity.list_logs(ctx.db, project_id=ctx.project_id, user_id=userId, queries=queries)
    return models.listing("logs", total, [models.log(r) for r in rows])


# -- targets ------------------------------------------------------------------------------------

TARGET_ID = Param("targetId", v.uid)
PROVIDER_TYPES = ("email", "sms", "push")


def _identifier(provider_type: str, identifier: str) -> str:
    """Targets' identifiers must match their provider type."""
    if provider_type == "email":
        if not v.is_email(identifier):
            raise AppwriteError("general_invalid_email", "Value must be a valid email address.")
        return identifier.lower()
    if provider_type == "sms" and not v.is_phone(identifier):
        raise AppwriteError("general_invalid_phone")
    return identifier


@router.get("/v1/users/{userId}/targets", scope="targets.read", params=[USER_ID, queries_param(targets.TARGET_LIST)])
def list_targets(ctx: Context, userId: str, queries) -> dict:
    total, rows = targets.list_targets(ctx.db, project_id=ctx.project_id, user_id=userId, queries=queries)
    return models.listing("targets", total, [models.target(r) for r in rows])


@router.post(
    "/v1/users/{userId}/targets",
    scope="targets.write",
    status=201,
    params=[
        USER_ID,
        Param("targetId", v.custom_id),
        Param("providerType", v.whitelist(PROVIDER_TYPES, strict=True)),
        Param("identifier", v.text(255)),
        optional("providerId", v.uid),
        NAME,
    ],
    audit=("target.create", "target/{id}"),
)
def create_target(ctx: Context, userId: str, targetId: str, providerType: str, identifier: str, providerId, name) -> dict:
    row = targets.create_target(
        ctx.db,
        project_id=ctx.project_id,
        user_id=userId,
        target_id=targetId,
        provider_type=providerType,
        identifier=_identifier(providerType, identifier),
        provider_id=providerId,
        name=name,
    )
    return models.target(row)


@router.get("/v1/users/{userId}/targets/{targetId}", scope="targets.read", params=[USER_ID, TARGET_ID])
def get_target(ctx: Context, userId: str, targetId: str) -> dict:
    return models.target(targets.get_target(ctx.db, project_id=ctx.project_id, user_id=userId, target_id=targetId))


@router.patch(
    "/v1/users/{userId}/targets/{targetId}",
    scope="targets.write",
    params=[USER_ID, TARGET_ID, optional("identifier", v.text(255)), optional("providerId", v.uid), NAME],
    audit=("target.update", "target/{targetId}"),
)
def update_target(ctx: Context, userId: str, targetId: str, identifier, providerId, name) -> dict:
    changes = {
        column: value
        for column, value in (("identifier", identifier), ("provider_id", providerId), ("name", name))
        if value is not None
    }
    row = targets.update_target(
        ctx.db,
        project_id=ctx.project_id,
        user_id=userId,
        target_id=targetId,
        changes=changes,
        validate_identifier=_identifier,
    )
    return models.target(row)


@router.delete(
    "/v1/users/{userId}/targets/{targetId}",
    scope="targets.write",
    params=[USER_ID, TARGET_ID],
    audit=("target.delete", "target/{targetId}"),
)
def delete_target(ctx: Context, userId: str, targetId: str) -> None:
    targets.delete_target(ctx.db, project_id=ctx.project_id, user_id=userId, target_id=targetId)
