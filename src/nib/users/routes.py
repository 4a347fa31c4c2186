"""HTTP routes of the Users service (server side, API key): the users themselves.

The rest of the Users API has its own modules, each with a router: mfa_routes.py,
session_routes.py (sessions, tokens, JWTs), activity_routes.py (logs, identities) and
target_routes.py; a user's memberships are served by teams/routes.py.
"""

from __future__ import annotations

from typing import Any

from ..auth import passwords
from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional, queries_param
from ..tools import validators as v
from . import models, service

router = Router()

READ, WRITE = "users.read", "users.write"
USER_ID = Param("userId", v.uid)
NEW_USER_ID = Param("userId", v.custom_id)
NAME = optional("name", v.text(128))
CREATED = "users.[userId].create"
SEARCH = optional("search", v.text(256), default="")


def render_user(ctx: Context, result) -> dict:
    row, owned = result
    return models.user(row, owned, impersonation=ctx.format_at_least(*models.IMPERSONATION_FORMAT))


# -- create -------------------------------------------------------------------------------------


@router.post(
    "/v1/users",
    scope=WRITE,
    status=201,
    audit=("user.create", "user/{id}"),
    event=CREATED,
    params=[
        NEW_USER_ID,
        optional("email", v.email),
        optional("phone", v.phone),
        optional("password", v.new_password),
        NAME,
    ],
)
def create(ctx: Context, userId: str, email, phone, password, name) -> dict:
    return render_user(
        ctx,
        service.create_user(
            ctx.db, project_id=ctx.project_id, user_id=userId, email=email, phone=phone, password=password, name=name
        ),
    )


def _import_route(path: str, algorithm: str, extra: list[Param], options) -> None:
    """Register one hash-import route; ``options(params)`` builds hashOptions beyond ``type``."""

    @router.post(
        path,
        scope=WRITE,
        status=201,
        audit=("user.create", "user/{id}"),
        event=CREATED,
        params=[NEW_USER_ID, Param("email", v.email), Param("password", v.password), *extra, NAME],
    )
    def create_imported(ctx: Context, userId: str, email: str, password: str, name, **params: Any) -> dict:
        return render_user(
            ctx,
            service.create_user(
                ctx.db,
                project_id=ctx.project_id,
                user_id=userId,
                email=email,
                name=name,
                imported_hash=password,
                hash_options={**options(params), "type": algorithm},
            ),
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
    newer = ctx.format_at_least(*models.IMPERSONATION_FORMAT)
    total, rows = service.list_users(
        ctx.db, project_id=ctx.project_id, queries=queries, search=search or None, impersonation=newer
    )
    return listing("users", total, [models.listed_user(row, impersonation=newer) for row in rows])


@router.get("/v1/users/{userId}", scope=READ, params=[USER_ID])
def get(ctx: Context, userId: str) -> dict:
    return render_user(ctx, service.get_user(ctx.db, project_id=ctx.project_id, user_id=userId))


@router.delete(
    "/v1/users/{userId}",
    scope=WRITE,
    params=[USER_ID],
    audit=("user.delete", "user/{userId}"),
    event="users.[userId].delete",
)
def delete(ctx: Context, userId: str) -> None:
    ctx.event_payload = render_user(ctx, service.delete_user(ctx.db, project_id=ctx.project_id, user_id=userId))


# -- update -------------------------------------------------------------------------------------


def _field_route(path: str, param: Param, column: str, event: str, audit: str = "user.update") -> None:
    """PATCH/PUT routes that set one column from one parameter and return the User; ``event``
    is the announced attribute (``update.<event>``)."""
    method = "PUT" if path.endswith("/labels") else "PATCH"

    @router.route(
        method,
        path,
        scope=WRITE,
        params=[USER_ID, param],
        audit=(audit, "user/{userId}"),
        event=f"users.[userId].update.{event}",
    )
    def update_field(ctx: Context, userId: str, **value: Any) -> dict:
        return render_user(
            ctx, service.update_user(ctx.db, project_id=ctx.project_id, user_id=userId, **{column: value[param.name]})
        )


_field_route("/v1/users/{userId}/name", Param("name", v.text(128, 0)), "name", "name")
_field_route("/v1/users/{userId}/status", Param("status", v.loose_boolean), "status", "status")
_field_route("/v1/users/{userId}/labels", Param("labels", v.labels), "labels", "labels")
_field_route(
    "/v1/users/{userId}/verification",
    Param("emailVerification", v.boolean),
    "email_verification",
    "verification",
    "verification.update",
)
_field_route(
    "/v1/users/{userId}/verification/phone",
    Param("phoneVerification", v.boolean),
    "phone_verification",
    "verification",
    "verification.update",
)
_field_route("/v1/users/{userId}/mfa", Param("mfa", v.boolean), "mfa", "mfa")
_field_route("/v1/users/{userId}/impersonator", Param("impersonator", v.loose_boolean), "impersonator", "impersonator")


@router.patch(
    "/v1/users/{userId}/email",
    scope=WRITE,
    params=[USER_ID, Param("email", v.email_or_empty)],
    audit=("user.update", "user/{userId}"),
    event="users.[userId].update.email",
)
def update_email(ctx: Context, userId: str, email: str) -> dict:
    return render_user(ctx, service.update_email(ctx.db, project_id=ctx.project_id, user_id=userId, email=email))


@router.patch(
    "/v1/users/{userId}/phone",
    scope=WRITE,
    params=[USER_ID, Param("number", v.phone_or_empty)],
    audit=("user.update", "user/{userId}"),
    event="users.[userId].update.phone",
)
def update_phone(ctx: Context, userId: str, number: str) -> dict:
    return render_user(ctx, service.update_phone(ctx.db, project_id=ctx.project_id, user_id=userId, phone=number))


@router.patch(
    "/v1/users/{userId}/password",
    scope=WRITE,
    params=[USER_ID, Param("password", v.new_password_or_empty)],
    audit=("user.update", "user/{userId}"),
    event="users.[userId].update.password",
)
def update_password(ctx: Context, userId: str, password: str) -> dict:
    return render_user(
        ctx, service.update_password(ctx.db, project_id=ctx.project_id, user_id=userId, password=password)
    )


@router.get("/v1/users/{userId}/prefs", scope=READ, params=[USER_ID])
def get_prefs(ctx: Context, userId: str) -> dict:
    return service.get_prefs(ctx.db, project_id=ctx.project_id, user_id=userId)


@router.patch(
    "/v1/users/{userId}/prefs",
    scope=WRITE,
    params=[USER_ID, Param("prefs", v.assoc)],
    event="users.[userId].update.prefs",
)
def update_prefs(ctx: Context, userId: str, prefs: dict) -> dict:
    # The payload is the prefs, whose keys are the app's: the user is named here, never by them.
    ctx.event_params["userId"] = userId
    return service.update_prefs(ctx.db, project_id=ctx.project_id, user_id=userId, prefs=prefs)
