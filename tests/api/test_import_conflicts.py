"""`nib import` into a project that already holds data: conflicts handled per --on-conflict and
reported per record, re-runs that find everything `unchanged`, an import killed mid-way and run
again, inputs it refuses (a newer format version, something that is not an export), records that
fail alone; and an export that cannot read a file's bytes."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import uuid

import httpx
from exchange_support import every, export, import_, nib_command, report_counts
from users_support import fresh_project

from nib.operations.exchange import ExportWriter

OLD_BYTES = b"the original bytes\n" * 100
NEW_BYTES = b"bytes written on the target\n" * 100


def _ok(response, status=200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _upload(http, bucket_id: str, file_id: str, data: bytes) -> None:
    body = {"data": {"fileId": file_id}, "files": {"file": ("notes.txt", data)}}
    _ok(http.post(f"/storage/buckets/{bucket_id}/files", **body), 201)


def _seed(server, project: str, key: str, email: dict[str, str]) -> None:
    with server.http(key=key, project=project) as http:
        for user_id in ("ua", "ub"):
            body = {
                "userId": user_id,
                "email": email[user_id],
                "password": f"{user_id}-password-1",
                "name": user_id.upper(),
            }
            _ok(http.post("/users", json=body), 201)
        _ok(http.post("/teams", json={"teamId": "tt", "name": "Team"}), 201)
        for user_id in ("ua", "ub"):
            _ok(http.post("/teams/tt/memberships", json={"userId": user_id, "roles": ["member"]}), 201)
        _ok(http.post("/storage/buckets", json={"bucketId": "bb", "name": "Bucket", "encryption": True}), 201)
        _upload(http, "bb", "ff", OLD_BYTES)


def _conflict_lines(stdout: str) -> list[str]:
    """The lines under "Conflicts (N):" of an import report."""
    lines = stdout.splitlines()
    for number, line in enumerate(lines):
        if found := re.match(r"Conflicts \((\d+)\):", line):
            return [entry.strip() for entry in lines[number + 1 : number + 1 + int(found[1])]]
    return []


def test_conflicts_skip_fail_overwrite(server, tmp_path):
    source, source_key = fresh_project(server)
    tag = uuid.uuid4().hex[:8]
    email = {"ua": f"ua.{tag}@example.com", "ub": f"ub.{tag}@example.com"}
    _seed(server, source, source_key, email)
    assert export(server, source, tmp_path / "out").returncode == 0

    target, key = fresh_project(server)
    first = import_(server, target, tmp_path / "out")
    assert first.returncode == 0, first.stdout + first.stderr
    assert all(counted["created"] > 0 for counted in report_counts(first.stdout).values())

    # The target moves on: a rename, a user replaced by another with the same e-mail, a team
    # renamed, a file uploaded again with other bytes.
    with server.http(key=key, project=target) as http:
        _ok(http.patch("/users/ua/name", json={"name": "Changed"}))
        assert http.delete("/users/ub").status_code == 204
        _ok(http.post("/users", json={"userId": "ux", "email": email["ub"], "password": "ux-password-1"}), 201)
        _ok(http.put("/teams/tt", json={"name": "Renamed"}))
        assert http.delete("/storage/buckets/bb/files/ff").status_code == 204
        _upload(http, "bb", "ff", NEW_BYTES)

    skipped = import_(server, target, tmp_path / "out", "--on-conflict", "skip")
    # ub's membership cannot come without ub: a failure, so the exit status says so.
    assert skipped.returncode == 1, skipped.stdout
    assert _conflict_lines(skipped.stdout) == [
        "users/ua: user ua is stored with other content -> skipped",
        f"users/ub: user ux has the email {email['ub']} -> skipped",
        "teams/tt: team tt is stored with other content -> skipped",
        "files/bb/ff: file bb/ff is stored with other content -> skipped",
    ]
    counts = report_counts(skipped.stdout)
    assert counts["users"] == {"created": 0, "unchanged": 0, "overwritten": 0, "skipped": 2, "failed": 0}
    assert counts["memberships"] == {"created": 0, "unchanged": 1, "overwritten": 0, "skipped": 0, "failed": 1}
    assert counts["buckets"]["unchanged"] == 1 and counts["files"]["skipped"] == 1
    assert re.search(r"memberships/\S+: user ub is not stored", skipped.stdout)
    with server.http(key=key, project=target) as http:
        assert _ok(http.get("/users/ua"))["name"] == "Changed"
        assert http.get("/users/ub").status_code == 404
        assert _ok(http.get("/users/ux"))["email"] == email["ub"]
        assert _ok(http.get("/teams/tt"))["name"] == "Renamed"
        assert http.get("/storage/buckets/bb/files/ff/download").content == NEW_BYTES

    failed = import_(server, target, tmp_path / "out", "--on-conflict", "fail")
    assert failed.returncode == 1
    assert _conflict_lines(failed.stdout) == ["users/ua: user ua is stored with other content -> stopped the import"]
    assert report_counts(failed.stdout) == {
        "users": {"created": 0, "unchanged": 0, "overwritten": 0, "skipped": 0, "failed": 1}
    }
    assert "Stopped at the first conflict" in failed.stdout
    with server.http(key=key, project=target) as http:
        assert _ok(http.get("/users/ux"))["email"] == email["ub"]  # nothing after the conflict ran

    overwritten = import_(server, target, tmp_path / "out", "--on-conflict", "overwrite")
    assert overwritten.returncode == 0, overwritten.stdout
    assert [line.rsplit(" -> ", 1)[1] for line in _conflict_lines(overwritten.stdout)] == ["overwritten"] * 4
    counts = report_counts(overwritten.stdout)
    assert counts["users"]["overwritten"] == 2 and counts["teams"]["overwritten"] == 1
    assert counts["memberships"] == {"created": 1, "unchanged": 1, "overwritten": 0, "skipped": 0, "failed": 0}
    assert counts["files"]["overwritten"] == 1
    with server.http(key=key, project=target) as http:
        assert _ok(http.get("/users/ua"))["name"] == "UA"
        assert http.get("/users/ux").status_code == 404  # replaced by ub, who had the e-mail
        assert _ok(http.get("/users/ub"))["email"] == email["ub"]
        team = _ok(http.get("/teams/tt"))
        assert team["name"] == "Team" and team["total"] == 2
        assert len(every(http, "/teams/tt/memberships", "memberships")) == 2
        assert http.get("/storage/buckets/bb/files/ff/download").content == OLD_BYTES
        assert _ok(http.get("/storage/buckets/bb"))["totalSize"] == len(OLD_BYTES)
        assert len(every(http, "/storage/buckets/bb/files", "files")) == 1
    with httpx.Client(base_url=server.endpoint, headers={"X-Appwrite-Project": target}) as guest:
        signed_in = guest.post("/account/sessions/email", json={"email": email["ub"], "password": "ub-password-1"})
        assert signed_in.status_code == 201, signed_in.text

    again = import_(server, target, tmp_path / "out")
    assert again.returncode == 0, again.stdout
    assert _conflict_lines(again.stdout) == []
    assert all(
        counted["unchanged"] > 0 and sum(counted.values()) == counted["unchanged"]
        for counted in report_counts(again.stdout).values()
    )


def _big_export(path, users: int) -> dict:
    """An export of many users (md5 passwords: nothing slow to hash), a team with members, and
    a bucket with files; written directly in the format."""
    writer = ExportWriter(
        path, project={"$id": "big", "name": "Big"}, kinds=["users", "teams", "memberships", "buckets", "files"]
    )
    created = "2026-01-02T03:04:05.678+00:00"
    for n in range(users):
        writer.add(
            "users",
            {
                "$id": f"user{n}",
                "$createdAt": created,
                "email": f"user{n}@example.com",
                "password": hashlib.md5(f"password-{n}".encode()).hexdigest(),
                "hash": "md5",
                "hashOptions": {"type": "md5"},
            },
        )
    writer.add("teams", {"$id": "many", "$createdAt": created, "name": "Many"})
    for n in range(0, users, 10):
        writer.add(
            "memberships",
            {
                "$id": f"m{n}",
                "$createdAt": created,
                "teamId": "many",
                "userId": f"user{n}",
                "roles": ["member"],
                "confirm": True,
            },
        )
    writer.add(
        "buckets",
        {"$id": "files", "$createdAt": created, "name": "Files", "maximumFileSize": 10_000_000, "compression": "gzip"},
    )
    contents = {}
    for n in range(3):
        data = f"file {n}\n".encode() * 5000
        size, md5 = writer.write_object("files", f"f{n}", [data])
        writer.add(
            "files",
            {
                "$id": f"f{n}",
                "bucketId": "files",
                "$createdAt": created,
                "name": f"f{n}.txt",
                "mimeType": "text/plain",
                "sizeOriginal": size,
                "signature": md5,
            },
        )
        contents[f"f{n}"] = data
    writer.finish()
    return contents


def test_killed_import_finishes_on_rerun(server, tmp_path):
    users = 1000
    contents = _big_export(tmp_path / "big", users)
    target = f"k{uuid.uuid4().hex[:12]}"
    process = subprocess.Popen(
        nib_command(server, "import", "--project", target, "--from", str(tmp_path / "big")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        found = re.match(r"import users: (\d+)/", line)
        if found and int(found[1]) >= users // 5:
            process.kill()  # SIGKILL: no clean-up of any kind
            break
    process.communicate()
    assert process.returncode == -9

    rerun = import_(server, target, tmp_path / "big")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    counts = report_counts(rerun.stdout)
    assert counts["users"]["unchanged"] >= users // 5 and counts["users"]["created"] > 0
    assert counts["users"]["created"] + counts["users"]["unchanged"] == users
    assert counts["memberships"]["created"] + counts["memberships"]["unchanged"] == users // 10
    assert counts["files"] == {"created": 3, "unchanged": 0, "overwritten": 0, "skipped": 0, "failed": 0}

    key = server.cli("keys", "create", "--project", target, "--name", "k").stdout.splitlines()[-1]
    with server.http(key=key, project=target) as http:
        listed = every(http, "/users", "users")
        assert len(listed) == users and len({user["$id"] for user in listed}) == users
        assert _ok(http.get("/teams/many"))["total"] == users // 10
        for file_id, data in contents.items():
            assert http.get(f"/storage/buckets/files/files/{file_id}/download").content == data
        assert _ok(http.get("/storage/buckets/files"))["totalSize"] == sum(map(len, contents.values()))

    third = import_(server, target, tmp_path / "big")
    assert third.returncode == 0
    assert all(sum(counted.values()) == counted["unchanged"] for counted in report_counts(third.stdout).values())
    with httpx.Client(base_url=server.endpoint, headers={"X-Appwrite-Project": target}) as guest:
        signed_in = guest.post("/account/sessions/email", json={"email": "user7@example.com", "password": "password-7"})
        assert signed_in.status_code == 201, signed_in.text


def test_refuses_what_it_cannot_read(server, tmp_path):
    source, key = fresh_project(server)
    assert export(server, source, tmp_path / "out").returncode == 0
    header_path = tmp_path / "out" / "export.json"
    header = json.loads(header_path.read_text())
    target = f"r{uuid.uuid4().hex[:12]}"

    header_path.write_text(json.dumps({**header, "version": 2}))
    newer = import_(server, target, tmp_path / "out")
    assert newer.returncode == 1
    assert "format version 2, newer than this nib reads (1)" in newer.stderr and "Traceback" not in newer.stderr
    header_path.write_text(json.dumps({**header, "format": "something-else"}))
    foreign = import_(server, target, tmp_path / "out")
    assert foreign.returncode == 1 and "is not a nib export" in foreign.stderr
    (tmp_path / "empty").mkdir()
    unfinished = import_(server, target, tmp_path / "empty")
    assert unfinished.returncode == 1 and "not a finished nib export: it has no export.json" in unfinished.stderr
    (tmp_path / "junk.tar").write_bytes(b"\x00junk" * 1000)
    junk = import_(server, target, tmp_path / "junk.tar")
    assert junk.returncode == 1 and "neither a nib export directory nor a tar archive" in junk.stderr
    assert target not in server.cli("projects", "list").stdout  # refused before anything was written

    unknown_kind = import_(server, target, tmp_path / "out", "--only", "users,pets")
    assert (
        unknown_kind.returncode == 2 and "give kinds among users,teams,memberships,buckets,files" in unknown_kind.stderr
    )
    no_project = export(server, f"n{uuid.uuid4().hex[:12]}", tmp_path / "none")
    assert no_project.returncode == 1 and "There is no project" in no_project.stderr
    assert not (tmp_path / "none").exists()


def test_bad_records_fail_alone(server, tmp_path):
    writer = ExportWriter(
        tmp_path / "bad",
        project={"$id": "bad", "name": "Bad"},
        kinds=["users", "teams", "memberships", "buckets", "files"],
    )
    created = "2026-01-02T03:04:05.678+00:00"
    writer.add("users", {"$id": "good", "$createdAt": created, "email": "good@example.com"})
    writer.add("users", {"$id": "nodate", "email": "nodate@example.com"})
    writer.add("users", {"$id": "badhash", "$createdAt": created, "password": "x", "hash": "rot13"})
    writer.add("memberships", {"$id": "lost", "$createdAt": created, "teamId": "noteam", "userId": "good", "roles": []})
    writer.add("buckets", {"$id": "bk", "$createdAt": created, "name": "B", "maximumFileSize": 1000})
    size, md5 = writer.write_object("bk", "liar", [b"these are not the bytes"])
    writer.add(
        "files",
        {
            "$id": "liar",
            "bucketId": "bk",
            "$createdAt": created,
            "name": "a.txt",
            "mimeType": "text/plain",
            "sizeOriginal": size,
            "signature": "0" * 32,
        },
    )
    writer.add(
        "files",
        {
            "$id": "orphan",
            "bucketId": "nobucket",
            "$createdAt": created,
            "name": "b.txt",
            "mimeType": "text/plain",
            "sizeOriginal": size,
            "signature": md5,
        },
    )
    writer.finish()
    target = f"b{uuid.uuid4().hex[:12]}"

    result = import_(server, target, tmp_path / "bad")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "users/nodate: missing field '$createdAt'" in result.stdout
    assert "users/badhash: field 'hash': unknown algorithm 'rot13'" in result.stdout
    assert "memberships/lost: team noteam is not stored" in result.stdout
    assert (
        f"files/bk/liar: its bytes ({size} bytes, MD5 {md5}) are not the record's ({size} bytes, MD5 {'0' * 32})"
        in result.stdout
    )
    assert "files/nobucket/orphan: bucket nobucket is not stored" in result.stdout
    counts = report_counts(result.stdout)
    assert counts["users"] == {"created": 1, "unchanged": 0, "overwritten": 0, "skipped": 0, "failed": 2}
    assert counts["files"]["failed"] == 2 and counts["buckets"]["created"] == 1
    key = server.cli("keys", "create", "--project", target, "--name", "k").stdout.splitlines()[-1]
    with server.http(key=key, project=target) as http:
        assert [user["$id"] for user in every(http, "/users", "users")] == ["good"]
        assert every(http, "/storage/buckets/bk/files", "files") == []
        assert _ok(http.get("/storage/buckets/bk"))["totalSize"] == 0
    # The refused bytes left nothing on the device (the session server stores on local disk).
    assert (server.data_dir / "storage").is_dir()
    assert [path for path in (server.data_dir / "storage" / target).rglob("*") if path.is_file()] == []


def test_export_leaves_out_a_file_it_cannot_read(server, tmp_path):
    project, key = fresh_project(server)
    with server.http(key=key, project=project) as http:
        _ok(http.post("/storage/buckets", json={"bucketId": "bk", "name": "B", "encryption": False}), 201)
        _upload(http, "bk", "kept", OLD_BYTES)
        _upload(http, "bk", "lost", NEW_BYTES)
    # The session server stores on local disk: its object disappears behind nib's back.
    lost = [path for path in (server.data_dir / "storage" / project / "bk" / "lost").rglob("*") if path.is_file()]
    assert len(lost) == 1
    lost[0].unlink()

    result = export(server, project, tmp_path / "out")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"files/bk/lost: its object {project}/bk/lost/" in result.stdout
    header = json.loads((tmp_path / "out" / "export.json").read_text())
    assert header["counts"]["files"] == 1
    records = [json.loads(line) for line in (tmp_path / "out" / "files.jsonl").read_text().splitlines()]
    assert [record["$id"] for record in records] == ["kept"]
    assert (tmp_path / "out" / "objects" / "bk" / "kept").read_bytes() == OLD_BYTES


def test_files_move_on_either_device(storage_server, tmp_path):
    """Local disk and S3: bytes streamed out of one project and stored into another as its bucket
    says (encrypted and compressed here), then overwritten in place."""
    source, source_key = fresh_project(storage_server)
    with storage_server.http(key=source_key, project=source) as http:
        _ok(http.post("/storage/buckets", json={"bucketId": "bk", "name": "B", "compression": "gzip"}), 201)
        _upload(http, "bk", "ff", OLD_BYTES)
    assert export(storage_server, source, tmp_path / "out.tar").returncode == 0
    target, key = fresh_project(storage_server)
    first = import_(storage_server, target, tmp_path / "out.tar")
    assert first.returncode == 0, first.stdout + first.stderr
    with storage_server.http(key=key, project=target) as http:
        file = _ok(http.get("/storage/buckets/bk/files/ff"))
        assert file["encryption"] is True and file["compression"] == "gzip"
        assert http.get("/storage/buckets/bk/files/ff/download").content == OLD_BYTES
        assert http.delete("/storage/buckets/bk/files/ff").status_code == 204
        _upload(http, "bk", "ff", NEW_BYTES)
    replaced = import_(storage_server, target, tmp_path / "out.tar", "--on-conflict", "overwrite")
    assert replaced.returncode == 0, replaced.stdout
    assert report_counts(replaced.stdout)["files"]["overwritten"] == 1
    with storage_server.http(key=key, project=target) as http:
        assert http.get("/storage/buckets/bk/files/ff/download").content == OLD_BYTES
