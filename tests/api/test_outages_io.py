"""Outages of what nib reads and writes bytes through (issue 10): its S3 endpoint refusing,
failing or dying mid-stream, a full local disk, and SIGTERM while requests are in flight.

S3 faults come from tests/faulty_proxy.py, a real TCP proxy between nib and moto's server, and
the disk is a real 8 MiB tmpfs: nothing of nib is mocked. Each test starts its own nib on
SQLite (the outages are the device's; the database only has to stay consistent)."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess

import httpx
import pytest
from storage_support import CHUNK, MIB, leftovers, md5, mp4, multipart, send_chunk, stored_objects

from faulty_proxy import DROP, ERROR_500, PASS, REFUSE, FaultyProxy
from live_server import start_server, stop_server
from s3_server import new_bucket as new_s3_bucket
from s3_server import s3_env

QUIET = {"NIB_RATE_LIMITS": "off", "NIB_SMTP_HOST": ""}
UNAVAILABLE = (503, "general_server_error")


def _error(response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"message", "code", "type", "version"}
    assert body["code"] == response.status_code
    return response.status_code, body["type"]


@pytest.fixture
def s3_nib(s3_endpoint, tmp_path):
    """``(nib, proxy)``: a nib storing its files in a fresh moto bucket reached through a
    ``FaultyProxy``, with a bucket of its own."""
    bucket, _ = new_s3_bucket(s3_endpoint)
    proxy = FaultyProxy(s3_endpoint)
    nib = start_server("sqlite", tmp_path / "nib", env={**QUIET, **s3_env(proxy.endpoint, bucket)})
    with nib.http() as http:
        assert http.post("/storage/buckets", json={"bucketId": "outage", "name": "Outage"}).status_code == 201
    yield nib, proxy
    stop_server(nib)
    proxy.close()


def _files(http) -> list[str]:
    return [file["$id"] for file in http.get("/storage/buckets/outage/files").json()["files"]]


def test_s3_refusing_a_single_upload_answers_503_leaves_nothing_and_a_retry_succeeds(s3_nib):
    nib, proxy = s3_nib
    data = mp4(MIB + 12_345)
    with nib.http() as http:
        proxy.set(REFUSE)
        refused = http.post("/storage/buckets/outage/files", **multipart("single", "a.mp4", data))
        assert _error(refused) == UNAVAILABLE
        assert "storage" in refused.json()["message"].lower()
        assert _error(http.get("/storage/buckets/outage/files/single")) == (404, "storage_file_not_found")
        assert http.get("/storage/buckets/outage/files").json()["total"] == 0
        proxy.set(PASS)
        assert leftovers(nib, "outage") == [] and stored_objects(nib, "outage") == []
        created = http.post("/storage/buckets/outage/files", **multipart("single", "a.mp4", data))
        assert created.status_code == 201, created.text
        assert (created.json()["sizeOriginal"], created.json()["signature"]) == (len(data), md5(data))
        downloaded = http.get("/storage/buckets/outage/files/single/download")
        assert (downloaded.status_code, md5(downloaded.content)) == (200, md5(data))


def test_s3_failing_one_chunk_answers_503_and_its_resend_finishes_the_file(s3_nib):
    nib, proxy = s3_nib
    data = mp4(2 * CHUNK + 4321)  # 3 chunks
    with nib.http() as http:
        first = send_chunk(http, "outage", "chunked", "c.mp4", data[:CHUNK], 0, total=len(data))
        assert first.json()["chunksUploaded"] == 1
        for mode in (ERROR_500, DROP):  # a broken store, then one that dies mid-part
            proxy.set(mode)
            failed = send_chunk(http, "outage", "chunked", "c.mp4", data[CHUNK : 2 * CHUNK], CHUNK, total=len(data))
            assert _error(failed) == UNAVAILABLE, mode
        proxy.set(PASS)
        pending = http.get("/storage/buckets/outage/files/chunked").json()
        assert (pending["chunksUploaded"], pending["chunksTotal"], pending["signature"]) == (1, 3, "")
        assert _error(http.get("/storage/buckets/outage/files/chunked/download")) == (404, "storage_file_not_found")
        for start in (CHUNK, 2 * CHUNK):
            done = send_chunk(http, "outage", "chunked", "c.mp4", data[start : start + CHUNK], start, total=len(data))
            assert done.status_code == 201, done.text
        assert (done.json()["chunksUploaded"], done.json()["signature"]) == (3, md5(data))
        downloaded = http.get("/storage/buckets/outage/files/chunked/download")
        assert (downloaded.status_code, md5(downloaded.content)) == (200, md5(data))
        assert leftovers(nib, "outage") == []


def test_s3_failing_downloads_answer_503_before_any_byte_and_work_once_it_is_back(s3_nib):
    nib, proxy = s3_nib
    small, large = mp4(300_000), mp4(3 * MIB + 7)  # sent in one piece / streamed
    with nib.http() as http:
        for file_id, data in (("small", small), ("large", large)):
            response = http.post("/storage/buckets/outage/files", **multipart(file_id, f"{file_id}.mp4", data))
            assert response.status_code == 201
        for mode in (ERROR_500, REFUSE):
            proxy.set(mode)
            for file_id in ("small", "large"):
                failed = http.get(f"/storage/buckets/outage/files/{file_id}/download")
                assert _error(failed) == UNAVAILABLE, (mode, file_id)
                assert "content-disposition" not in failed.headers
        proxy.set(PASS)
        for file_id, data in (("small", small), ("large", large)):
            downloaded = http.get(f"/storage/buckets/outage/files/{file_id}/download")
            assert (downloaded.status_code, downloaded.content == data) == (200, True)


def test_s3_dying_mid_download_cuts_the_connection_short_of_its_content_length(s3_nib):
    nib, proxy = s3_nib
    large = mp4(3 * MIB + 7)
    with nib.http() as http:
        assert http.post("/storage/buckets/outage/files", **multipart("large", "l.mp4", large)).status_code == 201
        proxy.set(DROP)  # S3 sends the headers and 256 KiB, then goes away: nib has answered 200 by then
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            with http.stream("GET", "/storage/buckets/outage/files/large/download") as response:
                assert (response.status_code, response.headers["content-length"]) == (200, str(len(large)))
                for piece in response.iter_bytes():
                    received += piece
        assert 0 < len(received) < len(large) and large.startswith(bytes(received))
        proxy.set(PASS)
        assert http.get("/storage/buckets/outage/files/large/download").content == large


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs (mounting needs root, as in CI), unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def _fill(path) -> None:
    """Write zeros to ``path`` until the disk is full."""
    with open(path, "wb", buffering=0) as filler:
        with pytest.raises(OSError) as full:
            while True:
                filler.write(bytes(1 << 16))
    assert full.value.errno == errno.ENOSPC


def test_full_disk_refuses_uploads_and_writes_cleanly_keeps_serving_reads_and_recovers(small_disk):
    nib = start_server("sqlite", small_disk / "data", env=QUIET)
    try:
        kept = mp4(200_000)
        with nib.http() as http:
            assert http.post("/storage/buckets", json={"bucketId": "disk", "name": "Disk"}).status_code == 201
            assert http.post("/storage/buckets/disk/files", **multipart("kept", "k.mp4", kept)).status_code == 201
            user = {"userId": "before", "email": "before@example.com", "password": "password1234", "name": "Before"}
            assert http.post("/users", json=user).status_code == 201
            _fill(small_disk / "filler")
            data = mp4(MIB + 99)
            for _ in range(3):  # the same answer each time: nothing half-written piles up
                refused = http.post("/storage/buckets/disk/files", **multipart("new", "n.mp4", data))
                assert _error(refused) == UNAVAILABLE
                assert refused.json()["message"] == "The storage device is full. Please try again later."
            chunk = send_chunk(http, "disk", "chunked", "c.mp4", data[: MIB // 2], 0, total=MIB + 99)
            assert _error(chunk) == UNAVAILABLE
            user = {"userId": "during", "email": "during@example.com", "password": "password1234", "name": "During"}
            assert _error(http.post("/users", json=user)) == UNAVAILABLE
            # Nothing of the refused writes is visible or left on disk; reads go on.
            assert [f["$id"] for f in http.get("/storage/buckets/disk/files").json()["files"]] == ["kept"]
            assert _error(http.get("/storage/buckets/disk/files/new")) == (404, "storage_file_not_found")
            assert _error(http.get("/users/during")) == (404, "user_not_found")
            assert leftovers(nib, "disk") == []
            assert len(stored_objects(nib, "disk")) == 1  # "kept"'s bytes
            assert http.get("/users/before").json()["email"] == "before@example.com"
            assert http.get("/storage/buckets/disk/files/kept/download").content == kept
            with sqlite3.connect(f"file:{nib.data_dir / 'nib.db'}?mode=ro", uri=True) as database:
                assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            # Space again: the same upload and sign-up go through.
            (small_disk / "filler").unlink()
            created = http.post("/storage/buckets/disk/files", **multipart("new", "n.mp4", data))
            assert (created.status_code, created.json()["signature"]) == (201, md5(data))
            assert http.get("/storage/buckets/disk/files/new/download").content == data
            assert http.post("/users", json=user).status_code == 201
    finally:
        stop_server(nib)
