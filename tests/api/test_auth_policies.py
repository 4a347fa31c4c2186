"""Per-project auth policies (`nib projects set/show`) and how the API enforces them: user limit,
session length and limit, password history, dictionary and personal-data checks, memberships
privacy and auth methods, each with Appwrite's error, and the defaults left untouched."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa

from mail_support import link_params, one_time_code
from nib.auth.tables import projects
from nib.auth.tables import users as users_table

VERSION = "1.5.11"
APP = "http://localhost/app"
PASSWORD = "correct-horse-1"
DICTIONARY_MESSAGE = (
    "Invalid `password` param: Password must be between 8 and 265 characters long, and should not be one of the "
    "commonly used password."
)
LIMIT_MESSAGE = "The current project has exceeded the maximum number of users. Please check your user limit in the Appwrite console."
INVITE_LIMIT_MESSAGE = "Project registration is restricted. Contact your administrator for more information."
RECENTLY_USED = (
    "The password you are trying to use is similar to your previous password. For your security, please choose a "
    "different password and try again."
)
PERSONAL_DATA = (
    "The password you are trying to use contains references to your name, email, phone or userID. For your "
    "security, please choose a different password and try again."
)
YEAR = 31536000


def uid(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def email() -> str:
    return f"{uid('u')}@example.com"


def assert_error(response: httpx.Response, status: int, type_: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["type"], body["version"]) == (status, type_, VERSION)
    if message is not None:
        assert body["message"] == message
    return body


@dataclass
class Project:
    """A fresh project of the session's server, its full key and its policies (set by the CLI
    before the first request, so no cached default is in the way)."""

    server: object
    id: str
    key: str

    def guest(self, **headers: str) -> httpx.Client:
        endpoint = self.server.endpoint  # type: ignore[attr-defined]
        return httpx.Client(base_url=endpoint, headers={"X-Appwrite-Project": self.id, **headers}, timeout=30)

    def as_key(self) -> httpx.Client:
        return self.guest(**{"X-Appwrite-Key": self.key})

    def as_session(self, session: str) -> httpx.Client:
        return self.guest(**{"X-Appwrite-Session": session})

    def sign_up(self, *, password: str = PASSWORD, name: str = "", address: str | None = None) -> dict:
        body = {"userId": "unique()", "email": address or email(), "password": password}
        if name:
            body["name"] = name
        with self.guest() as http:
            response = http.post("/account", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def sign_in(self, address: str, password: str = PASSWORD) -> tuple[dict, str]:
        with self.guest() as http:
            response = http.post("/account/sessions/email", json={"email": address, "password": password})
        assert response.status_code == 201, response.text
        cookies = response.headers["x-fallback-cookies"]
        return response.json(), json.loads(cookies)[f"a_session_{self.id}"]


def new_project(server, *policy_args: str) -> Project:
    project_id = uid("p")
    server.cli("projects", "create", project_id, "--name", "Policies")
    key = server.cli("keys", "create", "--project", project_id, "--name", "k").stdout.strip().splitlines()[-1]
    if policy_args:
        server.cli("projects", "set", project_id, *policy_args)
    return Project(server, project_id, key)


def expires_in(session: dict, seconds: int) -> None:
    expire = datetime.fromisoformat(session["expire"])
    created = datetime.fromisoformat(session["$createdAt"])
    assert abs((expire - created) - timedelta(seconds=seconds)) < timedelta(seconds=5), (expire, created)


def shown(server, project_id: str) -> dict[str, str]:
    lines = server.cli("projects", "show", project_id).stdout.splitlines()
    return dict(line.split("\t") for line in lines)


# -- the command line -----------------------------------------------------------------------------


def test_show_lists_appwrite_defaults(server):
    project = new_project(server)
    assert shown(server, project.id) == {
        "name": "Policies",
        "user-limit": "0",
        "session-length": str(YEAR),
        "sessions-limit": "10",
        "password-history": "0",
        "password-dictionary": "off",
        "personal-data-check": "off",
        "memberships-user-name": "on",
        "memberships-user-email": "on",
        "memberships-mfa": "on",
        "method email-password": "on",
        "method magic-url": "on",
        "method email-otp": "on",
        "method anonymous": "on",
        "method invites": "on",
        "method jwt": "on",
        "method phone": "on",
        "method passkey": "on",
    }


def test_set_changes_and_prints_every_policy(server, db):
    project = new_project(server)
    result = server.cli(
        "projects", "set", project.id, "--name", "Renamed", "--user-limit", "7", "--session-length", "600",
        "--sessions-limit", "3", "--password-history", "5", "--password-dictionary", "on",
        "--personal-data-check", "on", "--memberships-user-name", "off", "--memberships-user-email", "off",
        "--memberships-mfa", "off", "--method", "jwt=off", "--method", "anonymous=off",
    )  # fmt: skip
    printed = dict(line.split("\t") for line in result.stdout.splitlines())
    assert printed == shown(server, project.id)
    assert printed["name"] == "Renamed"
    assert [printed[k] for k in ("user-limit", "session-length", "sessions-limit", "password-history")] == [
        "7",
        "600",
        "3",
        "5",
    ]
    assert printed["password-dictionary"] == printed["personal-data-check"] == "on"
    assert printed["memberships-user-name"] == printed["memberships-user-email"] == printed["memberships-mfa"] == "off"
    assert printed["method jwt"] == printed["method anonymous"] == "off"
    assert printed["method email-password"] == "on"
    # Only what differs from Appwrite's defaults is stored; back to a default, the key goes.
    server.cli("projects", "set", project.id, "--user-limit", "0", "--method", "jwt=on", "--memberships-mfa", "on")
    with db.read() as conn:
        stored = conn.execute(sa.select(projects.c.auths).where(projects.c.id == project.id)).scalar()
    assert stored == {
        "duration": 600,
        "maxSessions": 3,
        "passwordHistory": 5,
        "passwordDictionary": True,
        "personalDataCheck": True,
        "membershipsUserName": False,
        "membershipsUserEmail": False,
        "anonymous": False,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user-limit", "many"], "error: --user-limit must be a whole number, not 'many'"),
        (["--password-dictionary", "yes"], "error: --password-dictionary must be on or off, not 'yes'"),
        (["--method", "telepathy=on"], "error: --method: unknown method 'telepathy'"),
        (["--method", "jwt"], "error: --method 'jwt': give NAME=on or NAME=off"),
        (["--sessions-limit", "0"], "error: Invalid `sessions_limit`: Value must be a valid range between 1 and 100"),
        (
            ["--password-history", "21"],
            "error: Invalid `password_history`: Value must be a valid range between 0 and 20",
        ),
        (["--name", ""], "error: Invalid `name` param: Value must be a valid string and at least 1 chars"),
    ],
)
def test_set_refuses_bad_values(server, args, message):
    project = new_project(server)
    result = server.cli("projects", "set", project.id, *args, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert shown(server, project.id)["name"] == "Policies"


def test_set_and_show_unknown_project(server):
    for command in (["set", "nope-project", "--user-limit", "1"], ["show", "nope-project"]):
        result = server.cli("projects", *command, check=False)
        assert result.returncode == 1
        assert "(project_not_found)" in result.stderr


def test_help_lists_every_option(server):
    text = server.cli("projects", "set", "--help").stdout
    for option in (
        "--name", "--user-limit", "--session-length", "--sessions-limit", "--password-history",
        "--password-dictionary", "--personal-data-check", "--memberships-user-name", "--memberships-user-email",
        "--memberships-mfa", "--method",
    ):  # fmt: skip
        assert option in text


# -- user limit -----------------------------------------------------------------------------------


def test_user_limit_refuses_client_sign_ups_only(server, smtp):
    project = new_project(server, "--user-limit", "2")
    first = project.sign_up()
    project.sign_up()
    with project.guest() as http:
        body = {"userId": "unique()", "email": email(), "password": PASSWORD}
        assert_error(http.post("/account", json=body), 400, "user_count_exceeded", LIMIT_MESSAGE)
        assert_error(http.post("/account/sessions/anonymous"), 400, "user_count_exceeded", LIMIT_MESSAGE)
        newcomer = email()
        magic = {"userId": "unique()", "email": newcomer, "url": APP}
        assert_error(http.post("/account/tokens/magic-url", json=magic), 400, "user_count_exceeded", LIMIT_MESSAGE)
        otp = {"userId": "unique()", "email": newcomer}
        assert_error(http.post("/account/tokens/email", json=otp), 400, "user_count_exceeded", LIMIT_MESSAGE)
        # An existing user's sign-in token creates nobody.
        existing = http.post("/account/tokens/email", json={"userId": "unique()", "email": first["email"]})
        assert existing.status_code == 201, existing.text
        assert existing.json()["userId"] == first["$id"]
    assert smtp.mailbox.pending(newcomer) == 0
    # The Users API is not limited (Appwrite applies the limit to sign-ups).
    with project.as_key() as http:
        created = http.post("/users", json={"userId": "unique()", "email": email(), "password": PASSWORD})
        assert created.status_code == 201, created.text
        assert http.get("/users").json()["total"] == 3


def test_user_limit_on_team_invitations(server, smtp):
    project = new_project(server, "--user-limit", "1")
    owner = project.sign_up()
    _, session = project.sign_in(owner["email"])
    with project.as_session(session) as http:
        assert http.post("/teams", json={"teamId": "team1", "name": "T"}).status_code == 201
        invite = {"email": email(), "roles": ["member"], "url": APP}
        assert_error(
            http.post("/teams/team1/memberships", json=invite), 400, "user_count_exceeded", INVITE_LIMIT_MESSAGE
        )
    with project.as_key() as http:  # an API key's invitation is not limited
        created = http.post("/teams/team1/memberships", json={"email": email(), "roles": ["member"]})
        assert created.status_code == 201, created.text
        assert http.get("/users").json()["total"] == 2


def test_no_user_limit_by_default(server):
    project = new_project(server)
    for _ in range(3):
        project.sign_up()
    with project.guest() as http:
        assert http.post("/account/sessions/anonymous").status_code == 201


# -- sessions -------------------------------------------------------------------------------------


def test_session_length_applies_to_every_session(server, smtp):
    project = new_project(server, "--session-length", "3600")
    user = project.sign_up()
    session, encoded = project.sign_in(user["email"])
    expires_in(session, 3600)
    with project.guest() as http:
        anonymous = http.post("/account/sessions/anonymous")
        assert anonymous.status_code == 201
        expires_in(anonymous.json(), 3600)
    with project.as_key() as http:
        by_key = http.post(f"/users/{user['$id']}/sessions")
        assert by_key.status_code == 201, by_key.text
        expires_in(by_key.json(), 3600)
        token = http.post(f"/users/{user['$id']}/tokens").json()
    with project.guest() as http:
        exchanged = http.post("/account/sessions/token", json={"userId": user["$id"], "secret": token["secret"]})
        assert exchanged.status_code == 201
        expires_in(exchanged.json(), 3600)
    # Extending moves the expiry to now + the project's length, not a year.
    time.sleep(1.1)
    with project.as_session(encoded) as http:
        extended = http.patch("/account/sessions/current")
        assert extended.status_code == 200, extended.text
        expire = datetime.fromisoformat(extended.json()["expire"])
        assert abs(expire - (datetime.now(timezone.utc) + timedelta(seconds=3600))) < timedelta(seconds=10)


def test_session_length_of_an_accepted_invitation(server, smtp):
    project = new_project(server, "--session-length", "120")
    owner = project.sign_up()
    _, session = project.sign_in(owner["email"])
    invitee = email()
    with project.as_session(session) as http:
        assert http.post("/teams", json={"teamId": "team1", "name": "T"}).status_code == 201
        invited = http.post("/teams/team1/memberships", json={"email": invitee, "roles": [], "url": APP})
        assert invited.status_code == 201, invited.text
    params = link_params(smtp.mailbox.wait_for(invitee))
    with project.guest() as http:
        accepted = http.patch(
            f"/teams/team1/memberships/{params['membershipId']}/status",
            json={"userId": params["userId"], "secret": params["secret"]},
        )
        assert accepted.status_code == 200, accepted.text
    with project.as_key() as http:
        sessions = http.get(f"/users/{params['userId']}/sessions").json()["sessions"]
    assert len(sessions) == 1
    expires_in(sessions[0], 120)


def test_default_session_length_is_a_year(server):
    project = new_project(server)
    user = project.sign_up()
    session, _ = project.sign_in(user["email"])
    expires_in(session, YEAR)


def test_sessions_limit_keeps_the_newest(server):
    project = new_project(server, "--sessions-limit", "2")
    user = project.sign_up()
    made = [project.sign_in(user["email"])[0]["$id"] for _ in range(4)]
    with project.as_key() as http:
        kept = [s["$id"] for s in http.get(f"/users/{user['$id']}/sessions").json()["sessions"]]
    assert kept == made[-2:]


def test_default_sessions_limit_is_ten(server):
    project = new_project(server)
    user = project.sign_up()
    made = [project.sign_in(user["email"])[0]["$id"] for _ in range(11)]
    with project.as_key() as http:
        kept = [s["$id"] for s in http.get(f"/users/{user['$id']}/sessions").json()["sessions"]]
    assert kept == made[-10:]


# -- password history -----------------------------------------------------------------------------


def _history(db, project_id: str, user_id: str) -> list[str]:
    with db.read() as conn:
        return conn.execute(
            sa.select(users_table.c.password_history).where(
                users_table.c.project_id == project_id, users_table.c.id == user_id
            )
        ).scalar()


def test_password_history_on_account_and_users_api(server, db):
    project = new_project(server, "--password-history", "2")
    user = project.sign_up(password="first-password-1")
    assert len(_history(db, project.id, user["$id"])) == 1
    _, session = project.sign_in(user["email"], "first-password-1")
    with project.as_session(session) as http:

        def change(new: str, old: str) -> httpx.Response:
            return http.patch("/account/password", json={"password": new, "oldPassword": old})

        assert_error(change("first-password-1", "first-password-1"), 400, "password_recently_used", RECENTLY_USED)
        assert change("second-password-2", "first-password-1").status_code == 200
        assert_error(change("first-password-1", "second-password-2"), 400, "password_recently_used", RECENTLY_USED)
        assert change("third-password-3", "second-password-2").status_code == 200
    history = _history(db, project.id, user["$id"])
    assert len(history) == 2 and all(entry.startswith("$argon2id$") for entry in history)
    with project.as_key() as http:
        path = f"/users/{user['$id']}/password"
        assert_error(http.patch(path, json={"password": "second-password-2"}), 400, "password_recently_used")
        # The first one fell out of a history of two.
        assert http.patch(path, json={"password": "first-password-1"}).status_code == 200
        assert_error(http.patch(path, json={"password": "third-password-3"}), 400, "password_recently_used")
    assert len(_history(db, project.id, user["$id"])) == 2
    project.sign_in(user["email"], "first-password-1")


def test_password_history_on_recovery(server, smtp, db):
    project = new_project(server, "--password-history", "3")
    user = project.sign_up(password="first-password-1")
    with project.guest() as http:
        assert http.post("/account/recovery", json={"email": user["email"], "url": APP}).status_code == 201
        params = link_params(smtp.mailbox.wait_for(user["email"]))
        body = {"userId": params["userId"], "secret": params["secret"], "password": "first-password-1"}
        assert_error(http.put("/account/recovery", json=body), 400, "password_recently_used", RECENTLY_USED)
        # The refused password left the link usable.
        assert http.put("/account/recovery", json={**body, "password": "other-password-2"}).status_code == 200
    assert len(_history(db, project.id, user["$id"])) == 2


def test_no_password_history_by_default(server, db):
    project = new_project(server)
    user = project.sign_up()
    _, session = project.sign_in(user["email"])
    with project.as_session(session) as http:
        same = http.patch("/account/password", json={"password": PASSWORD, "oldPassword": PASSWORD})
        assert same.status_code == 200, same.text
    assert _history(db, project.id, user["$id"]) == []


# -- password dictionary --------------------------------------------------------------------------


def test_dictionary_refuses_common_passwords(server):
    project = new_project(server, "--password-dictionary", "on")
    with project.guest() as http:
        body = {"userId": "unique()", "email": email(), "password": "password"}
        assert_error(http.post("/account", json=body), 400, "general_argument_invalid", DICTIONARY_MESSAGE)
        assert_error(http.post("/account", json={**body, "password": "iloveyou"}), 400, "general_argument_invalid")
        # Declaration order still holds: a bad userId is reported first.
        bad_id = http.post("/account", json={**body, "userId": "-bad"})
        assert "`userId`" in assert_error(bad_id, 400, "general_argument_invalid")["message"]
        # Case matters, as in Appwrite's list lookup.
        assert http.post("/account", json={**body, "password": "PASSWORD"}).status_code == 201
    user = project.sign_up()
    _, session = project.sign_in(user["email"])
    with project.as_session(session) as http:
        refused = http.patch("/account/password", json={"password": "baseball", "oldPassword": PASSWORD})
        assert_error(refused, 400, "general_argument_invalid", DICTIONARY_MESSAGE)
    with project.as_key() as http:
        created = http.post("/users", json={"userId": "unique()", "password": "sunshine"})
        assert_error(created, 400, "general_argument_invalid", DICTIONARY_MESSAGE)
        updated = http.patch(f"/users/{user['$id']}/password", json={"password": "football"})
        assert_error(updated, 400, "general_argument_invalid", DICTIONARY_MESSAGE)
        assert http.patch(f"/users/{user['$id']}/password", json={"password": ""}).status_code == 200


def test_common_passwords_allowed_by_default(server):
    project = new_project(server)
    with project.guest() as http:
        body = {"userId": "unique()", "email": email(), "password": "password"}
        assert http.post("/account", json=body).status_code == 201


# -- personal data --------------------------------------------------------------------------------


def test_personal_data_check(server):
    project = new_project(server, "--personal-data-check", "on")
    address = f"{uid('ada')}@example.com"
    local = address.split("@")[0]
    with project.guest() as http:
        body = {"userId": "unique()", "email": address, "password": f"X{local.upper()}9"}
        assert_error(http.post("/account", json=body), 400, "password_personal_data", PERSONAL_DATA)
        assert_error(
            http.post("/account", json={**body, "password": "my-Lovelace-pw", "name": "lovelace"}),
            400,
            "password_personal_data",
        )
        assert_error(
            http.post("/account", json={**body, "userId": "adaUser77", "password": "xxADAUSER77xx"}),
            400,
            "password_personal_data",
        )
    user = project.sign_up(address=address, name="Countess")
    _, session = project.sign_in(address)
    with project.as_session(session) as http:
        refused = http.patch("/account/password", json={"password": "the-countess-9", "oldPassword": PASSWORD})
        assert_error(refused, 400, "password_personal_data", PERSONAL_DATA)
        assert (
            http.patch("/account/password", json={"password": "unrelated-9", "oldPassword": PASSWORD}).status_code
            == 200
        )
    with project.as_key() as http:
        phone = "+15551234567"
        plain = {"userId": "unique()", "email": email(), "phone": phone}
        for password in ("pw15551234567", "pw+15551234567"):
            assert_error(http.post("/users", json={**plain, "password": password}), 400, "password_personal_data")
        assert_error(
            http.patch(f"/users/{user['$id']}/password", json={"password": f"{address}!"}),
            400,
            "password_personal_data",
        )
        assert http.post("/users", json={**plain, "password": "nothing-personal"}).status_code == 201


def test_personal_data_allowed_by_default(server):
    project = new_project(server)
    address = f"{uid('ada')}@example.com"
    project.sign_up(address=address, password=f"{address}-pw")


# -- memberships privacy --------------------------------------------------------------------------


def _team_with_two(project: Project) -> tuple[str, str]:
    """A team of an owner and a member (both signed up); the owner's session."""
    owner = project.sign_up(name="Owner")
    other = project.sign_up(name="Other")
    _, session = project.sign_in(owner["email"])
    with project.as_session(session) as http:
        assert http.post("/teams", json={"teamId": "team1", "name": "T"}).status_code == 201
    with project.as_key() as http:
        added = http.post("/teams/team1/memberships", json={"userId": other["$id"], "roles": []})
        assert added.status_code == 201, added.text
    return session, added.json()["$id"]


def test_memberships_privacy_hides_fields_from_clients(server):
    project = new_project(
        server, "--memberships-user-name", "off", "--memberships-user-email", "off", "--memberships-mfa", "off"
    )
    session, membership_id = _team_with_two(project)
    with project.as_session(session) as http:
        listed = http.get("/teams/team1/memberships").json()["memberships"]
        one = http.get(f"/teams/team1/memberships/{membership_id}").json()
    assert len(listed) == 2
    for model in [*listed, one]:
        assert (model["userName"], model["userEmail"], model["mfa"]) == ("", "", False)
        assert model["userId"] and model["teamName"] == "T"
    with project.as_key() as http:  # API keys always see them
        keyed = http.get("/teams/team1/memberships").json()["memberships"]
    assert sorted(m["userName"] for m in keyed) == ["Other", "Owner"]
    assert all(m["userEmail"].endswith("@example.com") for m in keyed)


def test_memberships_privacy_one_field(server):
    project = new_project(server, "--memberships-user-email", "off")
    session, membership_id = _team_with_two(project)
    with project.as_session(session) as http:
        one = http.get(f"/teams/team1/memberships/{membership_id}").json()
    assert (one["userName"], one["userEmail"]) == ("Other", "")


def test_memberships_fields_shown_by_default(server):
    project = new_project(server)
    session, membership_id = _team_with_two(project)
    with project.as_session(session) as http:
        one = http.get(f"/teams/team1/memberships/{membership_id}").json()
    assert one["userName"] == "Other" and one["userEmail"].endswith("@example.com")


# -- auth methods ---------------------------------------------------------------------------------


def _disabled(method: str) -> str:
    names = {
        "email-password": "Email / Password",
        "magic-url": "Magic URL",
        "email-otp": "Email OTP",
        "anonymous": "Anonymous",
        "invites": "Invites",
        "jwt": "JWT",
        "phone": "Phone",
        "passkey": "Passkey",
    }
    return f"{names[method]} authentication is disabled for this project"


def test_disabled_methods_answer_501(server):
    every = ["email-password", "magic-url", "email-otp", "anonymous", "jwt", "phone", "passkey", "invites"]
    enabled = new_project(server)
    user = enabled.sign_up()
    _, session = enabled.sign_in(user["email"])
    project = new_project(server, *[arg for method in every for arg in ("--method", f"{method}=off")])
    # Sessions of the other project are no use here: make a user of this one with the key.
    with project.as_key() as http:
        made = http.post("/users", json={"userId": "unique()", "email": email(), "password": PASSWORD}).json()
        own_session = http.post(f"/users/{made['$id']}/sessions").json()["secret"]
    cases = [
        ("email-password", "POST", "/account", {"userId": "unique()", "email": email(), "password": PASSWORD}),
        # Checked before the parameters: an invalid body still gets the 501.
        ("email-password", "POST", "/account", {"userId": "-bad"}),
        ("email-password", "POST", "/account/sessions/email", {"email": made["email"], "password": PASSWORD}),
        ("email-password", "POST", "/account/sessions", {"email": made["email"], "password": PASSWORD}),
        ("anonymous", "POST", "/account/sessions/anonymous", None),
        ("magic-url", "POST", "/account/tokens/magic-url", {"userId": "unique()", "email": email(), "url": APP}),
        ("magic-url", "POST", "/account/sessions/magic-url", {"userId": "unique()", "email": email()}),
        ("email-otp", "POST", "/account/tokens/email", {"userId": "unique()", "email": email()}),
        ("phone", "POST", "/account/tokens/phone", {"userId": "unique()", "phone": "+15551234567"}),
        ("passkey", "POST", "/account/tokens/passkey", None),
    ]
    with project.guest() as http:
        for method, verb, path, body in cases:
            assert_error(http.request(verb, path, json=body), 501, "user_auth_method_unsupported", _disabled(method))
    signed_in = [
        ("jwt", "POST", "/account/jwt", None),
        ("jwt", "POST", "/account/jwts", {"duration": 60}),
        ("passkey", "POST", "/account/passkeys", {"name": "key"}),
        ("invites", "POST", "/teams/team1/memberships", {"email": email(), "roles": [], "url": APP}),
        # The method is checked before the session group (Appwrite's order): 501, not 401.
        ("anonymous", "POST", "/account/sessions/anonymous", None),
    ]
    with project.as_session(own_session) as http:
        assert http.post("/teams", json={"teamId": "team1", "name": "T"}).status_code == 201
        for method, verb, path, body in signed_in:
            assert_error(http.request(verb, path, json=body), 501, "user_auth_method_unsupported", _disabled(method))
        # Routes of no method go on working.
        assert http.get("/account").status_code == 200
    # API keys are never refused a method.
    with project.as_key() as http:
        created = http.post("/account", json={"userId": "unique()", "email": email(), "password": PASSWORD})
        assert created.status_code == 201, created.text
        invited = http.post("/teams/team1/memberships", json={"email": email(), "roles": []})
        assert invited.status_code == 201, invited.text
        anonymous = http.post("/account/sessions/anonymous")
        assert anonymous.status_code == 201, anonymous.text
    # The other project's methods are untouched.
    with enabled.as_session(session) as http:
        assert http.post("/account/jwt").status_code == 201


def test_methods_on_by_default(server, smtp):
    project = new_project(server)
    with project.guest() as http:
        assert http.post("/account/sessions/anonymous").status_code == 201
    with project.guest() as http:
        address = email()
        sent = http.post("/account/tokens/email", json={"userId": "unique()", "email": address})
        assert sent.status_code == 201, sent.text
        code = one_time_code(smtp.mailbox.wait_for(address))
        signed = http.post("/account/sessions/token", json={"userId": sent.json()["userId"], "secret": code})
        assert signed.status_code == 201
        # Phone sign-in is on, but nib has no SMS provider (Appwrite's answer for none).
        phone = http.post("/account/tokens/phone", json={"userId": "unique()", "phone": "+15551234567"})
        assert_error(phone, 503, "general_phone_disabled")


def test_switching_a_method_back_on_applies_within_a_second(server):
    project = new_project(server, "--method", "anonymous=off")
    with project.guest() as http:
        assert_error(http.post("/account/sessions/anonymous"), 501, "user_auth_method_unsupported")
        server.cli("projects", "set", project.id, "--method", "anonymous=on")
        deadline = time.monotonic() + 5
        while (response := http.post("/account/sessions/anonymous")).status_code == 501:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert response.status_code == 201
