"""Who may use the console, and how it is protected: the first administrator's set-up link,
`nib admins`, sign-in (rate limited, failures audited), sessions and their cookie, CSRF, the
Content-Security-Policy, the REST API's admin mode for the console's scripts, `--console off`."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from console_support import PASSWORD, create_admin, origin, sign_in
from live_server import NibServer
from nib.auth import admins
from nib.data.db import Database


def _audit(nib: NibServer, project: str, event: str) -> list[dict]:
    url = nib.database_url.replace("postgresql://", "postgresql+psycopg://") if nib.database_url else None
    engine = sa.create_engine(url or f"sqlite:///{nib.data_dir / 'nib.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT * FROM audit_logs WHERE project_id = :p AND event = :e ORDER BY seq"),
                {"p": project, "e": event},
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def _setup_link(nib: NibServer) -> str:
    links = [line.strip() for line in nib.banner if "/console/setup?token=" in line]
    assert len(links) == 1, nib.banner
    return links[0]


def test_first_start_prints_a_one_time_setup_link_that_creates_the_first_administrator(nib_with):
    nib = nib_with()
    link = _setup_link(nib)
    assert link.startswith(origin(nib) + "/console/setup?token=")
    client = httpx.Client(timeout=30)
    form = client.get(link)
    assert form.status_code == 200
    assert 'name="token"' in form.text

    token = link.split("token=")[1]
    mismatch = client.post(
        origin(nib) + "/console/setup",
        data={"token": token, "email": "first@example.com", "password": PASSWORD, "confirm": "other-password"},
    )
    assert mismatch.status_code == 400 and "The passwords differ." in mismatch.text
    bad = client.post(
        origin(nib) + "/console/setup",
        data={"token": token, "email": "not-an-email", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert bad.status_code == 400

    done = client.post(
        origin(nib) + "/console/setup",
        data={"token": token, "email": "First@Example.com", "name": "First", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/console/"
    assert "nib_console" in done.cookies
    projects = client.get(origin(nib) + "/console/projects")
    assert projects.status_code == 200 and "first@example.com" in projects.text

    # Used: the link is dead, for this client and any other.
    again = httpx.get(link)
    assert again.status_code == 401 and "invalid, expired or already used" in again.text
    reuse = httpx.post(
        origin(nib) + "/console/setup",
        data={"token": token, "email": "second@example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert reuse.status_code == 401
    listed = nib.cli("admins", "list").stdout.splitlines()
    assert [line.split("\t")[1] for line in listed] == ["first@example.com"]
    assert _audit(nib, "console", "admin.create")[0]["user_email"] == "first@example.com"


def test_a_wrong_setup_token_is_refused(nib_with):
    nib = nib_with()
    answer = httpx.get(origin(nib) + "/console/setup", params={"token": "0" * 48})
    assert answer.status_code == 401
    assert httpx.get(origin(nib) + "/console/setup").status_code == 401


def test_nib_admins_create_list_delete_reads_the_password_from_stdin_only(server):
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    command = [sys.executable, "-m", "nib", "admins", "create", email, "--name", "Cli", *server.storage_args()]
    created = subprocess.run(command, input="short\n", capture_output=True, text=True, timeout=60)
    assert created.returncode == 1 and "Password must be between 8 and 256 characters long." in created.stderr
    assert create_admin(server, email=email, name="Cli") == email
    duplicate = subprocess.run(command, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    # There is no way to pass a password as an argument.
    help_text = server.cli("admins", "create", "--help").stdout
    assert "--password" not in help_text and "standard input" in " ".join(help_text.split())

    console = sign_in(server, email)
    rows = [line.split("\t") for line in server.cli("admins", "list").stdout.splitlines()]
    assert [email, "Cli"] in [row[1:] for row in rows]
    admin_id = next(row[0] for row in rows if row[1] == email)

    assert server.cli("admins", "delete", email.upper()).stdout.strip() == f"deleted {email}"
    # Deleted: their session is gone with them.
    assert console.client.get("/console/projects").status_code == 303
    assert admin_id not in server.cli("admins", "list").stdout
    missing = server.cli("admins", "delete", email, check=False)
    assert missing.returncode == 1 and "No administrator" in missing.stderr


def test_sign_in_failures_are_refused_alike_and_audited(server):
    email = create_admin(server)
    client = httpx.Client(base_url=origin(server), timeout=30)
    wrong = client.post("/console/login", data={"email": email, "password": "wrong-password"})
    unknown = client.post("/console/login", data={"email": "nobody-" + email, "password": PASSWORD})
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "Wrong e-mail or password." in answer.text
        assert "nib_console" not in answer.cookies
    failures = [row for row in _audit(server, "console", "session.failed") if row["user_email"] == email]
    assert len(failures) == 1 and failures[0]["ip"] == "127.0.0.1"
    assert failures[0]["resource"] == f"email/{email}"

    good = client.post("/console/login", data={"email": email, "password": PASSWORD, "next": "/console/projects"})
    assert good.status_code == 303 and good.headers["location"] == "/console/projects"
    created = [row for row in _audit(server, "console", "session.create") if row["user_email"] == email]
    assert len(created) == 1 and created[0]["user_type"] == "admin" and created[0]["mode"] == "admin"


def test_sign_in_is_rate_limited_per_address_and_email(nib_with):
    nib = nib_with(NIB_RATE_LIMITS="on")
    client = httpx.Client(base_url=origin(nib), timeout=30)
    # Fixed ten-minute windows: a run that straddles a window's end starts again, with a fresh
    # e-mail, in the new one.
    while True:
        email = create_admin(nib)
        window = time.time() // 600
        codes = [
            client.post("/console/login", data={"email": email, "password": "wrong-password"}).status_code
            for _ in range(11)
        ]
        if time.time() // 600 == window:
            break
    assert codes == [401] * 10 + [429]
    # Even the right password waits out the window.
    blocked = client.post("/console/login", data={"email": email, "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.text
    # Another e-mail from the same address still may.
    other = create_admin(nib)
    assert client.post("/console/login", data={"email": other, "password": PASSWORD}).status_code == 303


def test_the_session_cookie_is_httponly_strict_and_secure_under_https(server):
    email = create_admin(server)
    plain = httpx.post(origin(server) + "/console/login", data={"email": email, "password": PASSWORD})
    cookie = plain.headers["set-cookie"]
    assert cookie.startswith("nib_console=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    https = httpx.post(
        origin(server) + "/console/login",
        data={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" in https.headers["set-cookie"]


def test_pages_need_a_session_and_forms_need_the_csrf_token(server):
    anonymous = httpx.get(origin(server) + "/console/projects")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/console/login?next=/console/projects"
    assert httpx.post(origin(server) + "/console/projects", data={"name": "x"}).status_code == 401

    console = sign_in(server)
    # Every form of a page carries the session's token, the one its <meta> names too.
    page = console.get("/projects").text
    assert f'<input type="hidden" name="csrf" value="{console.csrf}">' in page
    assert page.count(console.csrf) >= 3  # meta, sign-out, new project
    project = f"csrf-{uuid.uuid4().hex[:8]}"
    refused = console.post("/projects", {"name": "No token", "project_id": project}, csrf=False)
    assert refused.status_code == 403 and "did not come from the console" in refused.text
    forged = console.post("/projects", {"name": "Forged", "project_id": project, "csrf": "0" * 64}, csrf=False)
    assert forged.status_code == 403
    assert project not in server.cli("projects", "list").stdout

    made = console.post("/projects", {"name": "With token", "project_id": project})
    assert made.status_code == 303 and made.headers["location"] == f"/console/projects/{project}"
    assert f"{project}\tWith token\tenabled" in server.cli("projects", "list").stdout
    entry = [row for row in _audit(server, project, "project.create")]
    assert entry and entry[0]["user_email"] == console.email and entry[0]["resource"] == f"project/{project}"

    signed_out = console.post("/logout")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/login"
    assert console.client.get("/console/projects").status_code == 303


def test_every_answer_carries_a_strict_content_security_policy(server):
    console = sign_in(server)
    for answer in (console.get("/projects"), httpx.get(origin(server) + "/console/login")):
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        # No inline script or style the policy would have to allow.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", answer.text)
        assert " style=" not in answer.text and "<style" not in answer.text
    script = httpx.get(origin(server) + "/console/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_names_are_rendered_as_text_never_as_markup(server):
    console = sign_in(server)
    project = f"xss-{uuid.uuid4().hex[:8]}"
    hostile = "<img src=x onerror=alert(1)>"
    assert console.post("/projects", {"name": hostile, "project_id": project}).status_code == 303
    page = console.get("/projects")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<img src=x" not in page.text


def test_the_console_scripts_call_the_rest_api_in_admin_mode(server):
    console = sign_in(server)
    project = f"admin-{uuid.uuid4().hex[:8]}"
    console.post("/projects", {"name": "Admin mode", "project_id": project})

    assert console.api("GET", "/users", project).json() == {"total": 0, "users": []}
    refused = console.api("POST", "/users", project, csrf=False, json={"userId": "unique()", "email": "a@example.com"})
    assert refused.status_code == 401 and refused.json()["type"] == "general_unauthorized_scope"
    elsewhere = console.api("GET", "/users", project, headers={"Origin": "http://localhost:5173"})
    assert elsewhere.status_code == 403 and elsewhere.json()["type"] == "general_unknown_origin"
    created = console.api("POST", "/users", project, json={"userId": "unique()", "email": "a@example.com"})
    assert created.status_code == 201
    user_id = created.json()["$id"]
    entry = _audit(server, project, "user.create")
    assert entry[0]["user_type"] == "admin" and entry[0]["mode"] == "admin"
    assert entry[0]["user_email"] == console.email and entry[0]["resource"] == f"user/{user_id}"

    # A GET may say so in its query string (image and download URLs cannot send headers).
    listed = console.client.get("/v1/users", params={"project": project, "mode": "admin"})
    assert listed.json()["total"] == 1
    # Without the session, admin mode is nothing.
    anonymous = httpx.get(
        server.endpoint + "/users", headers={"X-Appwrite-Project": project, "X-Appwrite-Mode": "admin"}
    )
    assert anonymous.status_code == 401
    # Signed out: the same cookie no longer works.
    console.post("/logout")
    stale = console.api("GET", "/users", project)
    assert stale.status_code == 401


def test_console_off_serves_no_console_and_prints_no_link(nib_with):
    nib = nib_with(NIB_CONSOLE="off")
    assert not [line for line in nib.banner if "/console/setup" in line]
    answer = httpx.get(origin(nib) + "/console/login")
    assert answer.status_code == 404 and answer.json()["type"] == "general_route_not_found"
    # A live administrator's session (one made while the console was on) opens nothing either.
    email = create_admin(nib)
    url = nib.database_url.replace("postgresql://", "postgresql+psycopg://") if nib.database_url else None
    db = Database(url or f"sqlite:///{nib.data_dir / 'nib.db'}")
    secret, _ = admins.sign_in(db, email=email, password=PASSWORD, ip="127.0.0.1")
    db.dispose()
    headers = {"X-Appwrite-Project": "default", "X-Appwrite-Mode": "admin", "Cookie": f"nib_console={secret}"}
    refused = httpx.get(nib.endpoint + "/users", headers=headers)
    assert refused.status_code == 401 and refused.json()["type"] == "general_unauthorized_scope"


@pytest.mark.parametrize("path", ["/console", "/console/"])
def test_the_console_root_leads_to_the_projects(server, path):
    console = sign_in(server)
    answer = console.client.get(path, follow_redirects=True)
    assert answer.status_code == 200 and str(answer.url).endswith("/console/projects")
