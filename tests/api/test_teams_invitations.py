"""Invitations from a signed-in owner: the e-mail over the real SMTP server on loopback, its link,
acceptance with the link's secret (which signs the invitee in) and every refusal on the way."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from account_support import Member, account, as_member, fallback_session, guest, member
from appwrite.services.users import Users
from teams_support import INVITE_URL, add_member, invite_by_email, owned_team, teams_as, teams_as_key
from users_support import assert_error, count_rows, sdk_error, unique_email, unique_phone

from live_server import BACKENDS, create_pg_database, drop_pg_database, free_port, start_server, stop_server
from mail_support import part
from nib.auth.tables import memberships, users
from nib.tools import dates

NEW_PASSWORD = "first-password-1"


def accept(server, params: dict, **headers: str) -> httpx.Response:
    """PATCH …/status as the e-mail's link says, over raw HTTP (to see the cookies)."""
    with guest(server, **headers) as http:
        return http.patch(
            f"/teams/{params['teamId']}/memberships/{params['membershipId']}/status",
            json={"userId": params["userId"], "secret": params["secret"]},
        )


def test_owner_invites_by_email_and_the_invitee_accepts_from_the_mail(server, smtp):
    owner, team_id = owned_team(server, name="Arsenal")
    email = unique_email("invitee")
    created, params = invite_by_email(server, smtp, owner, team_id, email, ["player"])
    assert (created["confirm"], created["joined"], created["roles"]) == (False, "", ["player"])
    assert (created["userEmail"], created["userName"], created["teamName"]) == (email, email, "Arsenal")
    assert teams_as(server, owner).get(team_id).total == 1  # pending invitations do not count

    # The link: the app's URL (its query kept) + membershipId, userId, secret, teamId, teamName.
    assert list(params) == ["from", "membershipId", "userId", "secret", "teamId", "teamName"]
    assert params["from"] == "mail" and params["membershipId"] == created["$id"]
    assert params["userId"] == created["userId"] and params["teamId"] == team_id and params["teamName"] == "Arsenal"
    assert len(params["secret"]) == 256

    # The invitee, a guest with nothing but the link, accepts through the SDK.
    accepted = teams_as(server).update_membership_status(
        team_id, params["membershipId"], params["userId"], params["secret"]
    )
    assert accepted.confirm is True and accepted.joined != "" and accepted.userid == params["userId"]
    assert (accepted.teamname, accepted.useremail, accepted.mfa) == ("Arsenal", email, False)
    assert teams_as(server, owner).get(team_id).total == 2
    listed = {m.userid: m.confirm for m in teams_as(server, owner).list_memberships(team_id).memberships}
    assert listed == {owner.user["$id"]: True, params["userId"]: True}
    # The unknown address became a user: verified now, no password yet.
    invitee = Users(server.sdk()).get(params["userId"])
    assert (invitee.email, invitee.emailverification, invitee.passwordupdate) == (email, True, "")


def test_invitation_mail(server, smtp):
    owner, team_id = owned_team(server, name="Newcastle")
    invited = member(server, name="Alan")
    teams_as(server, owner).create_membership(
        team_id, [], user_id=invited.user["$id"], url='http://localhost/join"><h1>INJECTED</h1>'
    )
    mail = smtp.mailbox.wait_for(invited.email)
    assert mail["Subject"] == "Invitation to Newcastle Team at Default"
    assert invited.email in mail["To"] and "Alan" in mail["To"]
    text, html = part(mail, "plain"), part(mail, "html")
    assert "Owner wanted to invite you to become a member of the Newcastle team" in text
    assert "<h1>INJECTED</h1>" not in html and "&lt;h1&gt;INJECTED&lt;/h1&gt;" in html


def test_accepting_signs_the_invitee_in(server, smtp):
    owner, team_id = owned_team(server)
    email = unique_email("signin")
    _, params = invite_by_email(server, smtp, owner, team_id, email, [])
    response = accept(server, params)
    assert response.status_code == 200, response.text
    cookies = response.headers.get_list("set-cookie")
    assert cookies[0].startswith(f"a_session_{server.project}_legacy=") and cookies[-1].startswith(
        f"a_session_{server.project}="
    )
    session = fallback_session(response, server.project)
    me = account(server, session=session)
    got = me.get()
    assert got.id == params["userId"] and got.emailverification is True
    sessions = me.list_sessions().sessions
    assert [(s.provider, s.provideruid, s.factors) for s in sessions] == [("email", email, ["email"])]
    # No password yet: the first one needs no oldPassword, the next one does.
    me.update_password(NEW_PASSWORD)
    with sdk_error(401, "user_invalid_credentials"):
        me.update_password("another-password-2")
    # The invitee is now a member: it reads the team and lists it.
    invitee = Member({"$id": params["userId"]}, email, NEW_PASSWORD, session, sessions[0].id)
    assert [t.id for t in teams_as(server, invitee).list().teams] == [team_id]


def test_existing_user_invited_by_email_keeps_its_name(server, smtp):
    owner, team_id = owned_team(server)
    invited = member(server, name="Known")
    created, params = invite_by_email(server, smtp, owner, team_id, invited.email, ["coach"])
    assert created["userId"] == invited.user["$id"] and created["userName"] == "Known"
    # Not a member before accepting: the team stays invisible to the invitee.
    with sdk_error(404, "team_not_found"):
        teams_as(server, invited).get(team_id)
    # Accepting while signed in as the invitee works too.
    accepted = teams_as(server, invited).update_membership_status(
        team_id, params["membershipId"], params["userId"], params["secret"]
    )
    assert accepted.confirm is True and accepted.roles == ["coach"]
    assert teams_as(server, invited).get(team_id).total == 2


def test_acceptance_refusals(server, smtp):
    owner, team_id = owned_team(server)
    _, other_team = owned_team(server)
    email = unique_email("refusals")
    _, params = invite_by_email(server, smtp, owner, team_id, email, [])
    somebody = member(server)

    def status(**changes) -> httpx.Response:
        return accept(server, {**params, **changes})

    assert_error(status(secret="0" * 256), 401, "team_invalid_secret")
    assert_error(
        status(userId=somebody.user["$id"]), 401, "team_invite_mismatch", "Invite does not belong to current user ()"
    )
    with as_member(server, somebody) as signed_in:
        response = signed_in.patch(
            f"/teams/{team_id}/memberships/{params['membershipId']}/status",
            json={"userId": params["userId"], "secret": params["secret"]},
        )
    assert_error(response, 401, "team_invite_mismatch", f"Invite does not belong to current user ({somebody.email})")
    assert_error(status(membershipId="missing-membership"), 404, "membership_not_found")
    assert_error(status(teamId="missing-team"), 404, "team_not_found")
    assert_error(status(teamId=other_team), 404, "team_membership_mismatch")
    assert_error(status(secret=""), 400, "general_argument_invalid")
    assert_error(status(userId="$notallowed"), 400, "general_argument_invalid")
    assert teams_as_key(server).get(team_id).total == 1  # nothing was accepted

    assert status().status_code == 200
    assert_error(status(), 409, "membership_already_confirmed", "Membership is already confirmed.")  # reused
    assert teams_as_key(server).get(team_id).total == 2


def test_expired_invitation(server, smtp, db):
    owner, team_id = owned_team(server)
    _, params = invite_by_email(server, smtp, owner, team_id, unique_email("late"), [])
    with db.write() as conn:  # sent eight days ago: past the seven days an invitation lasts
        conn.execute(
            memberships.update()
            .where(memberships.c.project_id == server.project, memberships.c.id == params["membershipId"])
            .values(invited=dates.now() - timedelta(days=8))
        )
    response = accept(server, params)
    assert_error(
        response,
        401,
        "team_invalid_secret",
        "The team invitation has expired. Please request a new invitation and try again.",
    )
    assert teams_as(server, owner).get(team_id).total == 1


def test_deleted_invitation_cannot_be_accepted(server, smtp):
    owner, team_id = owned_team(server)
    _, params = invite_by_email(server, smtp, owner, team_id, unique_email("withdrawn"), [])
    teams_as(server, owner).delete_membership(team_id, params["membershipId"])
    assert teams_as(server, owner).get(team_id).total == 1  # it never counted
    assert_error(accept(server, params), 404, "membership_not_found")


def test_who_may_invite(server, smtp, db):
    owner, team_id = owned_team(server)
    player = add_member(server, team_id, ["player"])
    outsider = member(server)
    target = unique_email("target")
    with sdk_error(401, "user_unauthorized") as info:
        teams_as(server, player).create_membership(team_id, [], email=target, url=INVITE_URL)
    assert info.value.message == "User is not allowed to send invitations for this team"
    with sdk_error(401, "user_unauthorized"):  # the owner check comes before the duplicate check
        teams_as(server, player).create_membership(team_id, [], user_id=owner.user["$id"], url=INVITE_URL)
    with sdk_error(404, "team_not_found"):
        teams_as(server, outsider).create_membership(team_id, [], email=target, url=INVITE_URL)
    with sdk_error(400, "general_argument_invalid") as info:
        teams_as(server, owner).create_membership(team_id, [], email=target)
    assert info.value.message == "URL is required"
    # A refused invitation created nobody.
    assert count_rows(db, users, server.project, email=target) == 0
    assert smtp.mailbox.pending(target) == 0
    # Inviting a member again, or twice, is refused.
    with sdk_error(409, "team_invite_already_exists"):
        teams_as(server, owner).create_membership(team_id, [], user_id=player.user["$id"], url=INVITE_URL)
    invite_by_email(server, smtp, owner, team_id, target, [])
    with sdk_error(409, "team_invite_already_exists"):
        teams_as(server, owner).create_membership(team_id, [], email=target, url=INVITE_URL)
    assert smtp.mailbox.pending(target) == 0


def test_phone_only_invitation_needs_an_sms_provider(server, db):
    owner, team_id = owned_team(server)
    phone = unique_phone()
    with sdk_error(503, "general_phone_disabled"):
        teams_as(server, owner).create_membership(team_id, [], phone=phone, url=INVITE_URL)
    assert count_rows(db, users, server.project, phone=phone) == 0
    assert count_rows(db, memberships, server.project, team_id=team_id) == 1
    # An API key adds the same phone number at once: no message to send.
    added = teams_as_key(server).create_membership(team_id, [], phone=phone)
    assert added.confirm is True


@pytest.fixture(scope="module", params=BACKENDS)
def server_without_mail(request, tmp_path_factory):
    """A nib whose SMTP server does not answer (nothing listens on its port)."""
    pg_name = create_pg_database() if request.param == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    env = {"NIB_SMTP_HOST": "127.0.0.1", "NIB_SMTP_PORT": str(free_port()), "NIB_SMTP_TIMEOUT": "3"}
    nib = start_server(request.param, tmp_path_factory.mktemp("nomail"), url, env=env)
    yield nib
    stop_server(nib)
    if pg_name:
        drop_pg_database(pg_name)


def test_undeliverable_invitation_is_withdrawn(server_without_mail):
    server = server_without_mail
    owner, team_id = owned_team(server)
    with sdk_error(503, "general_server_error"):
        teams_as(server, owner).create_membership(team_id, [], email=unique_email("nomail"), url=INVITE_URL)
    # The owner's own membership is all there is: the invitation went with the failed e-mail.
    assert [m.userid for m in teams_as(server, owner).list_memberships(team_id).memberships] == [owner.user["$id"]]
