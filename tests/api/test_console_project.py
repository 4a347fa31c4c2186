"""The console's project pages against a live nib: the overview (counts, the 30-day chart, recent
activity), keys and platforms, auth policies, methods and OAuth2 providers, the project's
settings, and the server's read-only settings with its secrets masked."""

from __future__ import annotations

import html
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.input_file import InputFile
from appwrite.services.storage import Storage
from appwrite.services.teams import Teams
from appwrite.services.users import Users

from console_support import Console, origin, sign_in
from nib.console.settings import masked_url

XSS = "<img src=x onerror=alert(1)>"
PASSWORD = "a-long-password-1"


def uid(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


@pytest.fixture
def console(server) -> Console:
    signed_in = sign_in(server)
    yield signed_in
    signed_in.client.close()


def new_project(console: Console, name: str = "Console project") -> str:
    """A project made through the console's own form."""
    project_id = uid("p")
    answer = console.post("/projects", {"name": name, "project_id": project_id})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/console/projects/{project_id}"
    return project_id


def referer(console: Console, path: str) -> dict[str, str]:
    return {"Referer": origin(console.nib) + "/console" + path}


def create_key(
    console: Console, project: str, scopes: list[str], name: str = "Worker", expire: str = ""
) -> tuple[str, str]:
    """A key made through the console's form: (its ID, its secret as the page shows it once)."""
    fields = [("name", name), ("expire", expire), *[("scopes", scope) for scope in scopes]]
    answer = console.post(f"/projects/{project}/keys", fields)
    assert answer.status_code == 200, answer.text
    secret = re.search(r'<p class="secret"><code id="key-secret">([^<]+)</code></p>', answer.text)
    key_id = re.search(r"<dt>ID</dt><dd><code>([^<]+)</code>", answer.text)
    assert secret and key_id, answer.text
    assert 'data-copy="key-secret"' in answer.text
    return key_id.group(1), secret.group(1)


def followed_notice(console: Console, answer: httpx.Response) -> str:
    """The page a form's 303 leads to, with its one-shot notice."""
    assert answer.status_code == 303, answer.text
    return console.client.get(answer.headers["location"], follow_redirects=True).text


def activity(page: str) -> list[tuple[str, str, str]]:
    """The overview's recent-activity rows as (actor, event, resource)."""
    table = page.split('<table id="activity">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r"<tr>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td><code>([^<]*)</code></td>\s*<td><code>([^<]*)</code></td>",
        table,
    )
    return [(html.unescape(a), e, html.unescape(r)) for a, e, r in rows]


def stat(page: str, name: str) -> str:
    found = re.search(rf'<div class="stat" id="count-{name}"><strong>([^<]+)</strong>', page)
    assert found, page
    return found.group(1)


# -- overview -----------------------------------------------------------------------------------


def test_overview_counts_chart_and_activity(server, console):
    project = new_project(console)
    _, secret = create_key(
        console, project, ["users.read", "users.write", "teams.write", "buckets.write", "files.write", "sessions.write"]
    )
    sdk = server.sdk(key=secret, project=project)
    users = Users(sdk)
    made = [
        users.create(ID.unique(), f"u{i}-{uuid.uuid4().hex[:8]}@example.com", None, PASSWORD, f"User {i}").to_dict()
        for i in range(3)
    ]
    Teams(sdk).create(ID.unique(), "Team")
    storage = Storage(sdk)
    bucket = storage.create_bucket(ID.unique(), "Files").id
    storage.create_file(bucket, ID.unique(), InputFile.from_bytes(b"a" * 1000, "a.txt"))
    storage.create_file(bucket, ID.unique(), InputFile.from_bytes(b"b" * 2500, "b.txt"))
    # Two sign-ins: one with e-mail and password, one session made by the key.
    signed = httpx.post(
        server.endpoint + "/account/sessions/email",
        headers={"X-Appwrite-Project": project},
        json={"email": made[0]["email"], "password": PASSWORD},
    )
    assert signed.status_code == 201, signed.text
    users.create_session(made[1]["$id"])

    page = console.get(f"/projects/{project}")
    assert page.status_code == 200
    text = page.text
    assert (stat(text, "users"), stat(text, "teams"), stat(text, "buckets"), stat(text, "files")) == (
        "3",
        "1",
        "1",
        "2",
    )
    assert "(3500 bytes)" in text and stat(text, "bytes") == "3.4 KB"
    assert "style=" not in text

    # 30 days, a bar of each kind per day; today's numbers in the hidden table.
    assert text.count('<rect class="signups"') == 30
    assert text.count('<rect class="signins"') == 30
    assert '<title id="chart-title">' in text and '<desc id="chart-desc">' in text
    days = re.findall(r'<tr><th scope="row">(\d{4}-\d\d-\d\d)</th><td>(\d+)</td><td>(\d+)</td></tr>', text)
    today = datetime.now(timezone.utc).date()
    assert [day for day, _, _ in days] == [(today - timedelta(days=29 - i)).isoformat() for i in range(30)]
    assert days[-1][1:] == ("3", "2")
    assert all(ups == ins == "0" for _, ups, ins in days[:-1])

    rows = activity(text)
    assert 5 <= len(rows) <= 20
    assert ("User " + made[0]["email"], "session.create", f"user/{made[0]['$id']}") in rows
    assert any(actor.startswith("API key ") and event == "session.create" for actor, event, _ in rows)
    assert any(actor == f"Administrator {console.email}" and event == "key.create" for actor, event, _ in rows)


def test_overview_of_a_project_that_does_not_exist(console):
    answer = console.get("/projects/nope-" + uid())
    assert answer.status_code == 404


# -- keys -----------------------------------------------------------------------------------------


def test_key_with_two_scopes_then_revoked(server, console):
    project = new_project(console)
    key_id, secret = create_key(console, project, ["users.read", "users.write"], name=XSS)
    client = server.sdk(key=secret, project=project)
    assert Users(client).list().total == 0
    with pytest.raises(AppwriteException) as refused:
        Storage(client).list_buckets()
    assert (refused.value.code, refused.value.type) == (401, "general_unauthorized_scope")

    listed = console.get(f"/projects/{project}/keys").text
    assert secret not in listed
    # Every form of the page carries the session's CSRF token (a browser posts it).
    assert (
        listed.count('<form method="post"')
        == listed.count(f'<input type="hidden" name="csrf" value="{console.csrf}">')
        >= 4
    )
    assert XSS not in listed and html.escape(XSS, quote=False) in listed
    row = listed.split(f"<code>{key_id}</code>", 1)[1].split("</tr>", 1)[0]
    assert "<code>users.read</code>, <code>users.write</code>" in row and "never" in row

    revoked = console.post(f"/projects/{project}/keys/{key_id}/delete")
    assert "Key revoked." in followed_notice(console, revoked)
    assert key_id not in console.get(f"/projects/{project}/keys").text
    # The key cache lives a second in every process.
    deadline = time.monotonic() + 2.5
    while True:
        try:
            Users(client).list()
        except AppwriteException as error:
            assert error.code == 401
            break
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.1)

    rows = activity(console.get(f"/projects/{project}").text)
    admin = f"Administrator {console.email}"
    assert (admin, "key.create", f"key/{key_id}") in rows
    assert (admin, "key.delete", f"key/{key_id}") in rows


def test_key_expiry(server, console):
    project = new_project(console)
    today = datetime.now(timezone.utc).date()
    for past in (today, today - timedelta(days=3)):
        answer = console.post(
            f"/projects/{project}/keys",
            [("name", "Old"), ("expire", past.isoformat()), ("scopes", "users.read")],
            headers=referer(console, f"/projects/{project}/keys"),
        )
        assert answer.headers["location"] == f"/console/projects/{project}/keys"
        assert "Value must be a date in the future." in followed_notice(console, answer)
    bad = console.post(f"/projects/{project}/keys", [("name", "Bad"), ("expire", "tomorrow"), ("scopes", "users.read")])
    assert "a date such as" in followed_notice(console, bad)
    none = console.post(f"/projects/{project}/keys", [("name", "No scope"), ("expire", "")])
    assert "Choose at least one scope." in followed_notice(console, none)
    assert server.cli("keys", "list", "--project", project).stdout == ""

    later = (today + timedelta(days=10)).isoformat()
    key_id, secret = create_key(console, project, ["users.read"], expire=later)
    assert Users(server.sdk(key=secret, project=project)).list().total == 0
    row = console.get(f"/projects/{project}/keys").text.split(f"<code>{key_id}</code>", 1)[1].split("</tr>", 1)[0]
    assert f"{later} 00:00:00" in row


def test_keys_create_expire_from_the_command_line(server, console):
    project = new_project(console)
    later = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%d")
    made = server.cli(
        "keys", "create", "--project", project, "--name", "CLI", "--scopes", "users.read", "--expire", later
    )
    assert f"{later} 00:00:00" in console.get(f"/projects/{project}/keys").text
    secret = made.stdout.strip().splitlines()[-1]
    assert Users(server.sdk(key=secret, project=project)).list().total == 0
    past = server.cli("keys", "create", "--project", project, "--name", "Old", "--expire", "2020-01-01", check=False)
    assert past.returncode != 0 and "future" in past.stderr + past.stdout


# -- platforms ------------------------------------------------------------------------------------


def test_platforms_added_and_removed(server, console):
    project = new_project(console)
    hostname = f"{uid('app')}.example.com"
    added = console.post(f"/projects/{project}/platforms", {"hostname": hostname, "name": XSS})
    assert f"Platform {hostname} added." in followed_notice(console, added)
    listed = server.cli("platforms", "list", "--project", project).stdout.strip().split("\t")
    platform_id = listed[0]
    assert listed[1:] == [hostname, XSS]
    page = console.get(f"/projects/{project}/keys").text
    assert f"<code>{hostname}</code>" in page and XSS not in page

    duplicate = console.post(
        f"/projects/{project}/platforms",
        {"hostname": hostname},
        headers=referer(console, f"/projects/{project}/keys"),
    )
    assert "already exists" in followed_notice(console, duplicate)

    removed = console.post(f"/projects/{project}/platforms/{platform_id}/delete")
    assert "Platform removed." in followed_notice(console, removed)
    assert server.cli("platforms", "list", "--project", project).stdout == ""
    rows = activity(console.get(f"/projects/{project}").text)
    admin = f"Administrator {console.email}"
    assert (admin, "platform.create", f"platform/{platform_id}") in rows
    assert (admin, "platform.delete", f"platform/{platform_id}") in rows


# -- project settings -----------------------------------------------------------------------------


def test_project_settings_rename_and_disable(server, console):
    project = new_project(console)
    page = console.get(f"/projects/{project}/settings").text
    assert (
        f'action="/console/projects/{project}/name"' in page and f'action="/console/projects/{project}/status"' in page
    )
    renamed = console.post(f"/projects/{project}/name", {"name": XSS})
    assert "Project renamed." in followed_notice(console, renamed)
    page = console.get(f"/projects/{project}/settings").text
    assert XSS not in page and html.escape(XSS) in page

    _, secret = create_key(console, project, ["users.read"])
    disabled = console.post(f"/projects/{project}/status", {"enabled": "off"})
    assert "Project disabled." in followed_notice(console, disabled)
    assert "Enable the project" in console.get(f"/projects/{project}/settings").text
    deadline = time.monotonic() + 2.5
    while True:
        try:
            Users(server.sdk(key=secret, project=project)).list()
        except AppwriteException as error:
            assert error.type == "project_paused" or error.code in (401, 403, 404)
            break
        assert time.monotonic() < deadline, "the disabled project still answers"
        time.sleep(0.1)
    enabled = console.post(f"/projects/{project}/status", {"enabled": "on"})
    assert "Project enabled." in followed_notice(console, enabled)


# -- server settings ------------------------------------------------------------------------------


def test_server_settings_mask_secrets(nib_with):
    nib = nib_with(
        NIB_SMTP_HOST="127.0.0.1",
        NIB_SMTP_PORT="2525",
        NIB_SMTP_USERNAME="mailer",
        NIB_SMTP_PASSWORD="s3cr3t-value",
        NIB_SECRET="server-s3cr3t-0123456789abcdef0123456789",
        NIB_RATE_LIMITS_OVERRIDES='{"POST /v1/account": {"limit": 50, "period": 60}}',
    )
    console = sign_in(nib)
    try:
        answer = console.get("/settings")
        assert answer.status_code == 200
        text = answer.text
        assert "s3cr3t" not in text
        facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", text))
        assert facts["Password"] == "set"
        assert facts["Host"] == "127.0.0.1" and facts["Port"] == "2525" and facts["User"] == "mailer"
        assert facts["Server secret"] == "set"
        assert facts["Rate limits"] == "on"
        assert html.unescape(facts["Overrides"]) == '{"POST /v1/account": {"limit": 50, "period": 60}}'
        assert facts["Engine"] == ("PostgreSQL" if nib.database_url else "SQLite")
        assert facts["Device"] == "local"
        assert f"<td>{console.email}</td>" in text
        assert 'href="/console/settings"' in text
    finally:
        console.client.close()


def test_masked_url():
    assert (
        masked_url("postgresql://nib:pa55word@db.internal:5432/nib") == "postgresql://nib:••••••@db.internal:5432/nib"
    )
    assert masked_url("redis://:hunter2@127.0.0.1:6379/0") == "redis://:••••••@127.0.0.1:6379/0"
    assert masked_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert masked_url(None) == ""


# -- CSRF -----------------------------------------------------------------------------------------


def test_forms_without_csrf_are_refused(server, console):
    project = new_project(console)
    attempts = [
        (f"/projects/{project}/keys", [("name", "Sneaky"), ("scopes", "users.read")]),
        (f"/projects/{project}/platforms", [("hostname", "evil.example.com")]),
    ]
    for path, fields in attempts:
        answer = console.post(path, fields, csrf=False)
        assert answer.status_code == 403, path
        forged = console.post(path, [*fields, ("csrf", "0" * 64)], csrf=False)
        assert forged.status_code == 403, path
    assert server.cli("keys", "list", "--project", project).stdout == ""
    assert server.cli("platforms", "list", "--project", project).stdout == ""


# -- auth: OAuth2 providers -----------------------------------------------------------------------


def test_oauth2_provider_secret_is_write_only(server, console, db):
    from nib.account.oauth2 import config as oauth2_config
    from nib.tools.config import Settings

    project = new_project(console)
    page = console.get(f"/projects/{project}/auth").text
    callback = f"{server.endpoint}/account/sessions/oauth2/callback/github/{project}"
    assert f'<code id="callback-github" aria-labelledby="callback-github-label">{callback}</code>' in page
    assert 'data-copy="callback-github"' in page
    assert 'id="oauth2-google"' in page and 'id="oauth2-oidc"' in page

    secret = "gh-s3cr3t-" + uuid.uuid4().hex
    saved = console.post(
        f"/projects/{project}/auth/oauth2/github", {"enabled": "on", "app_id": "app-1", "secret": secret}
    )
    assert "github enabled." in followed_notice(console, saved)
    assert server.cli("providers", "list", "--project", project).stdout.strip() == "github\tapp-1\tenabled"

    # An empty secret keeps the stored one; the app ID and switch change.
    kept = console.post(f"/projects/{project}/auth/oauth2/github", {"app_id": "app-2", "secret": ""})
    assert "github saved, disabled." in followed_notice(console, kept)
    assert server.cli("providers", "list", "--project", project).stdout.strip() == "github\tapp-2\tdisabled"
    stored = oauth2_config.provider_settings(
        db, Settings.from_env(data_dir=server.data_dir, database_url=server.database_url), project, "github"
    )
    assert stored is not None and (stored.app_id, stored.secret, stored.enabled) == ("app-2", secret, False)

    for path in ("/auth", "", "/keys", "/settings"):
        assert secret not in console.get(f"/projects/{project}{path}").text
    assert secret not in console.get("/settings").text
    auth_page = console.get(f"/projects/{project}/auth").text
    assert 'value="app-2"' in auth_page and "A secret is stored; empty keeps it." in auth_page

    # No secret stored and none given: refused, nothing stored.
    refused = console.post(
        f"/projects/{project}/auth/oauth2/google",
        {"enabled": "on", "app_id": "g-app", "secret": ""},
        headers=referer(console, f"/projects/{project}/auth"),
    )
    assert "Invalid `secret` param" in followed_notice(console, refused)
    assert "google" not in server.cli("providers", "list", "--project", project).stdout
    # A JSON provider's secret is checked by the same rule as the command line's.
    bad_json = console.post(f"/projects/{project}/auth/oauth2/oidc", {"enabled": "on", "app_id": "o", "secret": "x"})
    assert "must be a JSON object" in followed_notice(console, bad_json)

    rows = activity(console.get(f"/projects/{project}").text)
    assert rows.count((f"Administrator {console.email}", "project.update", f"project/{project}")) == 2
    assert console.post(f"/projects/{project}/auth/oauth2/github", {"app_id": "x"}, csrf=False).status_code == 403


# -- auth: policies, methods, passkeys ------------------------------------------------------------


def _policies(db, project: str):
    from nib.auth.projects import auth_policies

    time.sleep(1.1)  # this process's 1 s cache of the policies
    return auth_policies(db, project)


def test_auth_policies_and_methods(server, console, db):
    project = new_project(console)
    page = console.get(f"/projects/{project}/auth").text
    # Appwrite's defaults: 1 year sessions (shown as 365 days), 10 sessions, every method on.
    assert 'id="policy-session-length" name="session_length" type="number" min="0" value="365"' in page
    assert '<option value="days" selected>' in page
    assert 'id="policy-sessions-limit" name="sessions_limit" type="number" value="10"' in page
    assert 'id="method-email-password" name="methods" type="checkbox" value="email-password" checked' in page
    assert 'id="passkeys-enabled" name="enabled" type="checkbox" checked' in page

    saved = console.post(
        f"/projects/{project}/auth/policies",
        {
            "user_limit": "1",
            "session_length": "2",
            "session_length_unit": "hours",
            "sessions_limit": "3",
            "password_history": "4",
            "password_dictionary": "on",
            "memberships_user_email": "on",
        },
    )
    assert "Security policies saved." in followed_notice(console, saved)
    policies = _policies(db, project)
    assert (
        policies.user_limit,
        policies.session_length,
        policies.sessions_limit,
        policies.password_history,
        policies.password_dictionary,
        policies.personal_data_check,
        policies.memberships_user_name,
        policies.memberships_user_email,
        policies.memberships_mfa,
    ) == (1, 7200, 3, 4, True, False, False, True, False)
    page = console.get(f"/projects/{project}/auth").text
    assert 'value="2"' in page and '<option value="hours" selected>' in page

    # Enforced by the API: the user limit (one sign-up, then refused).
    guest = httpx.Client(base_url=server.endpoint, headers={"X-Appwrite-Project": project}, timeout=30)
    email = f"first-{uuid.uuid4().hex[:8]}@example.com"
    first = guest.post("/account", json={"userId": "unique()", "email": email, "password": "Zq8-not-common-9x"})
    assert first.status_code == 201, first.text
    second = guest.post(
        "/account", json={"userId": "unique()", "email": "second-" + email, "password": "Zq8-not-common-9x"}
    )
    assert (second.status_code, second.json()["type"]) == (400, "user_count_exceeded")

    bad = console.post(
        f"/projects/{project}/auth/policies",
        {
            "user_limit": "0",
            "session_length": "1",
            "session_length_unit": "days",
            "sessions_limit": "0",
            "password_history": "0",
        },
        headers=referer(console, f"/projects/{project}/auth"),
    )
    assert "Value must be a valid range between 1 and 100" in followed_notice(console, bad)
    nan = console.post(
        f"/projects/{project}/auth/policies",
        {
            "user_limit": "many",
            "session_length": "1",
            "session_length_unit": "days",
            "sessions_limit": "5",
            "password_history": "0",
        },
    )
    assert "Users limit: a whole number" in followed_notice(console, nan)
    assert _policies(db, project).sessions_limit == 3

    # Methods: e-mail and password switched off (passkeys untouched), refused by the API.
    on = ["magic-url", "email-otp", "anonymous", "invites", "jwt", "phone"]
    methods = console.post(f"/projects/{project}/auth/methods", [("methods", m) for m in on])
    assert "Auth methods saved." in followed_notice(console, methods)
    found = _policies(db, project).methods
    assert dict(found) == {**dict.fromkeys(on, True), "email-password": False, "passkey": True}
    signed = guest.post("/account/sessions/email", json={"email": email, "password": "Zq8-not-common-9x"})
    assert (signed.status_code, signed.json()["type"]) == (501, "user_auth_method_unsupported")
    page = console.get(f"/projects/{project}/auth").text
    assert 'value="email-password">' in page and 'value="anonymous" checked>' in page

    # Passkeys: their own switch, the other methods untouched.
    off = console.post(f"/projects/{project}/auth/passkeys", {})
    assert "Passkeys off." in followed_notice(console, off)
    found = _policies(db, project).methods
    assert (found["passkey"], found["email-password"], found["anonymous"]) == (False, False, True)
    options = guest.post("/account/tokens/passkey", json={})
    assert (options.status_code, options.json()["type"]) == (501, "user_auth_method_unsupported")
    guest.close()

    rows = activity(console.get(f"/projects/{project}").text)
    assert rows.count((f"Administrator {console.email}", "project.update", f"project/{project}")) == 3
    for path in ("policies", "methods", "passkeys"):
        assert console.post(f"/projects/{project}/auth/{path}", {}, csrf=False).status_code == 403
