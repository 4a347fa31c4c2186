"""HTTP routes of the Tokens service: file tokens, for API keys with the ``tokens.*`` scopes
(sessions and guests lack them: 401 ``general_unauthorized_scope``). Using a token (the
``token`` parameter of view, download and preview) is routes.py's."""

from __future__ import annotations

from ..data.instance import server_secret
from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional, queries_param
from ..tools import validators as v
from . import file_tokens, models

router = Router()

TOKENS_READ, TOKENS_WRITE = "tokens.read", "tokens.write"
FILE_PATH = "/v1/tokens/buckets/{bucketId}/files/{fileId}"
FILE_PARAMS = [Param("bucketId", v.uid), Param("fileId", v.uid)]
TOKEN_ID = Param("tokenId", v.uid)
TOKEN_EVENT = "token/{tokenId}"
# A date in the future; null or absent: no expiry (on update too: it clears the expiry).
EXPIRE = optional("expire", v.future_date)


def _render(ctx: Context, row) -> dict:
    return models.resource_token(row, server_secret(ctx.db, ctx.settings))


@router.post(
    FILE_PATH,
    scope=TOKENS_WRITE,
    status=201,
    audit=("token.create", "token/{id}"),
    event="tokens.[tokenId].create",
    params=[*FILE_PARAMS, EXPIRE],
)
def create(ctx: Context, bucketId: str, fileId: str, expire) -> dict:
    row = file_tokens.create_token(ctx.db, project_id=ctx.project_id, bucket_id=bucketId, file_id=fileId, expire=expire)
    return _render(ctx, row)


@router.get(
    FILE_PATH,
    scope=TOKENS_READ,
    params=[*FILE_PARAMS, queries_param(file_tokens.TOKEN_LIST), optional("total", v.loose_boolean, default=True)],
)
def list_tokens(ctx: Context, bucketId: str, fileId: str, queries, total: bool) -> dict:
    count, rows = file_tokens.list_tokens(
        ctx.db, project_id=ctx.project_id, bucket_id=bucketId, file_id=fileId, queries=queries
    )
    secret = server_secret(ctx.db, ctx.settings)
    return listing("tokens", count if total else 0, [models.resource_token(row, secret) for row in rows])


@router.get("/v1/tokens/{tokenId}", scope=TOKENS_READ, params=[TOKEN_ID])
def get(ctx: Context, tokenId: str) -> dict:
    return _render(ctx, file_tokens.get_token(ctx.db, project_id=ctx.project_id, token_id=tokenId))


@router.patch(
    "/v1/tokens/{tokenId}",
    scope=TOKENS_WRITE,
    audit=("tokens.update", TOKEN_EVENT),
    event="tokens.[tokenId].update",
    params=[TOKEN_ID, EXPIRE],
)
def update(ctx: Context, tokenId: str, expire) -> dict:
    row = file_tokens.update_token(ctx.db, project_id=ctx.project_id, token_id=tokenId, expire=expire)
    return _render(ctx, row)


# Realtime carries no token events: the deleted token is not read for a payload nobody gets.
@router.delete(
    "/v1/tokens/{tokenId}",
    scope=TOKENS_WRITE,
    audit=("tokens.delete", TOKEN_EVENT),
    event="tokens.[tokenId].delete",
    params=[TOKEN_ID],
)
def delete(ctx: Context, tokenId: str) -> None:
    file_tokens.delete_token(ctx.db, project_id=ctx.project_id, token_id=tokenId)
