"""The realtime WebSocket's protocol (issue 13): connecting in both SDK generations, identity at
connect and by message, every message type and every refusal with Appwrite's frames and close
codes, against a live nib (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest
from account_support import as_member, guest, member
from websockets.exceptions import InvalidStatus

from realtime_client import Subscriber, open_socket, realtime_url

EVERYTHING = '{"method":"select","values":["*"]}'


def _refused(server, **kw) -> tuple[int | None, list[dict]]:
    sub = Subscriber(server, expect_connected=False, **kw)
    return sub.closed_with()


# -- connecting -------------------------------------------------------------------------------


def test_url_channels_form_one_subscription(server):
    with Subscriber(server, ["files", "teams.t1", "account"]) as sub:
        data = sub.connected["data"]
        assert data["channels"] == ["files", "teams.t1", "account"]
        assert data["user"] is None
        assert len(data["subscriptions"]) == 1 and len(data["subscriptions"][0]) == 20


def test_a_signed_in_connection_knows_its_user_and_account_channel(server):
    who = member(server, name="Ada")
    with as_member(server, who) as http:
        account = http.get("/account").json()
    with Subscriber(server, ["account", f"account.{who.user['$id']}", "account.someone"], session=who.session) as sub:
        data = sub.connected["data"]
        # Another user's account channel, and the explicit own one, are dropped as Appwrite does.
        assert data["channels"] == ["account", f"account.{who.user['$id']}"]
        assert data["user"] == account


def test_the_newest_sdk_connects_without_channels_and_subscribes_by_message(server):
    with Subscriber(server) as sub:
        assert sub.connected["data"] == {"channels": [], "user": None, "subscriptions": []}
        answer = sub.subscribe(
            {"subscriptionId": "mine", "channels": ["files", "account.update"]},
            {"channels": ["teams"], "queries": ['{"method":"equal","attribute":"name","values":["x"]}']},
        )
        listed = answer["data"]["subscriptions"]
        assert answer["data"]["success"] is True
        assert listed[0] == {"subscriptionId": "mine", "channels": ["files", "account.update"], "queries": [EVERYTHING]}
        assert listed[1]["channels"] == ["teams"] and len(listed[1]["subscriptionId"]) == 20
        assert listed[1]["queries"] == ['{"method":"equal","attribute":"name","values":["x"]}']
        # The same ID again replaces that subscription.
        again = sub.subscribe({"subscriptionId": "mine", "channels": ["memberships"]})
        assert again["data"]["subscriptions"][0]["channels"] == ["memberships"]
        gone = sub.request("unsubscribe", [{"subscriptionId": "mine"}, {"subscriptionId": "never"}])
        assert gone == {
            "type": "response",
            "data": {
                "to": "unsubscribe",
                "success": True,
                "subscriptions": [
                    {"subscriptionId": "mine", "removed": True},
                    {"subscriptionId": "never", "removed": False},
                ],
            },
        }


def test_account_actions_bind_to_the_user_on_authentication(server):
    who = member(server)
    user_id = who.user["$id"]
    with Subscriber(server) as sub:
        listed = sub.subscribe({"subscriptionId": "a", "channels": ["account", "account.update"]})
        assert listed["data"]["subscriptions"][0]["channels"] == ["account", "account.update"]
        answer = sub.request("authentication", {"session": who.session})
        assert answer["type"] == "response" and answer["data"]["to"] == "authentication"
        assert answer["data"]["success"] is True and answer["data"]["user"]["$id"] == user_id
        after = sub.subscribe({"subscriptionId": "b", "channels": ["account", "account.delete"]})
        assert after["data"]["subscriptions"][0]["channels"] == [
            "account",
            f"account.{user_id}",
            f"account.{user_id}.delete",
        ]


@pytest.mark.parametrize("carrier", ["legacy cookie", "session header", "fallback header"])
def test_every_way_a_request_carries_a_session_signs_a_connection_in(server, carrier):
    who = member(server)
    name = f"a_session_{server.project}"
    headers = {
        "legacy cookie": {"Cookie": f"{name}_legacy={who.session}"},
        "session header": {"X-Appwrite-Session": who.session},
        "fallback header": {"X-Fallback-Cookies": json.dumps({name: who.session})},
    }[carrier]
    with Subscriber(server, ["account"], headers=headers) as sub:
        assert sub.connected["data"]["user"]["$id"] == who.user["$id"]


def test_ping_is_answered_with_pong(server):
    with Subscriber(server, ["files"]) as sub:
        assert sub.request("ping") == {"type": "pong"}


def test_a_jwt_in_the_query_string_signs_the_connection_in(server):
    who = member(server)
    with as_member(server, who) as http:
        token = http.post("/account/jwts").json()["jwt"]
    with Subscriber(server, ["account"], jwt=token) as sub:
        assert sub.connected["data"]["user"]["$id"] == who.user["$id"]


def test_an_invalid_session_cookie_connects_as_a_guest(server):
    with Subscriber(server, ["account"], session="bm90IGEgc2Vzc2lvbg==") as sub:
        assert sub.connected["data"]["user"] is None
        assert sub.connected["data"]["channels"] == ["account"]


def test_a_native_client_without_origin_and_an_allowed_origin_connect(server):
    with Subscriber(server, ["files"], origin="http://localhost:3000") as sub:
        assert sub.connected["type"] == "connected"


def test_an_impersonating_connection_sees_the_target_and_cannot_re_authenticate(server, users):
    boss, target = member(server), member(server)
    users.update_impersonator(boss.user["$id"], True)
    with Subscriber(server, ["account"], session=boss.session, impersonateUserId=target.user["$id"]) as sub:
        assert sub.connected["data"]["user"]["$id"] == target.user["$id"]
        assert sub.connected["data"]["channels"] == ["account", f"account.{target.user['$id']}"]
        answer = sub.request("authentication", {"session": boss.session})
        assert answer == {
            "type": "error",
            "data": {"code": 1003, "message": "Cannot re-authenticate on an impersonated connection."},
        }


# -- refusals at connect ------------------------------------------------------------------------


@pytest.mark.parametrize("project", ["", "no-such-project", "console"])
def test_a_missing_or_unknown_project_is_refused_with_1008(server, project):
    code, frames = _refused(server, channels=["files"], project=project or " ")
    assert frames == [{"type": "error", "data": {"code": 1008, "message": "Missing or unknown project ID"}}]
    assert code == 1008


def test_channels_that_name_nothing_are_refused(server):
    sub = Subscriber(url=realtime_url(server.endpoint, server.project) + "&channels[]=", expect_connected=False)
    code, frames = sub.closed_with()
    assert frames == [{"type": "error", "data": {"code": 1008, "message": "Missing channels"}}]
    assert code == 1008


def test_too_many_channels_are_refused(server):
    code, frames = _refused(server, channels=[f"teams.t{n}" for n in range(101)])
    assert frames == [
        {"type": "error", "data": {"code": 1008, "message": "Too many channels: at most 100 per connection"}}
    ]
    assert code == 1008


def test_a_page_on_an_unknown_origin_is_refused(server):
    code, frames = _refused(server, channels=["files"], origin="https://evil.example")
    message = "Invalid Origin. Register your new client (evil.example) as a new Web platform on your project console dashboard"
    assert frames == [{"type": "error", "data": {"code": 1008, "message": message}}]
    assert code == 1008


def test_an_invalid_jwt_is_refused(server):
    code, frames = _refused(server, channels=["account"], jwt="not.a.jwt")
    assert frames[0]["type"] == "error" and frames[0]["data"]["code"] == 401
    assert frames[0]["data"]["message"].startswith("Failed to verify JWT.")
    assert code == 1008


def test_a_disabled_project_is_refused(server, nib_with):
    nib = nib_with()
    nib.cli("projects", "create", "quiet", "--name", "Quiet")
    nib.cli("projects", "disable", "quiet")
    code, frames = _refused(nib, channels=["files"], project="quiet")
    assert frames == [{"type": "error", "data": {"code": 401, "message": "This project is disabled."}}]
    assert code == 1008


def test_more_than_128_connections_a_minute_from_one_address_are_refused(nib_with):
    nib = nib_with(NIB_RATE_LIMITS="on")
    # The limit counts in minute windows aligned to the clock: all 129 connections must fall in one.
    left = 60 - time.time() % 60
    if left < 30:
        time.sleep(left + 0.1)
    opened = []
    try:
        for _ in range(128):
            opened.append(Subscriber(nib, ["files"]))
        code, frames = _refused(nib, channels=["files"])
        assert frames == [{"type": "error", "data": {"code": 1013, "message": "Too many requests"}}]
        assert code == 1013
    finally:
        for sub in opened:
            sub.close()


# -- bad messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not json", "Message format is not valid."),
        ('["a list"]', "Message format is not valid."),
        ('{"data": {}}', "Message format is not valid."),
        ('{"type": "shout", "data": {}}', "Message type is not valid."),
        ('{"type": "authentication", "data": {}}', "Payload is not valid."),
        ('{"type": "authentication", "data": {"session": "bm9wZQ=="}}', "Session is not valid."),
        ('{"type": "subscribe", "data": {"channels": ["files"]}}', "Payload is not valid."),
        ('{"type": "subscribe", "data": ["files"]}', "items: Each subscribe payload must be an object."),
        (
            '{"type": "subscribe", "data": [{"subscriptionId": "-bad", "channels": []}]}',
            "items: subscriptionId is not a valid id.",
        ),
        ('{"type": "subscribe", "data": [{"queries": []}]}', "items: channels is not present in payload."),
        ('{"type": "subscribe", "data": [{"channels": "files"}]}', "items: channels is not a valid array."),
        ('{"type": "subscribe", "data": [{"channels": [1]}]}', "items: channels must contain only strings."),
        (
            '{"type": "subscribe", "data": [{"channels": ["files"], "queries": "x"}]}',
            "items: queries is not a valid array.",
        ),
        (
            '{"type": "unsubscribe", "data": [{}]}',
            "items: Each unsubscribe payload must have a non-empty subscriptionId.",
        ),
    ],
)
def test_bad_messages_get_1003_and_the_socket_stays_open(server, message, error):
    with Subscriber(server, ["files"]) as sub:
        sub.socket.send(message)
        assert sub.next() == {"type": "error", "data": {"code": 1003, "message": error}}
        assert sub.request("ping") == {"type": "pong"}


def test_unsupported_queries_are_refused_in_both_generations(server):
    search = json.dumps({"method": "search", "attribute": "name", "values": ["x"]})
    expected = (
        "Query method 'search' is not supported in Realtime queries. Allowed: equal, notEqual, lessThan, "
        "lessThanEqual, greaterThan, greaterThanEqual, isNull, isNotNull, and, or, select"
    )
    with Subscriber(server) as sub:
        answer = sub.request("subscribe", [{"channels": ["files"], "queries": [search]}])
        assert answer == {"type": "error", "data": {"code": 1003, "message": f"items: {expected}"}}
    # 1.9-era URL: "<channel with . as _>[slot][]=<query>".
    url = (
        realtime_url(server.endpoint, server.project, ["buckets.b1.files"]) + "&buckets_b1_files[0][]=" + quote(search)
    )
    code, frames = Subscriber(url=url, expect_connected=False).closed_with()
    assert frames == [{"type": "error", "data": {"code": 1008, "message": expected}}]
    assert code == 1008


def test_url_slots_with_queries_form_one_subscription_each(server):
    equal = json.dumps({"method": "equal", "attribute": "name", "values": ["a.txt"]})
    url = realtime_url(server.endpoint, server.project, ["files", "teams"]) + "&files[1][]=" + quote(equal)
    with Subscriber(url=url) as sub:
        # "teams" has no query: slot 0; "files" only in slot 1.
        assert sub.connected["data"]["channels"] == ["teams", "files"]
        assert len(sub.connected["data"]["subscriptions"]) == 2


def test_more_than_32_messages_a_minute_are_refused_without_closing(server):
    with Subscriber(server, ["files"]) as sub:
        for _ in range(32):
            assert sub.request("ping") == {"type": "pong"}
        assert sub.request("ping") == {"type": "error", "data": {"code": 1013, "message": "Too many messages."}}


def test_other_websocket_paths_are_unknown_routes(server):
    url = server.endpoint.replace("http://", "ws://") + "/account"
    with pytest.raises(InvalidStatus) as refused:
        open_socket(url)
    assert refused.value.response.status_code == 404
    assert json.loads(refused.value.response.body)["type"] == "general_route_not_found"


def test_the_server_keeps_serving_after_clients_vanish(server):
    for _ in range(20):
        sub = Subscriber(server, ["files"])
        sub.socket.close_socket()  # no close handshake: the TCP connection just ends
    with guest(server) as http:
        assert http.get("/health").status_code == 200
    with Subscriber(server, ["files"]) as sub:
        assert sub.request("ping") == {"type": "pong"}
