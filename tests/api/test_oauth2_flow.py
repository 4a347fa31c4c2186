"""OAuth2 sign-in through Appwrite's mock provider (NIB_OAUTH2_MOCK=on): Appwrite's own test
scenarios replayed hop by hop, the relay pages, the callback's cross-site POST, the state's
protection, the routes' limits and audit, and the mock's absence when the switch is off."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import orjson
from appwrite.client import Client
from appwrite.services.account import Account
from oauth2_support import (
    FAIL,
    OK,
    Browser,
    admin,
    error_of,
    new_project,
    nib_cli,
    nib_fixture,
    query,
    set_provider,
    signed_in,
)

oauth_nib = nib_fixture()

MOCK_SUCCESS = "http://localhost/v1/mock/tests/general/oauth2/success"
MOCK_FAILURE = "http://localhost/v1/mock/tests/general/oauth2/failure"
MOCK_EMAIL = "useroauth@localhost.test"


def _mock_project(nib) -> str:
    project = new_project(nib)
    set_provider(nib, project, "mock", "1", "123456")
    return project


def _on_nib(nib, url: str) -> str:
    """A ``http://localhost/v1/…`` URL of the mock, at the test server's address."""
    return url.replace("http://localhost/v1", nib.endpoint)


def test_session_flow_hop_by_hop_then_disabled(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    http = httpx.Client(timeout=30, follow_redirects=False)
    start = http.get(
        f"{nib.endpoint}/account/sessions/oauth2/mock",
        params={"project": project, "success": MOCK_SUCCESS, "failure": MOCK_FAILURE},
    )
    assert start.status_code == 301
    assert start.headers["content-type"].startswith("text/html")
    assert start.headers["cache-control"] == "no-store, no-cache, must-revalidate, max-age=0"
    assert start.headers["pragma"] == "no-cache"
    assert start.headers["x-ratelimit-limit"] == "50"
    authorize = start.headers["location"]
    assert authorize.startswith(f"{nib.endpoint}/mock/tests/general/oauth2?")
    assert query(authorize)["client_id"] == "1" and query(authorize)["scope"] == "email"
    assert query(authorize)["redirect_uri"] == f"{nib.endpoint}/account/sessions/oauth2/callback/mock/{project}"
    state = orjson.loads(query(authorize)["state"])
    assert (state["success"], state["failure"], state["token"]) == (MOCK_SUCCESS, MOCK_FAILURE, False)

    consent = http.get(authorize)
    assert consent.status_code == 301
    callback = http.get(consent.headers["location"])
    assert callback.status_code == 301
    assert callback.headers["location"].startswith(f"{nib.endpoint}/account/sessions/oauth2/mock/redirect?code=abcdef")
    assert query(callback.headers["location"])["project"] == project
    finish = http.get(callback.headers["location"])
    assert finish.status_code == 301, finish.text
    assert finish.headers["location"] == MOCK_SUCCESS
    assert finish.headers["x-ratelimit-limit"] == "50"
    names = [cookie.split("=", 1)[0] for cookie in finish.headers.get_list("set-cookie")]
    assert names == [f"a_session_{project}_legacy", f"a_session_{project}"]
    assert f"a_session_{project}" in orjson.loads(finish.headers["x-fallback-cookies"])
    landed = http.get(_on_nib(nib, finish.headers["location"]))
    assert (landed.status_code, landed.json()) == (200, {"result": "success"})
    assert http.get(_on_nib(nib, MOCK_FAILURE)).json() == {"result": "failure"}

    with signed_in(nib, project, http.cookies[f"a_session_{project}"]) as me:
        user = me.get("/account").json()
        assert (user["email"], user["name"], user["emailVerification"]) == (MOCK_EMAIL, "User Name", True)
        session = me.get("/account/sessions/current").json()
    assert session["provider"] == "mock" and session["providerUid"] == "1"
    assert session["factors"] == ["email", "oauth2"]
    with admin(nib, project) as key:
        logs = key.get(f"/users/{user['$id']}/logs").json()["logs"]
        assert [log["event"] for log in logs] == ["session.create"]

    done = nib_cli(nib, "providers", "disable", "--project", project, "mock")
    assert done.returncode == 0, done.stderr
    time.sleep(1.2)  # the flow's provider cache lives a second
    again = http.get(
        f"{nib.endpoint}/account/sessions/oauth2/mock", params={"project": project, "success": MOCK_SUCCESS}
    )
    assert again.status_code == 412
    assert again.json()["type"] == "project_provider_disabled"
    assert again.json()["message"] == (
        "This provider is disabled. Please enable the provider from your Appwrite console to continue."
    )


def test_anonymous_upgrade_keeps_the_user_and_replaces_its_session(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    browser = Browser(nib)
    anonymous = browser.http.post(f"{nib.endpoint}/account/sessions/anonymous", headers={"X-Appwrite-Project": project})
    assert anonymous.status_code == 201
    anonymous_id = anonymous.json()["userId"]
    assert browser.start("mock", project, success=OK, failure=FAIL) == OK
    with signed_in(nib, project, browser.session_cookie(project)) as me:
        user = me.get("/account").json()
        sessions = me.get("/account/sessions").json()["sessions"]
    assert (user["$id"], user["name"], user["email"]) == (anonymous_id, "User Name", MOCK_EMAIL)
    assert [s["provider"] for s in sessions] == ["mock"]  # the anonymous session is gone
    with admin(nib, project) as key:
        identities = key.get("/users/identities").json()["identities"]
    assert [(i["userId"], i["provider"], i["providerEmail"]) for i in identities] == [
        (anonymous_id, "mock", MOCK_EMAIL)
    ]


def test_token_flow_with_the_sdk_then_create_session(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    client = Client().set_endpoint(nib.endpoint).set_project(project)
    first = Account(client).create_o_auth2_token("mock", OK, FAIL)
    assert first.startswith(f"{nib.endpoint}/mock/tests/general/oauth2?")
    browser = Browser(nib)
    landed = browser.follow(first)
    assert landed.startswith(OK + "?")
    secret, user_id = query(landed)["secret"], query(landed)["userId"]
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert not browser.http.cookies  # the token flow sets no cookie
    session = Account(client).create_session(user_id, secret)
    assert session.provider == "mock"
    assert session.provideruid == "1"
    assert session.provideraccesstoken == "123456"
    assert session.providerrefreshtoken == "tuvwxyz"
    assert session.factors == ["email", "oauth2"]
    raw = httpx.post(
        f"{nib.endpoint}/account/sessions/token",
        json={"userId": user_id, "secret": secret},
        headers={"X-Appwrite-Project": project},
    )
    assert raw.status_code == 401 and raw.json()["type"] == "user_invalid_token"  # used up


def test_refresh_changes_the_expiry(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    browser = Browser(nib)
    assert browser.start("mock", project, success=OK, failure=FAIL) == OK
    with signed_in(nib, project, browser.session_cookie(project)) as me:
        before = me.get("/account/sessions/current").json()
        assert before["secret"] == ""
        assert (before["providerAccessToken"], before["providerRefreshToken"]) == ("123456", "tuvwxyz")
        expiry = datetime.fromisoformat(before["providerAccessTokenExpiry"])
        assert expiry > datetime.now(timezone.utc) + timedelta(seconds=14395)
        time.sleep(0.05)
        after = me.patch("/account/sessions/current")
        assert after.status_code == 200, after.text
        after = after.json()
    assert (after["providerAccessToken"], after["providerRefreshToken"]) == ("123456", "tuvwxyz")
    assert after["providerAccessTokenExpiry"] > before["providerAccessTokenExpiry"]


def test_default_pages_relay_to_the_app_scheme(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    browser = Browser(nib)
    browser.start("mock", project)
    public = nib.endpoint.removesuffix("/v1")
    landed = browser.last.url
    assert str(landed).startswith(f"{public}/auth/oauth2/success?")
    extras = query(str(landed))
    assert extras["project"] == project and extras["key"] == f"a_session_{project}"
    assert "domain" not in extras  # an IP address: host-only cookie
    assert extras["secret"] == browser.session_cookie(project)
    page = browser.last
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"appwrite-callback-{project}://?project={project}" in page.text
    for path in ("/auth/oauth2/failure", "/console/auth/oauth2/success", "/console/auth/oauth2/failure"):
        relay = httpx.get(f"{public}{path}", params={"project": project, "error": "{}"})
        assert relay.status_code == 200 and f"appwrite-callback-{project}://" in relay.text


def test_default_failure_page_gets_the_project(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    http = httpx.Client(timeout=30, follow_redirects=False)
    start = http.get(f"{nib.endpoint}/account/sessions/oauth2/mock", params={"project": project})
    state = query(start.headers["location"])["state"]
    finish = http.get(
        f"{nib.endpoint}/account/sessions/oauth2/mock/redirect",
        params={"project": project, "state": state, "error": "access_denied"},
    )
    assert finish.status_code == 301
    location = finish.headers["location"]
    assert location.startswith(nib.endpoint.removesuffix("/v1") + "/auth/oauth2/failure?")
    assert query(location)["project"] == project
    assert error_of(location) == {
        "message": "The Mock OAuth2 provider returned an error: access_denied",
        "type": "user_oauth2_provider_error",
        "code": 424,
    }
    assert "set-cookie" not in finish.headers


def test_callback_accepts_a_cross_site_form_post(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    response = httpx.post(
        f"{nib.endpoint}/account/sessions/oauth2/callback/mock/{project}",
        data={"code": "abcdef", "state": "{}", "user": '{"name":{"firstName":"A"}}'},
        headers={"Origin": "https://appleid.apple.com"},
    )
    assert response.status_code == 301
    location = response.headers["location"]
    assert location.startswith(f"{nib.endpoint}/account/sessions/oauth2/mock/redirect?code=abcdef&state=")
    assert query(location) == {
        "code": "abcdef",
        "state": "{}",
        "user": '{"name":{"firstName":"A"}}',
        "project": project,
    }


def test_a_forged_or_missing_state_is_refused(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    http = httpx.Client(timeout=30, follow_redirects=False)
    start = http.get(f"{nib.endpoint}/account/tokens/oauth2/mock", params={"project": project, "success": OK})
    state = orjson.loads(query(start.headers["location"])["state"])
    forged = orjson.dumps({**state, "success": "http://localhost/attacker"}).decode()
    other_project = _mock_project(nib)
    for project_id, text in (
        (project, forged),
        (project, ""),
        (project, "not json"),
        (other_project, orjson.dumps(state).decode()),
    ):
        finish = http.get(
            f"{nib.endpoint}/account/sessions/oauth2/mock/redirect",
            params={"project": project_id, "code": "abcdef", "state": text},
        )
        assert finish.status_code == 400, finish.text
        assert finish.json()["type"] == "general_bad_request"
        assert finish.json()["message"].startswith("Failed to parse login state params as passed from OAuth2 provider")
    with admin(nib, project) as key:
        assert key.get("/users").json()["total"] == 0


def test_start_checks_its_params(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    start = f"{nib.endpoint}/account/sessions/oauth2"
    elsewhere = httpx.get(f"{start}/mock", params={"project": project, "success": "https://evil.example/x"})
    assert elsewhere.status_code == 400
    assert elsewhere.json()["message"] == "Invalid `success` param: URL host must be one of: localhost"
    failure = httpx.get(f"{start}/mock", params={"project": project, "failure": "nope"})
    assert failure.json()["message"] == "Invalid `failure` param: URL host must be one of: localhost"
    unknown = httpx.get(f"{start}/nosuch", params={"project": project})
    assert unknown.status_code == 400 and unknown.json()["type"] == "general_argument_invalid"
    unconfigured = httpx.get(f"{start}/github", params={"project": project})
    assert unconfigured.status_code == 412 and unconfigured.json()["type"] == "project_provider_disabled"
    set_provider(nib, project, "amazon", "app", "secret")
    unsupported = httpx.get(f"{start}/amazon", params={"project": project})
    assert unsupported.status_code == 400 and unsupported.json()["type"] == "project_provider_unsupported"
    scoped = httpx.get(
        f"{start}/mock",
        params={"project": project, "scopes[]": "profile", "scopes[1]": "email"},
        follow_redirects=False,
    )
    assert scoped.status_code == 301 and query(scoped.headers["location"])["scope"] == "email profile"


def test_mock_is_absent_unless_switched_on(server):
    project = new_project(server)
    set_provider(server, project, "mock", "1", "123456")
    response = httpx.get(f"{server.endpoint}/account/sessions/oauth2/mock", params={"project": project})
    assert response.status_code == 400 and response.json()["type"] == "project_provider_unsupported"
    mock = httpx.get(f"{server.endpoint}/mock/tests/general/oauth2/success", headers={"X-Appwrite-Project": project})
    assert mock.status_code == 404


def test_user_limit_and_session_length_of_the_project(oauth_nib):
    nib, project = oauth_nib, _mock_project(oauth_nib)
    nib.cli("projects", "set", project, "--user-limit", "1", "--session-length", "7200")
    with admin(nib, project) as key:  # the project's one user: the mock's newcomer is one too many
        assert key.post("/users", json={"userId": "unique()", "email": "first@example.com"}).status_code == 201
    browser = Browser(nib)
    landed = browser.start("mock", project, success=OK, failure=FAIL)
    assert landed.startswith(FAIL + "?")
    assert error_of(landed) == {
        "message": "The current project has exceeded the maximum number of users. Please check your user limit "
        "in the Appwrite console.",
        "type": "user_count_exceeded",
        "code": 400,
    }
    nib.cli("projects", "set", project, "--user-limit", "2")
    time.sleep(1.2)  # policies are cached for a second
    assert browser.start("mock", project, success=OK, failure=FAIL) == OK
    with signed_in(nib, project, browser.session_cookie(project)) as me:
        session = me.get("/account/sessions/current").json()
    lasts = datetime.fromisoformat(session["expire"]) - datetime.fromisoformat(session["$createdAt"])
    assert abs(lasts - timedelta(seconds=7200)) < timedelta(seconds=5)
    browser.close()
