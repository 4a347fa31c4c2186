"""The ``custom`` MFA factor (issue 12): the project's policy switch (``nib projects mfa-factors``),
challenges whose code the app's backend reads with ``users.get_mfa_challenge`` and delivers
itself, answered with ``account.update_mfa_challenge``; through the newest SDK, raw HTTP where
the SDK cannot send a case (the factor's spelling, a session on a Users route)."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from account_support import account, as_member, member
from appwrite.enums.authentication_factor import AuthenticationFactor
from appwrite.services.users import Users
from users_support import MISSING_ID, assert_error, fresh_project, sdk_error

from nib.account.tables import challenges

DISABLED = "The requested factor is disabled by the MFA factors policy"


@pytest.fixture
def project(server):
    """A project of its own (its policy changes), as a server whose default project it is."""
    project_id, key = fresh_project(server)
    return dataclasses.replace(server, project=project_id, key=key)


def _policy(server, project_id: str, *switch: str) -> str:
    return server.cli("projects", "mfa-factors", project_id, *switch).stdout


def _challenge_row(db, project_id: str, challenge_id: str):
    with db.read() as conn:
        return conn.execute(
            sa.select(challenges).where(challenges.c.project_id == project_id, challenges.c.id == challenge_id)
        ).one()


def test_the_factor_is_off_until_the_project_allows_it(project):
    who = member(project)
    me = account(project, session=who.session)
    assert me.list_mfa_factors().custom is False
    with sdk_error(501, "user_auth_method_unsupported") as info:
        me.create_mfa_challenge(AuthenticationFactor.CUSTOM)
    assert info.value.message == DISABLED
    assert _policy(project, project.project) == "totp\ton\nemail\ton\nphone\ton\nrecoveryCode\ton\ncustom\toff\n"
    assert _policy(project, project.project, "--custom", "on").endswith("custom\ton\n")
    assert me.list_mfa_factors().custom is True
    assert Users(project.sdk()).list_mfa_factors(who.user["$id"]).custom is True
    assert _policy(project, project.project, "--custom", "off").endswith("custom\toff\n")
    assert me.list_mfa_factors().custom is False


def test_the_policy_command_refuses_an_unknown_project(server):
    result = server.cli("projects", "mfa-factors", "no-such-project", "--custom", "on", check=False)
    assert result.returncode != 0
    assert "Project with the requested ID could not be found." in result.stderr + result.stdout


def test_a_custom_challenge_end_to_end(project, db):
    _policy(project, project.project, "--custom", "on")
    who = member(project)
    me = account(project, session=who.session)
    users = Users(project.sdk())
    challenge = me.create_mfa_challenge(AuthenticationFactor.CUSTOM)
    assert challenge.userid == who.user["$id"]
    expire = datetime.fromisoformat(challenge.expire)
    assert abs(expire - (datetime.now(timezone.utc) + timedelta(hours=1))) < timedelta(minutes=1)
    secret = users.get_mfa_challenge(who.user["$id"], challenge.id)
    assert (secret.id, secret.userid, secret.expire, secret.createdat) == (
        challenge.id,
        who.user["$id"],
        challenge.expire,
        challenge.createdat,
    )
    assert re.fullmatch(r"\d{6}", secret.code)
    # Stored sealed: neither the code nor anything that contains it in the clear.
    row = _challenge_row(db, project.project, challenge.id)
    assert row.type == "custom" and row.code_sealed.startswith("v1.") and secret.code not in row.code_sealed
    with sdk_error(401, "user_invalid_token"):
        me.update_mfa_challenge(challenge.id, "000000" if secret.code != "000000" else "111111")
    session = me.update_mfa_challenge(challenge.id, secret.code)
    assert session.id == who.session_id and session.factors == ["password", "custom"]
    assert session.mfaupdatedat != ""
    # Used: gone for the backend and for another answer.
    with sdk_error(401, "user_invalid_token"):
        users.get_mfa_challenge(who.user["$id"], challenge.id)
    with sdk_error(401, "user_invalid_token"):
        me.update_mfa_challenge(challenge.id, secret.code)


def test_the_factor_is_read_in_any_case(project):
    _policy(project, project.project, "--custom", "on")
    who = member(project)
    with as_member(project, who) as http:
        for spelling in ("CUSTOM", "Custom"):
            response = http.post("/account/mfa/challenges", json={"factor": spelling})
            assert response.status_code == 201, response.text
            created = response.json()
            code = Users(project.sdk()).get_mfa_challenge(who.user["$id"], created["$id"]).code
            assert http.put("/account/mfa/challenges", json={"challengeId": created["$id"], "otp": code}).json()[
                "factors"
            ] == ["password", "custom"]


def test_reading_a_challenge_fails_as_appwrite(project, db):
    _policy(project, project.project, "--custom", "on")
    who, other = member(project), member(project)
    users = Users(project.sdk())
    mine = account(project, session=who.session).create_mfa_challenge(AuthenticationFactor.CUSTOM)
    totp = account(project, session=who.session).create_mfa_challenge(AuthenticationFactor.TOTP)
    with sdk_error(404, "user_not_found"):
        users.get_mfa_challenge(MISSING_ID, mine.id)
    for user_id, challenge_id in (
        (other.user["$id"], mine.id),  # another user's
        (who.user["$id"], "no-such-challenge"),
        (who.user["$id"], totp.id),  # not a custom challenge
    ):
        with sdk_error(401, "user_invalid_token"):
            users.get_mfa_challenge(user_id, challenge_id)
    # A session is no server: no users.read.
    with as_member(project, who) as http:
        assert_error(http.get(f"/users/{who.user['$id']}/mfa/challenges/{mine.id}"), 401, "general_unauthorized_scope")
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    with db.write() as conn:
        conn.execute(
            challenges.update()
            .where(challenges.c.project_id == project.project, challenges.c.id == mine.id)
            .values(expire=past)
        )
    with sdk_error(401, "user_invalid_token"):
        users.get_mfa_challenge(who.user["$id"], mine.id)


def test_switching_the_factor_off_refuses_open_challenges(project):
    _policy(project, project.project, "--custom", "on")
    who = member(project)
    me = account(project, session=who.session)
    challenge = me.create_mfa_challenge(AuthenticationFactor.CUSTOM)
    code = Users(project.sdk()).get_mfa_challenge(who.user["$id"], challenge.id).code
    _policy(project, project.project, "--custom", "off")
    with sdk_error(501, "user_auth_method_unsupported") as info:
        me.update_mfa_challenge(challenge.id, code)
    assert info.value.message == DISABLED
    # Allowed again, the challenge still works.
    _policy(project, project.project, "--custom", "on")
    assert me.update_mfa_challenge(challenge.id, code).factors == ["password", "custom"]
