"""HTTP routes of what users did and signed in with (server side, API key): logs, identities."""

from __future__ import annotations

from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, queries_param
from ..tools import validators as v
from ..tools.errors import AppwriteError
from . import activity, models
from .provider_tokens import opened
from .routes import READ, SEARCH, USER_ID, WRITE

router = Router()


@router.get("/v1/users/identities", scope=READ, params=[queries_param(activity.IDENTITY_LIST), SEARCH])
def list_identities(ctx: Context, queries, search: str) -> dict:
    if search:
        raise AppwriteError("general_query_invalid", "Searching is not supported on identities.")
    total, rows = activity.list_identities(ctx.db, project_id=ctx.project_id, queries=queries)
    return listing("identities", total, [models.identity(opened(ctx.db, ctx.settings, r)) for r in rows])


@router.delete(
    "/v1/users/identities/{identityId}",
    scope=WRITE,
    params=[Param("identityId", v.uid)],
    audit=("identity.delete", "identity/{identityId}"),
    event="users.[userId].identities.[identityId].delete",
)
def delete_identity(ctx: Context, identityId: str) -> None:
    row = activity.delete_identity(ctx.db, project_id=ctx.project_id, identity_id=identityId)
    ctx.event_payload = models.identity(opened(ctx.db, ctx.settings, row))


@router.get("/v1/users/{userId}/logs", scope=READ, params=[USER_ID, queries_param(activity.LOG_LIST)])
def list_logs(ctx: Context, userId: str, queries) -> dict:
    total, rows = activity.list_logs(ctx.db, project_id=ctx.project_id, user_id=userId, queries=queries)
    return listing("logs", total, [models.log(r) for r in rows])
