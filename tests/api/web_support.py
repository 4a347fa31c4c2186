"""Helpers for browser-facing tests: projects with web platforms (made with the `nib` command
line, as an operator would) and raw requests carrying an Origin."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx


def uid(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def new_project(server, *hostnames: str) -> str:
    """A fresh project with these web platforms."""
    project_id = uid("p")
    server.cli("projects", "create", project_id, "--name", "Web project")
    for hostname in hostnames:
        server.cli("platforms", "add", "--project", project_id, "--hostname", hostname)
    return project_id


def new_key(server, project_id: str) -> str:
    """An API key with every scope for the project (its secret is the CLI's last line)."""
    return server.cli("keys", "create", "--project", project_id, "--name", "web").stdout.strip().splitlines()[-1]


def browser_call(
    server, method: str, path: str, *, project: str, origin: str | None = None, key: str | None = None, **kwargs
) -> httpx.Response:
    """Raw HTTP as a page would send it: an Origin, a project, and an API key only if given."""
    headers = {"X-Appwrite-Project": project, **kwargs.pop("headers", {})}
    if origin is not None:
        headers["Origin"] = origin
    if key is not None:
        headers["X-Appwrite-Key"] = key
    return httpx.request(method, server.endpoint + path, headers=headers, timeout=30, **kwargs)


def settled(request: Callable[[], httpx.Response], status: int, timeout: float = 5.0) -> httpx.Response:
    """Repeat ``request()`` until it answers ``status``: projects, keys and platforms are cached
    per process for ``nib.auth.principals.CACHE_SECONDS``, so a change takes effect within that time."""
    deadline = time.monotonic() + timeout
    while True:
        response = request()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)
