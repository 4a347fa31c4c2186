"""`nib export` from one nib and `nib import` into another on the other backend (SQLite ->
PostgreSQL and back): everything the format carries arrives, people sign in with their old
passwords and second factors, files download byte-identical and their permissions hold."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import uuid

import bcrypt
import pyotp
import pytest
from account_support import guest, sign_in, sign_up
from appwrite.input_file import InputFile
from appwrite.services.storage import Storage
from exchange_support import database_of, every, export, import_, nib_on, report_counts

from nib.auth.tables import identities
from nib.tools import dates

MIB = 1024 * 1024
PASSWORDS = {"argon": "argon-pass-1", "bcrypt": "bcrypt-pass-1", "md5": "md5-pass-1", "mfa": "mfa-pass-12"}
# File fields that describe how the bytes are stored here, not the file.
STORAGE_FIELDS = ("sizeActual", "chunksTotal", "chunksUploaded")


def _ok(response, status=200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _seed(nib) -> dict:
    """Users of every kind, a team, buckets and files on ``nib``'s default project, through the
    API (identities through the database: only OAuth2 creates them). Returns what the tests use."""
    tag = uuid.uuid4().hex[:8]
    emails = {name: f"{name}.{tag}@example.com" for name in PASSWORDS}
    with nib.http() as http:
        _ok(
            http.post(
                "/users",
                json={
                    "userId": "argon",
                    "email": emails["argon"],
                    "phone": "+15550001111",
                    "password": PASSWORDS["argon"],
                    "name": "Ann Argon",
                },
            ),
            201,
        )
        _ok(http.put("/users/argon/labels", json={"labels": ["vip", "beta"]}))
        _ok(http.patch("/users/argon/prefs", json={"prefs": {"theme": "dark", "n": 3}}))
        _ok(
            http.post(
                "/users/argon/targets",
                json={"targetId": "push1", "providerType": "push", "identifier": f"device-{tag}", "name": "Phone"},
            ),
            201,
        )
        hashed = bcrypt.hashpw(PASSWORDS["bcrypt"].encode(), bcrypt.gensalt(rounds=4)).decode()
        _ok(http.post("/users/bcrypt", json={"userId": "bcrypt", "email": emails["bcrypt"], "password": hashed}), 201)
        digest = hashlib.md5(PASSWORDS["md5"].encode()).hexdigest()
        _ok(http.post("/users/md5", json={"userId": "md5", "email": emails["md5"], "password": digest}), 201)
    mfa_user = sign_up(nib, email=emails["mfa"], password=PASSWORDS["mfa"], name="Mo Mfa")
    _, session = sign_in(nib, emails["mfa"], PASSWORDS["mfa"])
    with guest(nib, **{"X-Appwrite-Session": session}) as me:
        secret = _ok(me.post("/account/mfa/authenticators/totp"))["secret"]
        _ok(me.put("/account/mfa/authenticators/totp", json={"otp": pyotp.TOTP(secret).now()}))
    with nib.http() as http:
        _ok(http.patch(f"/users/{mfa_user['$id']}/mfa", json={"mfa": True}))
        codes = _ok(http.patch(f"/users/{mfa_user['$id']}/mfa/recovery-codes"))["recoveryCodes"]
        _ok(http.post("/teams", json={"teamId": "crew", "name": "Crew"}), 201)
        _ok(http.put("/teams/crew/prefs", json={"prefs": {"color": "teal"}}))
        for user_id, roles in (("argon", ["owner"]), ("bcrypt", ["editor", "viewer"])):
            _ok(http.post("/teams/crew/memberships", json={"userId": user_id, "roles": roles}), 201)
        _ok(
            http.post(
                "/storage/buckets",
                json={
                    "bucketId": "sealed",
                    "name": "Sealed",
                    "permissions": ['create("users")'],
                    "fileSecurity": True,
                    "compression": "zstd",
                    "encryption": True,
                    "allowedFileExtensions": ["txt", "bin"],
                    "maximumFileSize": 50 * MIB,
                },
            ),
            201,
        )
        _ok(
            http.post(
                "/storage/buckets",
                json={"bucketId": "open", "name": "Open", "permissions": ['read("any")'], "encryption": False},
            ),
            201,
        )
    with database_of(nib) as db, db.write() as conn:
        now = dates.now()
        conn.execute(
            identities.insert().values(
                project_id="default",
                id=f"id{tag}",
                created_at=now,
                updated_at=now,
                user_id="argon",
                provider="github",
                provider_uid=f"gh-{tag}",
                provider_email=emails["argon"],
                provider_access_token="sealed-token-stays-behind",
            )
        )
    storage = Storage(nib.sdk())
    small = b"compress me, please. " * 4000
    big = os.urandom(6 * MIB)  # more than one 5 MiB chunk
    storage.create_file("sealed", "small", InputFile.from_bytes(small, "notes.txt"), ['read("user:argon")'])
    storage.create_file("open", "big", InputFile.from_bytes(big, "blob.bin"))
    return {"emails": emails, "totp": secret, "codes": codes, "mfa_id": mfa_user["$id"], "small": small, "big": big}


def _snapshot(nib) -> dict:
    """What the default project holds, as the API shows it to a key."""
    with nib.http() as http:
        users = {user["$id"]: user for user in every(http, "/users", "users")}
        files = {}
        for bucket_id in ("sealed", "open"):
            for file in every(http, f"/storage/buckets/{bucket_id}/files", "files"):
                files[f"{bucket_id}/{file['$id']}"] = {k: v for k, v in file.items() if k not in STORAGE_FIELDS}
        return {
            "users": users,
            "identities": every(http, "/users/identities", "identities"),
            "codes": {user_id: http.get(f"/users/{user_id}/mfa/recovery-codes").json() for user_id in users},
            "teams": every(http, "/teams", "teams"),
            "memberships": every(http, "/teams/crew/memberships", "memberships"),
            "buckets": every(http, "/storage/buckets", "buckets"),
            "files": files,
        }


@pytest.fixture(params=[("sqlite", "postgresql"), ("postgresql", "sqlite")], ids=["sqlite-to-pg", "pg-to-sqlite"])
def pair(request, tmp_path):
    source_backend, target_backend = request.param
    with nib_on(source_backend, tmp_path / "source") as source, nib_on(target_backend, tmp_path / "target") as target:
        yield source, target


def test_round_trip(pair, tmp_path):
    source, target = pair
    seeded = _seed(source)
    before = _snapshot(source)
    # One direction as a directory, the other as one archive.
    destination = tmp_path / ("export" if source.backend == "sqlite" else "export.tar")

    exported = export(source, "default", destination)
    assert exported.returncode == 0, exported.stderr
    assert "users" in exported.stdout and "export files: done" in exported.stderr
    if destination.suffix == ".tar":
        assert tarfile.is_tarfile(destination) and not destination.with_name("export.tar.partial").exists()
    else:
        again = export(source, "default", destination)  # resumes: the objects there are whole
        assert again.returncode == 0 and "(2 file objects were already there and kept)" in again.stdout
    imported = import_(target, "default", destination)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert report_counts(imported.stdout) == {
        kind: {"created": n, "unchanged": 0, "overwritten": 0, "skipped": 0, "failed": 0}
        for kind, n in (("users", 4), ("teams", 1), ("memberships", 2), ("buckets", 2), ("files", 2))
    }

    after = _snapshot(target)
    assert after["users"] == before["users"]  # hashes, options, labels, prefs, MFA, targets, dates
    assert after["users"]["argon"]["labels"] == ["vip", "beta"]
    assert after["users"]["argon"]["targets"] == before["users"]["argon"]["targets"]
    assert {t["providerType"] for t in after["users"]["argon"]["targets"]} == {"email", "sms", "push"}
    assert after["codes"] == before["codes"]
    assert after["codes"][seeded["mfa_id"]]["recoveryCodes"] == seeded["codes"]
    # The provider's tokens stay behind; the link itself moves.
    assert [i | {"providerAccessToken": ""} for i in before["identities"]] == after["identities"]
    assert after["identities"][0]["providerAccessToken"] == ""
    assert after["teams"] == before["teams"] and after["teams"][0]["total"] == 2
    assert after["memberships"] == before["memberships"]
    assert after["buckets"] == before["buckets"]
    assert after["files"] == before["files"]

    # Everyone signs in on the target with the password they had.
    for name in ("argon", "bcrypt", "md5"):
        sign_in(target, seeded["emails"][name], PASSWORDS[name])
    with guest(target) as http:
        wrong = http.post(
            "/account/sessions/email", json={"email": seeded["emails"]["md5"], "password": "not-it-at-all"}
        )
        assert wrong.status_code == 401
    # The MFA user needs the second factor, and the TOTP app they had still gives it.
    _, session = sign_in(target, seeded["emails"]["mfa"], PASSWORDS["mfa"])
    with guest(target, **{"X-Appwrite-Session": session}) as me:
        assert me.get("/account").json()["type"] == "user_more_factors_required"
        challenge = _ok(me.post("/account/mfa/challenges", json={"factor": "totp"}), 201)
        _ok(
            me.put(
                "/account/mfa/challenges",
                json={"challengeId": challenge["$id"], "otp": pyotp.TOTP(seeded["totp"]).now()},
            )
        )
        assert _ok(me.get("/account"))["$id"] == seeded["mfa_id"]

    # Files: byte-identical, stored as the target's bucket says, permissions enforced.
    with target.http() as http:
        assert http.get("/storage/buckets/sealed/files/small/download").content == seeded["small"]
        assert http.get("/storage/buckets/open/files/big/download").content == seeded["big"]
        small = _ok(http.get("/storage/buckets/sealed/files/small"))
        assert small["encryption"] is True and small["compression"] == "zstd"
        assert small["sizeActual"] < len(seeded["small"])
        assert _ok(http.get("/storage/buckets/open"))["totalSize"] == 6 * MIB
    _, owner = sign_in(target, seeded["emails"]["argon"], PASSWORDS["argon"])
    _, stranger = sign_in(target, seeded["emails"]["bcrypt"], PASSWORDS["bcrypt"])
    with guest(target, **{"X-Appwrite-Session": owner}) as http:
        assert http.get("/storage/buckets/sealed/files/small/download").content == seeded["small"]
    with guest(target, **{"X-Appwrite-Session": stranger}) as http:
        assert http.get("/storage/buckets/sealed/files/small/download").status_code == 404
    with guest(target) as http:
        assert http.get("/storage/buckets/open/files/big/download").content == seeded["big"]


def test_only_some_kinds(pair, tmp_path):
    source, target = pair
    _seed(source)
    exported = export(source, "default", tmp_path / "some", "--only", "users,teams")
    assert exported.returncode == 0, exported.stderr
    header = json.loads((tmp_path / "some" / "export.json").read_text())
    assert header["kinds"] == ["users", "teams"] and header["counts"] == {"users": 4, "teams": 1}
    assert sorted(p.name for p in (tmp_path / "some").iterdir()) == ["export.json", "teams.jsonl", "users.jsonl"]

    full = tmp_path / "full.tar"
    assert export(source, "default", full).returncode == 0
    imported = import_(target, "moved", full, "--only", "users")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert list(report_counts(imported.stdout)) == ["users"]
    assert "(created)" in imported.stdout
    key = target.cli("keys", "create", "--project", "moved", "--name", "k").stdout.splitlines()[-1]
    with target.http(key=key, project="moved") as http:
        assert len(every(http, "/users", "users")) == 4
        assert every(http, "/teams", "teams") == []
        assert every(http, "/storage/buckets", "buckets") == []
    projects = target.cli("projects", "list").stdout
    assert "moved" in projects and "Default" in projects  # created with the export's project name
