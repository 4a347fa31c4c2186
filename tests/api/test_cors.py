"""CORS and the origin check against a live server: a project's web platforms (and the server's own
hostname) get credentials; keyless writes from other origins are refused with 403
general_unknown_origin."""

from __future__ import annotations

import httpx
import pytest
from users_support import assert_error
from web_support import browser_call, new_key, new_project, settled, uid

from live_server import create_pg_database, drop_pg_database, start_server, stop_server

ALLOW_HEADERS = (
    "Origin, Cookie, Set-Cookie, X-Requested-With, Content-Type, Access-Control-Allow-Origin, "
    "Access-Control-Request-Headers, Accept, X-Appwrite-Project, X-Appwrite-Key, X-Appwrite-Locale, "
    "X-Appwrite-Mode, X-Appwrite-JWT, X-Appwrite-Response-Format, X-Appwrite-Timeout, X-SDK-Version, "
    "X-SDK-Name, X-SDK-Language, X-SDK-Platform, X-SDK-GraphQL, X-Appwrite-ID, X-Appwrite-Timestamp, "
    "Content-Range, Range, Cache-Control, Expires, Pragma, X-Forwarded-For, X-Forwarded-User-Agent, "
    "X-Appwrite-Impersonate-User-Id, X-Appwrite-Impersonate-User-Email, X-Appwrite-Impersonate-User-Phone"
)
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
EXPOSE_HEADERS = "X-Appwrite-Session, X-Fallback-Cookies"
GUEST_USERS_WRITE = "User (role: guests) missing scope (users.write)"


def unknown_origin(host: str, platform: str = "Web") -> str:
    return (
        f"Invalid Origin. Register your new client ({host}) as a new {platform} platform "
        "on your project console dashboard"
    )


@pytest.fixture(scope="module")
def site(server):
    """Project A (platforms app.example.com and *.apps.example.org, with a key) and project B
    (platform b.example.net)."""
    project_a = new_project(server, "app.example.com", "*.apps.example.org")
    project_b = new_project(server, "b.example.net")
    return {"a": project_a, "a_key": new_key(server, project_a), "b": project_b}


def assert_allowed(response: httpx.Response, origin: str) -> None:
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-methods"] == ALLOW_METHODS
    assert response.headers["access-control-allow-headers"] == ALLOW_HEADERS
    assert response.headers["access-control-expose-headers"] == EXPOSE_HEADERS


def assert_not_allowed(response: httpx.Response) -> None:
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["access-control-allow-methods"] == ALLOW_METHODS


def test_platform_origin_gets_credentials(server, site):
    origin = "https://app.example.com"
    response = browser_call(server, "GET", "/users", project=site["a"], origin=origin, key=site["a_key"])
    assert response.status_code == 200, response.text
    assert response.json() == {"total": 0, "users": []}
    assert_allowed(response, origin)


def test_platform_origin_port_and_scheme_are_echoed(server, site):
    origin = "http://app.example.com:8080"
    response = browser_call(server, "GET", "/users", project=site["a"], origin=origin, key=site["a_key"])
    assert response.status_code == 200
    assert_allowed(response, origin)


def test_errors_carry_cors_headers_so_the_page_can_read_them(server, site):
    origin = "https://app.example.com"
    response = browser_call(server, "GET", "/users", project=site["a"], origin=origin)
    assert_error(response, 401, "general_unauthorized_scope", "User (role: guests) missing scope (users.read)")
    assert_allowed(response, origin)


def test_wildcard_platform_allows_subdomains_not_the_domain(server, site):
    for origin in ("https://shop.apps.example.org", "https://eu.shop.apps.example.org"):
        response = browser_call(server, "GET", "/users", project=site["a"], origin=origin, key=site["a_key"])
        assert response.status_code == 200
        assert_allowed(response, origin)
    root = browser_call(
        server, "GET", "/users", project=site["a"], origin="https://apps.example.org", key=site["a_key"]
    )
    assert root.status_code == 200
    assert_not_allowed(root)
    assert_error(
        browser_call(server, "POST", "/users", project=site["a"], origin="https://apps.example.org", json={}),
        403,
        "general_unknown_origin",
        unknown_origin("apps.example.org"),
    )


def test_server_hostname_is_allowed_for_every_project(server):
    project = new_project(server)  # no platforms
    origin = "http://localhost:5173"
    response = browser_call(server, "POST", "/users", project=project, origin=origin, json={"userId": "unique()"})
    # past the origin check: the guest lacks the scope
    assert_error(response, 401, "general_unauthorized_scope", GUEST_USERS_WRITE)
    assert_allowed(response, origin)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/users"), ("PUT", "/users/{id}/labels"), ("PATCH", "/users/{id}/name"), ("DELETE", "/users/{id}")],
)
def test_keyless_write_from_unknown_origin_is_refused(server, site, method, path):
    path = path.format(id=uid("u"))
    response = browser_call(server, method, path, project=site["a"], origin="https://evil.example", json={})
    assert_error(response, 403, "general_unknown_origin", unknown_origin("evil.example"))
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert_not_allowed(response)


def test_referer_is_judged_when_there_is_no_origin(server, site):
    evil = browser_call(
        server, "POST", "/users", project=site["a"], headers={"Referer": "https://evil.example/page?x=1"}, json={}
    )
    assert_error(evil, 403, "general_unknown_origin", unknown_origin("evil.example"))
    assert "access-control-allow-origin" not in evil.headers  # no Origin: no CORS headers at all
    ours = browser_call(
        server, "POST", "/users", project=site["a"], headers={"Referer": "https://app.example.com/signup"}, json={}
    )
    assert_error(ours, 401, "general_unauthorized_scope", GUEST_USERS_WRITE)


def test_get_from_unknown_origin_is_answered_without_allow_origin(server, site):
    response = browser_call(
        server, "GET", "/users", project=site["a"], origin="https://evil.example", key=site["a_key"]
    )
    assert response.status_code == 200
    assert response.json()["total"] >= 0
    assert_not_allowed(response)


def test_requests_without_origin_pass(server, site):
    response = browser_call(server, "POST", "/users", project=site["a"], json={"userId": "unique()"})
    assert_error(response, 401, "general_unauthorized_scope", GUEST_USERS_WRITE)
    assert "access-control-allow-origin" not in response.headers
    created = browser_call(server, "POST", "/users", project=site["a"], key=site["a_key"], json={"userId": uid("u")})
    assert created.status_code == 201, created.text


def test_api_key_bypasses_the_origin_check(server, site):
    user_id = uid("u")
    created = browser_call(
        server,
        "POST",
        "/users",
        project=site["a"],
        origin="https://evil.example",
        key=site["a_key"],
        json={"userId": user_id, "name": "Keyed"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["$id"] == user_id
    assert_not_allowed(created)  # the response still isn't shared with that page
    deleted = browser_call(
        server, "DELETE", f"/users/{user_id}", project=site["a"], origin="https://evil.example", key=site["a_key"]
    )
    assert deleted.status_code == 204


def test_made_up_key_does_not_bypass_the_origin_check(server, site):
    response = browser_call(
        server, "POST", "/users", project=site["a"], origin="https://evil.example", key="not-a-key", json={}
    )
    assert_error(response, 403, "general_unknown_origin", unknown_origin("evil.example"))


def test_preflight_echoes_the_origin_with_credentials(server, site):
    for origin in ("https://app.example.com", "https://evil.example"):
        response = httpx.request(
            "OPTIONS",
            f"{server.endpoint}/users?project={site['a']}",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-appwrite-project, x-fallback-cookies, content-type",
            },
            timeout=30,
        )
        assert response.status_code == 204
        assert response.content == b""
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["access-control-allow-methods"] == ALLOW_METHODS
        assert (
            response.headers["access-control-allow-headers"]
            == ALLOW_HEADERS + ", X-Appwrite-Session, X-Fallback-Cookies"
        )
        assert response.headers["access-control-expose-headers"] == EXPOSE_HEADERS


def test_platforms_are_per_project(server, site):
    b_origin = "https://b.example.net"
    on_a = browser_call(server, "GET", "/users", project=site["a"], origin=b_origin, key=site["a_key"])
    assert on_a.status_code == 200
    assert_not_allowed(on_a)
    assert_error(
        browser_call(server, "POST", "/users", project=site["a"], origin=b_origin, json={}),
        403,
        "general_unknown_origin",
        unknown_origin("b.example.net"),
    )
    on_b = browser_call(server, "POST", "/users", project=site["b"], origin=b_origin, json={})
    assert_error(on_b, 401, "general_unauthorized_scope", GUEST_USERS_WRITE)
    assert_allowed(on_b, b_origin)
    assert_error(
        browser_call(server, "POST", "/users", project=site["b"], origin="https://app.example.com", json={}),
        403,
        "general_unknown_origin",
        unknown_origin("app.example.com"),
    )


def test_removed_platform_stops_being_allowed(server):
    project = new_project(server, "gone.example.com")
    origin = "https://gone.example.com"
    write = lambda: browser_call(server, "POST", "/users", project=project, origin=origin, json={})  # noqa: E731
    assert_error(write(), 401, "general_unauthorized_scope", GUEST_USERS_WRITE)
    server.cli("platforms", "remove", "--project", project, "--hostname", "gone.example.com")
    assert_error(settled(write, 403), 403, "general_unknown_origin", unknown_origin("gone.example.com"))


@pytest.mark.parametrize(
    ("origin", "status", "message"),
    [
        ("capacitor://localhost", 401, GUEST_USERS_WRITE),  # judged by its host: the server's own
        ("tauri://localhost", 401, GUEST_USERS_WRITE),
        ("capacitor://evil.example", 403, "Unsupported platform"),
        ("appwrite-android://com.example.app", 403, unknown_origin("com.example.app", "Android")),
        ("appwrite-ios://com.example.app", 403, unknown_origin("com.example.app", "iOS")),
        ("null", 401, GUEST_USERS_WRITE),  # no host (sandboxed page, file://): passes, as in Appwrite
        ("file://", 401, GUEST_USERS_WRITE),
    ],
)
def test_other_schemes_are_judged_by_their_host(server, site, origin, status, message):
    response = browser_call(server, "POST", "/users", project=site["a"], origin=origin, json={})
    assert_error(response, status, "general_unknown_origin" if status == 403 else "general_unauthorized_scope", message)


def test_native_app_id_registered_as_platform_passes(server):
    project = new_project(server, "com.example.app")
    response = browser_call(
        server, "POST", "/users", project=project, origin="appwrite-android://com.example.app", json={}
    )
    assert_error(response, 401, "general_unauthorized_scope", GUEST_USERS_WRITE)


def test_unknown_project_write_from_unknown_origin(server):
    # The project is resolved before the origin is judged (nib's order; Appwrite judges the origin first).
    response = browser_call(server, "POST", "/users", project=uid("nope"), origin="https://evil.example", json={})
    assert_error(response, 404, "project_not_found")


@pytest.fixture(scope="module")
def named_server(server, tmp_path_factory):
    """A second nib of the same backend whose own hostname is api.nib.test, not localhost."""
    pg_name = create_pg_database() if server.backend == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NIB_HOSTNAME", "api.nib.test")
        nib = start_server(server.backend, tmp_path_factory.mktemp("nib-named"), url)
    yield nib
    stop_server(nib)
    if pg_name:
        drop_pg_database(pg_name)


def test_localhost_works_out_of_the_box_for_the_default_project(named_server):
    localhost = "http://localhost:3000"
    on_default = browser_call(named_server, "POST", "/users", project="default", origin=localhost, json={})
    assert_error(on_default, 401, "general_unauthorized_scope", GUEST_USERS_WRITE)
    assert_allowed(on_default, localhost)
    # other projects start without platforms: only the server's own hostname
    project = new_project(named_server)
    assert_error(
        browser_call(named_server, "POST", "/users", project=project, origin=localhost, json={}),
        403,
        "general_unknown_origin",
        unknown_origin("localhost"),
    )
    own = "https://api.nib.test"
    on_project = browser_call(named_server, "POST", "/users", project=project, origin=own, json={})
    assert_error(on_project, 401, "general_unauthorized_scope", GUEST_USERS_WRITE)
    assert_allowed(on_project, own)
