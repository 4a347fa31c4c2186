"""HTTP routes of a user's messaging targets (server side, API key, ``targets.*`` scopes)."""

from __future__ import annotations

from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional, queries_param
from ..tools import validators as v
from ..tools.errors import AppwriteError
from . import models, targets
from .routes import NAME, USER_ID

router = Router()

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
    return listing("targets", total, [models.target(r) for r in rows])


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
    event="users.[userId].targets.[targetId].create",
)
def create_target(
    ctx: Context, userId: str, targetId: str, providerType: str, identifier: str, providerId, name
) -> dict:
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
    event="users.[userId].targets.[targetId].update",
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
    event="users.[userId].targets.[targetId].delete",
)
def delete_target(ctx: Context, userId: str, targetId: str) -> None:
    row = targets.delete_target(ctx.db, project_id=ctx.project_id, user_id=userId, target_id=targetId)
    ctx.event_payload = models.target(row)
