"""Buckets through the official SDK with the API key, and the scope rule that keeps guests and users
out of bucket routes."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from account_support import member
from alembic import command
from alembic.config import Config
from appwrite.enums.compression import Compression
from appwrite.exception import AppwriteException
from appwrite.permission import Permission
from appwrite.query import Query
from appwrite.role import Role
from storage_support import (
    CHUNK,
    as_input,
    leftovers,
    png,
    send_chunk,
    storage_as,
    storage_as_key,
    stored_objects,
    unique_id,
)

import nib.data.db.migrate
from live_server import BACKENDS, create_pg_database, drop_pg_database, free_port, tracebacks
from nib.data.db import Database
from nib.storage import buckets
from nib.storage import tables as storage_tables
from nib.tools import dates

LIMIT = 5_000_000_000  # NIB_STORAGE_LIMIT's default


def test_create_bucket_defaults(storage_server):
    storage = storage_as_key(storage_server)
    bucket_id = unique_id()
    bucket = storage.create_bucket(bucket_id, "Photos").to_dict()
    assert bucket["$id"] == bucket_id
    assert bucket["name"] == "Photos"
    assert bucket["$permissions"] == []
    assert bucket["fileSecurity"] is False
    assert bucket["enabled"] is True and bucket["encryption"] is True and bucket["antivirus"] is True
    assert bucket["maximumFileSize"] == LIMIT
    assert bucket["allowedFileExtensions"] == []
    assert bucket["compression"] == "none"
    assert bucket["transformations"] is True and bucket["totalSize"] == 0
    assert storage.get_bucket(bucket_id).to_dict() == bucket


def test_create_bucket_settings_and_write_expansion(storage_server):
    storage = storage_as_key(storage_server)
    bucket = storage.create_bucket(
        unique_id(),
        "Docs",
        permissions=[Permission.write(Role.users()), Permission.read(Role.any())],
        file_security=True,
        enabled=False,
        maximum_file_size=2_000_000,
        allowed_file_extensions=["JPG", "png"],
        compression=Compression.GZIP,
        encryption=False,
        antivirus=False,
    ).to_dict()
    assert bucket["$permissions"] == ['create("users")', 'update("users")', 'delete("users")', 'read("any")']
    assert bucket["fileSecurity"] is True and bucket["enabled"] is False
    assert bucket["maximumFileSize"] == 2_000_000
    assert bucket["allowedFileExtensions"] == ["jpg", "png"]
    assert (bucket["compression"], bucket["encryption"], bucket["antivirus"]) == ("gzip", False, False)


def test_create_bucket_errors(storage_server, storage_http):
    storage = storage_as_key(storage_server)
    bucket_id = unique_id()
    storage.create_bucket(bucket_id, "One")
    with pytest.raises(AppwriteException) as taken:
        storage.create_bucket(bucket_id, "Two")
    assert (taken.value.code, taken.value.type) == (409, "storage_bucket_already_exists")
    cases = [
        ({"bucketId": unique_id(), "name": ""}, "name"),
        ({"bucketId": unique_id(), "name": "x", "maximumFileSize": 6_000_000_000}, "maximumFileSize"),
        ({"bucketId": unique_id(), "name": "x", "maximumFileSize": 0}, "maximumFileSize"),
        ({"bucketId": unique_id(), "name": "x", "compression": "brotli"}, "compression"),
        ({"bucketId": unique_id(), "name": "x", "permissions": ['reed("any")']}, "permissions"),
    ]
    for body, param in cases:
        response = storage_http.post("/storage/buckets", json=body)
        assert response.status_code == 400, body
        assert response.json()["type"] == "general_argument_invalid"
        assert f"`{param}`" in response.json()["message"]
    assert (
        "between 1 and 5,000,000,000"
        in storage_http.post(
            "/storage/buckets", json={"bucketId": unique_id(), "name": "x", "maximumFileSize": 6_000_000_000}
        ).json()["message"]
    )


def test_get_missing_bucket(storage_server):
    with pytest.raises(AppwriteException) as missing:
        storage_as_key(storage_server).get_bucket(unique_id())
    assert (missing.value.code, missing.value.type) == (404, "storage_bucket_not_found")
    assert missing.value.message == "Storage bucket with the requested ID could not be found."


def test_update_bucket_resets_omitted_settings(storage_server):
    storage = storage_as_key(storage_server)
    bucket_id = unique_id()
    storage.create_bucket(
        bucket_id,
        "Before",
        permissions=[Permission.read(Role.any())],
        file_security=True,
        enabled=False,
        maximum_file_size=1000,
        allowed_file_extensions=["txt"],
        compression=Compression.ZSTD,
        encryption=False,
        antivirus=False,
    )
    updated = storage.update_bucket(bucket_id, "After").to_dict()
    assert updated["name"] == "After"
    assert updated["$permissions"] == ['read("any")']  # kept
    assert updated["fileSecurity"] is False and updated["enabled"] is True
    assert updated["encryption"] is True and updated["antivirus"] is True
    assert updated["compression"] == "none" and updated["allowedFileExtensions"] == []
    assert updated["maximumFileSize"] == LIMIT
    cleared = storage.update_bucket(bucket_id, "After", permissions=[]).to_dict()
    assert cleared["$permissions"] == []
    with pytest.raises(AppwriteException) as missing:
        storage.update_bucket(unique_id(), "x")
    assert missing.value.type == "storage_bucket_not_found"


def test_list_buckets_queries_and_search(storage_server):
    storage = storage_as_key(storage_server)
    marker = unique_id("m")
    first, second = unique_id(), unique_id()
    storage.create_bucket(first, f"{marker} alpha")
    storage.create_bucket(second, f"{marker} beta", enabled=False)
    found = storage.list_buckets(search=marker).to_dict()
    assert found["total"] == 2 and [b["$id"] for b in found["buckets"]] == [first, second]
    only = storage.list_buckets(queries=[Query.equal("enabled", False), Query.equal("$id", [first, second])])
    assert [b.id for b in only.buckets] == [second]
    assert storage.list_buckets(queries=[Query.equal("name", f"{marker} alpha")]).total == 1
    with pytest.raises(AppwriteException) as bad:
        storage.list_buckets(queries=[Query.equal("nope", "x")])
    assert bad.value.code == 400


def test_total_size_and_delete_removes_files_and_bytes(storage_server, storage_http):
    storage = storage_as_key(storage_server)
    bucket_id = unique_id()
    storage.create_bucket(bucket_id, "Gone")
    data = png()
    storage.create_file(bucket_id, "one", as_input(data, "one.png"))
    storage.create_file(bucket_id, "two", as_input(data, "two.png"))
    assert storage.get_bucket(bucket_id).to_dict()["totalSize"] == 2 * len(data)
    assert len(stored_objects(storage_server, bucket_id)) == 2
    # Unfinished uploads go too: one of SDK-sized chunks (an open multipart upload on S3), one of
    # small chunks (kept as scratch objects there until the upload completes).
    assert send_chunk(storage_http, bucket_id, "big", "b.bin", b"b" * CHUNK, 0, total=2 * CHUNK).status_code == 201
    assert send_chunk(storage_http, bucket_id, "small", "s.bin", b"s" * 1000, 0, total=2500).status_code == 201
    assert len(leftovers(storage_server, bucket_id)) >= 2
    storage.delete_bucket(bucket_id)
    assert stored_objects(storage_server, bucket_id) == [] and leftovers(storage_server, bucket_id) == []
    with pytest.raises(AppwriteException) as missing:
        storage.get_file(bucket_id, "one")
    assert missing.value.type == "storage_bucket_not_found"
    with pytest.raises(AppwriteException) as again:
        storage.delete_bucket(bucket_id)
    assert again.value.type == "storage_bucket_not_found"


def test_total_size_follows_every_file_write(storage_server, storage_http):
    # totalSize is kept by triggers on files (migration 0006): inserts, a replacing upload (an
    # update of sizeOriginal), deletes; a recreated bucket starts from 0.
    storage = storage_as_key(storage_server)
    bucket_id = unique_id()
    storage.create_bucket(bucket_id, "Sizes")

    def total_size() -> int:
        got = storage.get_bucket(bucket_id).to_dict()["totalSize"]
        listed = storage.list_buckets(queries=[Query.equal("$id", bucket_id)]).to_dict()["buckets"]
        assert [bucket["totalSize"] for bucket in listed] == [got]
        return got

    assert total_size() == 0
    storage.create_file(bucket_id, "a", as_input(b"a" * 1000, "a.bin"))
    storage.create_file(bucket_id, "b", as_input(b"b" * 300, "b.bin"))
    assert total_size() == 1300
    # an upload in progress counts with the size it announced (its sizeOriginal)
    assert send_chunk(storage_http, bucket_id, "c", "c.bin", b"c" * 1000, 0, total=2500).status_code == 201
    assert total_size() == 3800
    # the same ID uploaded whole replaces the unfinished upload: 2500 becomes 700
    assert storage.create_file(bucket_id, "c", as_input(b"c" * 700, "c.bin")).to_dict()["sizeOriginal"] == 700
    assert total_size() == 2000
    storage.delete_file(bucket_id, "a")
    assert total_size() == 1000
    assert storage.update_bucket(bucket_id, "Renamed").to_dict()["totalSize"] == 1000
    other = unique_id()  # another bucket's files count for that bucket only
    storage.create_bucket(other, "Other")
    storage.create_file(other, "x", as_input(b"x" * 64, "x.bin"))
    assert total_size() == 1000 and storage.get_bucket(other).to_dict()["totalSize"] == 64
    storage.delete_bucket(bucket_id)
    storage.create_bucket(bucket_id, "Again")
    assert total_size() == 0
    storage.create_file(bucket_id, "d", as_input(b"d" * 10, "d.bin"))
    assert total_size() == 10


def test_bucket_delete_racing_file_deletes_and_uploads(storage_server):
    # Deleting a bucket while its files are deleted and new ones uploaded: every answer is a
    # success or a 404 (never a 5xx such as a database deadlock), nothing is left of the bucket,
    # and a bucket created again with the same ID starts empty (an upload that won the race
    # used to leave its row behind, listed in the new bucket) with totalSize 0.
    storage = storage_as_key(storage_server)
    for _ in range(3):
        bucket_id = unique_id()
        storage.create_bucket(bucket_id, "Race")
        names = [f"f{i}" for i in range(12)]
        for name in names:
            storage.create_file(bucket_id, name, as_input(b"z" * 100, f"{name}.bin"))

        def call(action: str, name: str = "") -> int:
            client = storage_as_key(storage_server)
            try:
                if action == "delete_bucket":
                    client.delete_bucket(bucket_id)
                elif action == "delete_file":
                    client.delete_file(bucket_id, name)
                else:
                    # big enough to be still writing when the bucket's bytes are removed
                    client.create_file(bucket_id, name, as_input(b"n" * 300_000, f"{name}.bin"))
            except AppwriteException as error:
                return error.code
            return 200

        jobs = [("delete_file", name) for name in names] + [("upload", f"n{i}") for i in range(8)]
        jobs.insert(len(jobs) // 2, ("delete_bucket", ""))
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda job: call(*job), jobs))
        # On failure, the server's tracebacks say which step failed.
        assert set(codes) <= {200, 201, 404}, (codes, tracebacks(storage_server))
        # no file row outlived the bucket, and no byte either (refused uploads remove their own)
        assert stored_objects(storage_server, bucket_id) == [] and leftovers(storage_server, bucket_id) == []
        storage.create_bucket(bucket_id, "Again")
        assert storage.get_bucket(bucket_id).to_dict()["totalSize"] == sum(
            file["sizeOriginal"] for file in storage.list_files(bucket_id).to_dict()["files"]
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0006_counts_the_files_already_stored(backend, tmp_path):
    # A database from before bucket_sizes: the migration sums each bucket's files (an orphan row
    # of a deleted bucket counts nowhere), then the triggers keep the sums.
    pg_name = create_pg_database() if backend == "postgresql" else None
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_name}" if pg_name else f"sqlite:///{tmp_path / 'nib.db'}"
    db = Database(url, pool_size=2)
    now = dates.now()

    def file_row(bucket_id: str, file_id: str, size: int) -> dict:
        return dict(
            project_id="p", bucket_id=bucket_id, id=file_id, created_at=now, updated_at=now, name=file_id,
            permissions=[], size_original=size, chunks_total=1, chunk_size=size, object=f"p/{bucket_id}/{file_id}",
        )  # fmt: skip

    try:
        config = Config()
        config.set_main_option("script_location", str(Path(nib.data.db.migrate.__file__).parent / "migrations"))
        with db.write() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0005")
            for bucket_id in ("a", "b", "empty"):
                conn.execute(
                    storage_tables.buckets.insert().values(
                        project_id="p", id=bucket_id, created_at=now, updated_at=now, name=bucket_id, permissions=[],
                        maximum_file_size=1000, allowed_file_extensions=[],
                    )
                )  # fmt: skip
            for row in (
                file_row("a", "1", 10),
                file_row("a", "2", 32),
                file_row("b", "1", 5),
                file_row("gone", "1", 7),
            ):
                conn.execute(storage_tables.files.insert().values(row))
        nib.data.db.migrate.upgrade(db)

        def sizes() -> dict[str, int]:
            return buckets.total_sizes(db, "p", ["a", "b", "empty", "gone"])

        assert sizes() == {"a": 42, "b": 5}
        with db.write() as conn:
            conn.execute(storage_tables.files.insert().values(file_row("empty", "1", 3)))
            conn.execute(
                storage_tables.files.delete().where(
                    storage_tables.files.c.bucket_id == "a", storage_tables.files.c.id == "2"
                )
            )
            conn.execute(storage_tables.files.insert().values(file_row("gone", "2", 9)))  # no bucket: not counted
        assert sizes() == {"a": 10, "b": 5, "empty": 3}
        assert buckets.get_bucket(db, project_id="p", bucket_id="empty")["total_size"] == 3
    finally:
        db.dispose()
        if pg_name:
            drop_pg_database(pg_name)


def test_bucket_routes_need_a_key(storage_server):
    user = member(storage_server)
    for storage in (storage_as(storage_server), storage_as(storage_server, user)):
        with pytest.raises(AppwriteException) as refused:
            storage.list_buckets()
        assert (refused.value.code, refused.value.type) == (401, "general_unauthorized_scope")
        with pytest.raises(AppwriteException) as refused:
            storage.create_bucket(unique_id(), "x")
        assert refused.value.code == 401


def test_unknown_storage_device_stops_the_server_at_start(tmp_path):
    command = [sys.executable, "-m", "nib", "serve", "--port", str(free_port()), "--data-dir", str(tmp_path)]
    started = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={**os.environ, "NIB_STORAGE_DEVICE": "floppy"}
    )
    assert started.returncode != 0
    assert "unknown storage device 'floppy'" in started.stderr
