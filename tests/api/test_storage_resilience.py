"""Uploads that outlive their server (issue 5, "Done means"): a >50 MB chunked upload through the
newest official SDK interrupted part-way (the server goes away) and resumed the SDK's way, and a
nib SIGKILLed while chunks are streaming, restarted on the same data dir and database.

Each test starts its own nib (``nib_with``: a fresh database on the session's backend) so it can
stop or kill it, then a second process on the same storage (``start_server(..., key=...)``)."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.services.storage import Storage
from storage_support import (
    CHUNK,
    MIB,
    as_input,
    leftovers,
    md5,
    mp4,
    new_bucket,
    paused_multipart,
    send_chunk,
    storage_as_key,
    stored_objects,
)

from live_server import NibServer, start_server, stop_server

QUIET = {"NIB_RATE_LIMITS": "off"}


def _restart(dead: NibServer) -> NibServer:
    """A new nib process on the storage and database of one that was stopped or killed."""
    return start_server(dead.backend, dead.data_dir, dead.database_url, env=QUIET, key=dead.key)


def _wait_until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class _GatedClient(Client):
    """The official SDK's client, holding back every chunk from offset ``cut`` on until ``gate``
    opens: the SDK's own parallel upload runs, and its later chunks leave only once the test has
    taken the server away, so they meet a real closed port."""

    def __init__(self, cut: int, gate: threading.Event) -> None:
        super().__init__()
        self.cut, self.gate = cut, gate

    def call(self, method, path="", headers=None, params=None, response_type="json"):
        content_range = (headers or {}).get("content-range", "")
        if content_range and int(content_range.split()[1].split("-")[0]) >= self.cut:
            assert self.gate.wait(60)
        return super().call(method, path, headers, params, response_type=response_type)


def test_sdk_upload_over_50_mb_resumes_after_the_server_went_away(nib_with):
    first = nib_with(**QUIET)
    bucket_id = new_bucket(first)
    data = mp4(10 * CHUNK + 1_234_567)  # 53.7 MB: 11 chunks
    file_id = ID.unique()
    received = 6  # chunks that reach the server before it goes away
    gate = threading.Event()
    client = _GatedClient(received * CHUNK, gate).set_endpoint(first.endpoint).set_project(first.project)
    interrupted = Storage(client.set_key(first.key))
    with ThreadPoolExecutor(1) as pool:
        upload = pool.submit(interrupted.create_file, bucket_id, file_id, as_input(data, "big.mp4"))
        with first.http() as http:
            path = f"/storage/buckets/{bucket_id}/files/{file_id}"
            _wait_until(lambda: http.get(path).json().get("chunksUploaded") == received)
        stop_server(first)
        gate.set()
        with pytest.raises(AppwriteException) as refused:
            upload.result(timeout=60)
        assert "Connection refused" in str(refused.value)  # no HTTP answer: nothing listens
    second = _restart(first)
    try:
        # Same file id again: the SDK GETs it and continues from chunksUploaded x chunk size.
        progress: list[dict] = []
        storage = storage_as_key(second)
        resumed = storage.create_file(bucket_id, file_id, as_input(data, "big.mp4"), on_progress=progress.append)
        assert progress[0]["sizeUploaded"] == (received + 1) * CHUNK  # it started at the first missing chunk
        resumed = resumed.to_dict()
        assert (resumed["$id"], resumed["chunksUploaded"], resumed["chunksTotal"]) == (file_id, 11, 11)
        assert (resumed["sizeOriginal"], resumed["signature"]) == (len(data), md5(data))
        downloaded = storage.get_file_download(bucket_id, file_id)
        assert (len(downloaded), md5(downloaded)) == (len(data), md5(data))
        assert downloaded == data
        assert leftovers(second, bucket_id) == []
        assert len(stored_objects(second, bucket_id)) == 1
    finally:
        stop_server(second)


def _stream_paused_chunk(
    server: NibServer, bucket_id: str, file_id: str, data: bytes, start: int, go_on: threading.Event
):
    """One chunk request whose body stops half-way: ``(send, half_sent)``; ``send()`` returns the
    transport error the dead server causes."""
    half_sent = threading.Event()
    body, headers = paused_multipart(file_id, data[start : start + CHUNK], half_sent, go_on)
    headers |= {
        "Content-Range": f"bytes {start}-{start + CHUNK - 1}/{len(data)}",
        "X-Appwrite-ID": file_id,
        "X-Appwrite-Project": server.project,
        "X-Appwrite-Key": server.key,
    }

    def send() -> Exception:
        try:
            httpx.post(
                f"{server.endpoint}/storage/buckets/{bucket_id}/files", content=body, headers=headers, timeout=60
            )
        except httpx.TransportError as error:
            return error
        raise AssertionError("the chunk request got an answer from a killed server")

    return send, half_sent


def test_sigkill_mid_upload_loses_nothing_exposes_nothing_and_resumes(nib_with):
    first = nib_with(**QUIET)
    bucket_id = new_bucket(first)
    storage = storage_as_key(first)
    complete = mp4(CHUNK + 777)
    storage.create_file(bucket_id, "complete", as_input(complete, "complete.mp4"))
    # "middle": chunk 1 of 4 committed, chunk 2 streaming at the kill; "fresh": its first chunk streaming.
    middle, fresh = mp4(3 * CHUNK + 4321), mp4(2 * CHUNK + 99)
    with first.http() as http:
        first_chunk = {"Content-Range": f"bytes 0-{CHUNK - 1}/{len(middle)}", "X-Appwrite-ID": "middle"}
        response = http.post(
            f"/storage/buckets/{bucket_id}/files",
            headers=first_chunk,
            data={"fileId": "middle"},
            files={"file": ("m.mp4", middle[:CHUNK])},
        )
        assert response.json()["chunksUploaded"] == 1
    go_on = threading.Event()
    streams = [
        _stream_paused_chunk(first, bucket_id, "middle", middle, CHUNK, go_on),
        _stream_paused_chunk(first, bucket_id, "fresh", fresh, 0, go_on),
    ]
    parts = first.data_dir / "storage" / ".parts" / first.project / bucket_id
    with ThreadPoolExecutor(len(streams)) as pool:
        requests = [pool.submit(send) for send, _ in streams]
        for _, half_sent in streams:
            assert half_sent.wait(30)
        # Both chunks are on the device, half-written, when the process dies.
        _wait_until(lambda: sum(p.stat().st_size >= MIB for p in parts.rglob(".tmp-*")) == 2)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        go_on.set()
        assert all(isinstance(request.result(timeout=30), httpx.TransportError) for request in requests)
    second = _restart(first)
    try:
        storage = storage_as_key(second)
        # No completed file lost.
        assert md5(storage.get_file_download(bucket_id, "complete")) == md5(complete)
        # No partial one exposed: the rows say how far each upload got (the first chunk's row is
        # committed before its bytes stream, so "fresh" exists with 0 chunks); the interrupted
        # chunks did not count, and no bytes are served for either.
        with second.http() as http:
            listed = {f["$id"]: f for f in http.get(f"/storage/buckets/{bucket_id}/files").json()["files"]}
            counters = {k: (f["chunksUploaded"], f["chunksTotal"], f["signature"]) for k, f in listed.items()}
            assert counters == {"complete": (2, 2, md5(complete)), "middle": (1, 4, ""), "fresh": (0, 3, "")}
            for file_id in ("middle", "fresh"):
                for view in ("download", "view"):
                    refused = http.get(f"/storage/buckets/{bucket_id}/files/{file_id}/{view}")
                    assert (refused.status_code, refused.json()["type"]) == (404, "storage_file_not_found")
        assert len(stored_objects(second, bucket_id)) == 1  # only the complete file's object
        # The SDK resumes both (same ids): "middle" from its interrupted chunk 2, "fresh" from 0.
        for file_id, data in (("middle", middle), ("fresh", fresh)):
            done = storage.create_file(bucket_id, file_id, as_input(data, f"{file_id}.mp4")).to_dict()
            assert (done["chunksUploaded"], done["chunksTotal"], done["signature"]) == (
                done["chunksTotal"],
                len(data) // CHUNK + 1,
                md5(data),
            )
            assert md5(storage.get_file_download(bucket_id, file_id)) == md5(data)
        assert leftovers(second, bucket_id) == []  # the killed requests' half parts went with their uploads
        assert len(stored_objects(second, bucket_id)) == 3
    finally:
        stop_server(second)


@contextmanager
def _reads_held(paths: list[Path]):
    """Hold a Linux write lease on each file: another process's ``open`` of one waits until the
    lease goes (or the kernel's lease-break-time, 45 s by default, passes). The kernel asks the
    holder to give the lease up with SIGIO, ignored meanwhile."""
    previous = signal.signal(signal.SIGIO, signal.SIG_IGN)
    descriptors = [os.open(path, os.O_RDWR) for path in paths]
    try:
        for descriptor in descriptors:
            fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        yield
    finally:
        for descriptor in descriptors:
            os.close(descriptor)  # gives the lease up
        signal.signal(signal.SIGIO, previous)


def test_sigkill_while_last_chunks_are_joined_then_resent_last_chunks_finish_the_files(nib_with):
    """Several uploads killed while their parts were being joined: after the restart, the SDK's
    resumed upload (the last chunk again) gets the finished file within a lease's time, and
    deleting the files leaves nothing of the dead joins behind.

    Joining is far faster than a test can catch, so the test holds each upload's part 4 under a
    lease (``_reads_held``), standing in for a disk that hangs: each join has parts 1-3 in its
    temporary object and waits for part 4 when the process is killed."""
    first = nib_with(**QUIET)
    bucket_id = new_bucket(first)
    uploads = {f"joined{n}": mp4(4 * CHUNK + 1000 * n) for n in (1, 2, 3)}  # 5 chunks each
    root = first.data_dir / "storage"
    with first.http() as http:
        for file_id, data in uploads.items():
            for start in range(0, 4 * CHUNK, CHUNK):
                sent = send_chunk(
                    http, bucket_id, file_id, "j.mp4", data[start : start + CHUNK], start, total=len(data)
                )
                assert sent.status_code == 201, sent.text
    fourth_parts = [
        part for file_id in uploads for part in (root / ".parts" / first.project / bucket_id / file_id).glob("*/*/4")
    ]

    def send_last(file_id: str) -> Exception:
        data = uploads[file_id]
        try:
            with first.http() as http:
                send_chunk(http, bucket_id, file_id, "j.mp4", data[4 * CHUNK :], 4 * CHUNK, total=len(data))
        except httpx.TransportError as error:
            return error
        raise AssertionError("the last chunk got an answer from a killed server")

    def joins_stalled() -> bool:
        joins = [list((root / first.project / bucket_id / file_id).glob(".tmp-*")) for file_id in uploads]
        return all(len(found) == 1 and found[0].stat().st_size == 3 * CHUNK for found in joins)

    assert len(fourth_parts) == len(uploads)
    with _reads_held(fourth_parts), ThreadPoolExecutor(len(uploads)) as pool:
        requests = [pool.submit(send_last, file_id) for file_id in uploads]
        _wait_until(joins_stalled)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        killed = time.monotonic()
        assert all(isinstance(request.result(timeout=30), httpx.TransportError) for request in requests)
    second = _restart(first)
    try:
        storage = storage_as_key(second)
        for file_id in uploads:  # where the SDK resumes: one chunk short, the join did not finish
            partial = storage.get_file(bucket_id, file_id).to_dict()
            assert (partial["chunksUploaded"], partial["chunksTotal"], partial["signature"]) == (4, 5, "")

        def resume(file_id: str) -> dict:
            return storage.create_file(bucket_id, file_id, as_input(uploads[file_id], "j.mp4")).to_dict()

        with ThreadPoolExecutor(len(uploads)) as pool:
            resumed = dict(zip(uploads, pool.map(resume, uploads)))
        assert time.monotonic() - killed < 20  # the dead joins' leases ran out in seconds
        for file_id, data in uploads.items():
            done = resumed[file_id]
            assert (done["chunksUploaded"], done["chunksTotal"], done["signature"]) == (5, 5, md5(data))
            assert storage.get_file_download(bucket_id, file_id) == data
        for file_id in uploads:
            storage.delete_file(bucket_id, file_id)
        assert leftovers(second, bucket_id) == [] and stored_objects(second, bucket_id) == []
    finally:
        stop_server(second)
