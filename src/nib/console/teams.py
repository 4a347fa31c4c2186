"""The console's Teams pages: list and search, create; a team's members, invitations by e-mail,
roles, removal, rename and delete.

Every change goes through the teams services as an API key would (``roles=None``), validated by
the Teams API's own parameter declarations, except invitations: the administrator invites as a
team owner does (``by_email``), so the invitee gets the e-mail and confirms it, rather than
being added to the team without a word.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from ..auth import platforms
from ..data.query import Order, ParsedQueries
from ..http.routing import Param, optional, validate
from ..teams import invitations, memberships, service
from ..teams.routes import ROLE_LIST
from ..tools import validators as v
from .pages import Page, PageRouter

router = PageRouter()

PAGE_SIZE = 25
_TEAM = [optional("teamId", v.custom_id, default="unique()"), Param("name", v.text(128))]
_NAME = [Param("name", v.text(128))]
_ROLES = [Param("roles", ROLE_LIST)]
_INVITE = [
    Param("email", v.email),
    Param("roles", ROLE_LIST),
    Param("url", v.redirect_url),
    optional("name", v.text(128)),
]


def _page_of(page: Page, *, newest_first: bool) -> ParsedQueries:
    try:
        offset = max(0, int(page.value("offset", "0")))
    except ValueError:
        offset = 0
    orders = (Order(None, True),) if newest_first else ()
    return ParsedQueries(filters=(), orders=orders, limit=PAGE_SIZE, offset=offset)


def _roles(text: str) -> list[str]:
    """Roles typed as one line: separated by commas and/or spaces."""
    return [role for role in re.split(r"[\s,]+", text) if role]


def invitation_url(page: Page, project_id: str) -> str:
    """The accept URL offered by default: the project's first web platform that names one host
    (a ``*.domain`` platform names none), at its root; empty when there is none."""
    for platform in platforms.list_platforms(page.db, project_id=project_id):
        if "*" not in platform["hostname"]:
            return f"http://{platform['hostname']}/"
    return ""


def _quote(value: str) -> str:
    return quote(value, safe="")


def _team_path(project_id: str, team_id: str) -> str:
    return f"/projects/{_quote(project_id)}/teams/{_quote(team_id)}"


@router.get("/projects/{project_id}/teams")
def teams(page: Page, project_id: str) -> Response:
    project = page.project(project_id)
    search = page.value("search").strip()
    queries = _page_of(page, newest_first=True)
    total, rows = service.list_teams(page.db, project_id=project_id, roles=None, queries=queries, search=search or None)
    return page.render(
        "teams.html",
        project=project,
        teams=rows,
        total=total,
        offset=queries.offset,
        limit=PAGE_SIZE,
        search=search,
    )


@router.post("/projects/{project_id}/teams", audit=("team.create", "team/{id}"))
def create(page: Page, project_id: str) -> Response:
    page.project(project_id)
    values = validate(_TEAM, {"teamId": page.value("team_id").strip() or None, "name": page.value("name")})
    row = service.create_team(
        page.db, project_id=project_id, team_id=values["teamId"], name=values["name"], roles=[], creator=None
    )
    page.created_id = row["id"]
    return page.redirect(_team_path(project_id, row["id"]), f"Team {row['name']} created.")


@router.get("/projects/{project_id}/teams/{team_id}")
def team(page: Page, project_id: str, team_id: str) -> Response:
    project = page.project(project_id)
    row = service.get_team(page.db, project_id=project_id, team_id=team_id, roles=None)
    search = page.value("search").strip()
    queries = _page_of(page, newest_first=False)
    total, members = memberships.list_memberships(
        page.db, project_id=project_id, team_id=team_id, roles=None, queries=queries, search=search or None
    )
    return page.render(
        "team.html",
        project=project,
        team=row,
        members=members,
        total=total,
        offset=queries.offset,
        limit=PAGE_SIZE,
        search=search,
        invite_url=invitation_url(page, project_id),
    )


@router.post("/projects/{project_id}/teams/{team_id}/name", audit=("team.update", "team/{team_id}"))
def rename(page: Page, project_id: str, team_id: str) -> Response:
    page.project(project_id)
    values = validate(_NAME, {"name": page.value("name")})
    service.update_team(page.db, project_id=project_id, team_id=team_id, roles=None, name=values["name"])
    return page.redirect(_team_path(project_id, team_id), "Team renamed.")


@router.post("/projects/{project_id}/teams/{team_id}/delete", audit=("team.delete", "team/{team_id}"))
def delete(page: Page, project_id: str, team_id: str) -> Response:
    page.project(project_id)
    row = service.delete_team(page.db, project_id=project_id, team_id=team_id, roles=None)
    return page.redirect(f"/projects/{_quote(project_id)}/teams", f"Team {row['name']} deleted.")


@router.post("/projects/{project_id}/teams/{team_id}/memberships", audit=("membership.create", "team/{team_id}"))
def invite(page: Page, project_id: str, team_id: str) -> Response:
    page.project(project_id)
    raw: dict[str, Any] = {
        "email": page.value("email").strip() or None,
        "roles": _roles(page.value("roles")),
        "url": page.value("url").strip() or None,
        "name": page.value("name").strip() or None,
    }
    values = validate(_INVITE, raw, platforms.allowed_hosts(page.db, project_id))
    row = invitations.invite(
        page.db,
        page.settings,
        project_id=project_id,
        team_id=team_id,
        roles=None,
        inviter={"name": page.admin.name, "email": page.admin.email},
        member_roles=values["roles"],
        user_id=None,
        email=values["email"],
        phone=None,
        name=values["name"],
        url=values["url"],
        by_email=True,
    )
    page.created_id = row["id"]
    return page.redirect(_team_path(project_id, team_id), f"Invitation sent to {values['email']}.")


@router.post(
    "/projects/{project_id}/teams/{team_id}/memberships/{membership_id}/roles",
    audit=("membership.update", "team/{team_id}"),
)
def set_roles(page: Page, project_id: str, team_id: str, membership_id: str) -> Response:
    page.project(project_id)
    values = validate(_ROLES, {"roles": _roles(page.value("roles"))})
    memberships.update_roles(
        page.db,
        project_id=project_id,
        team_id=team_id,
        membership_id=membership_id,
        roles=None,
        member_roles=values["roles"],
    )
    return page.redirect(_team_path(project_id, team_id), "Roles saved.")


@router.post(
    "/projects/{project_id}/teams/{team_id}/memberships/{membership_id}/delete",
    audit=("membership.delete", "team/{team_id}"),
)
def remove(page: Page, project_id: str, team_id: str, membership_id: str) -> Response:
    page.project(project_id)
    row = memberships.delete_membership(
        page.db, project_id=project_id, team_id=team_id, membership_id=membership_id, roles=None
    )
    who = row["user_name"] or row["user_email"] or row["user_id"]
    return page.redirect(_team_path(project_id, team_id), f"{who} removed from the team.")
