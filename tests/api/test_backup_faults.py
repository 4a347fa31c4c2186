"""Backups under faults: SIGKILL mid-way (nothing listed, source untouched, a re-run completes),
a full destination disk (a small tmpfs mounted by the test), an unreachable S3 destination, and
PostgreSQL without pg_dump (the row copy inside one REPEATABLE READ transaction)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid

import pytest
from backup_support import assert_serves, backup, empty_target, listed, nib, seed, upload

from live_server import PG_AVAILABLE, create_pg_database, drop_pg_database, start_server, stop_server


def killed_once_copying_objects(*args: str) -> None:
    """Run ``nib ARGS`` and SIGKILL it as it starts on the objects (its progress says so)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nib", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in process.stderr:
        if line.startswith("objects: started"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(30)
    assert process.returncode == -signal.SIGKILL


def test_sigkill_during_backup_leaves_nothing_listed_and_a_rerun_completes(nib_with, tmp_path):
    source = nib_with()
    seeded = seed(source, files_per_bucket=10, size=400_000)
    dest = tmp_path / "dest"
    killed_once_copying_objects("backup", "--to", str(dest), *source.storage_args())
    assert listed(str(dest)) == []
    assert_serves(source, seeded)  # the source is untouched
    summary = backup(source, str(dest))
    assert [row[0] for row in listed(str(dest))] == [summary.name]
    assert sorted(p.name for p in (dest / "backups").iterdir()) == [summary.name]  # the killed run's part is gone
    with empty_target(source.backend, tmp_path / "restored") as target:
        assert target.restore(str(dest)).returncode == 0
        with target.serving(source.key) as restored:
            assert_serves(restored, seeded)


def test_sigkill_during_restore_and_a_rerun_completes(nib_with, tmp_path):
    source = nib_with()
    seeded = seed(source, files_per_bucket=10, size=400_000)
    dest = str(tmp_path / "dest")
    backup(source, dest)
    with empty_target(source.backend, tmp_path / "restored") as target:
        killed_once_copying_objects("restore", "--from", dest, *target.storage_args())
        done = target.restore(dest)  # the objects written so far are written again; the database last
        assert done.returncode == 0, done.stderr
        with target.serving(source.key) as restored:
            assert_serves(restored, seeded)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_destination_disk_is_a_clear_error(nib_with, small_disk):
    source = nib_with()
    seeded = seed(source, files_per_bucket=1)
    with source.http() as http:
        upload(http, next(iter(seeded.files))[0], "big", os.urandom(1 << 20))  # twice the disk
    done = nib("backup", "--to", str(small_disk / "dest"), *source.storage_args())
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: the backup destination {small_disk / 'dest'} is full"
    assert done.stdout == ""
    assert listed(str(small_disk / "dest")) == []


def test_an_unreachable_s3_destination_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = {"NIB_S3_ENDPOINT": f"http://127.0.0.1:{closed}", "NIB_S3_ACCESS_KEY": "k", "NIB_S3_SECRET_KEY": "s"}
    done = nib("backup", "--to", "s3://nowhere/nightly", "--data-dir", str(tmp_path / "d"), env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip().splitlines()[-1]
        == "error: the backup destination s3://nowhere/nightly is not reachable (or failing)"
    )
    listing = nib("backup", "list", "--from", "s3://nowhere/nightly", env=env)
    assert (listing.returncode, listing.stderr.strip().splitlines()[-1]) == (
        done.returncode,
        done.stderr.strip().splitlines()[-1],
    )


@pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable")
def test_postgresql_backup_without_pg_dump_restores(tmp_path):
    name = create_pg_database()
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    source = start_server("postgresql", tmp_path / "source", url)
    try:
        seeded = seed(source, files_per_bucket=1)
        dest = str(tmp_path / "dest")
        summary = backup(source, dest, env={"NIB_PG_DUMP": "none"})
        manifest = tmp_path / "dest" / "backups" / summary.name / "database.jsonl"
        assert manifest.is_file() and manifest.stat().st_size == summary.database_bytes
        with empty_target("postgresql", tmp_path / "restored") as target:
            done = target.restore(dest)
            assert done.returncode == 0, done.stderr
            with target.serving(source.key) as restored:
                assert_serves(restored, seeded)
                with restored.http() as http, source.http() as original:
                    assert http.get("/users").json()["total"] == original.get("/users").json()["total"]
                    # totals and search rebuilt by the triggers as the rows were loaded
                    email = seeded.emails[0]
                    assert [
                        u["email"] for u in http.get("/users", params={"search": email.split("@")[0]}).json()["users"]
                    ] == [email]
                    # seq counters continue after the loaded rows: a new user is created
                    body = {"userId": f"n{uuid.uuid4().hex[:12]}", "email": f"n{uuid.uuid4().hex[:8]}@example.com"}
                    assert http.post("/users", json=body).status_code == 201
    finally:
        stop_server(source)
        drop_pg_database(name)
    assert os.environ.get("NIB_PG_DUMP") != "none"
