"""The console's Users pages against a live nib: the list (search, filters, paging), creating,
editing and deleting users, sessions, MFA, the audit entries of those actions, CSRF and escaping.

Changes are checked through the REST API with the project's API key (or the SDK signing in as
the user); each test module works in a project of its own so totals are exact.
"""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import quote

import httpx
import orjson
import pytest
import sqlalchemy as sa
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.account import Account
from users_support import fresh_project, seed_authenticator, seed_identity, unique_email, unique_phone

from console_support import Console, notice, sign_in
from nib.data.db import Database
from nib.data.db.schema import audit_logs
from nib.tools.config import Settings

PASSWORD = "first-password-1"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def project(server) -> tuple[str, str]:
    return fresh_project(server)


@pytest.fixture(scope="module")
def console(server) -> Console:
    return sign_in(server)


@pytest.fixture
def api(server, project) -> httpx.Client:
    with server.http(key=project[1], project=project[0]) as client:
        yield client


def _marker() -> str:
    return "m" + uuid.uuid4().hex[:10]


def _user(api: httpx.Client, **fields) -> dict:
    body = {"userId": "unique()", "email": unique_email(), "password": PASSWORD, **fields}
    answer = api.post("/users", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _ids_on_page(text: str) -> list[str]:
    return re.findall(r'name="ids" value="([^"]+)"', text)


def _sdk_sign_in(server, project: str, email: str, password: str) -> None:
    """Sign in through the official SDK, as an app would (raises the refusal)."""
    client = Client().set_endpoint(server.endpoint).set_project(project)
    assert Account(client).create_email_password_session(email, password).userid


def _signed_in(server, project: str, email: str, password: str) -> tuple[Account, str]:
    """A new session of the user: the SDK's Account acting with it, and its ID. (A client-side
    sign-in's secret travels in the fallback header, which the SDK does not keep.)"""
    with httpx.Client(base_url=server.endpoint, headers={"X-Appwrite-Project": project}) as guest:
        answer = guest.post("/account/sessions/email", json={"email": email, "password": password})
    assert answer.status_code == 201, answer.text
    encoded = orjson.loads(answer.headers["x-fallback-cookies"])[f"a_session_{project}"]
    client = Client().set_endpoint(server.endpoint).set_project(project).set_session(encoded)
    return Account(client), answer.json()["$id"]


def _db(server) -> Database:
    return Database(server.database_url or Settings.from_env(data_dir=str(server.data_dir)).resolved_database_url)


def _activity_events(console: Console, project: str, user_id: str) -> list[tuple[str, str]]:
    page = console.get(f"/projects/{project}/users/{user_id}")
    assert page.status_code == 200, page.text
    rows = re.findall(
        r'<tr class="audit-entry">\s*<td>[^<]*</td>\s*<td><code>([^<]+)</code></td>\s*<td>([^<]*)</td>', page.text
    )
    return rows


# -- list -----------------------------------------------------------------------------------------


def test_list_search_and_filters(server, console, project, api):
    p, _ = project
    marker = _marker()
    alice = _user(api, name=f"Alice {marker}")
    bob = _user(api, name=f"Bob {marker}")
    carol = _user(api, name=f"Carol {marker}")
    assert api.patch(f"/users/{bob['$id']}/status", json={"status": False}).status_code == 200
    assert api.patch(f"/users/{carol['$id']}/verification", json={"emailVerification": True}).status_code == 200
    assert api.put(f"/users/{carol['$id']}/labels", json={"labels": ["vip"]}).status_code == 200

    page = console.get(f"/projects/{p}/users", params={"search": marker})
    assert page.status_code == 200
    assert page.headers["server-timing"].startswith("app;dur=")
    # The bulk-delete and create forms carry the session's CSRF token.
    assert page.text.count(f'name="csrf" value="{console.csrf}"') >= 2
    assert f'action="/console/projects/{p}/users/delete"' in page.text
    assert f'action="/console/projects/{p}/users" class="grid"' in page.text
    assert f'href="/console/projects/{p}/users/{alice["$id"]}"' in page.text
    # Newest first.
    assert _ids_on_page(page.text) == [carol["$id"], bob["$id"], alice["$id"]]
    assert "<strong>3</strong> users" in page.text

    def ids(**params) -> set[str]:
        answer = console.get(f"/projects/{p}/users", params={"search": marker, **params})
        assert answer.status_code == 200, answer.text
        return set(_ids_on_page(answer.text))

    assert ids(status="blocked") == {bob["$id"]}
    assert ids(status="active") == {alice["$id"], carol["$id"]}
    assert ids(verified="yes") == {carol["$id"]}
    assert ids(verified="no") == {alice["$id"], bob["$id"]}
    assert ids(label="vip") == {carol["$id"]}
    assert api.put(f"/users/{alice['$id']}/labels", json={"labels": [marker, "x" + marker]}).status_code == 200
    assert api.put(f"/users/{bob['$id']}/labels", json={"labels": ["x" + marker]}).status_code == 200
    alone = console.get(f"/projects/{p}/users", params={"label": marker})
    assert _ids_on_page(alone.text) == [alice["$id"]]
    assert "<strong>1</strong> user" in alone.text
    today = carol["$createdAt"][:10]
    assert ids(created_from=today, created_to=today) == {alice["$id"], bob["$id"], carol["$id"]}
    assert ids(created_to="2000-01-01") == set()
    # The search is the API's: a rare word finds only its user.
    only = console.get(f"/projects/{p}/users", params={"search": alice["$id"]})
    assert _ids_on_page(only.text) == [alice["$id"]]
    # A bad date is an error page, not a crash.
    assert console.get(f"/projects/{p}/users", params={"created_from": "yesterday"}).status_code == 400
    assert console.get(f"/projects/{p}/users", params={"created_to": "9999-12-31"}).status_code == 400


def test_list_pages_with_total(server, console):
    p, key = fresh_project(server)
    with server.http(key=key, project=p) as api:
        made = [_user(api, name=f"Paged {i}")["$id"] for i in range(27)]
    first = console.get(f"/projects/{p}/users")
    assert _ids_on_page(first.text) == made[::-1][:25]
    assert "1–25 of 27" in first.text
    assert "offset=25" in first.text
    second = console.get(f"/projects/{p}/users", params={"offset": 25})
    assert _ids_on_page(second.text) == made[1::-1]
    assert "26–27 of 27" in second.text


# -- create, escaping -----------------------------------------------------------------------------


def test_create_user_and_escaped_name(server, console, project, api):
    p, _ = project
    email = unique_email("created")
    answer = console.post(
        f"/projects/{p}/users", {"name": XSS, "email": email, "phone": unique_phone(), "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    user_id = answer.headers["location"].rsplit("/", 1)[-1]
    assert notice(answer) == "User created."
    user = api.get(f"/users/{user_id}").json()
    assert user["name"] == XSS and user["email"] == email
    _sdk_sign_in(server, p, email, PASSWORD)  # the password was set

    for path in (f"/projects/{p}/users/{user_id}", f"/projects/{p}/users?search={quote(email)}"):
        page = console.get(path)
        assert page.status_code == 200
        assert html.escape(XSS, quote=False) in page.text or "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert "<img src=x" not in page.text
    # With a chosen ID, and a duplicate refused with the API's message.
    chosen = "chosen-" + uuid.uuid4().hex[:8]
    assert console.post(f"/projects/{p}/users", {"user_id": chosen, "name": "Chosen"}).status_code == 303
    assert api.get(f"/users/{chosen}").json()["name"] == "Chosen"
    again = console.post(
        f"/projects/{p}/users",
        {"user_id": chosen},
        headers={"referer": f"{server.endpoint[:-3]}/console/projects/{p}/users"},
    )
    assert again.status_code == 303
    assert again.headers["location"] == f"/console/projects/{p}/users"
    assert "already exists" in notice(again)
    events = _activity_events(console, p, chosen)
    assert ("user.create", f"user/{chosen}") in events


# -- edit -----------------------------------------------------------------------------------------


def test_edit_profile_labels_prefs(server, console, project, api):
    p, _ = project
    user = _user(api, name="Before")
    base = f"/projects/{p}/users/{user['$id']}"
    email, phone = unique_email("after"), unique_phone()
    assert console.post(base + "/profile", {"name": "After", "email": email, "phone": phone}).status_code == 303
    got = api.get(f"/users/{user['$id']}").json()
    assert (got["name"], got["email"], got["phone"]) == ("After", email, phone)

    assert console.post(base + "/labels", {"labels": "gold, beta  vip"}).status_code == 303
    assert api.get(f"/users/{user['$id']}").json()["labels"] == ["gold", "beta", "vip"]
    bad_label = console.post(base + "/labels", {"labels": "no-dash"})
    assert "Invalid `labels` param" in notice(bad_label)

    assert console.post(base + "/prefs", {"prefs": '{"theme": "dark", "n": 2}'}).status_code == 303
    assert api.get(f"/users/{user['$id']}/prefs").json() == {"theme": "dark", "n": 2}
    for bad, message in (('{"theme": ', "not JSON"), ("[1, 2]", "Value must be a valid object.")):
        refused = console.post(base + "/prefs", {"prefs": bad})
        assert refused.status_code == 303
        assert message in notice(refused)
    assert api.get(f"/users/{user['$id']}/prefs").json() == {"theme": "dark", "n": 2}
    page = console.get(base)
    for action in ("profile", "labels", "prefs", "status", "password", "delete"):
        assert f'action="/console{base}/{action}"' in page.text
    assert "data-json" in page.text and "&#34;theme&#34;: &#34;dark&#34;" in page.text

    events = _activity_events(console, p, user["$id"])
    assert events.count(("user.update", f"user/{user['$id']}")) == 3  # profile, labels, prefs


def test_block_unblock_and_verification(server, console, project, api):
    p, _ = project
    email = unique_email("blocked")
    user = _user(api, email=email, phone=unique_phone())
    base = f"/projects/{p}/users/{user['$id']}"
    assert console.post(base + "/status", {"status": "blocked"}).status_code == 303
    assert api.get(f"/users/{user['$id']}").json()["status"] is False
    with pytest.raises(AppwriteException) as refused:
        _sdk_sign_in(server, p, email, PASSWORD)
    assert refused.value.type == "user_blocked"
    assert console.post(base + "/status", {"status": "active"}).status_code == 303
    _sdk_sign_in(server, p, email, PASSWORD)

    assert console.post(base + "/verification", {"kind": "email", "verified": "on"}).status_code == 303
    assert console.post(base + "/verification", {"kind": "phone", "verified": "on"}).status_code == 303
    got = api.get(f"/users/{user['$id']}").json()
    assert got["emailVerification"] is True and got["phoneVerification"] is True
    assert console.post(base + "/verification", {"kind": "email", "verified": "off"}).status_code == 303
    assert api.get(f"/users/{user['$id']}").json()["emailVerification"] is False
    events = _activity_events(console, p, user["$id"])
    assert events.count(("verification.update", f"user/{user['$id']}")) == 3
    assert events.count(("user.update", f"user/{user['$id']}")) == 2


def test_password_and_sessions(server, console, project, api):
    p, _ = project
    email = unique_email("pw")
    user = _user(api, email=email)
    base = f"/projects/{p}/users/{user['$id']}"
    short = console.post(base + "/password", {"password": "short"})
    assert "Invalid `password` param" in notice(short)
    assert console.post(base + "/password", {"password": "second-password-2"}).status_code == 303
    with pytest.raises(AppwriteException) as old:
        _sdk_sign_in(server, p, email, PASSWORD)
    assert old.value.type == "user_invalid_credentials"
    _sdk_sign_in(server, p, email, "second-password-2")
    first, one = _signed_in(server, p, email, "second-password-2")
    second, other = _signed_in(server, p, email, "second-password-2")
    assert first.get().id == user["$id"]

    listed = [s["$id"] for s in api.get(f"/users/{user['$id']}/sessions").json()["sessions"]]
    assert one in listed and other in listed
    page = console.get(base)
    assert f"/sessions/{one}/delete" in page.text
    assert console.post(f"{base}/sessions/{one}/delete").status_code == 303
    listed = [s["$id"] for s in api.get(f"/users/{user['$id']}/sessions").json()["sessions"]]
    assert one not in listed and other in listed
    with pytest.raises(AppwriteException) as gone:
        first.get()
    assert gone.value.code == 401
    assert second.get().id == user["$id"]
    answer = console.post(base + "/sessions/delete")
    assert notice(answer) == f"{len(listed)} sessions revoked."
    assert api.get(f"/users/{user['$id']}/sessions").json()["total"] == 0
    with pytest.raises(AppwriteException):
        second.get()
    events = _activity_events(console, p, user["$id"])
    assert events.count(("session.delete", f"user/{user['$id']}")) == 2
    assert ("user.update", f"user/{user['$id']}") in events


def test_mfa_identities_memberships(server, console, project, api):
    p, _ = project
    user = _user(api)
    uid = user["$id"]
    base = f"/projects/{p}/users/{uid}"
    db = _db(server)
    try:
        seed_authenticator(db, p, uid, verified=True)
        identity = seed_identity(db, p, uid, provider="github", email="gh@example.com")
    finally:
        db.dispose()
    team = api.post("/teams", json={"teamId": "unique()", "name": "Team " + XSS}).json()
    assert api.post(f"/teams/{team['$id']}/memberships", json={"userId": uid, "roles": ["owner"]}).status_code == 201

    page = console.get(base)
    assert f"/console/projects/{p}/teams/{team['$id']}" in page.text
    assert "Team &lt;img" in page.text and "<img src=x" not in page.text
    assert "gh@example.com" in page.text

    assert console.post(base + "/mfa", {"mfa": "on"}).status_code == 303
    assert api.get(f"/users/{uid}").json()["mfa"] is True
    assert console.post(base + "/mfa", {}).status_code == 303
    assert api.get(f"/users/{uid}").json()["mfa"] is False

    codes_page = console.post(base + "/mfa/recovery-codes")
    assert codes_page.status_code == 200
    codes = api.get(f"/users/{uid}/mfa/recovery-codes").json()["recoveryCodes"]
    assert all(code in codes_page.text for code in codes)
    again = console.post(base + "/mfa/recovery-codes")
    new_codes = api.get(f"/users/{uid}/mfa/recovery-codes").json()["recoveryCodes"]
    assert new_codes != codes and all(code in again.text for code in new_codes)
    assert codes[0] not in console.get(base).text  # shown once

    assert api.get(f"/users/{uid}/mfa/factors").json()["totp"] is True
    assert console.post(base + "/mfa/totp/delete").status_code == 303
    assert api.get(f"/users/{uid}/mfa/factors").json()["totp"] is False
    missing = console.post(base + "/mfa/totp/delete")
    assert "authenticator" in notice(missing).lower()

    assert console.post(f"{base}/identities/{identity}/delete").status_code == 303
    assert (
        api.get(
            "/users/identities", params={"queries[]": f'{{"method":"equal","attribute":"userId","values":["{uid}"]}}'}
        ).json()["total"]
        == 0
    )
    events = _activity_events(console, p, uid)
    assert ("identity.delete", f"identity/{identity}") not in events  # about the identity, not the user
    assert events.count(("user.update", f"user/{uid}")) == 5  # mfa x2, codes x2, totp


# -- delete ---------------------------------------------------------------------------------------


def test_delete_one_and_several(server, console, project, api):
    p, _ = project
    one, two, three = (_user(api) for _ in range(3))
    answer = console.post(f"/projects/{p}/users/{one['$id']}/delete")
    assert answer.headers["location"] == f"/console/projects/{p}/users"
    assert api.get(f"/users/{one['$id']}").status_code == 404

    page = console.get(f"/projects/{p}/users")
    assert 'data-confirm="Delete {count} selected user(s)?' in page.text
    answer = console.post(f"/projects/{p}/users/delete", [("ids", two["$id"]), ("ids", three["$id"])])
    assert notice(answer) == "2 users deleted."
    assert api.get(f"/users/{two['$id']}").status_code == 404
    assert api.get(f"/users/{three['$id']}").status_code == 404

    # The deletions' entries, read as the project's audit log holds them.
    db = _db(server)
    try:
        with db.read() as conn:
            found = conn.execute(
                sa.select(audit_logs.c.resource, audit_logs.c.user_type, audit_logs.c.mode).where(
                    audit_logs.c.project_id == p, audit_logs.c.event == "user.delete"
                )
            ).all()
    finally:
        db.dispose()
    for user in (one, two, three):
        assert (f"user/{user['$id']}", "admin", "admin") in [tuple(row) for row in found]


def test_csrf_less_post_refused(server, console, project, api):
    p, _ = project
    user = _user(api, name="Kept")
    answer = console.post(
        f"/projects/{p}/users/{user['$id']}/profile", {"name": "Changed", "email": "", "phone": ""}, csrf=False
    )
    assert answer.status_code == 403
    answer = console.post(f"/projects/{p}/users/delete", [("ids", user["$id"])], csrf=False)
    assert answer.status_code == 403
    assert api.get(f"/users/{user['$id']}").json()["name"] == "Kept"


def test_unknown_user_and_project(server, console, project):
    p, _ = project
    assert console.get(f"/projects/{p}/users/missing-user-0000").status_code == 404
    assert console.get("/projects/no-such-project/users").status_code == 404
