"""Input no client SDK sends, against a live server: parameters nested deeper than nib takes
(JSON, url-encoded and multipart bodies, query strings), lone UTF-16 surrogates in JSON strings,
and WebSocket handshakes. Each is refused with an Appwrite error; nothing is stored."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import websockets
from teams_support import unique_team_id
from users_support import assert_invalid, create_user

from live_server import stop_server

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MAX_DEPTH = 128  # levels of lists and objects a parameter may nest
TOO_DEEP = f"Value must not be nested more than {MAX_DEPTH} levels deep."
LONE_SURROGATE = "Value must not contain a lone UTF-16 surrogate."
NUL = "Value must not contain a NUL character."
ROUTE_NOT_FOUND = "The requested route was not found. Please refer to the API docs and try again."


def nested_object(levels: int) -> bytes:
    """JSON text of ``{"a": {"a": … 1 …}}``, ``levels`` objects deep."""
    return b'{"a":' * levels + b"1" + b"}" * levels


def nested_arrays(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def user_with_prefs(http, prefs: dict) -> str:
    user_id = create_user(http)["$id"]
    assert http.patch(f"/users/{user_id}/prefs", json={"prefs": prefs}).status_code == 200
    return user_id


# -- nesting --------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [100_000, 1025, 300, MAX_DEPTH + 1])
def test_user_prefs_nested_too_deep_are_refused(server, http, levels):
    user_id = user_with_prefs(http, {"kept": True})
    response = http.patch(f"/users/{user_id}/prefs", content=b'{"prefs":' + nested_object(levels) + b"}", headers=JSON)
    assert_invalid(response, f"Invalid `prefs` param: {TOO_DEEP}")
    assert http.get(f"/users/{user_id}/prefs").json() == {"kept": True}


def test_prefs_nested_to_the_limit_are_stored_and_listed(server, http):
    user_id = user_with_prefs(http, {"kept": True})
    body = b'{"prefs":' + nested_object(MAX_DEPTH) + b"}"
    response = http.patch(f"/users/{user_id}/prefs", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.content == nested_object(MAX_DEPTH)
    assert http.get(f"/users/{user_id}").json()["prefs"] == response.json()
    listed = http.get("/users", params={"queries[0]": f'{{"method":"equal","attribute":"$id","values":["{user_id}"]}}'})
    assert listed.json()["users"][0]["prefs"] == response.json()


def test_team_prefs_nested_3000_deep_are_refused(server, http):
    team_id = http.post("/teams", json={"teamId": unique_team_id(), "name": "Deep"}).json()["$id"]
    assert http.put(f"/teams/{team_id}/prefs", json={"prefs": {"kept": 1}}).status_code == 200
    response = http.put(f"/teams/{team_id}/prefs", content=b'{"prefs":' + nested_object(3000) + b"}", headers=JSON)
    assert_invalid(response, f"Invalid `prefs` param: {TOO_DEEP}")
    assert http.get(f"/teams/{team_id}/prefs").json() == {"kept": 1}


@pytest.mark.parametrize("levels", [100_000, MAX_DEPTH + 1])
def test_a_body_nested_too_deep_is_refused(server, http, levels):
    response = http.post("/users", content=nested_arrays(levels), headers=JSON)
    assert_invalid(response, f"Request body must not be nested more than {MAX_DEPTH} levels deep.")


def test_a_string_param_sent_as_deep_arrays_is_refused_by_name(server, http):
    user_id = f"deep{uuid.uuid4().hex[:12]}"
    body = b'{"userId":"' + user_id.encode() + b'","name":' + nested_arrays(100_000) + b"}"
    assert_invalid(http.post("/users", content=body, headers=JSON), f"Invalid `name` param: {TOO_DEEP}")
    assert http.get(f"/users/{user_id}").status_code == 404


@pytest.mark.parametrize("levels", [100_000, MAX_DEPTH + 1])
def test_urlencoded_keys_nested_too_deep_are_refused(server, http, levels):
    user_id = user_with_prefs(http, {"kept": True})
    key = "prefs" + "[a]" * levels
    response = http.patch(f"/users/{user_id}/prefs", content=f"{key}=1".encode(), headers=FORM)
    assert_invalid(response, f"Invalid `prefs` param: {TOO_DEEP}")
    assert http.get(f"/users/{user_id}/prefs").json() == {"kept": True}


def test_multipart_and_query_keys_nested_too_deep_are_refused(server, http):
    user_id = user_with_prefs(http, {"kept": True})
    path = "[a]" * (MAX_DEPTH + 1)
    response = http.patch(f"/users/{user_id}/prefs", files={f"prefs{path}": (None, b"1")})
    assert_invalid(response, f"Invalid `prefs` param: {TOO_DEEP}")
    assert_invalid(http.get("/users", params={f"queries{path}": "x"}), f"Invalid `queries` param: {TOO_DEEP}")
    assert http.get(f"/users/{user_id}/prefs").json() == {"kept": True}


def test_php_style_keys_at_the_limit_build_the_nested_value(server, http):
    user_id = user_with_prefs(http, {"kept": True})
    key = "prefs" + "[a]" * MAX_DEPTH
    response = http.patch(f"/users/{user_id}/prefs", content=f"{key}=1".encode(), headers=FORM)
    assert response.status_code == 200, response.text
    assert response.content == nested_object(MAX_DEPTH).replace(b"1", b'"1"')


def test_a_query_nested_too_deep_is_refused(server, http):
    query = '{"method":"equal","attribute":"name","values":' + "[" * 1100 + "]" * 1100 + "}"
    response = http.get("/users", params={"queries[0]": query})
    assert_invalid(response, "Invalid `queries` param: Invalid query: Invalid query: Maximum stack depth exceeded")


# -- lone surrogates ------------------------------------------------------------------------------


def test_a_name_with_a_lone_surrogate_is_refused(server, http):
    user_id = f"sur{uuid.uuid4().hex[:12]}"
    body = b'{"userId":"' + user_id.encode() + b'","name":"\\ud800"}'
    assert_invalid(http.post("/users", content=body, headers=JSON), f"Invalid `name` param: {LONE_SURROGATE}")
    assert http.get(f"/users/{user_id}").status_code == 404

    user_id = create_user(http, name="Kept")["$id"]
    response = http.patch(f"/users/{user_id}/name", content=b'{"name":"a\\udc00b"}', headers=JSON)
    assert_invalid(response, f"Invalid `name` param: {LONE_SURROGATE}")
    assert http.get(f"/users/{user_id}").json()["name"] == "Kept"


@pytest.mark.parametrize("prefs", [b'{"k":"\\ud800"}', b'{"\\udfff":"v"}', b'{"k":[["\\ud800x"]]}'])
def test_prefs_with_a_lone_surrogate_are_refused(server, http, prefs):
    user_id = user_with_prefs(http, {"kept": True})
    response = http.patch(f"/users/{user_id}/prefs", content=b'{"prefs":' + prefs + b"}", headers=JSON)
    assert_invalid(response, f"Invalid `prefs` param: {LONE_SURROGATE}")
    assert http.get(f"/users/{user_id}/prefs").json() == {"kept": True}


def test_a_param_named_with_a_lone_surrogate_refuses_the_body(server, http):
    response = http.post("/users", content=b'{"userId":"unique()","\\ud800":1}', headers=JSON)
    assert_invalid(response, "Request body must not contain a lone UTF-16 surrogate.")


def test_surrogate_pairs_are_text(server, http):
    user_id = create_user(http)["$id"]
    response = http.patch(f"/users/{user_id}/name", content=b'{"name":"\\ud83d\\ude00"}', headers=JSON)
    assert response.status_code == 200, response.text
    assert http.get(f"/users/{user_id}").json()["name"] == "\U0001f600"


def test_a_query_with_a_lone_surrogate_is_refused(server, http):
    query = '{"method":"equal","attribute":"name","values":["\\ud800"]}'
    response = http.get("/users", params={"queries[0]": query})
    assert_invalid(
        response,
        "Invalid `queries` param: Invalid query: Invalid query: Single unpaired UTF-16 surrogate in unicode escape",
    )


# -- NUL characters (PostgreSQL's text cannot hold them; refused on both backends) ----------------


def test_a_name_with_nul_is_refused_in_every_body_type(server, http):
    user_id = f"nul{uuid.uuid4().hex[:12]}"
    body = b'{"userId":"' + user_id.encode() + b'","name":"a\\u0000b"}'
    assert_invalid(http.post("/users", content=body, headers=JSON), f"Invalid `name` param: {NUL}")
    form = f"userId={user_id}&name=a%00b".encode()
    assert_invalid(http.post("/users", content=form, headers=FORM), f"Invalid `name` param: {NUL}")
    assert_invalid(
        http.post("/users", files={"userId": (None, user_id), "name": (None, "a\0b")}), f"Invalid `name` param: {NUL}"
    )
    assert http.get(f"/users/{user_id}").status_code == 404

    team_id = unique_team_id()
    body = b'{"teamId":"' + team_id.encode() + b'","name":"\\u0000"}'
    assert_invalid(http.post("/teams", content=body, headers=JSON), f"Invalid `name` param: {NUL}")
    assert http.get(f"/teams/{team_id}").status_code == 404


def test_prefs_and_keys_with_nul_are_refused(server, http):
    user_id = user_with_prefs(http, {"kept": True})
    response = http.patch(f"/users/{user_id}/prefs", content=b'{"prefs":{"k":["x\\u0000"]}}', headers=JSON)
    assert_invalid(response, f"Invalid `prefs` param: {NUL}")
    response = http.patch(f"/users/{user_id}/prefs", content=b"prefs[a%00]=1", headers=FORM)
    assert_invalid(response, f"Request body {NUL[6:]}")
    assert http.get(f"/users/{user_id}/prefs").json() == {"kept": True}


def test_a_query_or_search_with_nul_is_refused(server, http):
    query = '{"method":"equal","attribute":"name","values":["\\u0000"]}'
    response = http.get("/users", params={"queries[0]": query})
    assert_invalid(response, f"Invalid `queries` param: Invalid query: Invalid query: {NUL}")
    assert_invalid(http.get("/users?search=a%00b"), f"Invalid `search` param: {NUL}")


def test_a_path_segment_with_nul_is_refused(server, http):
    """Path parameters are text like the rest: a NUL is refused before any lookup (PostgreSQL
    cannot even compare one), for free-text IDs such as a challenge's as much as for user IDs."""
    user_id = http.post("/users", json={"userId": "unique()", "name": "Path"}).json()["$id"]
    response = http.get(f"/users/{user_id}/mfa/challenges/a%00b")
    assert_invalid(response, f"Invalid `challengeId` param: {NUL}")
    assert_invalid(http.get("/users/a%00b"), f"Invalid `userId` param: {NUL}")


# -- WebSocket ------------------------------------------------------------------------------------


def test_websocket_handshakes_get_the_unknown_route_error(nib_with):
    nib = nib_with()
    base = nib.endpoint.replace("http://", "ws://")

    async def refusal(path: str) -> websockets.InvalidStatus:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(base + path):
                pass
        return info.value

    # /realtime is the one WebSocket route (tests/api/test_realtime_protocol.py).
    for path in ("/users", "/nowhere", "/realtime/extra"):
        response = asyncio.run(refusal(path)).response
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert response.body == (
            b'{"message":"'
            + ROUTE_NOT_FOUND.encode()
            + b'","code":404,"type":"general_route_not_found","version":"1.5.11"}'
        )
    stop_server(nib)
    output = "\n".join(nib.output)
    assert "Traceback" not in output and "Exception" not in output, output
