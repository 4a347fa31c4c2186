"""Shared helpers of the Teams API tests: the official SDK's Teams service in server (API key) and
client (session) mode, fresh teams, invitations read from the real SMTP server."""

from __future__ import annotations

import uuid

from account_support import Member, member
from appwrite.client import Client
from appwrite.services.teams import Teams

from mail_support import link_params

INVITE_URL = "http://localhost/join?from=mail"


def unique_team_id(prefix: str = "team") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def teams_as_key(server) -> Teams:
    """The Teams service with the all-scopes API key (server side)."""
    return Teams(server.sdk())


def teams_as(server, who: Member | None = None) -> Teams:
    """The Teams service in client mode: signed in as ``who``, or a guest."""
    client = Client().set_endpoint(server.endpoint).set_project(server.project)
    if who is not None:
        client.set_session(who.session)
    return Teams(client)


def owned_team(server, *, name: str = "Owned", roles: list[str] | None = None) -> tuple[Member, str]:
    """A signed-in member and a team it created (so it is the team's owner)."""
    owner = member(server, name="Owner")
    team_id = unique_team_id()
    teams_as(server, owner).create(team_id, name, roles)
    return owner, team_id


def add_member(server, team_id: str, roles: list[str]) -> Member:
    """A signed-in member added to the team by the API key (confirmed at once)."""
    joined = member(server, name="Member")
    teams_as_key(server).create_membership(team_id, roles, user_id=joined.user["$id"])
    return joined


def invite_by_email(server, smtp, owner: Member, team_id: str, email: str, roles: list[str]) -> tuple[dict, dict]:
    """An owner's invitation through the SDK: (Membership JSON, the e-mail link's parameters)."""
    created = teams_as(server, owner).create_membership(team_id, roles, email=email, url=INVITE_URL)
    return created.to_dict(), link_params(smtp.mailbox.wait_for(email))
