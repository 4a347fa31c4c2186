"""The official Appwrite Web SDK in a real browser signs up, signs in, creates a team and lists it,
stays signed in across a page reload by its cookie, and signs out against a live nib (issue 3,
"Browser apps"; issue 4 for the team).

index.html is the app (the SDK's browser bundle from node_modules), served on localhost by a small
static server; run.mjs drives it in Debian's chromium through playwright-core and prints what
happened as JSON; this module asserts on that (fixtures: conftest.py; helpers: browser_support.py;
test_web_sdk_realtime.py drives the same app live for realtime). The npm side is pinned in package-lock.json and
installed by `npm ci` on first use; chromium comes from the OS (`apt-get install chromium`, as
.ci/run does). Page and API are both on `localhost` (other ports, same site), which the `default`
project allows, so the SDK's credentialed requests carry the session cookie.
"""

from __future__ import annotations

import uuid

import pytest
from browser_support import PASSWORD, SDKS, drive_browser, outcome


@pytest.mark.parametrize("sdk", SDKS)
def test_web_sdk_signs_up_in_and_out_with_the_session_cookie(chromium, node, app_origin, server, sdk):
    endpoint = server.endpoint.replace("//127.0.0.1:", "//localhost:")
    user_id = "web" + uuid.uuid4().hex[:16]
    email = f"{user_id}@example.com"
    team_id = "team" + uuid.uuid4().hex[:16]
    report = drive_browser(
        node,
        chromium,
        app_origin,
        sdk=sdk,
        endpoint=endpoint,
        project=server.project,
        userId=user_id,
        email=email,
        password=PASSWORD,
        name="Web SDK",
        teamId=team_id,
    )
    assert report["origin"] == app_origin and report["sdkVersion"] == SDKS[sdk]

    # A credentialed request with the SDK's custom headers passes CORS (preflight included).
    health = outcome(report, "health", ok=True)
    assert health["status"] == 200 and health["body"]["status"] == "pass"

    account = outcome(report, "signUp", ok=True)
    assert account["$id"] == user_id and account["email"] == email and account["name"] == "Web SDK"
    assert "password" not in account and "hash" not in account

    session = outcome(report, "signIn", ok=True)
    assert session["userId"] == user_id and session["provider"] == "email" and session["current"] is True
    assert session["secret"] == ""  # never shown to a client-side caller

    fetched = outcome(report, "getAccount", ok=True)
    assert fetched["$id"] == user_id and fetched["email"] == email

    # The signed-in user creates a team (and owns it) and finds it, alone, in its list.
    team = outcome(report, "createTeam", ok=True)
    assert (team["$id"], team["name"], team["total"], team["prefs"]) == (team_id, "Browser Team", 1, {})
    listed = outcome(report, "listTeams", ok=True)
    assert listed["total"] == 1 and [t["$id"] for t in listed["teams"]] == [team_id]

    # Over plain http the browser keeps the legacy cookie (the main one is SameSite=None without
    # Secure), and that cookie alone (the SDK's localStorage fallback was cleared) keeps the user
    # signed in across the reload.
    cookies = {c["name"]: c for c in report["cookies"]["afterSignIn"]}
    legacy = cookies.get(f"a_session_{server.project}_legacy")
    assert legacy and legacy["httpOnly"] and legacy["domain"] == "localhost", report["cookies"]
    reloaded = outcome(report, "getAccountAfterReload", ok=True)
    assert reloaded["$id"] == user_id and reloaded["email"] == email

    outcome(report, "signOut", ok=True)
    refused = outcome(report, "getAccountAfterSignOut", ok=False)
    assert refused["code"] == 401 and refused["type"] == "general_unauthorized_scope", refused
    assert not [c for c in report["cookies"]["afterSignOut"] if c["name"].startswith("a_session_")]

    assert [(r["method"], r["path"], r.get("status")) for r in report["requests"]] == [
        ("GET", "/health", 200),
        ("POST", "/account", 201),
        ("POST", "/account/sessions/email", 201),
        ("GET", "/account", 200),
        ("POST", "/teams", 201),
        ("GET", "/teams", 200),
        ("GET", "/account", 200),
        ("DELETE", "/account/sessions/current", 204),
        ("GET", "/account", 401),
    ]


def test_web_sdk_registers_a_passkey_and_signs_in_with_it(chromium, node, app_origin, server):
    """Issue 12, "Passkeys": the newest Web SDK in chromium with DevTools' virtual authenticator
    registers a passkey (navigator.credentials.create), signs out, signs in with it
    (navigator.credentials.get -> passkey token -> account.createSession) as the same user; the
    sign-in's assertion sent again is refused. The page is on http://localhost:<port>, which the
    relying party ``localhost`` (NIB_HOSTNAME's default) allows on any port. Web SDK 28 has no
    passkey methods yet (the Python SDK 27 has them): the page sends those requests through the
    SDK's own ``client.call`` as its generated methods do, and signs in with ``createSession``."""
    endpoint = server.endpoint.replace("//127.0.0.1:", "//localhost:")
    user_id = "pk" + uuid.uuid4().hex[:16]
    email = f"{user_id}@example.com"
    report = drive_browser(
        node,
        chromium,
        app_origin,
        scenario="passkeys",
        sdk="appwrite-newest",
        endpoint=endpoint,
        project=server.project,
        userId=user_id,
        email=email,
        password=PASSWORD,
        name="Passkey User",
    )
    assert report["sdkVersion"] == SDKS["appwrite-newest"]
    assert outcome(report, "signUp", ok=True)["$id"] == user_id
    assert outcome(report, "signIn", ok=True)["provider"] == "email"

    registered = outcome(report, "registerPasskey", ok=True)
    options = registered["challenge"]["publicKey"]
    assert options["rp"]["id"] == "localhost" and options["user"]["name"] == email
    passkey = registered["passkey"]
    assert passkey["$id"] == registered["challenge"]["passkeyId"] and passkey["name"] == "Virtual authenticator"
    listed = outcome(report, "listPasskeys", ok=True)
    assert [p["$id"] for p in listed["passkeys"]] == [passkey["$id"]] and listed["passkeys"][0]["accessedAt"] == ""

    outcome(report, "signOut", ok=True)
    assert outcome(report, "getAccountAfterSignOut", ok=False)["code"] == 401

    signed_in = outcome(report, "signInWithPasskey", ok=True)
    assert signed_in["credentialId"] == registered["credentialId"]
    assert signed_in["token"] == {"userId": user_id, "expire": signed_in["token"]["expire"], "hasSecret": True}
    session = signed_in["session"]
    assert session["userId"] == user_id and session["provider"] == "passkey" and session["current"] is True
    assert session["factors"] == ["passkey", "userVerification"] and session["mfaUpdatedAt"]
    fetched = outcome(report, "getAccount", ok=True)
    assert fetched["$id"] == user_id and fetched["email"] == email

    refused = outcome(report, "replayAssertion", ok=False)
    assert refused["code"] == 401 and refused["type"] == "user_invalid_token", refused

    # The authenticator holds one discoverable credential for localhost, used once to sign in.
    [credential] = report["authenticator"]
    assert credential["isResidentCredential"] and credential["rpId"] == "localhost"
    assert [(r["method"], r["path"], r.get("status")) for r in report["requests"]] == [
        ("POST", "/account", 201),
        ("POST", "/account/sessions/email", 201),
        ("POST", "/account/passkeys", 201),
        ("PUT", f"/account/passkeys/{passkey['$id']}/verification", 200),
        ("GET", "/account/passkeys", 200),
        ("DELETE", "/account/sessions/current", 204),
        ("GET", "/account", 401),
        ("POST", "/account/tokens/passkey", 201),
        ("PUT", "/account/tokens/passkey", 201),
        ("POST", "/account/sessions/token", 201),
        ("GET", "/account", 200),
        ("PUT", "/account/tokens/passkey", 401),
    ]
