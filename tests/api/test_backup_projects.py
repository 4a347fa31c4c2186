"""Backup and restore of one project into a running instance (SQLite and PostgreSQL): replacing
the project (changes made after the backup undone, the other projects untouched), or as a new
project (`--as`: encrypted files sealed again under the new project's key)."""

from __future__ import annotations

import json
from dataclasses import replace

from account_support import sign_in
from backup_support import PASSWORD, assert_serves, backup, nib, seed, uid, upload


def _project_backup(server, dest: str, project: str = "default") -> str:
    done = nib("backup", "--to", dest, "--project", project, *server.storage_args())
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1].split()[1]


def test_project_restore_replaces_the_project(nib_with, tmp_path):
    source = nib_with()
    seeded = seed(source, files_per_bucket=1)
    other = nib("projects", "create", "other", "--name", "Other", *source.storage_args())
    assert other.returncode == 0, other.stderr
    dest = str(tmp_path / "dest")
    name = _project_backup(source, dest)
    manifest = json.loads((tmp_path / "dest" / "backups" / name / "manifest.json").read_text())
    assert (manifest["kind"], manifest["projects"], len(manifest["objects"])) == ("project", ["default"], 3)
    with source.http() as http:
        late = {"userId": uid("late"), "email": f"{uid('late')}@example.com", "password": PASSWORD}
        assert http.post("/users", json=late).status_code == 201
        bucket, file_id = next(iter(seeded.files))
        assert http.delete(f"/storage/buckets/{bucket}/files/{file_id}").status_code == 204
        upload(http, bucket, "late", b"uploaded after the backup")
        late_object = http.get(f"/storage/buckets/{bucket}/files/late").json()
    done = nib("restore", "--from", dest, "--project", "default", *source.storage_args())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"restored project default as default from backup {name}: 3 objects"
    assert_serves(source, seeded)  # the deleted file is back, byte-identical; passwords work
    with source.http() as http:
        assert http.get(f"/users/{late['userId']}").status_code == 404
        assert http.get(f"/storage/buckets/{bucket}/files/late").status_code == 404
        assert http.get("/users").json()["total"] == 3  # totals rebuilt by the triggers
        assert late_object["$id"] == "late"
    listed_projects = nib("projects", "list", *source.storage_args()).stdout
    assert "other\tOther\tenabled" in listed_projects


def test_project_restore_as_a_new_project(nib_with, tmp_path):
    source = nib_with()
    seeded = seed(source, files_per_bucket=1)
    dest = str(tmp_path / "dest")
    name = _project_backup(source, dest)
    done = nib("restore", "--from", dest, "--project", "default", "--as", "copy", *source.storage_args())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"restored project default as copy from backup {name}: 3 objects"
    key = nib("keys", "create", "--project", "copy", "--name", "k", *source.storage_args()).stdout.splitlines()[-1]
    with source.http(key=key, project="copy") as http:
        for (bucket, file_id), data in seeded.files.items():
            response = http.get(f"/storage/buckets/{bucket}/files/{file_id}/download")
            assert response.status_code == 200 and response.content == data  # encrypted ones re-sealed
        users = http.get("/users").json()
    assert sorted(u["email"] for u in users["users"]) == sorted(seeded.emails)
    for email in seeded.emails:
        sign_in(replace(source, project="copy"), email, PASSWORD)
    assert_serves(source, seeded)  # the original is untouched
    again = nib("restore", "--from", dest, "--project", "default", "--as", "copy", *source.storage_args())
    assert again.returncode == 1
    assert (
        again.stderr.strip().splitlines()[-1]
        == "error: project 'copy' exists: choose another --as, or restore over it without --as"
    )


def test_project_restore_from_a_full_backup(nib_with, tmp_path):
    source = nib_with()
    seeded = seed(source, files_per_bucket=1)
    dest = str(tmp_path / "dest")
    summary = backup(source, dest)
    with source.http() as http:
        bucket, file_id = next(iter(seeded.files))
        assert http.delete(f"/storage/buckets/{bucket}/files/{file_id}").status_code == 204
    done = nib("restore", "--from", dest, "--project", "default", *source.storage_args())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"restored project default as default from backup {summary.name}: 3 objects"
    assert_serves(source, seeded)
    # PostgreSQL's full backups without pg_dump (the row copy) give up a project as well.
    rows = nib("backup", "--to", dest, *source.storage_args(), env={"NIB_PG_DUMP": "none"})
    assert rows.returncode == 0, rows.stderr
    copied = nib("restore", "--from", dest, "--project", "default", "--as", "again", *source.storage_args())
    assert copied.returncode == 0, copied.stderr
    key = nib("keys", "create", "--project", "again", "--name", "k", *source.storage_args()).stdout.splitlines()[-1]
    assert_serves(replace(source, project="again", key=key), seeded)
    missing = nib("backup", "--to", dest, "--project", "nope", *source.storage_args())
    assert (missing.returncode, missing.stderr.strip().splitlines()[-1]) == (1, "error: there is no project 'nope'")
    absent = nib("restore", "--from", dest, "--project", "nope", *source.storage_args())
    assert (absent.returncode, absent.stderr.strip().splitlines()[-1]) == (
        1,
        "error: the backup holds no project 'nope'",
    )
