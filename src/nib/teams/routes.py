"""HTTP routes of the Teams service (client and server side): parse, call the service, serialise.

The same routes serve API keys (``teams.read``/``teams.write`` scopes; permissions bypassed) and
signed-in users (permissions from their roles, auth.roles). Only
``PATCH …/memberships/{membershipId}/status`` is public: a guest accepts an invitation with the
secret from its e-mail and is signed in by it. A user's memberships in every team are read
through the Users API (``GET /v1/users/{userId}/memberships``) and, for the signed-in user,
``GET /v1/account/memberships``: both served here.
"""

from __future__ import annotations

from ..auth.principals import encode_session
from ..http.context import Context
from ..http.render import listing
from ..http.routing import Param, Router, optional, queries_param
from ..tools import validators as v
from ..tools.useragent import parse_user_agent
from . import invitations, memberships, models, service

router = Router()

READ, WRITE = "teams.read", "teams.write"
TEAM_ID = Param("teamId", v.uid)
MEMBERSHIP_ID = Param("membershipId", v.uid)
SEARCH = optional("search", v.text(256), default="")
ROLE_LIST = v.array_of(v.key, 100, v.KEY_DESCRIPTION)
TEAM_EVENT = "team/{teamId}"
MEMBERSHIP = "teams.[teamId].memberships.[membershipId]"


# -- teams --------------------------------------------------------------------------------------


@router.post(
    "/v1/teams",
    scope=WRITE,
    status=201,
    audit=("team.create", "team/{id}"),
    event="teams.[teamId].create",
    params=[Param("teamId", v.custom_id), Param("name", v.text(128)), optional("roles", ROLE_LIST, default=["owner"])],
)
def create(ctx: Context, teamId: str, name: str, roles: list[str]) -> dict:
    creator = None if ctx.principal.is_key else ctx.principal.user
    row = service.create_team(
        ctx.db, project_id=ctx.project_id, team_id=teamId, name=name, roles=roles, creator=creator
    )
    return models.team(row)


@router.get("/v1/teams", scope=READ, params=[queries_param(service.TEAM_LIST), SEARCH])
def list_teams(ctx: Context, queries, search: str) -> dict:
    total, rows = service.list_teams(
        ctx.db, project_id=ctx.project_id, roles=ctx.roles(), queries=queries, search=search or None
    )
    return listing("teams", total, [models.team(row) for row in rows])


@router.get("/v1/teams/{teamId}", scope=READ, params=[TEAM_ID])
def get(ctx: Context, teamId: str) -> dict:
    return models.team(service.get_team(ctx.db, project_id=ctx.project_id, team_id=teamId, roles=ctx.roles()))


@router.put(
    "/v1/teams/{teamId}",
    scope=WRITE,
    params=[TEAM_ID, Param("name", v.text(128))],
    audit=("team.update", TEAM_EVENT),
    event="teams.[teamId].update",
)
def update_name(ctx: Context, teamId: str, name: str) -> dict:
    row = service.update_team(
        ctx.db,
        project_id=ctx.project_id,
        team_id=teamId,
        roles=ctx.roles(),
        name=name,
        unchanged_since=ctx.unchanged_since(),
    )
    return models.team(row)


@router.delete(
    "/v1/teams/{teamId}",
    scope=WRITE,
    params=[TEAM_ID],
    audit=("team.delete", TEAM_EVENT),
    event="teams.[teamId].delete",
)
def delete(ctx: Context, teamId: str) -> None:
    row = service.delete_team(ctx.db, project_id=ctx.project_id, team_id=teamId, roles=ctx.roles())
    ctx.event_payload = models.team(row)


@router.get("/v1/teams/{teamId}/prefs", scope=READ, params=[TEAM_ID])
def get_prefs(ctx: Context, teamId: str) -> dict:
    return service.get_team(ctx.db, project_id=ctx.project_id, team_id=teamId, roles=ctx.roles())["prefs"] or {}


@router.put(
    "/v1/teams/{teamId}/prefs",
    scope=WRITE,
    params=[TEAM_ID, Param("prefs", v.assoc)],
    audit=("team.update", TEAM_EVENT),
    event="teams.[teamId].update.prefs",
)
def update_prefs(ctx: Context, teamId: str, prefs: dict) -> dict:
    # The payload is the prefs, whose keys are the app's: the team is named here, never by them.
    ctx.event_params["teamId"] = teamId
    row = service.update_team(ctx.db, project_id=ctx.project_id, team_id=teamId, roles=ctx.roles(), prefs=prefs)
    return row["prefs"] or {}


# -- memberships --------------------------------------------------------------------------------


@router.get(
    "/v1/teams/{teamId}/memberships", scope=READ, params=[TEAM_ID, queries_param(memberships.MEMBERSHIP_LIST), SEARCH]
)
def list_memberships(ctx: Context, teamId: str, queries, search: str) -> dict:
    total, rows = memberships.list_memberships(
        ctx.db, project_id=ctx.project_id, team_id=teamId, roles=ctx.roles(), queries=queries, search=search or None
    )
    return listing("memberships", total, [_shown(ctx, models.membership(row, mfa=row["mfa"])) for row in rows])


def _shown(ctx: Context, model: dict) -> dict:
    """A membership as the caller may read it: the project's memberships privacy blanks the
    member's name, e-mail and MFA status for callers other than API keys (Appwrite)."""
    if ctx.principal.is_key:
        return model
    policies = ctx.policies
    if not policies.memberships_user_name:
        model["userName"] = ""
    if not policies.memberships_user_email:
        model["userEmail"] = ""
    if not policies.memberships_mfa:
        model["mfa"] = False
    return model


@router.post(
    "/v1/teams/{teamId}/memberships",
    scope=WRITE,
    status=201,
    auth_method="invites",
    audit=("membership.create", TEAM_EVENT),
    event=f"{MEMBERSHIP}.create",
    params=[
        TEAM_ID,
        optional("email", v.email),
        optional("userId", v.uid),
        optional("phone", v.phone),
        Param("roles", ROLE_LIST),
        optional("url", v.redirect_url, default=""),
        optional("name", v.text(128)),
    ],
)
def create_membership(ctx: Context, teamId: str, email, userId, phone, roles: list[str], url: str, name) -> dict:
    row = invitations.invite(
        ctx.db,
        ctx.settings,
        project_id=ctx.project_id,
        team_id=teamId,
        roles=ctx.roles(),
        inviter=ctx.principal.user,
        member_roles=roles,
        user_id=userId,
        email=email,
        phone=phone,
        name=name,
        url=url,
    )
    return models.membership(row)


@router.get("/v1/teams/{teamId}/memberships/{membershipId}", scope=READ, params=[TEAM_ID, MEMBERSHIP_ID])
def get_membership(ctx: Context, teamId: str, membershipId: str) -> dict:
    row = memberships.get_membership(
        ctx.db, project_id=ctx.project_id, team_id=teamId, membership_id=membershipId, roles=ctx.roles()
    )
    return _shown(ctx, models.membership(row, mfa=row["mfa"]))


@router.patch(
    "/v1/teams/{teamId}/memberships/{membershipId}",
    scope=WRITE,
    params=[TEAM_ID, MEMBERSHIP_ID, Param("roles", ROLE_LIST)],
    audit=("membership.update", TEAM_EVENT),
    event=f"{MEMBERSHIP}.update",
)
def update_membership(ctx: Context, teamId: str, membershipId: str, roles: list[str]) -> dict:
    row = memberships.update_roles(
        ctx.db,
        project_id=ctx.project_id,
        team_id=teamId,
        membership_id=membershipId,
        roles=ctx.roles(),
        member_roles=roles,
    )
    return models.membership(row)


@router.patch(
    "/v1/teams/{teamId}/memberships/{membershipId}/status",
    scope="public",
    params=[TEAM_ID, MEMBERSHIP_ID, Param("userId", v.uid), Param("secret", v.text(256))],
    audit=("membership.update", TEAM_EVENT),
    event=f"{MEMBERSHIP}.update.status",
)
def update_membership_status(ctx: Context, teamId: str, membershipId: str, userId: str, secret: str) -> dict:
    """Accept an invitation: the invitee is signed in (session cookies, as Appwrite)."""
    row, session, session_secret, invitee = invitations.accept(
        ctx.db,
        project_id=ctx.project_id,
        team_id=teamId,
        membership_id=membershipId,
        user_id=userId,
        secret=secret,
        current_user=ctx.principal.user,
        roles=ctx.roles(),
        session={
            "duration": ctx.policies.session_length,
            "ip": ctx.ip,
            "client": parse_user_agent(ctx.user_agent),
        },
    )
    ctx.actor = invitee
    ctx.sign_in(encode_session(userId, session_secret), session["expire"])
    return models.membership(row)


@router.delete(
    "/v1/teams/{teamId}/memberships/{membershipId}",
    scope=WRITE,
    params=[TEAM_ID, MEMBERSHIP_ID],
    audit=("membership.delete", TEAM_EVENT),
    event=f"{MEMBERSHIP}.delete",
)
def delete_membership(ctx: Context, teamId: str, membershipId: str) -> None:
    row = memberships.delete_membership(
        ctx.db, project_id=ctx.project_id, team_id=teamId, membership_id=membershipId, roles=ctx.roles()
    )
    ctx.event_payload = models.membership(row, mfa=row["mfa"])


# -- a user's memberships (Users API) -----------------------------------------------------------


@router.get(
    "/v1/users/{userId}/memberships",
    scope="users.read",
    params=[Param("userId", v.uid), queries_param(memberships.MEMBERSHIP_LIST), SEARCH],
)
def list_user_memberships(ctx: Context, userId: str, queries, search: str) -> dict:
    total, rows = memberships.list_user_memberships(
        ctx.db, project_id=ctx.project_id, user_id=userId, queries=queries, search=search or None
    )
    return listing("memberships", total, [models.membership(row) for row in rows])


@router.get(
    "/v1/account/memberships",
    scope="account",
    params=[queries_param(memberships.MEMBERSHIP_LIST), optional("total", v.loose_boolean, default=True)],
)
def list_own_memberships(ctx: Context, queries, total: bool) -> dict:
    """The signed-in user's memberships, pending and confirmed (``total: false``: total 0)."""
    user = ctx.principal.user
    assert user is not None, "only signed-in users hold the account scope"
    count, rows = memberships.list_user_memberships(
        ctx.db, project_id=ctx.project_id, user_id=user["id"], queries=queries, search=None
    )
    return listing("memberships", count if total else 0, [models.membership(row) for row in rows])
