"""The console's Teams pages against a live nib: list, search, create, the invitation e-mail,
roles, removal, rename and delete, each seen through the REST API with a key and in the audit
log as the administrator's action."""

from __future__ import annotations

import html
import uuid

import pytest
from appwrite.exception import AppwriteException
from teams_support import teams_as_key, unique_team_id

from console_support import XSS, Console, assert_forms_carry_the_token, audited, notice, origin, sign_in
from mail_support import link_params


@pytest.fixture(scope="module")
def console(server) -> Console:
    return sign_in(server)


def base(server) -> str:
    return f"/projects/{server.project}/teams"


def test_create_list_search_and_rename(server, db, console):
    team_id = unique_team_id("ct")
    answer = console.post(base(server), {"name": f"Crew {XSS}", "team_id": team_id})
    assert answer.status_code == 303 and answer.headers["location"] == f"/console{base(server)}/{team_id}"
    assert teams_as_key(server).get(team_id).name == f"Crew {XSS}"
    entry = audited(db, server.project, "team.create", f"team/{team_id}")
    assert [(e["user_type"], e["user_email"]) for e in entry] == [("admin", console.email)]

    listed = console.get(base(server), params={"search": team_id})
    assert listed.status_code == 200
    assert f"<code>{team_id}</code>" in listed.text
    assert XSS not in listed.text and html.escape(XSS, quote=False) in listed.text
    assert_forms_carry_the_token(listed.text, console)
    assert (
        console.get(base(server), params={"search": "nothing" + uuid.uuid4().hex}).text.count("No team matches.") == 1
    )

    # A generated ID when none is given.
    answer = console.post(base(server), {"name": "Generated"})
    created = answer.headers["location"].rsplit("/", 1)[1]
    assert teams_as_key(server).get(created).name == "Generated"

    answer = console.post(f"{base(server)}/{team_id}/name", {"name": "Renamed crew"})
    assert answer.status_code == 303 and "Team renamed." in notice(answer)
    assert teams_as_key(server).get(team_id).name == "Renamed crew"
    assert audited(db, server.project, "team.update", f"team/{team_id}")

    # The API's validation message, shown on the page the form came from.
    page = f"{origin(server)}/console{base(server)}/{team_id}"
    answer = console.post(f"{base(server)}/{team_id}/name", {"name": "x" * 129}, headers={"Referer": page})
    assert answer.headers["location"] == f"/console{base(server)}/{team_id}"
    shown = console.get(f"{base(server)}/{team_id}").text
    assert (
        "Invalid `name` param: Value must be a valid string and at least 1 chars and no longer than 128 chars" in shown
    )
    assert teams_as_key(server).get(team_id).name == "Renamed crew"


def test_invite_sends_the_mail_then_roles_remove_and_delete(server, db, smtp, console):
    team_id = unique_team_id("ci")
    console.post(base(server), {"name": "Invited crew", "team_id": team_id})
    page = console.get(f"{base(server)}/{team_id}")
    assert_forms_carry_the_token(page.text, console)
    # The accept URL offered: the project's first web platform.
    assert 'value="http://localhost/"' in page.text

    email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    answer = console.post(
        f"{base(server)}/{team_id}/memberships",
        {"email": email, "name": XSS, "roles": "editor, viewer", "url": "http://localhost/accept"},
    )
    assert answer.status_code == 303 and f"Invitation sent to {email}." in notice(answer)
    mail = smtp.mailbox.wait_for(email)
    assert mail["Subject"] == "Invitation to Invited crew Team at Default"
    params = link_params(mail)
    assert params["teamId"] == team_id and len(params["secret"]) == 256

    memberships = teams_as_key(server).list_memberships(team_id).memberships
    assert [(m.useremail, m.roles, m.confirm) for m in memberships] == [(email, ["editor", "viewer"], False)]
    membership_id = memberships[0].id
    assert teams_as_key(server).get(team_id).total == 0  # pending, as an owner's invitation
    entry = audited(db, server.project, "membership.create", f"team/{team_id}")
    assert [e["user_type"] for e in entry] == ["admin"]

    shown = console.get(f"{base(server)}/{team_id}").text
    assert f'href="/console/projects/{server.project}/users/{params["userId"]}"' in shown
    assert email in shown and 'value="editor, viewer"' in shown and "invited" in shown
    assert XSS not in shown

    # The invitee accepts with the e-mail's secret: the membership is confirmed.
    teams = teams_as_key(server)
    from appwrite.client import Client
    from appwrite.services.teams import Teams

    guest = Teams(Client().set_endpoint(server.endpoint).set_project(server.project))
    guest.update_membership_status(team_id, params["membershipId"], params["userId"], params["secret"])
    assert teams.get(team_id).total == 1

    answer = console.post(f"{base(server)}/{team_id}/memberships/{membership_id}/roles", {"roles": "owner"})
    assert "Roles saved." in notice(answer)
    assert teams.get_membership(team_id, membership_id).roles == ["owner"]
    assert audited(db, server.project, "membership.update", f"team/{team_id}")

    # A URL on no platform: the API's message, and no e-mail.
    other = f"other-{uuid.uuid4().hex[:8]}@example.com"
    answer = console.post(
        f"{base(server)}/{team_id}/memberships",
        {"email": other, "roles": "", "url": "https://evil.example/"},
        headers={"Referer": f"{origin(server)}/console{base(server)}/{team_id}"},
    )
    assert "Invalid `url` param: URL host must be one of: localhost" in notice(answer)
    assert smtp.mailbox.pending(other) == 0

    answer = console.post(f"{base(server)}/{team_id}/memberships/{membership_id}/delete")
    assert answer.status_code == 303
    assert teams.list_memberships(team_id).total == 0 and teams.get(team_id).total == 0
    assert audited(db, server.project, "membership.delete", f"team/{team_id}")

    answer = console.post(f"{base(server)}/{team_id}/delete")
    assert answer.headers["location"] == f"/console{base(server)}" and "deleted" in notice(answer)
    with pytest.raises(AppwriteException) as missing:
        teams.get(team_id)
    assert missing.value.code == 404
    assert audited(db, server.project, "team.delete", f"team/{team_id}")
    assert console.get(f"{base(server)}/{team_id}").status_code == 404


def test_forms_need_the_csrf_token(server, console):
    team_id = unique_team_id("cc")
    answer = console.post(base(server), {"name": "No token", "team_id": team_id}, csrf=False)
    assert answer.status_code == 403
    with pytest.raises(AppwriteException):
        teams_as_key(server).get(team_id)
