"""Who receives realtime events (issue 13): exactly those who could read the resource through the
REST API at that moment — bucket and file permissions with and without fileSecurity, team
membership as it changes, the user's own account while its session lives — and delivery across
the workers of one `nib serve` and across two nib processes sharing PostgreSQL/SQLite and Redis."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

from account_support import as_member, member
from storage_support import multipart, new_bucket, unique_id
from teams_support import owned_team, teams_as, teams_as_key

from live_server import start_server, stop_server
from nib.auth.tables import sessions
from realtime_client import Subscriber

ANY_READ = ['read("any")']


def _upload(http, bucket_id: str, permissions: list[str] | None = None, name: str = "note.txt") -> dict:
    response = http.post(
        f"/storage/buckets/{bucket_id}/files", **multipart(unique_id("f"), name, b"hello", permissions)
    )
    assert response.status_code == 201, response.text
    return response.json()


# -- files ---------------------------------------------------------------------------------------


def test_file_events_follow_bucket_read_permissions(server, http):
    reader, stranger = member(server), member(server)
    bucket = new_bucket(server, permissions=[f'read("user:{reader.user["$id"]}")'], file_security=False)
    with (
        Subscriber(server, ["files"], session=reader.session) as allowed,
        Subscriber(server, ["files"], session=stranger.session) as other,
        Subscriber(server, ["files"]) as anonymous,
    ):
        created = _upload(http, bucket)
        data = allowed.event_named(f"buckets.{bucket}.files.{created['$id']}.create")
        assert data["payload"] == created
        assert f"buckets.{bucket}.files.{created['$id']}" in data["channels"]
        other.quiet()
        anonymous.quiet()


def test_guests_receive_what_any_may_read(server, http):
    bucket = new_bucket(server, permissions=ANY_READ, file_security=False)
    with Subscriber(server, [f"buckets.{bucket}.files"]) as anonymous:
        created = _upload(http, bucket)
        assert (
            anonymous.event_named(f"buckets.{bucket}.files.{created['$id']}.create")["payload"]["$id"] == created["$id"]
        )
        assert http.delete(f"/storage/buckets/{bucket}/files/{created['$id']}").status_code == 204
        deleted = anonymous.event_named(f"buckets.{bucket}.files.{created['$id']}.delete")
        assert deleted["payload"] == created


def test_with_file_security_the_files_own_read_roles_count_too(server, http):
    owner, friend = member(server), member(server)
    bucket = new_bucket(server, permissions=[f'read("user:{owner.user["$id"]}")'], file_security=True)
    with (
        Subscriber(server, ["files"], session=owner.session) as by_bucket,
        Subscriber(server, ["files"], session=friend.session) as by_file,
    ):
        shared = _upload(http, bucket, [f'read("user:{friend.user["$id"]}")'])
        assert by_bucket.event()["payload"]["$id"] == shared["$id"]
        assert by_file.event()["payload"]["$id"] == shared["$id"]
        private = _upload(http, bucket)
        assert by_bucket.event()["payload"]["$id"] == private["$id"]
        by_file.quiet()


def test_without_file_security_the_files_own_permissions_grant_nothing(server, http):
    owner, friend = member(server), member(server)
    bucket = new_bucket(server, permissions=[f'read("user:{owner.user["$id"]}")'], file_security=False)
    with Subscriber(server, ["files"], session=friend.session) as friend_socket:
        _upload(http, bucket, [f'read("user:{friend.user["$id"]}")'])
        friend_socket.quiet()


def test_a_bucket_made_private_stops_delivery(server, http):
    bucket = new_bucket(server, permissions=ANY_READ, file_security=False)
    with Subscriber(server, ["files"]) as anonymous:
        first = _upload(http, bucket)
        assert anonymous.event()["payload"]["$id"] == first["$id"]
        updated = http.put(
            f"/storage/buckets/{bucket}", json={"name": "Files", "permissions": [], "fileSecurity": False}
        )
        assert updated.status_code == 200, updated.text
        _upload(http, bucket)
        anonymous.quiet()


def test_subscription_queries_pick_events_by_payload(server, http):
    bucket = new_bucket(server, permissions=ANY_READ, file_security=False)
    with Subscriber(server) as sub:
        sub.subscribe(
            {
                "subscriptionId": "pngs",
                "channels": ["files"],
                "queries": ['{"method":"equal","attribute":"name","values":["a.png"]}'],
            },
            {"subscriptionId": "all", "channels": [f"buckets.{bucket}.files"]},
        )
        _upload(http, bucket, name="a.png")
        assert sub.event()["subscriptions"] == ["pngs", "all"]
        _upload(http, bucket, name="b.txt")
        assert sub.event()["subscriptions"] == ["all"]


# -- account -------------------------------------------------------------------------------------


def test_account_events_reach_only_the_user(server, users):
    who, other = member(server), member(server)
    with (
        Subscriber(server, ["account"], session=who.session) as mine,
        Subscriber(server, ["account"], session=other.session) as theirs,
        Subscriber(server, ["account"]) as anonymous,
    ):
        users.update_name(who.user["$id"], "Renamed")
        data = mine.event()
        assert f"users.{who.user['$id']}.update.name" in data["events"]
        assert data["payload"]["name"] == "Renamed"
        theirs.quiet()
        anonymous.quiet()


def test_authenticating_by_message_starts_account_delivery(server, users):
    """The 1.5-era Web SDK connects with its URL channels, then sends the fallback session."""
    who = member(server)
    with Subscriber(server, ["account"]) as sub:
        users.update_name(who.user["$id"], "Unseen")
        sub.quiet()
        assert sub.request("authentication", {"session": who.session})["data"]["success"] is True
        users.update_name(who.user["$id"], "Seen")
        data = sub.event()
        assert data["payload"]["name"] == "Seen"
        assert data["channels"][:2] == ["account", f"account.{who.user['$id']}"]
        assert data["subscriptions"] == sub.connected["data"]["subscriptions"]


def test_a_deleted_session_stops_the_connections_delivery(server):
    who = member(server)
    _, second = _second_session(server, who)
    with (
        Subscriber(server, ["account"], session=who.session) as first_socket,
        Subscriber(server, ["account"], session=second) as second_socket,
        as_member(server, who, **{"X-Appwrite-Session": second}) as http,
    ):
        assert http.patch("/account/name", json={"name": "Before"}).status_code == 200
        assert first_socket.event()["payload"]["name"] == "Before"
        assert second_socket.event()["payload"]["name"] == "Before"
        assert http.delete(f"/account/sessions/{who.session_id}").status_code == 204
        # Both hear of the deletion (the last event the first connection may see, as Appwrite);
        # from then on the first one is a guest.
        for sub in (first_socket, second_socket):
            deleted = sub.event()
            assert f"users.{who.user['$id']}.sessions.{who.session_id}.delete" in deleted["events"]
        assert http.patch("/account/name", json={"name": "After"}).status_code == 200
        assert second_socket.event()["payload"]["name"] == "After"
        first_socket.quiet()


def test_an_expired_session_stops_delivery(server, db, users):
    who = member(server)
    soon = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    with db.write() as conn:
        conn.execute(
            sessions.update()
            .where(sessions.c.project_id == server.project, sessions.c.id == who.session_id)
            .values(expire=soon)
        )
    with Subscriber(server, ["account"], session=who.session) as sub:
        assert sub.connected["data"]["user"]["$id"] == who.user["$id"]
        time.sleep(2.5)
        users.update_name(who.user["$id"], "Late")
        sub.quiet()


def test_a_blocked_user_stops_receiving(server, users):
    who = member(server)
    with Subscriber(server, ["account"], session=who.session) as sub:
        users.update_status(who.user["$id"], False)
        assert sub.event()["payload"]["status"] is False  # the block itself is the last event
        users.update_name(who.user["$id"], "Blocked")
        sub.quiet()


def test_a_new_label_opens_a_bucket_on_the_next_event(server, http, users):
    who = member(server)
    bucket = new_bucket(server, permissions=['read("label:vip")'], file_security=False)
    with Subscriber(server, ["files", "account"], session=who.session) as sub:
        _upload(http, bucket)
        sub.quiet()
        users.update_labels(who.user["$id"], ["vip"])
        assert f"users.{who.user['$id']}.update.labels" in sub.event()["events"]
        created = _upload(http, bucket)
        assert sub.event()["payload"]["$id"] == created["$id"]


# -- teams ---------------------------------------------------------------------------------------


def test_team_events_follow_membership_as_it_changes(server):
    owner, team_id = owned_team(server)
    joiner = member(server)
    with Subscriber(server, ["teams", "memberships"], session=joiner.session) as sub:
        teams_as(server, owner).update_name(team_id, "Before")
        sub.quiet()
        created = teams_as_key(server).create_membership(team_id, ["editor"], user_id=joiner.user["$id"])
        # Added by a key: confirmed at once, so the new member receives its own membership event.
        data = sub.event()
        assert f"teams.{team_id}.memberships.{created.id}.create" in data["events"]
        assert data["payload"]["userId"] == joiner.user["$id"]
        teams_as(server, owner).update_name(team_id, "During")
        assert f"teams.{team_id}.update" in sub.event()["events"]
        teams_as(server, owner).delete_membership(team_id, created.id)
        removed = sub.event()  # hears of its removal, then nothing of the team
        assert f"teams.{team_id}.memberships.{created.id}.delete" in removed["events"]
        teams_as(server, owner).update_name(team_id, "After")
        sub.quiet()


def test_the_creator_of_a_team_receives_its_events(server):
    owner = member(server)
    with Subscriber(server, ["teams"], session=owner.session) as sub:
        team_id = unique_id("t")
        teams_as(server, owner).create(team_id, "Mine")
        assert f"teams.{team_id}.create" in sub.event()["events"]


# -- several processes -----------------------------------------------------------------------------


def _second_session(server, who) -> tuple[dict, str]:
    from account_support import sign_in

    return sign_in(server, who.email, who.password)


def _worker_pid(sub: Subscriber) -> int | None:
    """The pid of the server process holding this connection's other end (``ss``)."""
    port = sub.socket.local_address[1]
    listing = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[3].endswith(f":{port}") and "pid=" in line:
            return int(line.split("pid=")[1].split(",")[0])
    return None


def test_every_worker_delivers_every_event(nib_with):
    nib = nib_with(NIB_WORKERS="2")
    with nib.http() as http:
        bucket = http.post(
            "/storage/buckets", json={"bucketId": unique_id(), "name": "b", "permissions": ANY_READ}
        ).json()["$id"]
        subs: list[Subscriber] = []
        try:
            pids: set[int] = set()
            while len(pids) < 2 and len(subs) < 60:
                subs.append(Subscriber(nib, ["files"]))
                pid = _worker_pid(subs[-1])
                assert pid is not None
                pids.add(pid)
            assert len(pids) == 2, "every connection landed on one worker"
            for _ in range(4):  # writes handled by either worker
                created = _upload(http, bucket)
                for sub in subs:
                    assert sub.event()["payload"]["$id"] == created["$id"]
        finally:
            for sub in subs:
                sub.close()


def test_two_nib_processes_share_events_through_redis(server, nib_with, tmp_path):
    redis = {"NIB_REDIS_URL": "redis://127.0.0.1:6379/0"}
    first = nib_with(**redis)
    data_dir = first.data_dir if first.backend == "sqlite" else tmp_path / "second"
    second = start_server(first.backend, data_dir, first.database_url, env=redis, key=first.key)
    try:
        with first.http() as writer:
            bucket = writer.post(
                "/storage/buckets", json={"bucketId": unique_id(), "name": "b", "permissions": ANY_READ}
            ).json()["$id"]
            with Subscriber(second, [f"buckets.{bucket}.files"]) as sub:
                created = _upload(writer, bucket)
                assert sub.event()["payload"] == created
    finally:
        stop_server(second)


def test_a_rolled_back_write_announces_nothing(server, http):
    bucket = new_bucket(server, permissions=ANY_READ, file_security=False, maximum_file_size=3)
    with Subscriber(server, ["files"]) as sub:
        response = http.post(f"/storage/buckets/{bucket}/files", **multipart(unique_id("f"), "big.txt", b"too large"))
        assert response.status_code == 400
        sub.quiet()


def test_a_client_that_stops_reading_is_disconnected_not_buffered(server, users, http):
    """256 frames waiting for one connection close it (1013); the server goes on serving."""
    who = member(server)
    bulky = {"blob": "x" * 60000}  # each event ~60 kB: the socket buffers fill after a few hundred
    with (
        Subscriber(server, ["account"], session=who.session) as idle,
        Subscriber(server, ["account"], session=who.session) as reader,
    ):
        received = 0
        for _ in range(700):
            users.update_prefs(who.user["$id"], bulky)
            reader.event()  # a client that reads keeps up
            received += 1
        code, frames = idle.closed_with(timeout=30)
        assert code == 1013
        assert 0 < len(frames) < 700
        assert received == 700
    assert http.get("/health").status_code == 200


def test_deleting_a_team_or_a_user_is_their_connections_last_event(server, users):
    owner, team_id = owned_team(server)
    with Subscriber(server, ["teams", "account"], session=owner.session) as sub:
        teams_as(server, owner).delete(team_id)
        deleted = sub.event()
        assert deleted["events"][0] == f"teams.{team_id}.delete"
        assert deleted["payload"]["$id"] == team_id
        users.delete(owner.user["$id"])
        gone = sub.event()
        assert gone["events"][0] == f"users.{owner.user['$id']}.delete"
        assert gone["payload"]["$id"] == owner.user["$id"] and "password" not in gone["payload"]
        sub.quiet()
