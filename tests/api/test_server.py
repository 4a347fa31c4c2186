"""The foundation against a live server: project/key resolution, health, errors and routing,
parameter sources and validation, IDs, and per-endpoint scopes."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.services.users import Users
from users_support import fresh_project
from web_support import settled

from live_server import PG_AVAILABLE, create_pg_database, drop_pg_database, start_server, stop_server

VERSION = "1.5.11"
JSON_TYPE = "application/json; charset=UTF-8"
NO_CACHE = "no-cache, no-store, must-revalidate"

ROUTE_NOT_FOUND = "The requested route was not found. Please refer to the API docs and try again."
PROJECT_NOT_FOUND = (
    "Project with the requested ID could not be found. Please check the value of the X-Appwrite-Project "
    "header to ensure the correct project ID is being used."
)
NO_PROJECT = "No Appwrite project was specified. Please specify your project ID when initializing your Appwrite SDK."
CONSOLE = (
    "This endpoint is not available for the console project. The Appwrite Console is a reserved project ID "
    "and cannot be used with the Appwrite SDKs and APIs. Please check if your project ID is correct."
)
UID_DESCRIPTION = (
    "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore. "
    "Can't start with a leading underscore"
)
CUSTOM_ID_DESCRIPTION = (
    "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. "
    "Can't start with a special char"
)
EMAIL_DESCRIPTION = "Value must be a valid email address"
PHONE_DESCRIPTION = "Phone number must start with a '+' can have a maximum of fifteen digits."
NEW_PASSWORD_DESCRIPTION = (
    "Password must be between 8 and 265 characters long, and should not be one of the commonly used password."
)
PASSWORD_DESCRIPTION = "Password must be between 8 and 256 characters long."
NAME_DESCRIPTION = "Value must be a valid string and at least 1 chars and no longer than 128 chars"
BOOLEAN_DESCRIPTION = "Value must be a valid boolean"
USER_NOT_FOUND = "User with the requested ID could not be found."
ERROR_TYPES = set(orjson.loads((Path(__file__).parents[2] / "src/nib/tools/errors.json").read_bytes()))


def uid(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def call(server, method: str, path: str, *, project: str | None = "", key: str | None = "", **kwargs) -> httpx.Response:
    """Raw HTTP. project/key: "" = the server's default, None = header not sent, else that value."""
    headers = {}
    project = server.project if project == "" else project
    key = server.key if key == "" else key
    if project is not None:
        headers["X-Appwrite-Project"] = project
    if key is not None:
        headers["X-Appwrite-Key"] = key
    headers.update(kwargs.pop("headers", {}))
    return httpx.request(method, server.endpoint + path, headers=headers, timeout=30, **kwargs)


def assert_error(response: httpx.Response, status: int, type_: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert body["code"] == status
    assert body["type"] == type_
    assert body["version"] == VERSION
    assert set(body) == {"message", "code", "type", "version"}
    if message is not None:
        assert body["message"] == message
    return body


def assert_invalid(response: httpx.Response, message: str) -> None:
    assert_error(response, 400, "general_argument_invalid", message)


def contact() -> dict:
    """A fresh email and phone, so users in the shared project never collide on them."""
    return {"email": f"{uid()}@example.com", "phone": "+1" + str(uuid.uuid4().int)[:13]}


def create_user(server, **fields) -> dict:
    fields = {"userId": uid("u"), **contact(), **fields}
    response = call(server, "POST", "/users", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


_KEYS: dict[tuple, str] = {}
_PROJECTS: dict[tuple, tuple[str, str]] = {}


def scoped_key(server, scopes: str, project: str | None = None) -> str:
    """A key with exactly these scopes (created once per server/project/scopes via the CLI)."""
    project = project or server.project
    cache_key = (server.endpoint, project, scopes)
    if cache_key not in _KEYS:
        result = server.cli("keys", "create", "--project", project, "--name", f"scoped {scopes}", "--scopes", scopes)
        _KEYS[cache_key] = result.stdout.strip().splitlines()[-1]
    return _KEYS[cache_key]


def other_project(server) -> tuple[str, str]:
    """A second project ("B") with a full key, shared by the isolation tests."""
    if server.endpoint not in _PROJECTS:
        project = uid("b")
        server.cli("projects", "create", project, "--name", "Project B")
        key = server.cli("keys", "create", "--project", project, "--name", "B key").stdout.strip().splitlines()[-1]
        _PROJECTS[server.endpoint] = (project, key)
    return _PROJECTS[server.endpoint]


def missing_scope(project: str, scope: str) -> str:
    return f"app.{project}@service.localhost (role: applications) missing scope ({scope})"


# -- 3. project and key resolution ---------------------------------------------------------------


def test_key_of_project_a_is_a_guest_in_project_b(server):
    project_b, _ = other_project(server)
    assert_error(
        call(server, "GET", f"/users/{uid()}", project=project_b, key=server.key),
        401,
        "general_unauthorized_scope",
        "User (role: guests) missing scope (users.read)",
    )
    assert_error(
        call(server, "POST", "/users", project=project_b, key=server.key, json={"userId": uid()}),
        401,
        "general_unauthorized_scope",
        "User (role: guests) missing scope (users.write)",
    )


def test_users_are_isolated_per_project(server):
    project_b, key_b = other_project(server)
    user = create_user(server, email=f"{uid()}@example.com")
    assert_error(
        call(server, "GET", f"/users/{user['$id']}", project=project_b, key=key_b),
        404,
        "user_not_found",
        USER_NOT_FOUND,
    )
    assert_error(call(server, "DELETE", f"/users/{user['$id']}", project=project_b, key=key_b), 404, "user_not_found")
    listed = call(server, "GET", "/users", project=project_b, key=key_b, params={"search": user["$id"]})
    assert listed.status_code == 200
    assert user["$id"] not in [u["$id"] for u in listed.json()["users"]]
    # IDs and emails are unique per project only
    same = {"userId": user["$id"], "email": user["email"], "phone": user["phone"]}
    again = call(server, "POST", "/users", project=project_b, key=key_b, json=same)
    assert again.status_code == 201, again.text
    assert again.json()["$id"] == user["$id"]
    # and A's user is still A's, unchanged
    assert call(server, "GET", f"/users/{user['$id']}").json()["$createdAt"] == user["$createdAt"]


def test_missing_project_header_is_forbidden(server):
    assert_error(call(server, "GET", "/users", project=None), 401, "general_access_forbidden", NO_PROJECT)
    assert_error(call(server, "GET", "/users", project=None, key=None), 401, "general_access_forbidden", NO_PROJECT)
    empty = httpx.get(server.endpoint + "/users", headers={"X-Appwrite-Project": "", "X-Appwrite-Key": server.key})
    assert_error(empty, 401, "general_access_forbidden", NO_PROJECT)


def test_console_project_is_forbidden(server):
    assert_error(call(server, "GET", "/users", project="console"), 401, "general_access_forbidden", CONSOLE)
    assert_error(
        call(server, "POST", "/users", project="console", json={"userId": uid()}),
        401,
        "general_access_forbidden",
        CONSOLE,
    )


def test_unknown_project_is_404(server):
    assert_error(call(server, "GET", "/users", project=uid("nope")), 404, "project_not_found", PROJECT_NOT_FOUND)
    assert_error(
        call(server, "GET", "/users", project=uid("nope"), key=None), 404, "project_not_found", PROJECT_NOT_FOUND
    )


def test_project_query_param_is_an_alternative_to_the_header(server):
    user = create_user(server)
    response = call(server, "GET", f"/users/{user['$id']}", project=None, params={"project": server.project})
    assert response.status_code == 200, response.text
    assert response.json()["$id"] == user["$id"]


def test_disabled_project_is_forbidden(server):
    project = uid("d")
    server.cli("projects", "create", project, "--name", "Disabled")
    key = server.cli("keys", "create", "--project", project, "--name", "k").stdout.strip().splitlines()[-1]
    assert call(server, "GET", "/users", project=project, key=key).status_code == 200
    server.cli("projects", "disable", project)
    assert_error(
        settled(lambda: call(server, "GET", "/users", project=project, key=key), 401), 401, "general_access_forbidden"
    )
    assert_error(
        call(server, "POST", "/users", project=project, key=key, json={"userId": uid()}),
        401,
        "general_access_forbidden",
    )


def test_missing_or_invalid_key_is_a_guest(server):
    guest = "User (role: guests) missing scope (users.read)"
    assert_error(call(server, "GET", "/users", key=None), 401, "general_unauthorized_scope", guest)
    assert_error(call(server, "GET", "/users", key="nib_not_a_real_key"), 401, "general_unauthorized_scope", guest)
    empty = httpx.get(server.endpoint + "/users", headers={"X-Appwrite-Project": server.project, "X-Appwrite-Key": ""})
    assert_error(empty, 401, "general_unauthorized_scope", guest)
    assert_error(
        call(server, "POST", "/users", key=None, json={"userId": uid()}),
        401,
        "general_unauthorized_scope",
        "User (role: guests) missing scope (users.write)",
    )


def test_scope_check_comes_before_parameter_validation(server):
    # a guest asking for an invalid ID gets the scope error, not the 400 (Appwrite checks scopes first)
    assert_error(
        call(server, "GET", "/users/_invalid", key=None),
        401,
        "general_unauthorized_scope",
        "User (role: guests) missing scope (users.read)",
    )
    read_only = scoped_key(server, "users.read")
    assert_error(
        call(server, "POST", "/users", key=read_only, json={"userId": "-invalid"}),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "users.write"),
    )


def test_key_without_users_write_cannot_create(server):
    read_only = scoped_key(server, "users.read")
    assert_error(
        call(server, "POST", "/users", key=read_only, json={"userId": uid()}),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "users.write"),
    )


def test_sdk_sees_appwrite_errors(server):
    users = Users(server.sdk(key=scoped_key(server, "users.read")))
    with pytest.raises(AppwriteException) as error:
        users.create(ID.unique(), name="nope")
    assert error.value.code == 401
    assert error.value.type == "general_unauthorized_scope"
    assert error.value.message == missing_scope(server.project, "users.write")
    with pytest.raises(AppwriteException) as error:
        users.get(uid("missing"))
    assert (error.value.code, error.value.type, error.value.message) == (404, "user_not_found", USER_NOT_FOUND)


# -- 4. health ----------------------------------------------------------------------------------


def test_health_passes(server):
    response = call(server, "GET", "/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert body["status"] == "pass"
    assert isinstance(body["ping"], int) and body["ping"] >= 0
    assert isinstance(body["name"], str)


def test_health_needs_no_project(server):
    response = httpx.get(server.endpoint + "/health", timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "pass"


@pytest.mark.skipif(not PG_AVAILABLE, reason="needs PostgreSQL")
def test_health_is_503_when_the_database_is_gone(tmp_path):
    name = create_pg_database()
    nib = start_server("postgresql", tmp_path, f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        user = create_user(nib)
        drop_pg_database(name)

        health = call(nib, "GET", "/health")
        body = assert_error(health, 503, health.json().get("type", "?"))
        assert body["type"] in ERROR_TYPES  # an Appwrite error type, not a traceback
        assert body["message"]
        assert "Traceback" not in health.text

        # Other endpoints must not leak a traceback either; they answer an Appwrite-shaped error.
        for method, path, kwargs in (
            ("GET", "/users", {}),
            ("GET", f"/users/{user['$id']}", {}),
            ("POST", "/users", {"json": {"userId": uid()}}),
            ("GET", "/nowhere", {}),
        ):
            response = call(nib, method, path, **kwargs)
            # an unknown route may still be answered (the key's principal can be cached for ~1 s)
            allowed = (404, 503) if path == "/nowhere" else (503,)
            assert response.status_code in allowed, (path, response.status_code, response.text)
            assert response.headers["content-type"] == JSON_TYPE
            assert "Traceback" not in response.text
            body = response.json()
            assert set(body) == {"message", "code", "type", "version"}
            assert body["version"] == VERSION
            assert body["code"] == response.status_code
            if response.status_code == 500:
                assert body == {"message": "Server Error", "code": 500, "type": "general_unknown", "version": VERSION}

        # the process survives
        assert nib.process.poll() is None
        assert call(nib, "GET", "/health").status_code == 503
    finally:
        stop_server(nib)
        drop_pg_database(name)


# -- 5. errors and routing ----------------------------------------------------------------------


def test_unknown_route_is_404(server):
    for path in ("/nowhere", "/users/abc/nothing/here", "/v2/users"):
        response = call(server, "GET", path)
        assert_error(response, 404, "general_route_not_found", ROUTE_NOT_FOUND)
    # no auth needed to learn a route does not exist
    assert_error(call(server, "GET", "/nowhere", key=None), 404, "general_route_not_found", ROUTE_NOT_FOUND)
    assert_error(call(server, "POST", "/nowhere", key=None, json={}), 404, "general_route_not_found", ROUTE_NOT_FOUND)
    # an unknown project is reported first
    assert_error(call(server, "GET", "/nowhere", project=uid("nope")), 404, "project_not_found", PROJECT_NOT_FOUND)


def test_unknown_path_outside_v1_is_404(server):
    root = server.endpoint.removesuffix("/v1")
    response = httpx.get(root + "/nowhere", headers={"X-Appwrite-Project": server.project}, timeout=30)
    assert_error(response, 404, "general_route_not_found", ROUTE_NOT_FOUND)


def test_wrong_method_on_existing_path_is_404(server):
    user = create_user(server)
    for method, path in (
        ("PATCH", "/users"),
        ("PUT", f"/users/{user['$id']}"),
        ("POST", "/health"),
        ("GET", f"/users/{user['$id']}/labels"),
    ):
        assert_error(call(server, method, path, json={}), 404, "general_route_not_found", ROUTE_NOT_FOUND)


def test_error_responses_carry_no_cache_headers(server):
    for response in (
        call(server, "GET", "/nowhere"),
        call(server, "GET", f"/users/{uid()}"),
        call(server, "GET", "/users", key=None),
        call(server, "POST", "/users", json={}),
    ):
        assert response.status_code >= 400
        assert response.headers["content-type"] == JSON_TYPE
        assert response.headers["cache-control"] == NO_CACHE
        assert response.headers["expires"] == "0"
        assert response.headers["pragma"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_success_responses_are_json_utf8(server):
    user = create_user(server, name="Zoë 🍰")
    response = call(server, "GET", f"/users/{user['$id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json()["name"] == "Zoë 🍰"
    assert "Zoë 🍰".encode() in response.content  # unicode is not escaped


def test_delete_is_204_with_a_content_type(server):
    user = create_user(server)
    response = call(server, "DELETE", f"/users/{user['$id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" in response.headers
    assert_error(call(server, "GET", f"/users/{user['$id']}"), 404, "user_not_found", USER_NOT_FOUND)


def test_sdk_delete_works(server):
    users = Users(server.sdk())
    user = users.create(ID.unique(), **contact())
    users.delete(user.id)  # the SDK reads Content-Type even on 204
    with pytest.raises(AppwriteException) as error:
        users.get(user.id)
    assert error.value.code == 404


def test_options_is_204_without_auth(server):
    for path in ("/users", "/users/whatever", "/nowhere"):
        response = httpx.request(
            "OPTIONS",
            server.endpoint + path,
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
            timeout=30,
        )
        assert response.status_code == 204, (path, response.text)
        assert response.content == b""
        assert "content-type" in response.headers


def test_options_sends_cors_headers(server):
    response = httpx.request(
        "OPTIONS", server.endpoint + "/users", headers={"Origin": "http://localhost:3000"}, timeout=30
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    allowed = [h.strip() for h in response.headers["access-control-allow-headers"].split(",")]
    for header in ("X-Appwrite-Project", "X-Appwrite-Key", "X-Appwrite-Session", "X-Fallback-Cookies", "Content-Type"):
        assert header in allowed
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "DELETE" in response.headers["access-control-allow-methods"]


def test_responses_carry_cors_headers_for_browser_origins(server):
    local = call(server, "GET", "/users/does-not-exist", headers={"Origin": "http://localhost:5173"})
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert local.headers["access-control-allow-credentials"] == "true"
    assert local.headers["access-control-expose-headers"] == "X-Appwrite-Session, X-Fallback-Cookies"
    foreign = call(server, "GET", "/users/does-not-exist", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers  # not a platform (tests/api/test_cors.py)


# -- 6. parameter sources and validation --------------------------------------------------------


def test_json_body_params(server):
    user_id = uid("u")
    email = f"{uid()}@Example.COM"
    response = call(
        server,
        "POST",
        "/users",
        json={"userId": user_id, "email": email, "phone": "+14155550123", "password": "password123", "name": "Json"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["$id"] == user_id
    assert body["email"] == email.lower()
    assert body["phone"] == "+14155550123"
    assert body["name"] == "Json"


def test_json_content_type_with_charset(server):
    user_id = uid("u")
    response = call(
        server,
        "POST",
        "/users",
        content=orjson.dumps({"userId": user_id, **contact()}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["$id"] == user_id


def test_post_ignores_query_string_params(server):
    response = call(server, "POST", f"/users?userId={uid()}", json={})
    assert_invalid(response, 'Param "userId" is not optional.')


def test_form_urlencoded_body_with_php_arrays(server):
    user = create_user(server)
    response = call(
        server,
        "PUT",
        f"/users/{user['$id']}/labels",
        content="labels[]=admin&labels[]=beta&labels[]=admin",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == ["admin", "beta"]

    indexed = call(
        server,
        "PUT",
        f"/users/{user['$id']}/labels",
        content=quote("labels[1]", safe="=") + "=second&" + quote("labels[0]", safe="=") + "=first",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert indexed.status_code == 200, indexed.text
    assert indexed.json()["labels"] == ["first", "second"]


def test_form_urlencoded_create(server):
    user_id = uid("u")
    response = call(
        server,
        "POST",
        "/users",
        data={"userId": user_id, "name": "Form Name", **contact()},
    )
    assert response.status_code == 201, response.text
    assert response.json()["$id"] == user_id
    assert response.json()["name"] == "Form Name"


def test_get_query_arrays_appended_and_indexed(server):
    name = uid("n")
    first = create_user(server, name=name)
    second = create_user(server, name=name)
    equal = orjson.dumps({"method": "equal", "attribute": "name", "values": [name]}).decode()
    order = orjson.dumps({"method": "orderAsc", "attribute": "$createdAt"}).decode()
    limit = orjson.dumps({"method": "limit", "values": [1]}).decode()

    appended = call(server, "GET", f"/users?queries[]={quote(equal)}&queries[]={quote(order)}")
    assert appended.status_code == 200, appended.text
    assert appended.json()["total"] == 2
    assert [u["$id"] for u in appended.json()["users"]] == [first["$id"], second["$id"]]

    # the python SDK's form: queries%5B0%5D=…
    indexed = call(server, "GET", "/users", params={"queries[0]": equal, "queries[1]": limit})
    assert "queries%5B0%5D" in str(indexed.request.url)
    assert indexed.status_code == 200, indexed.text
    assert indexed.json()["total"] == 2
    assert len(indexed.json()["users"]) == 1

    raw_indexed = call(server, "GET", f"/users?queries[0]={quote(equal)}&queries[1]={quote(limit)}")
    assert raw_indexed.json()["total"] == 2 and len(raw_indexed.json()["users"]) == 1


def test_sdk_list_with_queries(server):
    from appwrite.query import Query

    name = uid("n")
    user = create_user(server, name=name)
    listed = Users(server.sdk()).list(queries=[Query.equal("name", name), Query.limit(5)])
    assert listed.total == 1
    assert listed.users[0].id == user["$id"]


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'["userId"]', b'"userId"', b"null", b"42", b'{"userId":'],
    ids=["empty", "invalid", "empty-array", "array", "string", "null", "number", "truncated"],
)
def test_non_object_json_body_means_no_params(server, body):
    response = call(server, "POST", "/users", content=body, headers={"Content-Type": "application/json"})
    assert_invalid(response, 'Param "userId" is not optional.')


def test_body_without_content_type_is_json(server):
    user_id = uid("u")
    response = call(server, "POST", "/users", content=orjson.dumps({"userId": user_id, **contact()}))
    assert response.status_code == 201, response.text


def test_null_optional_param_is_not_provided(server):
    project, key = fresh_project(server)
    user_id = uid("u")
    response = call(
        server,
        "POST",
        "/users",
        project=project,
        key=key,
        json={"userId": user_id, "email": None, "phone": None, "password": None, "name": None},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == ""
    assert body["phone"] == ""
    assert body["name"] == ""
    assert body["passwordUpdate"] == ""


def test_missing_required_param(server):
    assert_invalid(call(server, "POST", "/users", json={"name": "x"}), 'Param "userId" is not optional.')
    user = create_user(server)
    assert_invalid(call(server, "PUT", f"/users/{user['$id']}/labels", json={}), 'Param "labels" is not optional.')
    assert_invalid(call(server, "PATCH", f"/users/{user['$id']}/status", json={}), 'Param "status" is not optional.')
    # import routes: email and password are required
    assert_invalid(call(server, "POST", "/users/bcrypt", json={"userId": uid()}), 'Param "email" is not optional.')
    assert_invalid(
        call(server, "POST", "/users/bcrypt", json={"userId": uid(), "email": f"{uid()}@example.com"}),
        'Param "password" is not optional.',
    )


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"userId": "-starts-with-hyphen"}, f"Invalid `userId` param: {CUSTOM_ID_DESCRIPTION}"),
        ({"userId": 12345}, f"Invalid `userId` param: {CUSTOM_ID_DESCRIPTION}"),
        ({"userId": "ok", "email": "not-an-email"}, f"Invalid `email` param: {EMAIL_DESCRIPTION}"),
        ({"userId": "ok", "email": "a@b"}, f"Invalid `email` param: {EMAIL_DESCRIPTION}"),
        ({"userId": "ok", "phone": "14155550123"}, f"Invalid `phone` param: {PHONE_DESCRIPTION}"),
        ({"userId": "ok", "phone": "+0123456789"}, f"Invalid `phone` param: {PHONE_DESCRIPTION}"),
        ({"userId": "ok", "phone": "+1234567890123456"}, f"Invalid `phone` param: {PHONE_DESCRIPTION}"),
        ({"userId": "ok", "password": "short"}, f"Invalid `password` param: {NEW_PASSWORD_DESCRIPTION}"),
        ({"userId": "ok", "password": "x" * 257}, f"Invalid `password` param: {NEW_PASSWORD_DESCRIPTION}"),
        ({"userId": "ok", "password": ""}, f"Invalid `password` param: {NEW_PASSWORD_DESCRIPTION}"),
        ({"userId": "ok", "name": ""}, f"Invalid `name` param: {NAME_DESCRIPTION}"),
        ({"userId": "ok", "name": "x" * 129}, f"Invalid `name` param: {NAME_DESCRIPTION}"),
        ({"userId": "ok", "name": 42}, f"Invalid `name` param: {NAME_DESCRIPTION}"),
    ],
)
def test_create_user_validation_messages(server, fields, message):
    assert_invalid(call(server, "POST", "/users", json=fields), message)


def test_text_length_counts_characters_not_bytes(server):
    user = create_user(server, name="é" * 128)
    assert user["name"] == "é" * 128


def test_password_limits_are_bytes(server):
    assert create_user(server, password="p" * 256)["passwordUpdate"] != ""
    # 8 bytes but 4 characters is accepted; 7 ASCII bytes are not
    create_user(server, password="éééé")
    assert_invalid(
        call(server, "POST", "/users", json={"userId": uid(), "password": "ab"}),
        f"Invalid `password` param: {NEW_PASSWORD_DESCRIPTION}",
    )


def test_import_password_uses_plain_password_description(server):
    response = call(
        server, "POST", "/users/bcrypt", json={"userId": uid(), "email": f"{uid()}@example.com", "password": "short"}
    )
    assert_invalid(response, f"Invalid `password` param: {PASSWORD_DESCRIPTION}")


def test_uid_path_param_validation(server):
    for bad in ("_leading", "a" * 37, "bad$char"):
        assert_invalid(call(server, "GET", f"/users/{bad}"), f"Invalid `userId` param: {UID_DESCRIPTION}")
    # validated before the resource is looked up
    assert_error(call(server, "GET", f"/users/{'a' * 36}"), 404, "user_not_found", USER_NOT_FOUND)


def test_range_validation(server):
    user = create_user(server)
    path = f"/users/{user['$id']}/tokens"
    assert_invalid(
        call(server, "POST", path, json={"length": 3}),
        "Invalid `length` param: Value must be a valid range between 4 and 128",
    )
    assert_invalid(
        call(server, "POST", path, json={"length": 129}),
        "Invalid `length` param: Value must be a valid range between 4 and 128",
    )
    assert_invalid(
        call(server, "POST", path, json={"expire": 59}),
        "Invalid `expire` param: Value must be a valid range between 60 and 31,536,000",
    )
    assert_invalid(
        call(server, "POST", path, json={"expire": 31536001}),
        "Invalid `expire` param: Value must be a valid range between 60 and 31,536,000",
    )
    # numeric strings are accepted
    token = call(server, "POST", path, json={"length": "10", "expire": "60"})
    assert token.status_code == 201, token.text
    assert len(token.json()["secret"]) == 10


def test_strict_boolean_validation(server):
    user = create_user(server)
    path = f"/users/{user['$id']}/verification"
    for bad in ("true", 1, 0, "1", "yes"):
        assert_invalid(
            call(server, "PATCH", path, json={"emailVerification": bad}),
            f"Invalid `emailVerification` param: {BOOLEAN_DESCRIPTION}",
        )
    ok = call(server, "PATCH", path, json={"emailVerification": True})
    assert ok.status_code == 200
    assert ok.json()["emailVerification"] is True


def test_loose_boolean_validation(server):
    user = create_user(server)
    path = f"/users/{user['$id']}/status"
    assert_invalid(
        call(server, "PATCH", path, json={"status": "yes"}), f"Invalid `status` param: {BOOLEAN_DESCRIPTION}"
    )
    assert_invalid(call(server, "PATCH", path, json={"status": 2}), f"Invalid `status` param: {BOOLEAN_DESCRIPTION}")
    for value, expected in (("false", False), ("1", True), (0, False), (True, True)):
        response = call(server, "PATCH", path, json={"status": value})
        assert response.status_code == 200, response.text
        assert response.json()["status"] is expected
    # form bodies carry strings
    form = call(
        server, "PATCH", path, content="status=false", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 200, form.text
    assert form.json()["status"] is False


def test_labels_validation(server):
    user = create_user(server)
    path = f"/users/{user['$id']}/labels"
    description = (
        "Invalid `labels` param: Value must a valid array no longer than 1000 items and Value must be a valid string "
        "and at least 1 chars and no longer than 36 chars and only consist of alphanumeric chars"
    )
    for bad in (["invalid-label"], ["a" * 37], [["nested"]], "bad string"):
        assert_invalid(call(server, "PUT", path, json={"labels": bad}), description)


def test_first_failing_param_in_declaration_order_wins(server):
    # POST /users declares userId, email, phone, password, name
    assert_invalid(
        call(server, "POST", "/users", json={"name": "", "password": "x", "phone": "x", "email": "x", "userId": "-x"}),
        f"Invalid `userId` param: {CUSTOM_ID_DESCRIPTION}",
    )
    assert_invalid(
        call(server, "POST", "/users", json={"name": "", "password": "x", "phone": "x", "email": "x"}),
        'Param "userId" is not optional.',
    )
    assert_invalid(
        call(server, "POST", "/users", json={"name": "", "password": "x", "phone": "x", "email": "x", "userId": uid()}),
        f"Invalid `email` param: {EMAIL_DESCRIPTION}",
    )
    assert_invalid(
        call(server, "POST", "/users", json={"name": "", "password": "x", "phone": "x", "userId": uid()}),
        f"Invalid `phone` param: {PHONE_DESCRIPTION}",
    )
    assert_invalid(
        call(server, "POST", "/users", json={"name": "", "password": "x", "userId": uid()}),
        f"Invalid `password` param: {NEW_PASSWORD_DESCRIPTION}",
    )
    # path params come first: an invalid userId beats an invalid body param
    assert_invalid(
        call(server, "PATCH", "/users/_bad/status", json={"status": "nope"}),
        f"Invalid `userId` param: {UID_DESCRIPTION}",
    )
    # a valid but unknown userId: params are validated before the 404
    assert_invalid(
        call(server, "PATCH", f"/users/{uid()}/status", json={"status": "nope"}),
        f"Invalid `status` param: {BOOLEAN_DESCRIPTION}",
    )
    assert_error(call(server, "PATCH", f"/users/{uid()}/status", json={"status": True}), 404, "user_not_found")


def test_users_without_email_or_phone_do_not_conflict(server):
    project, key = fresh_project(server)
    for fields in ({}, {}, {"email": f"{uid()}@example.com"}, {"phone": "+14155550100"}, {"name": "anon"}):
        response = call(server, "POST", "/users", project=project, key=key, json={"userId": uid("u"), **fields})
        assert response.status_code == 201, (fields, response.text)
    listed = call(server, "GET", "/users", project=project, key=key)
    assert listed.json()["total"] == 5


def test_unknown_params_are_ignored(server):
    user_id = uid("u")
    response = call(
        server, "POST", "/users", json={"userId": user_id, "bogus": 1, "$id": "other", "status": False, **contact()}
    )
    assert response.status_code == 201, response.text
    assert response.json()["$id"] == user_id
    assert response.json()["status"] is True


# -- 7. IDs -------------------------------------------------------------------------------------


def test_unique_generates_20_hex_chars(server):
    ids = {create_user(server, userId="unique()")["$id"] for _ in range(3)}
    assert len(ids) == 3
    for generated in ids:
        assert re.fullmatch(r"[0-9a-f]{20}", generated), generated
        assert call(server, "GET", f"/users/{generated}").status_code == 200


def test_custom_id_accepts_allowed_chars_up_to_36(server):
    suffix = uuid.uuid4().hex[:8]
    for custom in (
        ("Ab9._-" + suffix).ljust(36, "z"),
        "a" + suffix,
        "9" + suffix + ".dot",
        "Z" + suffix + "_under-hyphen",
    ):
        assert len(custom) <= 36
        body = create_user(server, userId=custom)
        assert body["$id"] == custom
        fetched = call(server, "GET", f"/users/{custom}")
        assert fetched.status_code == 200
        assert fetched.json()["$id"] == custom


@pytest.mark.parametrize(
    "bad",
    [
        "a" * 37,
        "_leading",
        "-leading",
        ".leading",
        "has space",
        "at@sign",
        "dollar$",
        "$leading",
        "slash/x",
        "é",
        "",
        "plus+",
    ],
)
def test_custom_id_rejects(server, bad):
    assert_invalid(
        call(server, "POST", "/users", json={"userId": bad}), f"Invalid `userId` param: {CUSTOM_ID_DESCRIPTION}"
    )


def test_duplicate_id_is_409(server):
    user = create_user(server)
    response = call(server, "POST", "/users", json={"userId": user["$id"], **contact()})
    assert_error(
        response, 409, "user_already_exists", "A user with the same id, email, or phone already exists in this project."
    )


def test_duplicate_email_is_409(server):
    email = f"{uid()}@example.com"
    create_user(server, email=email)
    response = call(server, "POST", "/users", json={**contact(), "userId": uid(), "email": email.upper()})
    assert_error(response, 409, "user_already_exists")


def test_sdk_id_unique(server):
    users = Users(server.sdk())
    sent = ID.unique()
    assert len(sent) == 20
    created = users.create(sent, **contact())
    assert created.id == sent
    assert users.get(sent).id == sent
    custom = users.create(ID.custom(uid("c")), **contact())
    assert users.get(custom.id).id == custom.id


# -- 8. scopes per endpoint ---------------------------------------------------------------------


def test_users_read_only_key(server):
    key = scoped_key(server, "users.read")
    user = create_user(server)
    assert call(server, "GET", "/users", key=key).status_code == 200
    assert call(server, "GET", f"/users/{user['$id']}", key=key).status_code == 200
    assert call(server, "GET", f"/users/{user['$id']}/prefs", key=key).status_code == 200
    for method, path, body in (
        ("POST", "/users", {"userId": uid()}),
        ("DELETE", f"/users/{user['$id']}", None),
        ("PATCH", f"/users/{user['$id']}/name", {"name": "x"}),
        ("PUT", f"/users/{user['$id']}/labels", {"labels": ["x"]}),
    ):
        assert_error(
            call(server, method, path, key=key, json=body),
            401,
            "general_unauthorized_scope",
            missing_scope(server.project, "users.write"),
        )
    assert call(server, "GET", f"/users/{user['$id']}").status_code == 200  # nothing was deleted


def test_users_write_only_key(server):
    key = scoped_key(server, "users.write")
    user_id = uid("u")
    created = call(server, "POST", "/users", key=key, json={"userId": user_id, **contact()})
    assert created.status_code == 201, created.text
    for path in ("/users", f"/users/{user_id}", f"/users/{user_id}/sessions", f"/users/{user_id}/logs"):
        assert_error(
            call(server, "GET", path, key=key),
            401,
            "general_unauthorized_scope",
            missing_scope(server.project, "users.read"),
        )
    assert call(server, "DELETE", f"/users/{user_id}", key=key).status_code == 204


def test_targets_need_target_scopes(server):
    users_key = scoped_key(server, "users.read,users.write")
    user = create_user(server)
    targets = f"/users/{user['$id']}/targets"
    target_body = {"targetId": uid(), "providerType": "email", "identifier": f"{uid()}@example.com"}
    assert_error(
        call(server, "GET", targets, key=users_key),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "targets.read"),
    )
    assert_error(
        call(server, "POST", targets, key=users_key, json=target_body),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "targets.write"),
    )

    read_key = scoped_key(server, "targets.read")
    assert call(server, "GET", targets, key=read_key).status_code == 200
    assert_error(
        call(server, "POST", targets, key=read_key, json=target_body),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "targets.write"),
    )

    write_key = scoped_key(server, "targets.write")
    created = call(server, "POST", targets, key=write_key, json=target_body)
    assert created.status_code == 201, created.text
    target_path = f"{targets}/{target_body['targetId']}"
    assert_error(
        call(server, "GET", target_path, key=write_key),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "targets.read"),
    )
    fetched = call(server, "GET", target_path, key=read_key)
    assert fetched.status_code == 200
    assert fetched.json()["identifier"] == target_body["identifier"]
    # target scopes do not grant users scopes
    assert_error(
        call(server, "GET", f"/users/{user['$id']}", key=read_key),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "users.read"),
    )
    assert call(server, "DELETE", target_path, key=write_key).status_code == 204


def test_key_without_scopes_only_has_base_scopes(server):
    key = scoped_key(server, "")
    assert call(server, "GET", "/health", key=key).status_code == 200
    assert_error(
        call(server, "GET", "/users", key=key),
        401,
        "general_unauthorized_scope",
        missing_scope(server.project, "users.read"),
    )
    assert_error(call(server, "GET", "/nowhere", key=key), 404, "general_route_not_found", ROUTE_NOT_FOUND)
