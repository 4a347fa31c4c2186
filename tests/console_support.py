"""Signing in to a live nib's web console from a test: an administrator made through
`nib admins create`, and an httpx client holding the console session and its CSRF token."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

import httpx
import sqlalchemy as sa

from live_server import NibServer
from nib.data.db import Database
from nib.data.db.schema import audit_logs

PASSWORD = "console-password-1"
XSS = "<img src=x onerror=alert(1)>"  # a name that must reach every page as text
_CSRF = re.compile(r'<meta name="csrf" content="([0-9a-f]*)">')


def create_admin(nib: NibServer, email: str | None = None, password: str = PASSWORD, name: str = "") -> str:
    """A new console administrator of ``nib`` (password on stdin, as a script would); its e-mail."""
    email = email or f"admin-{uuid.uuid4().hex[:10]}@example.com"
    command = [sys.executable, "-m", "nib", "admins", "create", email, "--name", name, *nib.storage_args()]
    subprocess.run(command, input=password + "\n", capture_output=True, text=True, check=True, timeout=120)
    return email


def origin(nib: NibServer) -> str:
    return nib.endpoint.removesuffix("/v1")


@dataclass
class Console:
    """An administrator's browser, as far as HTTP goes: ``client`` keeps the session cookie."""

    nib: NibServer
    client: httpx.Client
    email: str
    csrf: str

    def get(self, path: str, **kwargs) -> httpx.Response:
        """GET /console<path>, following redirects."""
        return self.client.get("/console" + path, follow_redirects=True, **kwargs)

    def post(self, path: str, data: dict | list | None = None, *, csrf: bool = True, **kwargs) -> httpx.Response:
        """POST a form to /console<path> with the session's CSRF token; the redirect is not
        followed (its Location and the notice cookie are what a test asserts). ``data``: a dict
        (a list value repeats the field) or (name, value) pairs."""
        pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            pairs.append(("csrf", self.csrf))
        fields: dict[str, list[str]] = {}
        for name, value in pairs:
            fields.setdefault(name, []).extend(value if isinstance(value, list) else [value])
        return self.client.post("/console" + path, data=fields, **kwargs)

    def api(self, method: str, path: str, project: str, *, csrf: bool = True, **kwargs) -> httpx.Response:
        """The REST API in admin mode, as the console's scripts call it."""
        headers = {"X-Appwrite-Project": project, "X-Appwrite-Mode": "admin", **kwargs.pop("headers", {})}
        if csrf:
            headers["X-Nib-Csrf"] = self.csrf
        return self.client.request(method, "/v1" + path, headers=headers, **kwargs)


def sign_in(nib: NibServer, email: str | None = None, password: str = PASSWORD) -> Console:
    """A signed-in console session (a new administrator unless ``email`` is given)."""
    email = email or create_admin(nib, password=password)
    client = httpx.Client(base_url=origin(nib), timeout=30)
    answer = client.post("/console/login", data={"email": email, "password": password})
    assert answer.status_code == 303, answer.text
    page = client.get("/console/projects")
    found = _CSRF.search(page.text)
    assert found and found.group(1), page.text
    return Console(nib, client, email, found.group(1))


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html
    return found.group(1)


def notice(response: httpx.Response) -> str:
    """The one-shot notice a POST's redirect carries (a cookie), as text; "" without one."""
    raw = response.cookies.get("nib_console_notice")
    return json.loads(unquote(raw))["text"] if raw else ""


def audited(db: Database, project: str, event: str, resource: str) -> list[dict]:
    """The audit entries of ``event`` on ``resource`` in ``project``, oldest first."""
    query = (
        sa.select(audit_logs)
        .where(audit_logs.c.project_id == project, audit_logs.c.event == event, audit_logs.c.resource == resource)
        .order_by(audit_logs.c.seq)
    )
    with db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def assert_forms_carry_the_token(page: str, console: Console) -> None:
    """Every form of the page holds the session's CSRF token (a browser sends only those)."""
    tokens = re.findall(r'name="csrf" value="([^"]*)"', page)
    assert len(tokens) > 1 and set(tokens) == {console.csrf}
