"""HTTP routes of a user's passkeys (server side, API key): list, get, rename, delete.

Unknown user -> 404 ``user_not_found`` first; then unknown, pending or another user's passkey ->
404 ``user_passkey_not_found`` (a pending one can still be deleted).
"""

from __future__ import annotations

from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional, queries_param
from ..tools import validators as v
from . import models, passkeys
from .routes import READ, USER_ID, WRITE

router = Router()

PASSKEY_ID = Param("passkeyId", v.uid)
PASSKEY_NAME = Param("name", v.text(128))
LIST_PARAMS = [queries_param(passkeys.PASSKEY_LIST), optional("total", v.loose_boolean, default=True)]


@router.get("/v1/users/{userId}/passkeys", scope=READ, params=[USER_ID, *LIST_PARAMS])
def list_passkeys(ctx: Context, userId: str, queries, total: bool) -> dict:
    count, rows = passkeys.list_passkeys(
        ctx.db, project_id=ctx.project_id, user_id=userId, queries=queries, total=total
    )
    return listing("passkeys", count, [models.passkey(r) for r in rows])


@router.get("/v1/users/{userId}/passkeys/{passkeyId}", scope=READ, params=[USER_ID, PASSKEY_ID])
def get_passkey(ctx: Context, userId: str, passkeyId: str) -> dict:
    row = passkeys.get_passkey(ctx.db, project_id=ctx.project_id, user_id=userId, passkey_id=passkeyId)
    return models.passkey(row)


@router.patch("/v1/users/{userId}/passkeys/{passkeyId}", scope=WRITE, params=[USER_ID, PASSKEY_ID, PASSKEY_NAME])
def update_passkey(ctx: Context, userId: str, passkeyId: str, name: str) -> dict:
    row = passkeys.rename_passkey(ctx.db, project_id=ctx.project_id, user_id=userId, passkey_id=passkeyId, name=name)
    return models.passkey(row)


@router.delete(
    "/v1/users/{userId}/passkeys/{passkeyId}",
    scope=WRITE,
    params=[USER_ID, PASSKEY_ID],
    audit=("passkey.delete", "user/{userId}"),
)
def delete_passkey(ctx: Context, userId: str, passkeyId: str) -> None:
    passkeys.delete_passkey(ctx.db, project_id=ctx.project_id, user_id=userId, passkey_id=passkeyId)
