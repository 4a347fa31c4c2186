"""Shared helpers of the OAuth2 tests: a nib with the mock provider on, a project with a provider
configured through `nib providers`, and a browser that walks the redirects by hand."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest

from live_server import BACKENDS, NibServer, create_pg_database, drop_pg_database, start_server, stop_server

APP = "http://localhost/app"  # the app's pages: never fetched, only checked
OK, FAIL = APP + "/ok", APP + "/fail"


def nib_fixture():
    """A module fixture: one nib per backend with the mock provider served (rate limits off)."""

    @pytest.fixture(scope="module", params=BACKENDS)
    def oauth_nib(request, tmp_path_factory) -> NibServer:
        pg_name = create_pg_database() if request.param == "postgresql" else None
        url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
        env = {"NIB_OAUTH2_MOCK": "on", "NIB_RATE_LIMITS": "off"}
        nib = start_server(request.param, tmp_path_factory.mktemp(f"oauth-{request.param}"), url, env=env)
        yield nib
        stop_server(nib)
        if pg_name:
            drop_pg_database(pg_name)

    return oauth_nib


def nib_cli(nib: NibServer, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nib", *args, *nib.storage_args()]
    return subprocess.run(command, capture_output=True, text=True, input=stdin, timeout=120)


def new_project(nib: NibServer) -> str:
    project = f"o{uuid.uuid4().hex[:16]}"
    nib.cli("projects", "create", project, "--name", "OAuth2")
    return project


def set_provider(nib: NibServer, project: str, provider: str, app_id: str, secret: str, *extra: str) -> None:
    done = nib_cli(
        nib,
        "providers",
        "set",
        "--project",
        project,
        provider,
        "--app-id",
        app_id,
        "--secret-file",
        "-",
        *extra,
        stdin=secret,
    )
    assert done.returncode == 0, done.stderr


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def error_of(url: str) -> dict:
    """The error a failure redirect carries."""
    return orjson.loads(query(url)["error"])


@dataclass
class Browser:
    """Follows redirects by hand with a cookie jar, stopping at the app's pages (``APP``)."""

    nib: NibServer
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30, follow_redirects=False))
    hops: list[httpx.Response] = field(default_factory=list)

    def start(self, provider: str, project: str, *, flow: str = "sessions", **params: str) -> str:
        response = self.http.get(
            f"{self.nib.endpoint}/account/{flow}/oauth2/{provider}", params={"project": project, **params}
        )
        self.hops.append(response)
        assert response.status_code == 301, response.text
        return self.follow(response.headers["location"])

    def follow(self, location: str) -> str:
        """Where the redirects from ``location`` end: an app URL (not fetched)."""
        while not location.startswith(APP):
            response = self.http.get(location)
            self.hops.append(response)
            if response.status_code not in (301, 302):
                return location
            location = response.headers["location"]
        return location

    @property
    def last(self) -> httpx.Response:
        return self.hops[-1]

    def session_cookie(self, project: str) -> str:
        return self.http.cookies[f"a_session_{project}"]

    def close(self) -> None:
        self.http.close()


def signed_in(nib: NibServer, project: str, session: str) -> httpx.Client:
    """Raw HTTP as the app, with the session a sign-in gave."""
    headers = {"X-Appwrite-Project": project, "X-Appwrite-Session": session}
    return httpx.Client(base_url=nib.endpoint, headers=headers, timeout=30)


def admin(nib: NibServer, project: str) -> httpx.Client:
    """Raw HTTP with a fresh all-scopes key of the project."""
    key = nib.cli("keys", "create", "--project", project, "--name", "k").stdout.strip().splitlines()[-1]
    return httpx.Client(
        base_url=nib.endpoint, headers={"X-Appwrite-Project": project, "X-Appwrite-Key": key}, timeout=30
    )
