"""The clean-up (`nib cleanup`, and the job `nib serve` runs every --cleanup-every): exactly what
has expired or aged out goes, each kind through its domain, in batches; abandoned uploads' parts
leave the device (local disk and S3); two servers on one database never run it at once; requests
are served while it deletes many rows.

Rows no API makes on demand (MFA and passkey challenges, console sessions, thousands of expired
sessions) are seeded into the test's own connection, and rows are aged by moving their
timestamps there: that is set-up, the deleting is nib's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from storage_support import leftovers, new_bucket, send_chunk

from live_server import NibServer, start_server, stop_server
from nib.account.tables import challenges, passkey_challenges
from nib.auth.tables import console_sessions, memberships, passkeys, sessions, tokens
from nib.data.db import Database
from nib.data.db.schema import audit_logs, instance_values
from nib.storage.tables import files
from nib.tools import dates
from nib.tools.config import Settings
from s3_server import new_bucket as new_s3_bucket
from s3_server import s3_env


def _database(nib: NibServer) -> Database:
    return Database(Settings.from_env(data_dir=nib.data_dir, database_url=nib.database_url).resolved_database_url)


def _cleanup(nib: NibServer, *args: str) -> dict[str, str]:
    """`nib cleanup` on ``nib``'s storage (and device): each kind's printed line, by kind."""
    command = [sys.executable, "-m", "nib", "cleanup", *args, *nib.storage_args()]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=300, env={**os.environ, **nib.env}
    )
    return dict(line.split(": ", 1) for line in done.stdout.splitlines())


def _ids(database: Database, table: sa.Table, *where) -> set[str]:
    with database.read() as conn:
        return set(conn.execute(sa.select(table.c.id).where(*where)).scalars())


def _age(database: Database, table: sa.Table, ids, **values) -> None:
    with database.write() as conn:
        conn.execute(table.update().where(table.c.id.in_(list(ids))).values(**values))


def _row(**values) -> dict:
    now = dates.now()
    return {"project_id": "default", "id": uuid.uuid4().hex[:20], "created_at": now, "updated_at": now, **values}


def _user_with_sessions_and_tokens(http: httpx.Client) -> tuple[str, list[str], list[str]]:
    user_id = uuid.uuid4().hex[:20]
    assert http.post("/users", json={"userId": user_id, "email": f"{user_id}@example.com"}).status_code == 201
    session_ids = [http.post(f"/users/{user_id}/sessions").json()["$id"] for _ in range(3)]
    token_ids = [http.post(f"/users/{user_id}/tokens", json={"expire": 600}).json()["$id"] for _ in range(3)]
    return user_id, session_ids, token_ids


def test_cleanup_removes_exactly_what_expired(nib_with):
    nib = nib_with(NIB_CLEANUP_EVERY="off")
    database = _database(nib)
    past, future = dates.now() - timedelta(minutes=1), dates.now() + timedelta(hours=1)
    with nib.http() as http:
        user_id, session_ids, token_ids = _user_with_sessions_and_tokens(http)
    _age(database, sessions, session_ids[:2], expire=past)
    _age(database, tokens, token_ids[:2], expire=past)
    with database.write() as conn:
        mfa = [_row(user_id=user_id, type="email", expire=when) for when in (past, past, future)]
        conn.execute(challenges.insert(), mfa)
        webauthn = [
            _row(type="authentication", relying_party="x", challenge="y", expire=when) for when in (past, future)
        ]
        conn.execute(passkey_challenges.insert(), webauthn)
        # A registration started 6 minutes ago (its 5-minute challenge is over) and one just now.
        pending = [
            _row(user_id=user_id, user_handle="h", transports=[], created_at=when)
            for when in (dates.now() - timedelta(minutes=6), dates.now())
        ]
        conn.execute(passkeys.insert(), pending)
        console = [
            {"admin_id": "a", "secret_hash": uuid.uuid4().hex, "csrf_hash": "c", "expire": when, "created_at": past}
            for when in (past, future)
        ]
        conn.execute(console_sessions.insert(), console)
        # Invitations sent 8 days ago (over) and 6 days ago (still open), and a member who joined
        # 8 days ago: only the first goes.
        invites = [
            _row(
                team_id="t",
                user_id=uuid.uuid4().hex[:20],
                roles=[],
                invited=dates.now() - timedelta(days=days),
                confirm=confirm,
            )
            for days, confirm in ((8, False), (6, False), (8, True))
        ]
        conn.execute(memberships.insert(), invites)
        entries = conn.execute(sa.select(audit_logs.c.seq).order_by(audit_logs.c.seq)).scalars().all()
        old = entries[:3]
        conn.execute(audit_logs.update().where(audit_logs.c.seq.in_(old)).values(time=dates.now() - timedelta(days=15)))

    counts = _cleanup(nib)

    assert counts["sessions"] == "2" and counts["tokens"] == "2"
    assert counts["mfa challenges"] == "2" and counts["passkey challenges"] == "1"
    assert counts["passkey registrations"] == "1" and counts["console sessions"] == "1"
    assert counts["audit logs"] == "3" and counts["abandoned uploads"] == "0"
    assert counts["console set-up links"] == "0"  # made at start, valid for an hour
    assert counts["invitations"] == "1"
    assert _ids(database, memberships, memberships.c.team_id == "t") == {invites[1]["id"], invites[2]["id"]}
    assert _ids(database, sessions) == {session_ids[2]}
    assert _ids(database, tokens) == {token_ids[2]}
    assert _ids(database, challenges) == {mfa[2]["id"]}
    assert _ids(database, passkey_challenges) == {webauthn[1]["id"]}
    assert _ids(database, passkeys) == {pending[1]["id"]}
    with database.read() as conn:
        assert conn.execute(sa.select(console_sessions.c.secret_hash)).scalars().all() == [console[1]["secret_hash"]]
        kept = conn.execute(sa.select(audit_logs.c.seq).order_by(audit_logs.c.seq)).scalars().all()
    assert kept == entries[3:]
    with nib.http() as http:  # the fresh session still signs in; the user's list shows only it
        listed = http.get(f"/users/{user_id}/sessions").json()
    assert [session["$id"] for session in listed["sessions"]] == [session_ids[2]]

    # An expired set-up link goes too (and a second run finds nothing left to do).
    with database.write() as conn:
        value = conn.execute(
            sa.select(instance_values.c.value).where(instance_values.c.name == "console_setup")
        ).scalar()
        digest = value.partition("|")[0]
        expired = f"{digest}|{(dates.now() - timedelta(seconds=1)).isoformat()}"
        conn.execute(instance_values.update().where(instance_values.c.name == "console_setup").values(value=expired))
    again = _cleanup(nib)
    assert again["console set-up links"] == "1"
    assert {kind: count for kind, count in again.items() if kind != "console set-up links"} == dict.fromkeys(
        again.keys() - {"console set-up links"}, "0"
    )
    with database.read() as conn:
        assert conn.execute(sa.select(instance_values).where(instance_values.c.name == "console_setup")).first() is None
    database.dispose()


@pytest.mark.parametrize("store", ["local", "s3"])
def test_abandoned_uploads_go_with_their_parts(nib_with, store, request):
    env = {"NIB_CLEANUP_EVERY": "off"}
    if store == "s3":
        env.update(
            s3_env(request.getfixturevalue("s3_endpoint"), new_s3_bucket(request.getfixturevalue("s3_endpoint"))[0])
        )
    nib = nib_with(**env)
    database = _database(nib)
    bucket_id = new_bucket(nib)
    data = os.urandom(20)
    with nib.http() as http:
        started = []
        for name in ("old", "stale", "fresh"):  # the first of two chunks of each: uploads in progress
            file_id = f"{name}-{uuid.uuid4().hex[:8]}"
            answer = send_chunk(http, bucket_id, file_id, f"{name}.bin", data[:10], 0, total=len(data))
            assert answer.status_code == 201 and answer.json()["chunksUploaded"] == 1
            started.append(file_id)
        ready = send_chunk(http, bucket_id, "done", "done.bin", data, 0).json()["$id"]  # one chunk: complete
    assert len(leftovers(nib, bucket_id)) >= 3
    old, stale, fresh = started
    _age(database, files, [old], updated_at=dates.now() - timedelta(days=4))
    _age(database, files, [stale, ready], updated_at=dates.now() - timedelta(hours=2))

    assert _cleanup(nib)["abandoned uploads"] == "1"  # `old`: no chunk for more than 3 days
    assert _ids(database, files) == {stale, fresh, ready}
    assert _cleanup(nib, "--upload-abandoned-after", "1h")["abandoned uploads"] == "1"
    assert _ids(database, files) == {fresh, ready}
    with nib.http() as http:
        # The fresh upload completes; a chunk of a removed one is refused as for a deleted file.
        assert send_chunk(http, bucket_id, fresh, "fresh.bin", data[10:], 10, total=len(data)).status_code == 201
        assert http.get(f"/storage/buckets/{bucket_id}/files/{fresh}/download").content == data
        assert http.get(f"/storage/buckets/{bucket_id}/files/{ready}/download").content == data
        # A removed upload starts again from its first chunk, as after a delete.
        again = send_chunk(http, bucket_id, stale, "stale.bin", data[:10], 0, total=len(data))
        assert again.status_code == 201 and again.json()["chunksUploaded"] == 1
        assert send_chunk(http, bucket_id, stale, "stale.bin", data[10:], 10, total=len(data)).status_code == 201
        assert http.get(f"/storage/buckets/{bucket_id}/files/{stale}/download").content == data
    assert leftovers(nib, bucket_id) == []
    database.dispose()


def _expired_sessions(database: Database, count: int) -> None:
    past = dates.now() - timedelta(minutes=1)
    rows = [
        _row(user_id="u", secret_hash=uuid.uuid4().hex, expire=past, provider="email", client={}, factors=[])
        for _ in range(count)
    ]
    with database.write() as conn:
        conn.execute(sessions.insert(), rows)


def test_batches_of_500(nib_with):
    nib = nib_with(NIB_CLEANUP_EVERY="off")
    database = _database(nib)
    _expired_sessions(database, 1200)
    assert _cleanup(nib)["sessions"] == "1200 (batches: 500, 500, 200)"
    assert _ids(database, sessions) == set()
    _expired_sessions(database, 5)
    assert _cleanup(nib, "--batch", "2")["sessions"] == "5 (batches: 2, 2, 1)"
    database.dispose()


def test_requests_are_served_during_a_big_cleanup(nib_with):
    nib = nib_with(NIB_CLEANUP_EVERY="off")
    database = _database(nib)
    _expired_sessions(database, 30_000)
    command = [sys.executable, "-m", "nib", "cleanup", *nib.storage_args()]
    cleaning = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    served_mid_sweep = 0
    with nib.http() as http:
        while cleaning.poll() is None:
            user_id = uuid.uuid4().hex[:20]
            assert http.post("/users", json={"userId": user_id}).status_code == 201
            assert http.get(f"/users/{user_id}").status_code == 200
            with database.read() as conn:
                left = conn.execute(sa.select(sa.func.count()).select_from(sessions)).scalar()
            served_mid_sweep += 0 < left < 30_000
    assert cleaning.wait() == 0 and "sessions: 30000 (batches:" in cleaning.stdout.read()
    assert served_mid_sweep > 0
    assert _ids(database, sessions) == set()
    database.dispose()


_RUN = re.compile(r"^(\S+) INFO nib.cleanup clean-up removed (\d+) abandoned uploads, (\d+) sessions")


def test_the_job_runs_on_one_server_at_a_time(nib_with):
    every = 1.0
    env = {"NIB_CLEANUP_EVERY": f"{every}s"}
    first = nib_with(**env)
    second = start_server(first.backend, first.data_dir, first.database_url, env=env, key=first.key)
    database = _database(first)
    try:
        with first.http() as http:
            user_id, session_ids, _ = _user_with_sessions_and_tokens(http)
        _age(database, sessions, session_ids[:2], expire=dates.now() - timedelta(seconds=1))
        deadline = time.monotonic() + 30
        while _ids(database, sessions, sessions.c.user_id == user_id) != {session_ids[2]}:
            assert time.monotonic() < deadline, "the expired sessions are still there"
            time.sleep(0.2)
        time.sleep(4 * every)  # a few more runs, from either server
    finally:
        stop_server(second)
        stop_server(first)
        database.dispose()
    runs = []
    for server in (first, second):
        for line in server.output:
            found = _RUN.match(line)
            if found:
                runs.append((datetime.strptime(found[1], "%Y-%m-%dT%H:%M:%S.%fZ"), int(found[3])))
    runs.sort()
    assert len(runs) >= 4 and sum(removed for _, removed in runs) == 2
    # One run per interval whichever server ran it: never two at once, never two within `every`.
    gaps = [(later - earlier).total_seconds() for (earlier, _), (later, _) in zip(runs, runs[1:])]
    assert min(gaps) >= every * 0.9, gaps
