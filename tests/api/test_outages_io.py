"""Outages of what nib reads and writes bytes through (issue 10): its S3 endpoint refusing,
failing or dying mid-stream, a full local disk, and SIGTERM while requests are in flight.

S3 faults come from tests/faulty_proxy.py, a real TCP proxy between nib and moto's server, and
the disk is a real 8 MiB tmpfs: nothing of nib is mocked. Each test starts its own nib on
SQLite (the outages are the device's; the database only has to stay consistent)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from storage_support import (
    CHUNK,
    MIB,
    as_input,
    leftovers,
    md5,
    mp4,
    multipart,
    paused_multipart,
    send_chunk,
    storage_as_key,
    stored_objects,
)

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


def _port(nib) -> int:
    return int(nib.endpoint.rsplit(":", 1)[1].split("/")[0])


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _slow_upload(nib, file_id: str, data: bytes, half_sent: threading.Event, go_on: threading.Event):
    """A single-request upload whose body stops half-way until ``go_on``, then trickles the rest:
    a callable returning the response (or the transport error that ended it)."""
    body, headers = paused_multipart(file_id, data, half_sent, go_on, trickle=0.02)
    headers |= {"X-Appwrite-Project": nib.project, "X-Appwrite-Key": nib.key}

    def send():
        try:
            return httpx.post(f"{nib.endpoint}/storage/buckets/drain/files", content=body, headers=headers, timeout=60)
        except httpx.TransportError as error:
            return error

    return send


def _slow_download(nib, file_id: str, started: threading.Event, go_on: threading.Event):
    """A download that reads its first MiB, waits for ``go_on``, then reads the rest slowly:
    a callable returning ``(status, bytes received)`` or the transport error that ended it."""

    def receive():
        received = bytearray()
        url = f"{nib.endpoint}/storage/buckets/drain/files/{file_id}/download"
        try:
            with httpx.stream(
                "GET", url, headers={"X-Appwrite-Project": nib.project, "X-Appwrite-Key": nib.key}
            ) as reply:
                for piece in reply.iter_bytes(256 * 1024):
                    received += piece
                    if len(received) >= MIB and not started.is_set():
                        started.set()
                        assert go_on.wait(60)
                    time.sleep(0.01)
                return reply.status_code, bytes(received)
        except httpx.TransportError as error:
            return error

    return receive


@pytest.fixture
def drain_nib(tmp_path):
    """``start(**env)``: a nib with a bucket ``drain``, to be SIGTERMed by the test (killed after
    it if it is still running)."""
    started = []

    def start(**env):
        started.append(start_server("sqlite", tmp_path / "nib", env={**QUIET, **env}))
        with started[-1].http() as http:
            assert http.post("/storage/buckets", json={"bucketId": "drain", "name": "Drain"}).status_code == 201
        return started[-1]

    yield start
    for nib in started:
        if nib.process.poll() is None:
            nib.process.kill()
            nib.process.wait()


def test_sigterm_finishes_in_flight_upload_and_download_refuses_new_ones_and_exits_0(drain_nib):
    nib = drain_nib()
    large, upload = mp4(24 * MIB + 5), mp4(3 * MIB + 3)
    storage_as_key(nib).create_file("drain", "large", as_input(large, "l.mp4"))
    half_sent, started, go_on = threading.Event(), threading.Event(), threading.Event()
    with ThreadPoolExecutor(2) as pool:
        uploading = pool.submit(_slow_upload(nib, "late", upload, half_sent, go_on))
        downloading = pool.submit(_slow_download(nib, "large", started, go_on))
        assert half_sent.wait(30) and started.wait(30)
        signalled = time.monotonic()
        nib.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _refused(_port(nib)):  # the listening socket closes first
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        assert nib.process.poll() is None  # ...while the in-flight requests go on
        go_on.set()
        uploaded = uploading.result(60)
        status, downloaded = downloading.result(60)
    assert (uploaded.status_code, uploaded.json()["signature"]) == (201, md5(upload))
    assert (status, len(downloaded), downloaded == large) == (200, len(large), True)
    assert nib.process.wait(30) == 0
    assert time.monotonic() - signalled < 30
    again = start_server("sqlite", nib.data_dir, env=QUIET, key=nib.key)
    try:
        with again.http() as http:
            assert http.get("/storage/buckets/drain/files/late/download").content == upload
    finally:
        stop_server(again)


def test_sigterm_cuts_a_request_that_outlives_the_drain_time_and_still_exits(drain_nib):
    nib = drain_nib(NIB_SHUTDOWN_TIMEOUT="2")
    half_sent, go_on = threading.Event(), threading.Event()
    with ThreadPoolExecutor(1) as pool:
        stalled = pool.submit(_slow_upload(nib, "stalled", mp4(2 * MIB), half_sent, go_on))
        assert half_sent.wait(30)
        signalled = time.monotonic()
        nib.process.send_signal(signal.SIGTERM)
        try:
            assert nib.process.wait(15) == 0
            assert time.monotonic() - signalled < 2 + 5
        finally:
            go_on.set()
        assert isinstance(stalled.result(30), httpx.TransportError)  # cut, no answer
    again = start_server("sqlite", nib.data_dir, env=QUIET, key=nib.key)
    try:
        with again.http() as http:
            assert _error(http.get("/storage/buckets/drain/files/stalled")) == (404, "storage_file_not_found")
        assert leftovers(again, "drain") == []
    finally:
        stop_server(again)
