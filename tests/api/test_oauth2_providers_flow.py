"""GitHub, Google and Apple sign-in end to end: nib's browser flow against loopback servers that
answer at those providers' documented paths (tests/oauth_fakes.py), reached through
NIB_OAUTH2_ORIGINS. Apple's callback is its cross-site form POST, carrying the name. And native
sign-in with a Google or Apple ID token (POST /account/sessions/id-token)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from appwrite.client import Client
from appwrite.enums.o_auth_provider import OAuthProvider
from appwrite.services.account import Account
from oauth2_support import FAIL, OK, Browser, admin, error_of, new_project, nib_cli, query, set_provider, signed_in

from live_server import BACKENDS, create_pg_database, drop_pg_database, start_server, stop_server
from oauth_fakes import AppleFake, GitHubFake, GoogleFake, apple_nonce, parse_form_post


@pytest.fixture(scope="module")
def fakes():
    with GitHubFake() as github, GoogleFake() as google, AppleFake() as apple:
        yield {"github": github, "google": google, "apple": apple}


@pytest.fixture(scope="module", params=BACKENDS)
def nib(request, tmp_path_factory, fakes):
    """A nib sending every request of these providers to their fakes."""
    pg_name = create_pg_database() if request.param == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    origins = json.dumps({key: fake.origin for key, fake in fakes.items()})
    env = {"NIB_OAUTH2_ORIGINS": origins, "NIB_RATE_LIMITS": "off"}
    server = start_server(request.param, tmp_path_factory.mktemp(f"providers-{request.param}"), url, env=env)
    yield server
    stop_server(server)
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture
def project(nib, fakes):
    project = new_project(nib)
    for key, fake in fakes.items():
        set_provider(nib, project, key, fake.client_id, fake.secret)
        fake.failure = None
    return project


def _someone(fake, **fields) -> dict:
    tag = uuid.uuid4().hex[:10]
    fake.sign_in_as(id=f"{fake.name}-{tag}", email=f"{tag}@example.com", verified=True, **fields)
    return fake.user


def test_github_session_flow(nib, fakes, project):
    person = _someone(fakes["github"])
    browser = Browser(nib)
    assert browser.start("github", project, success=OK, failure=FAIL) == OK
    assert browser.hops[0].headers["location"].startswith(fakes["github"].origin + "/login/oauth/authorize?")
    with signed_in(nib, project, browser.session_cookie(project)) as me:
        user = me.get("/account").json()
        identity = me.get("/account/identities").json()["identities"][0]
    assert (user["email"], user["name"], user["emailVerification"]) == (person["email"], "The Octocat", True)
    assert (identity["provider"], identity["providerUid"]) == ("github", person["id"])


def test_google_token_flow_then_a_session_refreshed(nib, fakes, project):
    person = _someone(fakes["google"])
    client = Client().set_endpoint(nib.endpoint).set_project(project)
    first = Account(client).create_o_auth2_token(OAuthProvider.GOOGLE, OK, FAIL)
    assert first.startswith(fakes["google"].origin + "/o/oauth2/v2/auth?")
    assert query(first)["access_type"] == "offline"
    landed = Browser(nib).follow(first)
    session = Account(client).create_session(query(landed)["userId"], query(landed)["secret"])
    assert (session.provider, session.provideruid) == ("google", person["id"])
    assert session.provideraccesstoken.startswith("at-") and session.providerrefreshtoken.startswith("rt-")

    browser = Browser(nib)
    assert browser.start("google", project, success=OK, failure=FAIL) == OK
    with signed_in(nib, project, browser.session_cookie(project)) as me:
        before = me.get("/account/sessions/current").json()
        after = me.patch("/account/sessions/current").json()
        assert me.get("/account").json()["$id"] == session.userid
    assert after["providerAccessToken"].startswith("at-")
    assert after["providerAccessToken"] != before["providerAccessToken"]
    assert after["providerRefreshToken"] not in ("", before["providerRefreshToken"])


def test_apple_form_post_callback_carries_the_name(nib, fakes, project):
    apple = fakes["apple"]
    person = _someone(apple, name="Grace Hopper")
    browser = Browser(nib)
    start = browser.http.get(
        f"{nib.endpoint}/account/sessions/oauth2/apple", params={"project": project, "success": OK, "failure": FAIL}
    )
    assert query(start.headers["location"])["response_mode"] == "form_post"
    page = browser.http.get(start.headers["location"])
    action, fields = parse_form_post(page.text)
    assert action == f"{nib.endpoint}/account/sessions/oauth2/callback/apple/{project}"
    posted = browser.http.post(action, data=fields, headers={"Origin": apple.origin})
    assert posted.status_code == 301
    assert browser.follow(posted.headers["location"]) == OK
    with signed_in(nib, project, browser.session_cookie(project)) as me:
        user = me.get("/account").json()
    assert (user["email"], user["name"]) == (person["email"], "Grace Hopper")


def test_a_provider_refusal_ends_on_the_failure_url(nib, fakes, project):
    _someone(fakes["google"])
    fakes["google"].fail(400, at="token")
    landed = Browser(nib).start("google", project, success=OK, failure=FAIL)
    error = error_of(landed)
    assert (error["type"], error["code"]) == ("user_oauth2_bad_request", 400)
    assert error["message"] == (
        "Failed to obtain access token. The Google OAuth2 provider returned an error: "
        "invalid_grant: The provider refused the grant"
    )


# -- native sign-in with an ID token ----------------------------------------------------------------


def _id_token_session(nib, project, **body) -> httpx.Response:
    return httpx.post(f"{nib.endpoint}/account/sessions/id-token", json=body, headers={"X-Appwrite-Project": project})


def test_a_google_id_token_signs_up_then_in(nib, fakes, project):
    google = fakes["google"]
    person = _someone(google)
    created = _id_token_session(nib, project, provider="google", idToken=google.id_token(), accessToken="native-at")
    assert created.status_code == 201, created.text
    session = created.json()
    assert (session["provider"], session["providerUid"], session["factors"]) == (
        "google",
        person["id"],
        ["email", "oauth2"],
    )
    assert (session["providerAccessToken"], session["providerRefreshToken"], session["secret"]) == ("native-at", "", "")
    assert session["current"] is True
    cookie = json.loads(created.headers["x-fallback-cookies"])[f"a_session_{project}"]
    with signed_in(nib, project, cookie) as me:
        user = me.get("/account").json()
        assert (user["email"], user["emailVerification"], user["name"]) == (person["email"], True, "Ada Lovelace")
    again = _id_token_session(nib, project, provider="google", idToken=google.id_token())
    assert again.status_code == 201 and again.json()["userId"] == user["$id"]


def test_an_apple_id_token_with_its_nonce_and_the_app_given_name(nib, fakes, project):
    apple = fakes["apple"]
    _someone(apple)
    token = apple.id_token({"nonce": apple_nonce("raw-nonce-1")})
    created = _id_token_session(nib, project, provider="apple", idToken=token, nonce="raw-nonce-1", name="Ada L.")
    assert created.status_code == 201, created.text
    cookie = json.loads(created.headers["x-fallback-cookies"])[f"a_session_{project}"]
    with signed_in(nib, project, cookie) as me:
        assert me.get("/account").json()["name"] == "Ada L."
    wrong = _id_token_session(nib, project, provider="apple", idToken=token, nonce="another")
    assert (wrong.status_code, wrong.json()["type"], wrong.json()["message"]) == (
        401,
        "user_oauth2_token_invalid",
        "Nonce mismatch",
    )


def test_id_tokens_that_are_refused(nib, fakes, project):
    google = fakes["google"]
    _someone(google)
    foreign = _id_token_session(nib, project, provider="google", idToken=google.id_token({"aud": "someone-else"}))
    assert (foreign.status_code, foreign.json()["type"]) == (401, "user_oauth2_token_invalid")
    github = _id_token_session(nib, project, provider="github", idToken="a.b.c")
    assert (github.status_code, github.json()["type"]) == (400, "project_provider_unsupported")
    with admin(nib, project) as key:
        taken = key.post("/users", json={"userId": "unique()", "email": f"{uuid.uuid4().hex[:8]}@example.com"}).json()
    google.sign_in_as(id="g-unverified", email=taken["email"], verified=False)
    unverified = _id_token_session(nib, project, provider="google", idToken=google.id_token())
    assert (unverified.status_code, unverified.json()["type"]) == (400, "general_bad_request")


def test_an_id_token_of_a_native_app_names_one_of_its_client_ids(nib, fakes, project):
    """A native app's token is issued to its own client ID (an iOS bundle ID for Apple): accepted
    once the secret lists it in nativeClientIds, refused before."""
    apple = fakes["apple"]
    _someone(apple)
    token = apple.id_token({"nonce": apple_nonce("raw-nonce-2"), "aud": "com.example.ios"})
    before = _id_token_session(nib, project, provider="apple", idToken=token, nonce="raw-nonce-2")
    assert (before.status_code, before.json()["type"]) == (401, "user_oauth2_token_invalid")
    secret = {**json.loads(apple.secret), "nativeClientIds": ["com.example.ios"]}
    set_provider(nib, project, "apple", apple.client_id, json.dumps(secret))
    time.sleep(1.2)  # the flow's provider cache lives a second
    after = _id_token_session(nib, project, provider="apple", idToken=token, nonce="raw-nonce-2")
    assert after.status_code == 201, after.text
    assert after.json()["provider"] == "apple" and after.json()["providerUid"] == apple.user["id"]
    wrong = {**secret, "nativeClientIds": "com.example.ios"}
    refused = nib_cli(
        nib,
        "providers",
        "set",
        "--project",
        project,
        "apple",
        "--app-id",
        apple.client_id,
        "--secret-file",
        "-",
        stdin=json.dumps(wrong),
    )
    assert refused.returncode != 0 and "nativeClientIds must be a list of client IDs" in refused.stderr
