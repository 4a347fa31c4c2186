"""`nib backup` and `nib restore` of a whole instance, against real `nib serve` processes on
SQLite and PostgreSQL: taken while the server keeps writing, restored into an empty data dir or
database, then served again (passwords, file bytes); incremental objects; damaged and foreign
backups refused with nothing changed; list and prune; a second run at one directory refused; an S3
destination."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from account_support import sign_in
from backup_support import PASSWORD, Writer, assert_serves, backup, empty_target, listed, nib, seed, uid, upload

from live_server import BACKENDS
from nib.operations.destinations import DirectoryDestination
from s3_server import new_bucket, s3_env


def test_backup_while_writing_then_restore_and_serve(nib_with, tmp_path):
    source = nib_with(NIB_RATE_LIMITS="off")
    seeded = seed(source)
    dest = str(tmp_path / "dest")
    with Writer(source) as writer:
        while len(writer.statuses) < 5:
            pass
        summary = backup(source, dest)
    assert writer.statuses and set(writer.statuses) == {201}  # no write refused during the backup
    assert summary.objects == len(seeded.files) and summary.reused == 0
    assert summary.database_bytes > 0
    with empty_target(source.backend, tmp_path / "restored") as target:
        done = target.restore(dest)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"restored backup {summary.name}: {len(seeded.files)} objects"
        with target.serving(source.key) as restored:
            assert_serves(restored, seeded)
            with restored.http() as http:
                total = http.get("/users").json()["total"]
            assert total >= 3 + 5  # the seeded users and those created before the backup started
        again = target.restore(dest)
        assert again.returncode == 1
        assert again.stderr.strip().startswith("error: the target database is not empty")


def test_second_backup_copies_only_new_objects(nib_with, tmp_path):
    source = nib_with()
    seeded = seed(source, files_per_bucket=1)
    dest = str(tmp_path / "dest")
    first = backup(source, dest)
    with source.http() as http:
        bucket = next(iter(seeded.files))[0]
        for _ in range(2):
            file_id = uid("f")
            seeded.files[bucket, file_id] = uid("new content ").encode() * 100
            upload(http, bucket, file_id, seeded.files[bucket, file_id])
    second = backup(source, dest)
    assert (first.objects, first.reused) == (3, 0)
    assert (second.objects, second.reused) == (5, 3)
    assert sum(1 for p in (tmp_path / "dest" / "objects").rglob("*") if p.is_file()) == 5
    names = [row[0] for row in listed(dest)]
    assert names == [first.name, second.name]
    with empty_target(source.backend, tmp_path / "restored") as target:
        done = target.restore(dest, "--backup", first.name)
        assert done.returncode == 0, done.stderr
        with target.serving(source.key) as restored, restored.http() as http:
            files = [f["$id"] for f in http.get(f"/storage/buckets/{bucket}/files").json()["files"]]
        assert len(files) == 1  # the first backup's state


def test_a_capped_backup_copies_no_faster_than_its_rate(nib_with, tmp_path):
    source = nib_with()
    seeded = seed(source, files_per_bucket=2, size=100_000)
    dest = str(tmp_path / "dest")
    started = time.monotonic()
    summary = backup(source, dest, "--max-rate", "100k")
    took = time.monotonic() - started
    assert summary.objects == len(seeded.files) and summary.object_bytes > 150_000
    # Every byte of the database part and of the objects passed the cap: the run cannot have
    # been quicker than they take at 100 kB/s, but for its last chunk (an object at most).
    total = summary.database_bytes + summary.object_bytes
    assert took >= (total - 100_016) / 100_000, (took, summary)
    assert [row[0] for row in listed(dest)] == [summary.name]
    refused = nib("backup", "--to", dest, "--max-rate", "0", *source.storage_args())
    assert refused.returncode == 2
    assert "Invalid value for '--max-rate': '0' is not a rate: give a positive number" in refused.stderr


def _damage(dest: Path, manifest: dict, what: str) -> None:
    name = sorted(p.name for p in (dest / "backups").iterdir())[-1]
    manifest_path = dest / "backups" / name / "manifest.json"
    if what == "object":
        sha = manifest["objects"][0]["sha256"]
        target = dest / "objects" / sha[:2] / sha
        target.write_bytes(target.read_bytes()[:-1] + b"?")
    elif what == "database":
        part = dest / "backups" / name / manifest["database"]["file"]
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))
    elif what == "missing object":
        sha = manifest["objects"][0]["sha256"]
        (dest / "objects" / sha[:2] / sha).unlink()
    elif what == "newer format":
        manifest_path.write_text(json.dumps({**manifest, "version": 2}))
    elif what == "newer schema":
        manifest_path.write_text(json.dumps({**manifest, "schema": "9999_from_the_future"}))


@pytest.mark.parametrize(
    "what, message",
    [
        ("object", "the backup is damaged: its object"),
        ("missing object", "the backup is damaged: its object"),
        ("database", "the backup is damaged: its database part does not match its checksum"),
        ("newer format", "the backup's format version 2 is newer than this nib's (1)"),
        ("newer schema", "the backup's schema revision '9999_from_the_future' is unknown to this nib"),
    ],
)
def test_a_damaged_or_newer_backup_is_refused_and_nothing_changes(nib_with, tmp_path, what, message):
    source = nib_with()
    seed(source, files_per_bucket=1)
    dest = tmp_path / "dest"
    backup(source, str(dest))
    name = sorted(p.name for p in (dest / "backups").iterdir())[-1]
    manifest = json.loads((dest / "backups" / name / "manifest.json").read_text())
    _damage(dest, manifest, what)
    with empty_target(source.backend, tmp_path / "restored") as target:
        done = target.restore(str(dest))
        assert done.returncode == 1
        assert done.stderr.strip().splitlines()[-1].startswith(f"error: {message}"), done.stderr
        assert "Traceback" not in done.stderr
        assert not target.data_dir.exists()  # no database file, no objects
        if target.database_url:
            checked = nib("projects", "list", *target.storage_args())
            assert checked.returncode == 0 and checked.stdout == ""


def test_list_and_prune(nib_with, tmp_path):
    source = nib_with()
    dest = tmp_path / "dest"
    with source.http() as http:
        bucket = uid("b")
        assert http.post("/storage/buckets", json={"bucketId": bucket, "name": "B"}).status_code == 201
        upload(http, bucket, "gone", b"deleted before the last backup")
        first = backup(source, str(dest))
        assert http.delete(f"/storage/buckets/{bucket}/files/gone").status_code == 204
        upload(http, bucket, "kept", b"still here")
        second = backup(source, str(dest))
    (dest / "backups" / "20260101T000000.000Z").mkdir()  # a killed run's leftovers
    (dest / "backups" / "20260101T000000.000Z" / "database.sqlite").write_bytes(b"half")
    rows = listed(str(dest))
    assert [row[0] for row in rows] == [first.name, second.name]
    assert [(row[2], row[4]) for row in rows] == [("full", "1"), ("full", "1")]
    assert int(rows[0][3]) == first.database_bytes + first.object_bytes
    pruned = nib("backup", "prune", "--from", str(dest), "--keep", "1")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.strip() == "pruned 1 backups and 1 objects"
    assert [row[0] for row in listed(str(dest))] == [second.name]
    assert sum(1 for p in (dest / "objects").rglob("*") if p.is_file()) == 1
    third = backup(source, str(dest))
    assert sorted(p.name for p in (dest / "backups").iterdir()) == [second.name, third.name]  # leftovers cleaned


def test_a_second_backup_or_prune_at_one_directory_is_refused(nib_with, tmp_path):
    source = nib_with()
    dest = tmp_path / "dest"
    first = backup(source, str(dest))
    (dest / "backups" / "20260101T000000.000Z").mkdir()  # what a run in progress has written so far
    before = sorted(p.relative_to(dest) for p in dest.rglob("*"))
    with DirectoryDestination(dest).exclusive():  # held as a running backup holds it
        for args in (
            ("backup", "--to", str(dest), *source.storage_args()),
            ("backup", "prune", "--from", str(dest), "--keep", "1"),
        ):
            refused = nib(*args)
            assert refused.returncode == 1
            assert (
                refused.stderr == f"error: another backup or prune is running at {dest}: try again when it has ended\n"
            )
        assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == before
    second = backup(source, str(dest))  # once it has ended
    assert [row[0] for row in listed(str(dest))] == [first.name, second.name]


def test_s3_destination_end_to_end(nib_with, tmp_path, s3_endpoint):
    source = nib_with()
    seeded = seed(source, files_per_bucket=1)
    bucket, admin = new_bucket(s3_endpoint)
    env = s3_env(s3_endpoint, "unused")
    env.pop("NIB_STORAGE_DEVICE")  # the source keeps its files on local disk; only the backup is on S3
    dest = f"s3://{bucket}/nightly"
    first = backup(source, dest, env=env)
    second = backup(source, dest, env=env)
    assert (second.objects, second.reused) == (3, 3)
    assert [row[0] for row in listed(dest, env)] == [first.name, second.name]
    keys = {obj["Key"] for obj in admin.list_objects_v2(Bucket=bucket)["Contents"]}
    assert all(key.startswith("nightly/") for key in keys)
    assert sum(key.startswith("nightly/objects/") for key in keys) == 3
    with empty_target(source.backend, tmp_path / "restored") as target:
        done = target.restore(dest, env=env)
        assert done.returncode == 0, done.stderr
        with target.serving(source.key) as restored:
            assert_serves(restored, seeded)


def test_a_missing_destination_is_a_clear_error(tmp_path):
    done = nib("backup", "list", "--from", str(tmp_path / "nothing"))
    assert done.returncode == 0 and done.stdout == ""
    refused = nib("restore", "--from", str(tmp_path / "nothing"), "--data-dir", str(tmp_path / "d"))
    assert refused.returncode == 1
    assert refused.stderr == "error: no complete backup at this destination\n"
    assert PASSWORD  # the shared password of the seeded users


def test_a_file_whose_object_went_away_is_left_out(nib_with, tmp_path):
    # A file deleted after the snapshot was read: its row is in the copy, its object gone. Removing
    # the object by hand makes that moment certain.
    source = nib_with()
    seeded = seed(source, files_per_bucket=1)
    (bucket, file_id), _ = next(iter(seeded.files.items()))
    with source.http() as http:
        assert http.get(f"/storage/buckets/{bucket}/files/{file_id}").status_code == 200
    [stored] = [p for p in (source.data_dir / "storage" / "default" / bucket / file_id).iterdir() if p.is_file()]
    stored.unlink()
    dest = tmp_path / "dest"
    done = nib("backup", "--to", str(dest), *source.storage_args())
    assert done.returncode == 0, done.stderr
    assert "1 files were deleted while the backup ran: left out" in done.stderr
    name = done.stdout.split()[1]
    manifest = json.loads((dest / "backups" / name / "manifest.json").read_text())
    assert manifest["missing"] == [stored.relative_to(source.data_dir / "storage").as_posix()]
    with empty_target(source.backend, tmp_path / "restored") as target:
        restored_run = target.restore(str(dest))
        assert restored_run.returncode == 0, restored_run.stderr
        assert f"file object {manifest['missing'][0]} was deleted while the backup ran" in restored_run.stderr
        del seeded.files[bucket, file_id]
        with target.serving(source.key) as restored:
            assert_serves(restored, seeded)
            with restored.http() as http:
                assert http.get(f"/storage/buckets/{bucket}/files/{file_id}").status_code == 404


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backup_of_an_older_schema_is_restored_then_migrated(backend, tmp_path):
    """A backup an older nib took (its database one migration behind) restores, and the restore
    brings it to this nib's schema: the server starts on it and serves its users."""
    from nib.auth.projects import DEFAULT_PROJECT, create_key, create_project
    from nib.data.db import Database
    from nib.data.db.migrate import current_revision, head_revision, upgrade
    from nib.operations import backups
    from nib.operations.destinations import open_destination
    from nib.operations.progress import progress
    from nib.storage.devices import open_device
    from nib.tools.config import Settings
    from nib.users.service import create_user

    older = "0012"
    assert head_revision() != older
    email = f"{uid('old')}@example.com"
    with empty_target(backend, tmp_path / "old") as old:
        settings = Settings.from_env(data_dir=old.data_dir, database_url=old.database_url)
        old.data_dir.mkdir(parents=True)
        db = Database(settings.resolved_database_url, pool_size=2)
        try:
            upgrade(db, older)
            create_project(db, project_id=DEFAULT_PROJECT, name="Older")
            key = create_key(db, project_id=DEFAULT_PROJECT, name="old key")["secret"]
            create_user(db, project_id=DEFAULT_PROJECT, user_id=uid("u"), email=email, password=PASSWORD)
            dest = str(tmp_path / "dest")
            with progress(bars=False) as shown:
                taken = backups.take(db, settings, open_device(settings), open_destination(dest, settings), shown)
        finally:
            db.dispose()
    assert json.loads((tmp_path / "dest" / "backups" / taken.name / "manifest.json").read_text())["schema"] == older
    with empty_target(backend, tmp_path / "restored") as target:
        done = target.restore(dest)
        assert done.returncode == 0, done.stderr
        restored_db = Database(
            Settings.from_env(data_dir=target.data_dir, database_url=target.database_url).resolved_database_url
        )
        try:
            with restored_db.read() as conn:
                assert current_revision(conn) == head_revision()
        finally:
            restored_db.dispose()
        with target.serving(key) as restored:
            sign_in(restored, email, PASSWORD)
            with restored.http() as http:
                assert http.get("/users").json()["total"] == 1
