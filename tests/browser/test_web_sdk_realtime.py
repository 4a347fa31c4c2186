"""The official Appwrite Web SDK's realtime subscriptions in a real browser, against a live nib:
both protocol generations (SDK 15 puts its channels in the socket's URL; SDK 28 connects with the
project only and sends ``subscribe`` messages, and also has the Realtime service with Channel
builders). The pages sign in and subscribe; the test writes through the API with a key (another
client) and asserts what each page's callbacks received, and that no socket was closed.

The pages run in one chromium driven live (browser_support.BrowserSession); index.html records
every WebSocket frame both ways, so a failure shows the conversation.
"""

from __future__ import annotations

import time
import uuid

import pytest
from browser_support import PASSWORD, SDKS, BrowserSession

FILE_FIELDS = ("$id", "name", "bucketId", "sizeOriginal", "mimeType")
WAIT_MS = 10_000


def uid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:16]


def sockets_of(sdk: str) -> int:
    """Sockets a page subscribed as the tests do holds: SDK 28 also has its Realtime service's."""
    return 2 if sdk == "appwrite-newest" else 1


def signed_in_page(browser: BrowserSession, name: str, sdk: str, endpoint: str, project: str) -> str:
    """A page ``name`` whose user signed up and in with e-mail and password: the user's ID."""
    opened = browser.open(name, sdk=sdk, endpoint=endpoint, project=project)
    assert opened["sdkVersion"] == SDKS[sdk]
    user_id = uid("rt")
    email = f"{user_id}@example.com"
    assert browser.value(name, "signUp", user_id, email, PASSWORD, f"User {name}")["$id"] == user_id
    assert browser.value(name, "signIn", email, PASSWORD)["userId"] == user_id
    return user_id


def new_bucket(http, *readers: str) -> str:
    bucket_id = uid("b")
    permissions = [f'read("{role}")' for role in readers]
    created = http.post(
        "/storage/buckets", json={"bucketId": bucket_id, "name": "Realtime", "permissions": permissions}
    )
    assert created.status_code == 201, created.text
    return bucket_id


def upload(http, bucket_id: str, content: bytes = b"hello realtime\n") -> dict:
    file_id = uid("f")
    response = http.post(
        f"/storage/buckets/{bucket_id}/files",
        data={"fileId": file_id},
        files={"file": ("hello.txt", content, "text/plain")},
    )
    assert response.status_code == 201, response.text
    return response.json()


def file_event(message: dict, uploaded: dict, action: str) -> None:
    """``message`` announces ``action`` on the uploaded file, its payload the REST File model."""
    bucket, file = uploaded["bucketId"], uploaded["$id"]
    assert {key: message["payload"][key] for key in FILE_FIELDS} == {key: uploaded[key] for key in FILE_FIELDS}
    assert message["payload"] == uploaded  # the whole model, as the uploader received it
    assert {"files", f"buckets.{bucket}.files", f"buckets.{bucket}.files.{file}"} <= set(message["channels"])
    assert message["events"][0] == f"buckets.{bucket}.files.{file}.{action}"
    assert f"buckets.*.files.*.{action}" in message["events"]


def no_trouble(log: dict) -> None:
    """No socket of the page closed or failed, no `error` frame, no error in the console."""
    sockets = log["realtime"]["sockets"]
    assert sockets and all(s["close"] is None and s["errors"] == 0 for s in sockets), sockets
    assert not [f for s in sockets for f in s["received"] if f["type"] == "error"], sockets
    assert not [line for line in log["console"] if line.startswith(("error:", "pageerror:"))], log["console"]


def sent(socket: dict, kind: str) -> list[dict]:
    return [frame for frame in socket["sent"] if frame["type"] == kind]


def connected_data(socket: dict) -> dict:
    [connected] = [frame["data"] for frame in socket["received"] if frame["type"] == "connected"]
    return connected


def answers(socket: dict, kind: str) -> list[dict]:
    return [f["data"] for f in socket["received"] if f["type"] == "response" and f["data"]["to"] == kind]


@pytest.mark.parametrize("sdk", SDKS)
def test_web_sdk_realtime_delivers_file_and_account_events(chromium, node, app_origin, server, sdk):
    """A signed-in page subscribed to ``files`` and ``account`` hears a file uploaded and deleted
    by a key holder in a bucket users may read, and its own name change; the session cookie signed
    the socket in at connect. SDK 28 also subscribes through its Realtime service with Channel
    builders, to the account and to the bucket's file creations only (an action channel)."""
    endpoint = server.endpoint.replace("//127.0.0.1:", "//localhost:")  # same site as the page
    with BrowserSession(node, chromium, app_origin) as browser, server.http() as http:
        user_id = signed_in_page(browser, "app", sdk, endpoint, server.project)
        bucket_id = new_bucket(http, "users")
        assert browser.value("app", "subscribe", "main", ["files", "account"]) == ["files", "account"]
        builders = browser.value("app", "subscribeWithChannelBuilders", "builders", bucket_id)
        if sdk == "appwrite-newest":
            assert builders == ["account", f"buckets.{bucket_id}.files.create"]
        else:
            assert builders is None  # SDK 15 has neither Channel nor Realtime
        ready = browser.value("app", "realtimeReady", sockets_of(sdk), WAIT_MS)

        # The cookie went with the handshake: `connected` names the user, no authentication message.
        for socket in ready:
            assert connected_data(socket)["user"]["$id"] == user_id and not sent(socket, "authentication")
        subscription_ids = {}  # SDK 28: subscription name -> the ID the SDK made
        if sdk == "appwrite":  # channels in the URL, converted for the user
            [main] = ready
            assert "channels%5B%5D=files&channels%5B%5D=account" in main["url"]
            assert connected_data(main)["channels"] == ["files", "account", f"account.{user_id}"]
        else:  # project only; a subscribe message with the SDK's own subscription IDs
            assert all(s["url"].endswith(f"/realtime?project={server.project}") for s in ready)
            # One socket per API (client.subscribe's and the Realtime service's), in no set order.
            by_channels = {tuple(sent(s, "subscribe")[0]["data"][0]["channels"]): s for s in ready}
            for name, channels in (("main", ["files", "account"]), ("builders", builders)):
                socket = by_channels[tuple(channels)]
                [subscribe] = sent(socket, "subscribe")
                [item] = subscribe["data"]
                assert item["channels"] == channels and item["subscriptionId"]
                subscription_ids[name] = item["subscriptionId"]
                [answer] = answers(socket, "subscribe")
                assert answer["success"] is True
                [subscription] = answer["subscriptions"]
                assert subscription["subscriptionId"] == item["subscriptionId"]
                converted = [n for c in channels for n in ([c, f"account.{user_id}"] if c == "account" else [c])]
                assert subscription["channels"] == converted

        uploaded = upload(http, bucket_id)
        file_id = uploaded["$id"]
        created = browser.value("app", "waitForEvent", "main", f"buckets.{bucket_id}.files.{file_id}.create", WAIT_MS)
        file_event(created, uploaded, "create")
        assert {"files.create", f"buckets.{bucket_id}.files.create"} <= set(created["channels"])  # action channels

        assert http.delete(f"/storage/buckets/{bucket_id}/files/{file_id}").status_code == 204
        deleted = browser.value("app", "waitForEvent", "main", f"buckets.{bucket_id}.files.{file_id}.delete", WAIT_MS)
        file_event(deleted, uploaded, "delete")

        assert browser.value("app", "updateName", "x")["name"] == "x"
        renamed = browser.value("app", "waitForEvent", "main", f"users.{user_id}.update.name", WAIT_MS)
        assert renamed["payload"]["$id"] == user_id and renamed["payload"]["name"] == "x"
        assert {"account", f"account.{user_id}"} <= set(renamed["channels"])
        assert "password" not in renamed["payload"]

        if sdk == "appwrite-newest":  # the Realtime service's subscription: the creation, the rename
            heard = browser.value("app", "waitForEvent", "builders", created["events"][0], WAIT_MS)
            assert heard == {**created, "subscriptions": heard["subscriptions"]}
            heard = browser.value("app", "waitForEvent", "builders", f"users.{user_id}.update.name", WAIT_MS)
            assert heard == {**renamed, "subscriptions": heard["subscriptions"]}

        log = browser.log("app")
    no_trouble(log)
    # Each callback got each event once, in the order of the writes (an attribute's update is
    # named without the attribute first, as Appwrite lists them).
    assert [m["events"][0] for m in log["realtime"]["messages"]["main"]] == [
        f"buckets.{bucket_id}.files.{file_id}.create",
        f"buckets.{bucket_id}.files.{file_id}.delete",
        f"users.{user_id}.update",
    ]
    if sdk == "appwrite-newest":  # not the deletion: no channel of it is the builders'
        assert [m["events"][0] for m in log["realtime"]["messages"]["builders"]] == [
            f"buckets.{bucket_id}.files.{file_id}.create",
            f"users.{user_id}.update",
        ]
        for name, subscription_id in subscription_ids.items():
            assert all(m["subscriptions"] == [subscription_id] for m in log["realtime"]["messages"][name])


@pytest.mark.parametrize("sdk", SDKS)
def test_web_sdk_realtime_hides_files_from_users_who_cannot_read_them(chromium, node, app_origin, server, sdk):
    """Two signed-in pages subscribed to ``files``: a file in a bucket only the first user may read
    reaches the first page and not the second (which, as a control, hears the next file, in a
    bucket every user may read)."""
    endpoint = server.endpoint.replace("//127.0.0.1:", "//localhost:")
    with BrowserSession(node, chromium, app_origin) as browser, server.http() as http:
        owner = signed_in_page(browser, "owner", sdk, endpoint, server.project)
        signed_in_page(browser, "outsider", sdk, endpoint, server.project)
        for page in ("owner", "outsider"):
            browser.value(page, "subscribe", "files", ["files"])
            browser.value(page, "realtimeReady", 1, WAIT_MS)

        private = upload(http, new_bucket(http, f"user:{owner}"))
        event = f"buckets.{private['bucketId']}.files.{private['$id']}.create"
        file_event(browser.value("owner", "waitForEvent", "files", event, WAIT_MS), private, "create")
        time.sleep(1)
        assert browser.log("outsider")["realtime"]["messages"]["files"] == []

        shared = upload(http, new_bucket(http, "users"))
        event = f"buckets.{shared['bucketId']}.files.{shared['$id']}.create"
        file_event(browser.value("outsider", "waitForEvent", "files", event, WAIT_MS), shared, "create")
        file_event(browser.value("owner", "waitForEvent", "files", event, WAIT_MS), shared, "create")
        outsider, owner_log = browser.log("outsider"), browser.log("owner")
    assert [m["payload"]["$id"] for m in outsider["realtime"]["messages"]["files"]] == [shared["$id"]]
    assert [m["payload"]["$id"] for m in owner_log["realtime"]["messages"]["files"]] == [private["$id"], shared["$id"]]
    no_trouble(outsider)
    no_trouble(owner_log)


@pytest.mark.parametrize("sdk", SDKS)
def test_web_sdk_realtime_signs_in_by_message_without_the_cookie(chromium, node, app_origin, server, sdk):
    """Page on ``localhost``, API on ``127.0.0.1``: another site, so the browser sends the session
    cookie with neither the requests nor the socket's handshake (the legacy cookie is SameSite=Lax
    by default, the main one SameSite=None without Secure over http). The SDK keeps the session
    from X-Fallback-Cookies in localStorage and, told by ``connected`` that it is a guest, sends an
    ``authentication`` message: from then on the socket hears the user's account and the files
    only the user may read."""
    endpoint = server.endpoint
    assert "//127.0.0.1:" in endpoint and app_origin.startswith("http://localhost:")
    with BrowserSession(node, chromium, app_origin) as browser, server.http() as http:
        user_id = signed_in_page(browser, "app", sdk, endpoint, server.project)
        assert browser.value("app", "fallbackSession") is True
        browser.value("app", "subscribe", "main", ["account", "files"])
        [socket] = browser.value("app", "realtimeReady", 1, WAIT_MS)

        connected = connected_data(socket)
        assert connected["user"] is None  # no cookie on the handshake
        [authentication] = sent(socket, "authentication")
        assert authentication["data"]["session"]
        [answer] = answers(socket, "authentication")
        assert answer["success"] is True and answer["user"]["$id"] == user_id
        if sdk == "appwrite-newest":  # authenticated first, so the subscription is the user's
            assert [f["type"] for f in socket["sent"][:2]] == ["authentication", "subscribe"]
            [subscribed] = answers(socket, "subscribe")
            assert f"account.{user_id}" in subscribed["subscriptions"][0]["channels"]
        else:  # URL channels converted for a guest at connect
            assert connected["channels"] == ["account", "files"]

        assert browser.value("app", "updateName", "x")["name"] == "x"
        renamed = browser.value("app", "waitForEvent", "main", f"users.{user_id}.update.name", WAIT_MS)
        assert renamed["payload"]["$id"] == user_id and renamed["payload"]["name"] == "x"

        uploaded = upload(http, new_bucket(http, f"user:{user_id}"))
        event = f"buckets.{uploaded['bucketId']}.files.{uploaded['$id']}.create"
        file_event(browser.value("app", "waitForEvent", "main", event, WAIT_MS), uploaded, "create")
        log = browser.log("app")
    no_trouble(log)
    # Every API request carried the session by header: none was refused.
    assert all(r.get("status", 0) < 400 for r in log["requests"]), log["requests"]
