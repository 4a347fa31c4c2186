"""`nib migrate-from appwrite` against a second nib as the Appwrite source (it speaks the same
API), seeded through its API; the target is the session's nib, into a project of each test's own.
Migrated users sign in with their old passwords, files download byte-identical, settings,
permissions and memberships match; an interrupted migration resumes; a bad source changes
nothing."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import bcrypt
import httpx
import pyotp
from account_support import fallback_session
from appwrite.input_file import InputFile
from appwrite.services.storage import Storage
from exchange_support import database_of, report_counts
from users_support import unique_email, unique_phone

from live_server import NibServer, free_port
from nib.auth.tables import identities
from nib.tools import dates

BUCKET_FIELDS = (
    "$id", "$createdAt", "$updatedAt", "$permissions", "fileSecurity", "name", "enabled", "maximumFileSize",
    "allowedFileExtensions", "compression", "encryption", "antivirus",
)  # fmt: skip
USER_FIELDS = (
    "$id", "$createdAt", "name", "email", "phone", "registration", "status", "labels", "prefs", "passwordUpdate",
    "emailVerification", "phoneVerification", "mfa", "password", "hash", "hashOptions",
)  # fmt: skip
FILE_FIELDS = ("$id", "bucketId", "$createdAt", "$permissions", "name", "mimeType", "sizeOriginal", "signature")


def _created(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _migrate_command(
    target: NibServer, endpoint: str, key: str, into: str, staging: Path, *extra: str, project: str = "default"
) -> list[str]:
    """The command copying ``project`` of the nib at ``endpoint`` into ``into`` on ``target``."""
    return [
        sys.executable, "-m", "nib", "migrate-from", "appwrite", "--endpoint", endpoint, "--project", project,
        "--key", key, "--into", into, "--staging", str(staging), *extra, *target.storage_args(),
    ]  # fmt: skip


def _migrate(
    target: NibServer, source: NibServer, into: str, staging: Path, *extra: str
) -> subprocess.CompletedProcess:
    command = _migrate_command(target, source.endpoint, source.key, into, staging, *extra)
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _imported(stdout: str) -> dict[str, dict[str, int]]:
    """The import's table of a migration report: {kind: {outcome: count}}."""
    return report_counts(stdout[stdout.index("Import into project") :])


def _seed_users(source: NibServer) -> dict[str, dict]:
    """Users of every password kind the source can hold: {userId: {email, password}}."""
    people = {
        "argon": {"email": unique_email("argon"), "password": "argon-pass-1"},
        "bcrypt": {"email": unique_email("bcrypt"), "password": "bcrypt-pass-1"},
        "md5": {"email": unique_email("md5"), "password": "md5-pass-1"},
        "totp": {"email": unique_email("totp"), "password": "totp-pass-1"},
    }
    with source.http() as http:
        argon = people["argon"]
        _created(http.post("/users", json={"userId": "argon", "name": "Ada", "phone": unique_phone(), **argon}))
        _created(http.put("/users/argon/labels", json={"labels": ["vip", "beta"]}))
        _created(http.patch("/users/argon/prefs", json={"prefs": {"theme": "dark", "size": 3}}))
        _created(
            http.post(
                "/users/argon/targets",
                json={"targetId": "phone-app", "providerType": "push", "identifier": "device-token-1", "name": "Phone"},
            )
        )
        _created(http.patch("/users/argon/mfa/recovery-codes"))
        _created(http.patch("/users/argon/mfa", json={"mfa": True}))
        hashed = bcrypt.hashpw(people["bcrypt"]["password"].encode(), bcrypt.gensalt(rounds=4)).decode()
        _created(
            http.post(
                "/users/bcrypt", json={"userId": "bcrypt", "email": people["bcrypt"]["email"], "password": hashed}
            )
        )
        digest = hashlib.md5(people["md5"]["password"].encode()).hexdigest()
        _created(http.post("/users/md5", json={"userId": "md5", "email": people["md5"]["email"], "password": digest}))
        _created(http.post("/users", json={"userId": "totp", **people["totp"]}))
    _add_authenticator(source, people["totp"])
    with database_of(source) as db, db.write() as conn:  # only OAuth2 sign-ins create identities
        now = dates.now()
        conn.execute(
            identities.insert().values(
                project_id=source.project, id="gh", created_at=now, updated_at=now, user_id="argon",
                provider="github", provider_uid="gh-42", provider_email=argon["email"],
            )
        )  # fmt: skip
    return people


def _add_authenticator(source: NibServer, person: dict) -> None:
    """A verified TOTP authenticator, added by the user as Appwrite's Account API does."""
    with httpx.Client(base_url=source.endpoint, headers={"X-Appwrite-Project": source.project}, timeout=30) as guest:
        signed_in = guest.post("/account/sessions/email", json=person)
        assert signed_in.status_code == 201, signed_in.text
        headers = {"X-Appwrite-Session": fallback_session(signed_in, source.project)}
        secret = _created(guest.post("/account/mfa/authenticators/totp", headers=headers))["secret"]
        _created(guest.put("/account/mfa/authenticators/totp", headers=headers, json={"otp": pyotp.TOTP(secret).now()}))


def _seed_teams(source: NibServer) -> None:
    with source.http() as http:
        _created(http.post("/teams", json={"teamId": "crew", "name": "Crew"}))
        _created(http.put("/teams/crew/prefs", json={"prefs": {"color": "teal"}}))
        _created(http.post("/teams/crew/memberships", json={"userId": "argon", "roles": ["owner", "lead"]}))
        _created(http.post("/teams/crew/memberships", json={"userId": "bcrypt", "roles": ["member"]}))


def _seed_storage(source: NibServer) -> dict[tuple[str, str], bytes]:
    """A compressed and encrypted bucket with file security, a plain one; files in both, one
    over 5 MiB (uploaded in chunks by the SDK). Returns {(bucketId, fileId): bytes}."""
    contents = {
        ("vault", "note"): b"the vault's note\n" * 50,
        ("plain", "big"): os.urandom(6 * 1024 * 1024 + 123),
        ("plain", "small"): b'{"a": 1}',
    }
    with source.http() as http:
        _created(
            http.post(
                "/storage/buckets",
                json={
                    "bucketId": "vault", "name": "Vault", "permissions": ['read("users")', 'create("users")'],
                    "fileSecurity": True, "maximumFileSize": 8_000_000, "allowedFileExtensions": ["txt", "json"],
                    "compression": "gzip", "encryption": True, "antivirus": False,
                },
            )
        )  # fmt: skip
        _created(
            http.post(
                "/storage/buckets",
                json={
                    "bucketId": "plain",
                    "name": "Plain",
                    "compression": "none",
                    "encryption": False,
                    "antivirus": False,
                },
            )
        )
        _created(
            http.post(
                "/storage/buckets/vault/files",
                data={"fileId": "note", "permissions[]": ['read("user:argon")', 'update("user:argon")']},
                files={"file": ("note.txt", contents[("vault", "note")], "text/plain")},
            )
        )
        _created(
            http.post(
                "/storage/buckets/plain/files",
                data={"fileId": "small"},
                files={"file": ("data.json", contents[("plain", "small")], "application/json")},
            )
        )
    storage = Storage(source.sdk())
    storage.create_file("plain", "big", InputFile.from_bytes(contents[("plain", "big")], "big.bin"))
    return contents


def _sign_in(target: NibServer, project: str, email: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=target.endpoint, headers={"X-Appwrite-Project": project}, timeout=30) as guest:
        return guest.post("/account/sessions/email", json={"email": email, "password": password})


def _target(server: NibServer, project: str) -> httpx.Client:
    """The target nib with a key of its own for ``project`` (a migrated project has none)."""
    key = server.cli("keys", "create", "--project", project, "--name", "checks").stdout.splitlines()[-1]
    return server.http(key=key, project=project)


def _fields(document: dict, names: tuple[str, ...]) -> dict:
    return {name: document[name] for name in names}


def test_migrate_everything(server, nib_with, tmp_path):
    source = nib_with(NIB_RATE_LIMITS="off")
    people = _seed_users(source)
    _seed_teams(source)
    contents = _seed_storage(source)
    into = f"mig{uuid.uuid4().hex[:10]}"

    result = _migrate(server, source, into, tmp_path / "staging")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "user totp: TOTP authenticator" in result.stdout
    assert f"Import into project {into} (created):" in result.stdout
    imported = _imported(result.stdout)
    assert {kind: counts["created"] for kind, counts in imported.items()} == {
        "users": 4, "teams": 1, "memberships": 2, "buckets": 2, "files": 3,
    }  # fmt: skip

    with source.http() as before, _target(server, into) as after:
        for user_id, person in people.items():
            old, new = before.get(f"/users/{user_id}").json(), after.get(f"/users/{user_id}").json()
            assert _fields(new, USER_FIELDS) == _fields(old, USER_FIELDS)
            assert [(t["$id"], t["providerType"], t["identifier"]) for t in new["targets"]] == [
                (t["$id"], t["providerType"], t["identifier"]) for t in old["targets"]
            ]
            assert _sign_in(server, into, person["email"], person["password"]).status_code == 201, user_id
            assert _sign_in(server, into, person["email"], "not-the-password").status_code == 401
        codes = before.get("/users/argon/mfa/recovery-codes").json()["recoveryCodes"]
        assert after.get("/users/argon/mfa/recovery-codes").json()["recoveryCodes"] == codes
        assert after.get("/users/argon").json()["labels"] == ["vip", "beta"]
        assert after.get("/users/totp/mfa/factors").json()["totp"] is False
        identity = after.get("/users/identities").json()["identities"]
        assert [(i["$id"], i["userId"], i["provider"], i["providerUid"]) for i in identity] == [
            ("gh", "argon", "github", "gh-42")
        ]

        assert after.get("/teams/crew").json()["name"] == "Crew"
        assert after.get("/teams/crew").json()["total"] == 2
        assert after.get("/teams/crew/prefs").json() == {"color": "teal"}
        members = {m["userId"]: m for m in after.get("/teams/crew/memberships").json()["memberships"]}
        assert {user: (m["roles"], m["confirm"]) for user, m in members.items()} == {
            "argon": (["owner", "lead"], True),
            "bcrypt": (["member"], True),
        }

        for bucket_id in ("vault", "plain"):
            old, new = (
                before.get(f"/storage/buckets/{bucket_id}").json(),
                after.get(f"/storage/buckets/{bucket_id}").json(),
            )
            assert _fields(new, BUCKET_FIELDS) == _fields(old, BUCKET_FIELDS)
        for (bucket_id, file_id), data in contents.items():
            old = before.get(f"/storage/buckets/{bucket_id}/files/{file_id}").json()
            new = after.get(f"/storage/buckets/{bucket_id}/files/{file_id}").json()
            assert _fields(new, FILE_FIELDS) == _fields(old, FILE_FIELDS)
            assert after.get(f"/storage/buckets/{bucket_id}/files/{file_id}/download").content == data
    assert len(contents[("plain", "big")]) > 5 * 1024 * 1024

    # Changed since: md5 renamed at the source; the bcrypt and md5 hashes made argon2 by their
    # sign-ins on the target (as Appwrite upgrades imported hashes). Kept by default (conflicts,
    # reported), replaced on request.
    with source.http() as http:
        _created(http.patch("/users/md5/name", json={"name": "Renamed"}))
    kept = _migrate(server, source, into, tmp_path / "staging")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert _imported(kept.stdout)["users"] == {
        "created": 0,
        "unchanged": 2,
        "overwritten": 0,
        "skipped": 2,
        "failed": 0,
    }
    assert "users/md5: user md5 is stored with other content -> skipped" in kept.stdout
    replaced = _migrate(server, source, into, tmp_path / "staging", "--on-conflict", "overwrite")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert _imported(replaced.stdout)["users"]["overwritten"] == 2
    with _target(server, into) as after:
        assert after.get("/users/md5").json()["name"] == "Renamed"
    for user_id in ("md5", "bcrypt"):
        assert _sign_in(server, into, people[user_id]["email"], people[user_id]["password"]).status_code == 201


def test_resumes_after_a_kill(server, nib_with, tmp_path):
    source = nib_with(NIB_RATE_LIMITS="off")
    blobs = {f"f{number:02d}": os.urandom(300_000 + number) for number in range(40)}
    with source.http() as http:
        _created(http.post("/storage/buckets", json={"bucketId": "many", "name": "Many", "encryption": False}))
        for file_id, data in blobs.items():
            _created(
                http.post(
                    "/storage/buckets/many/files", data={"fileId": file_id}, files={"file": (f"{file_id}.bin", data)}
                )
            )
        _created(http.post("/users", json={"userId": "solo", "email": unique_email("solo"), "password": "solo-pass-1"}))
    into = f"mig{uuid.uuid4().hex[:10]}"
    staging = tmp_path / "staging"
    objects = staging / "export" / "objects" / "many"

    process = subprocess.Popen(
        _migrate_command(server, source.endpoint, source.key, into, staging),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while process.poll() is None and len(list(objects.glob("*"))) < 3:
        time.sleep(0.01)
    assert process.poll() is None, "the migration ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    staged_before = len(list(objects.glob("*")))

    resumed = _migrate(server, source, into, staging)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    downloaded, unchanged = map(int, re.search(r"(\d+) downloaded, (\d+) unchanged", resumed.stdout).groups())
    assert unchanged >= staged_before >= 3
    assert downloaded + unchanged == 40

    again = _migrate(server, source, into, staging)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 downloaded, 40 unchanged" in again.stdout
    imported = _imported(again.stdout)
    assert imported["files"] == {"created": 0, "unchanged": 40, "overwritten": 0, "skipped": 0, "failed": 0}
    assert imported["users"]["unchanged"] == 1

    with _target(server, into) as after:
        listed = after.get(
            "/storage/buckets/many/files", params={"queries[]": '{"method":"limit","values":[100]}'}
        ).json()
        assert listed["total"] == 40
        assert sorted(f["$id"] for f in listed["files"]) == sorted(blobs)
        for file_id, data in blobs.items():
            assert after.get(f"/storage/buckets/many/files/{file_id}/download").content == data
        assert after.get("/users").json()["total"] == 1


def _projects(server: NibServer) -> str:
    return server.cli("projects", "list").stdout


def _refused(server: NibServer, endpoint: str, key: str, tmp_path: Path, project: str = "default") -> str:
    """Runs a migration the source refuses; asserts nothing changed; returns its stderr."""
    into = f"mig{uuid.uuid4().hex[:10]}"
    command = _migrate_command(server, endpoint, key, into, tmp_path / "staging", project=project)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert into not in server.cli("projects", "list").stdout
    assert not (tmp_path / "staging").exists()
    return result.stderr


def test_bad_key_changes_nothing(server, nib_with, tmp_path):
    source = nib_with(NIB_RATE_LIMITS="off")
    assert "refused the API key" in _refused(server, source.endpoint, "standard_not-a-key", tmp_path)


def test_unknown_project_changes_nothing(server, nib_with, tmp_path):
    source = nib_with(NIB_RATE_LIMITS="off")
    stderr = _refused(server, source.endpoint, source.key, tmp_path, project="nosuch")
    assert "(project nosuch): Project with the requested ID could not be found" in stderr


def test_unreachable_endpoint_changes_nothing(server, tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}/v1"
    assert f"Cannot reach {endpoint}" in _refused(server, endpoint, "any-key", tmp_path)


def test_invalid_target_project_is_refused_first(server, tmp_path):
    command = _migrate_command(server, "http://127.0.0.1:9/v1", "any-key", "not an id!", tmp_path / "staging")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert (
        "error: The project ID 'not an id!' is not valid in nib: Parameter must contain at most 36 chars"
        in result.stderr
    )
    assert not (tmp_path / "staging").exists()


def test_staging_that_cannot_be_made_is_refused(server, nib_with, tmp_path):
    source = nib_with(NIB_RATE_LIMITS="off")
    (tmp_path / "file").write_text("not a directory")
    staging = tmp_path / "file" / "staging"
    into = f"mig{uuid.uuid4().hex[:10]}"
    result = subprocess.run(
        _migrate_command(server, source.endpoint, source.key, into, staging),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"error: [Errno 20] Not a directory: '{staging}" in result.stderr
    assert "Traceback" not in result.stderr
    assert into not in server.cli("projects", "list").stdout
