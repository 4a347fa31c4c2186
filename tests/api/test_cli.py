"""The `nib` command line against a running server: projects, keys, and the first-start banner."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from web_support import settled

from live_server import BACKENDS, create_pg_database, drop_pg_database, launch, stop_process

VERSION = "1.5.11"


def uid(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def call(server, method: str, path: str, *, project: str | None, key: str | None, **kwargs) -> httpx.Response:
    """Raw HTTP with exactly the auth headers given (None = header not sent)."""
    headers = {}
    if project is not None:
        headers["X-Appwrite-Project"] = project
    if key is not None:
        headers["X-Appwrite-Key"] = key
    headers.update(kwargs.pop("headers", {}))
    return httpx.request(method, server.endpoint + path, headers=headers, timeout=30, **kwargs)


def create_project(server, name: str = "Test project") -> str:
    project_id = uid("p")
    result = server.cli("projects", "create", project_id, "--name", name)
    assert result.stdout.strip().splitlines()[-1] == project_id
    return project_id


def create_key(server, project: str, scopes: str | None = None, name: str = "test key") -> str:
    args = ["keys", "create", "--project", project, "--name", name]
    if scopes is not None:
        args += ["--scopes", scopes]
    return server.cli(*args).stdout.strip().splitlines()[-1]


def assert_error(response: httpx.Response, status: int, type_: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert body["code"] == status
    assert body["type"] == type_
    assert body["version"] == VERSION
    if message is not None:
        assert body["message"] == message
    return body


GUEST_USERS_READ = "User (role: guests) missing scope (users.read)"


# -- projects -----------------------------------------------------------------------------------


def test_projects_create_and_list(server):
    project_id = uid("p")
    created = server.cli("projects", "create", project_id, "--name", "Listed Project")
    assert created.returncode == 0
    assert created.stdout.strip() == project_id

    listed = server.cli("projects", "list")
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [project_id, "Listed Project", "enabled"] in rows
    # the bootstrap project is there too
    assert ["default", "Default", "enabled"] in rows


def test_projects_create_duplicate_fails(server):
    project_id = create_project(server)
    again = server.cli("projects", "create", project_id, "--name", "Again", check=False)
    assert again.returncode != 0
    assert project_id in again.stderr
    assert "already exists" in again.stderr
    # the original is untouched
    rows = [line.split("\t") for line in server.cli("projects", "list").stdout.splitlines()]
    assert [r for r in rows if r[0] == project_id] == [[project_id, "Test project", "enabled"]]


def test_projects_create_invalid_id_fails(server):
    result = server.cli("projects", "create", "_bad", "--name", "Bad", check=False)
    assert result.returncode != 0
    assert "Invalid `projectId` param" in result.stderr


def test_projects_create_unique_generates_id(server):
    result = server.cli("projects", "create", "unique()", "--name", "Generated")
    generated = result.stdout.strip()
    assert len(generated) == 20 and all(c in "0123456789abcdef" for c in generated)
    rows = [line.split("\t") for line in server.cli("projects", "list").stdout.splitlines()]
    assert [generated, "Generated", "enabled"] in rows


def test_projects_disable_and_enable(server):
    project_id = create_project(server)
    key = create_key(server, project_id, "users.read")
    assert call(server, "GET", "/users", project=project_id, key=key).status_code == 200

    server.cli("projects", "disable", project_id)
    rows = [line.split("\t") for line in server.cli("projects", "list").stdout.splitlines()]
    assert [project_id, "Test project", "disabled"] in rows
    assert_error(
        settled(lambda: call(server, "GET", "/users", project=project_id, key=key), 401),
        401,
        "general_access_forbidden",
    )
    # guests of a disabled project are refused the same way
    assert_error(call(server, "GET", "/users", project=project_id, key=None), 401, "general_access_forbidden")

    server.cli("projects", "enable", project_id)
    rows = [line.split("\t") for line in server.cli("projects", "list").stdout.splitlines()]
    assert [project_id, "Test project", "enabled"] in rows
    response = settled(lambda: call(server, "GET", "/users", project=project_id, key=key), 200)
    assert response.status_code == 200
    assert response.json() == {"total": 0, "users": []}


def test_projects_disable_unknown_fails(server):
    result = server.cli("projects", "disable", uid("nope"), check=False)
    assert result.returncode != 0
    assert "project_not_found" in result.stderr


# -- keys ---------------------------------------------------------------------------------------


def test_keys_create_prints_secret_last_and_it_works(server):
    project_id = create_project(server)
    result = server.cli(
        "keys", "create", "--project", project_id, "--name", "Worker", "--scopes", "users.read,users.write"
    )
    lines = result.stdout.strip().splitlines()
    secret = lines[-1]
    assert secret.strip() == secret and " " not in secret and len(secret) >= 32
    assert "users.read" in result.stdout

    user_id = uid("u")
    created = call(server, "POST", "/users", project=project_id, key=secret, json={"userId": user_id, "name": "CLI"})
    assert created.status_code == 201, created.text
    assert created.json()["$id"] == user_id
    fetched = call(server, "GET", f"/users/{user_id}", project=project_id, key=secret)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "CLI"


def test_keys_create_json_prints_whole_object(server):
    project_id = create_project(server)
    result = server.cli(
        "keys", "create", "--project", project_id, "--name", "JSON key", "--scopes", "users.read,targets.read", "--json"
    )
    key = json.loads(result.stdout)
    assert key["name"] == "JSON key"
    assert key["scopes"] == ["users.read", "targets.read"]
    assert key["projectId"] == project_id
    assert len(key["$id"]) == 20
    assert isinstance(key["secret"], str) and key["secret"]
    # the secret from the JSON works
    response = call(server, "GET", "/users", project=project_id, key=key["secret"])
    assert response.status_code == 200
    # and has exactly the scopes given
    assert_error(
        call(server, "POST", "/users", project=project_id, key=key["secret"], json={"userId": "unique()"}),
        401,
        "general_unauthorized_scope",
        f"app.{project_id}@service.localhost (role: applications) missing scope (users.write)",
    )


def test_keys_create_default_scopes_are_all(server):
    project_id = create_project(server)
    key = json.loads(server.cli("keys", "create", "--project", project_id, "--name", "All", "--json").stdout)
    for scope in ("users.read", "users.write", "targets.read", "targets.write"):
        assert scope in key["scopes"]
    user_id = uid("u")
    assert (
        call(server, "POST", "/users", project=project_id, key=key["secret"], json={"userId": user_id}).status_code
        == 201
    )
    assert call(server, "GET", f"/users/{user_id}/targets", project=project_id, key=key["secret"]).status_code == 200


def test_keys_create_unknown_scope_or_project_fails(server):
    project_id = create_project(server)
    bad_scope = server.cli(
        "keys", "create", "--project", project_id, "--name", "x", "--scopes", "users.read,bogus.scope", check=False
    )
    assert bad_scope.returncode != 0
    assert "bogus.scope" in bad_scope.stderr
    no_project = server.cli("keys", "create", "--project", uid("nope"), "--name", "x", check=False)
    assert no_project.returncode != 0
    assert "project_not_found" in no_project.stderr


def test_keys_list_shows_key_without_secret(server):
    project_id = create_project(server)
    key = json.loads(
        server.cli(
            "keys", "create", "--project", project_id, "--name", "Listed", "--scopes", "users.read", "--json"
        ).stdout
    )
    listed = server.cli("keys", "list", "--project", project_id)
    assert key["secret"] not in listed.stdout
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows == [[key["$id"], "Listed", "users.read"]]


def test_keys_delete_then_key_is_a_guest(server):
    project_id = create_project(server)
    key = json.loads(
        server.cli(
            "keys", "create", "--project", project_id, "--name", "Doomed", "--scopes", "users.read", "--json"
        ).stdout
    )
    assert call(server, "GET", "/users", project=project_id, key=key["secret"]).status_code == 200

    server.cli("keys", "delete", key["$id"], "--project", project_id)
    assert server.cli("keys", "list", "--project", project_id).stdout.strip() == ""
    assert_error(
        settled(lambda: call(server, "GET", "/users", project=project_id, key=key["secret"]), 401),
        401,
        "general_unauthorized_scope",
        GUEST_USERS_READ,
    )
    again = server.cli("keys", "delete", key["$id"], "--project", project_id, check=False)
    assert again.returncode != 0


def test_keys_delete_other_project_does_not_delete(server):
    project_a = create_project(server)
    project_b = create_project(server)
    key = json.loads(
        server.cli("keys", "create", "--project", project_a, "--name", "A", "--scopes", "users.read", "--json").stdout
    )
    wrong = server.cli("keys", "delete", key["$id"], "--project", project_b, check=False)
    assert wrong.returncode != 0
    assert call(server, "GET", "/users", project=project_a, key=key["secret"]).status_code == 200


# -- first-start banner -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_start_prints_one_key_and_second_start_none(backend, tmp_path):
    pg_name = create_pg_database() if backend == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    try:
        process, lines, endpoint = launch(tmp_path, url)
        try:
            key_lines = [line for line in lines if line.strip().startswith("key:")]
            assert len(key_lines) == 1, lines
            secret = key_lines[0].split()[-1]
            assert sum(line.count(secret) for line in lines) == 1, "the secret is printed exactly once"
            assert any(line.strip() == f"endpoint: {endpoint}" for line in lines), lines
            assert any(line.strip().split() == ["project:", "default"] for line in lines), lines
            usage = [line for line in lines if "set_endpoint" in line]
            assert len(usage) == 1, lines
            assert endpoint in usage[0] and "set_project('default')" in usage[0] and "set_key(" in usage[0]
            assert lines[-1].startswith(f"nib serving {endpoint}")

            headers = {"X-Appwrite-Project": "default", "X-Appwrite-Key": secret}
            user_id = uid("u")
            created = httpx.post(f"{endpoint}/users", json={"userId": user_id}, headers=headers, timeout=30)
            assert created.status_code == 201, created.text
        finally:
            stop_process(process)

        process, lines, endpoint = launch(tmp_path, url)
        try:
            assert not [line for line in lines if line.strip().startswith("key:")], lines
            assert secret not in "\n".join(lines)
            assert not [line for line in lines if "set_key" in line], lines
            assert lines[-1].startswith(f"nib serving {endpoint}")
            # the first key and the data survive the restart
            headers = {"X-Appwrite-Project": "default", "X-Appwrite-Key": secret}
            fetched = httpx.get(f"{endpoint}/users/{user_id}", headers=headers, timeout=30)
            assert fetched.status_code == 200, fetched.text
            assert fetched.json()["$id"] == user_id
        finally:
            stop_process(process)
    finally:
        if pg_name:
            drop_pg_database(pg_name)
