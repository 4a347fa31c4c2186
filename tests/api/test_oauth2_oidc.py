"""OpenID Connect sign-in (`oidc`) against a real provider on loopback (tests/oidc_provider.py):
sign-up and sign-in in both flows, linking by e-mail only when the provider verified it, ID
tokens checked (nonce, signature), refresh, identities in the Users and Account APIs with their
tokens sealed at rest, deleted with their user."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import orjson
import pytest
import sqlalchemy as sa
from appwrite.client import Client
from appwrite.enums.o_auth_provider import OAuthProvider
from appwrite.services.account import Account
from oauth2_support import FAIL, OK, Browser, admin, error_of, new_project, nib_fixture, query, set_provider, signed_in

from nib.auth.tables import identities, sessions
from nib.data.db import Database
from nib.tools.config import Settings
from oidc_provider import CLIENT_ID, CLIENT_SECRET, start_provider, stop_provider

oauth_nib = nib_fixture()


@pytest.fixture(scope="module")
def provider():
    started = start_provider()
    yield started
    stop_provider(started)


@pytest.fixture(scope="module")
def nib_db(oauth_nib):
    settings = Settings.from_env(data_dir=oauth_nib.data_dir, database_url=oauth_nib.database_url)
    database = Database(settings.resolved_database_url, pool_size=2)
    yield database
    database.dispose()


@pytest.fixture
def project(oauth_nib, provider):
    """A fresh project with `oidc` configured from the provider's discovery document."""
    project = new_project(oauth_nib)
    set_provider(oauth_nib, project, "oidc", CLIENT_ID, provider.secret_json())
    provider.deny, provider.id_token, provider.delay = False, "valid", 0.0
    return project


def _person(provider, *, verified: bool = True, email: str | None = None) -> dict:
    sub = "sub-" + uuid.uuid4().hex[:12]
    provider.user = {
        "sub": sub,
        "email": email or f"{sub}@example.com",
        "email_verified": verified,
        "name": "Ada Lovelace",
    }
    return provider.user


def test_sign_up_then_sign_in_again_session_flow(oauth_nib, provider, project):
    person = _person(provider)
    browser = Browser(oauth_nib)
    assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
    authorize = browser.hops[0].headers["location"]
    assert authorize.startswith(provider.issuer + "/authorize?")
    assert query(authorize)["scope"] == "openid profile email" and query(authorize)["nonce"]
    with signed_in(oauth_nib, project, browser.session_cookie(project)) as me:
        user = me.get("/account").json()
        session = me.get("/account/sessions/current").json()
    assert (user["email"], user["name"], user["emailVerification"]) == (person["email"], "Ada Lovelace", True)
    assert [t["identifier"] for t in user["targets"]] == [person["email"]]
    assert (session["provider"], session["providerUid"]) == ("oidc", person["sub"])
    assert provider.access[session["providerAccessToken"]]["sub"] == person["sub"]
    assert session["providerRefreshToken"] in provider.refresh
    assert session["factors"] == ["email", "oauth2"]

    again = Browser(oauth_nib)
    assert again.start("oidc", project, success=OK, failure=FAIL) == OK
    with signed_in(oauth_nib, project, again.session_cookie(project)) as me:
        assert me.get("/account").json()["$id"] == user["$id"]
    with admin(oauth_nib, project) as key:
        assert key.get("/users").json()["total"] == 1
        listed = key.get("/users/identities").json()
    assert listed["total"] == 1
    identity = listed["identities"][0]
    assert (identity["userId"], identity["provider"], identity["providerUid"]) == (user["$id"], "oidc", person["sub"])
    assert identity["providerEmail"] == person["email"] and identity["providerIdToken"] == ""
    assert provider.access[identity["providerAccessToken"]]["sub"] == person["sub"]


def test_token_flow_with_the_sdk(oauth_nib, provider, project):
    person = _person(provider)
    client = Client().set_endpoint(oauth_nib.endpoint).set_project(project)
    first = Account(client).create_o_auth2_token(OAuthProvider.OIDC, OK, FAIL)
    assert first.startswith(provider.issuer + "/authorize?")
    landed = Browser(oauth_nib).follow(first)
    assert landed.startswith(OK + "?")
    session = Account(client).create_session(query(landed)["userId"], query(landed)["secret"])
    assert (session.provider, session.provideruid) == ("oidc", person["sub"])
    assert provider.access[session.provideraccesstoken]["sub"] == person["sub"]
    assert session.factors == ["email", "oauth2"]


def test_links_an_existing_user_whose_email_the_provider_verified(oauth_nib, provider, project):
    with admin(oauth_nib, project) as key:
        existing = key.post("/users", json={"userId": "unique()", "email": f"known-{uuid.uuid4().hex[:8]}@example.com"})
        existing = existing.json()
        _person(provider, email=existing["email"].upper())  # e-mails compare case-insensitively
        browser = Browser(oauth_nib)
        assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
        with signed_in(oauth_nib, project, browser.session_cookie(project)) as me:
            assert me.get("/account").json()["$id"] == existing["$id"]
        mine = key.get(
            "/users/identities",
            params={"queries[0]": f'{{"method":"equal","attribute":"userId","values":["{existing["$id"]}"]}}'},
        )
        assert [i["providerEmail"] for i in mine.json()["identities"]] == [existing["email"]]
        assert key.get("/users").json()["total"] == 1


def test_no_link_when_the_email_is_unverified(oauth_nib, provider, project, nib_db):
    with admin(oauth_nib, project) as key:
        existing = key.post(
            "/users", json={"userId": "unique()", "email": f"victim-{uuid.uuid4().hex[:8]}@example.com"}
        )
        existing = existing.json()
        person = _person(provider, verified=False, email=existing["email"])
        browser = Browser(oauth_nib)
        landed = browser.start("oidc", project, success=OK, failure=FAIL)
        assert landed.startswith(FAIL + "?")
        assert error_of(landed) == {
            "message": "A user with the same id, email, or phone already exists in this project.",
            "type": "user_already_exists",
            "code": 409,
        }
        assert not browser.http.cookies
        assert key.get("/users").json()["total"] == 1
        assert key.get(f"/users/{existing['$id']}/sessions").json()["total"] == 0
    with nib_db.read() as conn:
        found = conn.execute(sa.select(identities.c.id).where(identities.c.provider_uid == person["sub"])).all()
    assert found == []


def test_an_unverified_newcomer_signs_up_unverified(oauth_nib, provider, project):
    person = _person(provider, verified=False)
    browser = Browser(oauth_nib)
    assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
    with signed_in(oauth_nib, project, browser.session_cookie(project)) as me:
        user = me.get("/account").json()
    assert (user["email"], user["emailVerification"]) == (person["email"], False)


def test_a_tampered_state_is_refused(oauth_nib, provider, project):
    _person(provider)
    browser = Browser(oauth_nib)
    start = browser.http.get(
        f"{oauth_nib.endpoint}/account/tokens/oauth2/oidc", params={"project": project, "success": OK, "failure": FAIL}
    )
    authorize = start.headers["location"]
    state = query(authorize)["state"]
    tampered = authorize.replace("%2Fapp%2Fok", "%2Fapp%2Fstolen")
    assert tampered != authorize and query(tampered)["state"] != state
    consent = browser.http.get(tampered)
    callback = browser.http.get(consent.headers["location"])
    finish = browser.http.get(callback.headers["location"])
    assert finish.status_code == 400
    assert finish.json()["type"] == "general_bad_request"
    with admin(oauth_nib, project) as key:
        assert key.get("/users").json()["total"] == 0


@pytest.mark.parametrize("id_token", ["wrong-nonce", "wrong-key"])
def test_a_bad_id_token_is_refused(oauth_nib, provider, project, id_token):
    _person(provider)
    provider.id_token = id_token
    landed = Browser(oauth_nib).start("oidc", project, success=OK, failure=FAIL)
    assert landed.startswith(FAIL + "?")
    error = error_of(landed)
    assert (error["type"], error["code"]) == ("user_oauth2_provider_error", 424)
    assert error["message"].startswith(
        "Failed to obtain access token. The OpenID Connect OAuth2 provider returned an error: invalid ID token"
    )
    with admin(oauth_nib, project) as key:
        assert key.get("/users").json()["total"] == 0


def test_access_denied_at_the_provider(oauth_nib, provider, project):
    _person(provider)
    provider.deny = True
    landed = Browser(oauth_nib).start("oidc", project, success=OK, failure=FAIL)
    assert error_of(landed) == {
        "message": "The OpenID Connect OAuth2 provider returned an error: access_denied: The user said no",
        "type": "user_oauth2_provider_error",
        "code": 424,
    }


def test_refresh_through_the_provider(oauth_nib, provider, project):
    _person(provider)
    browser = Browser(oauth_nib)
    assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
    with signed_in(oauth_nib, project, browser.session_cookie(project)) as me:
        before = me.get("/account/sessions/current").json()
        refreshed = me.patch(f"/account/sessions/{before['$id']}")
        assert refreshed.status_code == 200, refreshed.text
        after = refreshed.json()
        assert after["providerAccessToken"] != before["providerAccessToken"]
        assert after["providerAccessToken"] in provider.access
        assert after["providerRefreshToken"] not in ("", before["providerRefreshToken"])
        assert after["providerAccessTokenExpiry"] > before["providerAccessTokenExpiry"]
        assert after["expire"] >= before["expire"]
        # The provider used the old refresh token up: refreshing with it again fails.
        provider.refresh.pop(after["providerRefreshToken"])
        failed = me.patch("/account/sessions/current")
    assert failed.status_code == 400
    assert failed.json()["type"] == "user_oauth2_bad_request"
    assert failed.json()["message"] == "invalid_grant: unknown refresh token"


def test_tokens_are_sealed_at_rest_and_identities_go_with_their_user(oauth_nib, provider, project, nib_db):
    person = _person(provider)
    browser = Browser(oauth_nib)
    assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
    with signed_in(oauth_nib, project, browser.session_cookie(project)) as me:
        session = me.get("/account/sessions/current").json()
        listed = me.get("/account/identities").json()
    assert listed["total"] == 1 and listed["identities"][0]["providerUid"] == person["sub"]
    plain = {session["providerAccessToken"], session["providerRefreshToken"]}
    with nib_db.read() as conn:
        stored = [
            *conn.execute(
                sa.select(identities.c.provider_access_token, identities.c.provider_refresh_token).where(
                    identities.c.project_id == project
                )
            ).one(),
            *conn.execute(
                sa.select(sessions.c.provider_access_token, sessions.c.provider_refresh_token).where(
                    sessions.c.project_id == project
                )
            ).one(),
        ]
    for value in stored:
        assert value.startswith("v1.") and value not in plain and not any(token in value for token in plain)

    with admin(oauth_nib, project) as key:
        [listed_session] = key.get(f"/users/{session['userId']}/sessions").json()["sessions"]
        assert listed_session["providerAccessToken"] == session["providerAccessToken"]
        assert key.delete(f"/users/{session['userId']}").status_code == 204
        assert key.get("/users/identities").json()["total"] == 0
    with nib_db.read() as conn:
        assert conn.execute(sa.select(identities.c.id).where(identities.c.project_id == project)).all() == []


def test_an_identity_can_be_removed_from_the_account(oauth_nib, provider, project):
    _person(provider)
    browser = Browser(oauth_nib)
    assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
    with signed_in(oauth_nib, project, browser.session_cookie(project)) as me:
        identity = me.get("/account/identities").json()["identities"][0]
        assert me.delete(f"/account/identities/{identity['$id']}").status_code == 204
        assert me.get("/account/identities").json()["total"] == 0


def test_explicit_endpoints_without_discovery(oauth_nib, provider):
    project = new_project(oauth_nib)
    secret = orjson.dumps(
        {
            "clientSecret": CLIENT_SECRET,
            "authorizationEndpoint": provider.issuer + "/authorize",
            "tokenEndpoint": provider.issuer + "/token",
            "userinfoEndpoint": provider.issuer + "/userinfo",
        }
    ).decode()
    set_provider(oauth_nib, project, "oidc", CLIENT_ID, secret)
    person = _person(provider)
    browser = Browser(oauth_nib)
    assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
    with signed_in(oauth_nib, project, browser.session_cookie(project)) as me:
        assert me.get("/account").json()["email"] == person["email"]


def test_a_signed_in_user_links_the_account_unless_its_email_is_taken(oauth_nib, provider, project):
    guest = {"X-Appwrite-Project": project}
    emails = [f"{name}-{uuid.uuid4().hex[:8]}@example.com" for name in ("me", "them")]
    with admin(oauth_nib, project) as key:
        me, them = (
            key.post("/users", json={"userId": "unique()", "email": e, "password": "pass-1234"}).json() for e in emails
        )
    signed = httpx.post(
        f"{oauth_nib.endpoint}/account/sessions/email",
        json={"email": emails[0], "password": "pass-1234"},
        headers=guest,
    )
    old_session = orjson.loads(signed.headers["x-fallback-cookies"])[f"a_session_{project}"]

    browser = Browser(oauth_nib)
    browser.http.cookies.set(f"a_session_{project}", old_session, domain="127.0.0.1")
    _person(provider, email=them["email"])
    landed = browser.start("oidc", project, success=OK, failure=FAIL)
    assert error_of(landed)["type"] == "user_already_exists"
    with signed_in(oauth_nib, project, old_session) as still:
        assert still.get("/account").json()["$id"] == me["$id"]  # nothing changed

    person = _person(provider)
    assert browser.start("oidc", project, success=OK, failure=FAIL) == OK
    with signed_in(oauth_nib, project, browser.session_cookie(project)) as now:
        account = now.get("/account").json()
        assert (account["$id"], account["email"]) == (me["$id"], emails[0])
        assert [i["providerEmail"] for i in now.get("/account/identities").json()["identities"]] == [person["email"]]
    with signed_in(oauth_nib, project, old_session) as replaced:
        assert replaced.get("/account").status_code == 401  # the session it ran under was replaced


def test_a_slow_provider_holds_no_other_request(oauth_nib, provider, project):
    """The redirect route waits on the provider in a worker thread, never on the event loop
    (where SQLite GETs run): other requests are answered meanwhile."""
    _person(provider)
    provider.delay = 2.0
    landed: list[str] = []
    signing_in = threading.Thread(
        target=lambda: landed.append(Browser(oauth_nib).start("oidc", project, success=OK, failure=FAIL))
    )
    with admin(oauth_nib, project) as key:
        signing_in.start()
        time.sleep(0.5)  # the code exchange is under way
        asked = time.monotonic()
        assert key.get("/users").status_code == 200
        assert time.monotonic() - asked < 1.0
    assert signing_in.is_alive()
    signing_in.join(30)
    assert landed == [OK]
