"""Chunked and streamed uploads: the official SDKs' own chunking (the newest: first chunk, then up
to 8 in parallel; 5.0.3: sequential), raw chunks out of order, repeated and resumed, two nib
processes receiving chunks of one file, and the limits enforced while the bytes stream (nothing
half-written is ever left)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa
from appwrite.exception import AppwriteException
from appwrite.id import ID
from storage_support import (
    CHUNK,
    MIB,
    as_input,
    device,
    leftovers,
    md5,
    mp4,
    multipart,
    new_bucket,
    send_chunk,
    storage_as_key,
    stored_objects,
)
from test_sdk_compat_503 import install_sdk

from live_server import start_server, stop_server
from nib.storage.tables import file_chunks, files


def _chunks(data: bytes) -> list[tuple[int, bytes]]:
    return [(start, data[start : start + CHUNK]) for start in range(0, len(data), CHUNK)]


def test_newest_sdk_uploads_chunks_in_parallel(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    data = mp4(5 * CHUNK + 12345)  # 6 chunks: the first alone, then 5 at once
    file_id = ID.unique()  # generated locally: the SDK sends it as X-Appwrite-ID from the first chunk
    created = storage_as_key(storage_server).create_file(bucket_id, file_id, as_input(data, "large-file.mp4")).to_dict()
    assert created["$id"] == file_id
    assert (created["chunksTotal"], created["chunksUploaded"]) == (6, 6)
    assert created["sizeOriginal"] == len(data)
    assert created["signature"] == md5(data)
    assert created["mimeType"] == "video/mp4"
    assert storage_as_key(storage_server).get_file_download(bucket_id, created["$id"]) == data
    assert leftovers(storage_server, bucket_id) == []
    assert len(stored_objects(storage_server, bucket_id)) == 1


def test_sdk_503_uploads_chunks_in_sequence(storage_server):
    bucket_id = new_bucket(storage_server)
    data = mp4(2 * CHUNK + 999)
    source = storage_server.data_dir / f"{bucket_id}.mp4"
    source.write_bytes(data)
    script = textwrap.dedent(
        """
        import json, sys
        from appwrite.client import Client
        from appwrite.input_file import InputFile
        from appwrite.services.storage import Storage
        endpoint, project, key, bucket_id, path = sys.argv[1:6]
        storage = Storage(Client().set_endpoint(endpoint).set_project(project).set_key(key))
        progress = []
        result = storage.create_file(bucket_id, "sdk503", InputFile.from_path(path), on_progress=progress.append)
        print(json.dumps({"result": result, "progress": progress}))
        """
    )
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            storage_server.endpoint,
            storage_server.project,
            storage_server.key,
            bucket_id,
            str(source),
        ],
        env={**os.environ, "PYTHONPATH": str(install_sdk())},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    output = json.loads(completed.stdout)
    result = output["result"]
    assert (result["$id"], result["chunksTotal"], result["chunksUploaded"]) == ("sdk503", 3, 3)
    assert result["signature"] == md5(data) and result["mimeType"] == "video/mp4"
    assert [step["chunksUploaded"] for step in output["progress"]] == [1, 2, 3]
    assert storage_as_key(storage_server).get_file_download(bucket_id, "sdk503") == data


def test_out_of_order_repeated_and_resumed_chunks(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    data = mp4(2 * CHUNK + 100)
    (s1, c1), (s2, c2), (s3, c3) = _chunks(data)
    last = send_chunk(storage_http, bucket_id, "ooo", "v.mp4", c3, s3, total=len(data))  # the last chunk first
    assert last.status_code == 201, last.text
    body = last.json()
    # chunksUploaded counts the chunks from the first that are all in (where an SDK resumes).
    assert (body["chunksTotal"], body["chunksUploaded"], body["sizeOriginal"]) == (3, 0, len(data))
    assert (body["signature"], body["mimeType"]) == ("", "")
    repeat = send_chunk(storage_http, bucket_id, "ooo", "v.mp4", c3, s3, total=len(data))
    assert repeat.status_code == 201 and repeat.json()["chunksUploaded"] == 0
    assert send_chunk(storage_http, bucket_id, "ooo", "v.mp4", c2, s2, total=len(data)).json()["chunksUploaded"] == 0
    # Resume as the SDKs do: GET shows where the upload stands (the partial file is listed too).
    partial = storage_as_key(storage_server).get_file(bucket_id, "ooo")
    assert (partial.chunksuploaded, partial.chunkstotal, partial.signature) == (0, 3, "")
    assert storage_as_key(storage_server).list_files(bucket_id).total == 1
    assert storage_http.get(f"/storage/buckets/{bucket_id}/files/ooo/download").status_code == 404  # not complete
    done = send_chunk(storage_http, bucket_id, "ooo", "v.mp4", c1, s1, total=len(data)).json()
    assert (done["chunksUploaded"], done["signature"], done["mimeType"]) == (3, md5(data), "video/mp4")
    assert storage_http.get(f"/storage/buckets/{bucket_id}/files/ooo/download").content == data
    late = send_chunk(storage_http, bucket_id, "ooo", "v.mp4", c2, s2, total=len(data))
    assert (late.status_code, late.json()["type"]) == (409, "storage_file_already_exists")
    assert leftovers(storage_server, bucket_id) == []


def test_repeated_chunks_racing_the_assembly(storage_server, storage_http):
    """Every chunk sent twice at once: repeats that arrive while the parts are being joined (the
    device's multi-part write already gone) are answered as repeats, never as a server error."""
    bucket_id = new_bucket(storage_server, encryption=False)
    data = os.urandom(6 * MIB + 10)
    chunks = [(start, data[start : start + MIB]) for start in range(0, len(data), MIB)]

    def send(chunk: tuple[int, bytes]) -> httpx.Response:
        return send_chunk(storage_http, bucket_id, "twice", "t.bin", chunk[1], chunk[0], total=len(data))

    assert send(chunks[0]).status_code == 201
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, chunks[1:] * 2))
    assert {r.status_code for r in responses} <= {201, 409}
    assert {r.json()["type"] for r in responses if r.status_code == 409} <= {"storage_file_already_exists"}
    final = storage_http.get(f"/storage/buckets/{bucket_id}/files/twice").json()
    assert (final["chunksUploaded"], final["signature"]) == (len(chunks), md5(data))
    assert storage_http.get(f"/storage/buckets/{bucket_id}/files/twice/download").content == data
    assert leftovers(storage_server, bucket_id) == [] and len(stored_objects(storage_server, bucket_id)) == 1


def test_chunk_errors(storage_server, storage_http):
    bucket_id = new_bucket(storage_server, maximum_file_size=3 * CHUNK)
    path = f"/storage/buckets/{bucket_id}/files"
    chunk = b"x" * 1000
    for header in ("bytes 0-999", "bytes 10-5/2000", "bytes a-b/100", "bytes 0-999/0"):
        bad = storage_http.post(path, headers={"Content-Range": header}, **multipart("c1", "a.bin", chunk))
        assert (bad.status_code, bad.json()["type"]) == (400, "storage_invalid_content_range"), header
    unique = storage_http.post(
        path,
        headers={"Content-Range": "bytes 0-999/2000", "X-Appwrite-ID": "unique()"},
        **multipart("unique()", "a.bin", chunk),
    )
    assert (unique.status_code, unique.json()["type"]) == (400, "storage_invalid_appwrite_id")
    too_big = send_chunk(storage_http, bucket_id, "c2", "a.bin", chunk, 0, total=4 * CHUNK)
    assert (too_big.status_code, too_big.json()["type"], too_big.json()["message"]) == (
        400,
        "storage_invalid_file_size",
        "File size not allowed",
    )
    short = storage_http.post(
        path, headers={"Content-Range": "bytes 0-1999/4000", "X-Appwrite-ID": "c3"}, **multipart("c3", "a.bin", chunk)
    )
    assert (short.status_code, short.json()["type"]) == (400, "storage_invalid_content_range")
    assert leftovers(storage_server, bucket_id) == []


def test_partial_upload_can_be_deleted(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    data = b"p" * (CHUNK + 10)
    assert send_chunk(storage_http, bucket_id, "part", "p.bin", data[:CHUNK], 0, total=len(data)).status_code == 201
    assert storage_http.delete(f"/storage/buckets/{bucket_id}/files/part").status_code == 204
    assert storage_http.get(f"/storage/buckets/{bucket_id}/files/part").status_code == 404
    assert leftovers(storage_server, bucket_id) == [] and stored_objects(storage_server, bucket_id) == []
    # The ID is free again: a new upload starts from scratch.
    again = send_chunk(storage_http, bucket_id, "part", "p.bin", data[CHUNK:], CHUNK, total=len(data)).json()
    assert (again["chunksUploaded"], again["chunksTotal"]) == (0, 2)  # only the last chunk is in


def test_size_limit_hit_mid_stream_leaves_nothing(storage_server, storage_http):
    bucket_id = new_bucket(storage_server, maximum_file_size=100_000)
    response = storage_http.post(
        f"/storage/buckets/{bucket_id}/files", **multipart("big", "big.bin", os.urandom(300_000))
    )
    assert (response.status_code, response.json()["type"]) == (400, "storage_invalid_file_size")
    assert leftovers(storage_server, bucket_id) == [] and stored_objects(storage_server, bucket_id) == []
    with pytest.raises(AppwriteException):
        storage_as_key(storage_server).get_file(bucket_id, "big")
    # Over the S3 device's 8 MiB part size, where a multipart upload is already open: aborted too.
    larger = new_bucket(storage_server, maximum_file_size=9 * MIB)
    response = storage_http.post(
        f"/storage/buckets/{larger}/files", **multipart("big", "big.bin", os.urandom(10 * MIB))
    )
    assert (response.status_code, response.json()["type"]) == (400, "storage_invalid_file_size")
    assert leftovers(storage_server, larger) == [] and stored_objects(storage_server, larger) == []


def test_request_bodies_over_12_mib_get_413(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    path = f"/storage/buckets/{bucket_id}/files"
    data = os.urandom(12 * MIB + 1)
    declared = storage_http.post(
        path, **multipart("huge", "huge.bin", data)
    )  # Content-Length says so: refused up front
    assert declared.status_code == 413
    boundary = "nibboundary"

    def body():  # chunked transfer encoding: no Content-Length, refused once 12 MiB have passed
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="fileId"\r\n\r\nhuge\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="h.bin"\r\n\r\n'.encode()
        for start in range(0, len(data), MIB):
            yield data[start : start + MIB]
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = storage_http.post(
        path, content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert streamed.status_code == 413
    assert leftovers(storage_server, bucket_id) == [] and stored_objects(storage_server, bucket_id) == []
    # Under it, one request carries a file larger than the S3 device's 8 MiB part (two parts there).
    single = os.urandom(10 * MIB)
    created = storage_http.post(path, **multipart("single", "s.bin", single))
    assert created.status_code == 201 and created.json()["signature"] == md5(single)
    assert storage_http.get(f"{path}/single/download").content == single
    # 12 MiB is the request limit, not the file limit: the SDKs' 5 MiB chunks carry larger files.
    chunked = mp4(2 * CHUNK + 5 * MIB)
    for start, chunk in _chunks(chunked):
        assert send_chunk(storage_http, bucket_id, "fits", "f.mp4", chunk, start, total=len(chunked)).status_code == 201
    assert storage_http.get(f"{path}/fits").json()["signature"] == md5(chunked)


def test_bytes_reach_the_device_while_the_request_is_still_arriving(server, http):
    """Streaming, observed: half of a body is sent, its bytes appear in the device's temporary
    object, and only then does the client send the rest. Local device only: the S3 device holds
    one 8 MiB part in memory before its first request, by design, so nothing of a 4 MiB body is
    observable in the bucket until the upload completes."""
    bucket_id = new_bucket(server)
    data = os.urandom(4 * MIB)
    boundary = "nibboundary"
    half_sent = threading.Event()
    go_on = threading.Event()

    def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="fileId"\r\n\r\nslow\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'.encode()
        yield data[: 2 * MIB]
        half_sent.set()
        assert go_on.wait(30)
        yield data[2 * MIB :]
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(http.post, f"/storage/buckets/{bucket_id}/files", content=body(), headers=headers)
        assert half_sent.wait(30)
        deadline = time.monotonic() + 20
        written = 0
        while time.monotonic() < deadline and written < MIB:
            written = sum(path.stat().st_size for path in leftovers(server, bucket_id))
            time.sleep(0.05)
        go_on.set()
        response = future.result(timeout=60)
    assert written >= MIB  # on disk before the body was complete
    assert response.status_code == 201 and response.json()["signature"] == md5(data)


def test_two_processes_receive_chunks_of_one_file(storage_server):
    """A second nib on the same database and storage: chunks of one upload spread over both,
    sent concurrently, end in one correct file counted once, completed by exactly one request."""
    second = start_server(
        storage_server.backend,
        storage_server.data_dir,
        storage_server.database_url,
        env=storage_server.env,
        key=storage_server.key,
    )
    try:
        bucket_id = new_bucket(storage_server)
        data = mp4(7 * CHUNK + 4321)
        chunks = _chunks(data)
        clients = [storage_server.http(), second.http()]
        first = send_chunk(clients[0], bucket_id, "twin", "t.mp4", chunks[0][1], 0, total=len(data))
        assert first.status_code == 201

        def send(index: int) -> httpx.Response:
            start, chunk = chunks[index]
            return send_chunk(clients[index % 2], bucket_id, "twin", "t.mp4", chunk, start, total=len(data))

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(send, range(1, len(chunks))))
        assert [r.status_code for r in responses] == [201] * (len(chunks) - 1)
        completed = [r.json() for r in responses if r.json()["signature"]]
        assert len(completed) == 1
        assert completed[0]["chunksUploaded"] == completed[0]["chunksTotal"] == len(chunks)
        final = clients[1].get(f"/storage/buckets/{bucket_id}/files/twin").json()
        assert (final["chunksUploaded"], final["signature"]) == (len(chunks), md5(data))
        assert clients[0].get(f"/storage/buckets/{bucket_id}/files/twin/download").content == data
        assert leftovers(storage_server, bucket_id) == []
        for client in clients:
            client.close()
    finally:
        stop_server(second)


def test_upload_whose_assembly_died_is_finished_by_the_resumed_chunk(storage_server, storage_http, storage_db):
    """The request that counted the last chunk was killed while joining the parts: the file
    stays hidden, GET shows one chunk missing, and the client's resent last chunk waits while the
    dead request's lease runs, then assembles the file (never answering it unfinished)."""
    bucket_id = new_bucket(storage_server)
    data = mp4(2 * CHUNK + 100)
    (s1, c1), (s2, c2), (s3, c3) = _chunks(data)
    for start, chunk in ((s1, c1), (s2, c2)):
        assert send_chunk(storage_http, bucket_id, "died", "d.mp4", chunk, start, total=len(data)).status_code == 201
    # What the killed request left: part 3 stored and counted, its assembly lease held.
    with storage_db.read() as conn:
        row = (
            conn.execute(
                sa.select(files).where(files.c.project_id == storage_server.project, files.c.bucket_id == bucket_id)
            )
            .mappings()
            .one()
        )
    device(storage_server).write_part(row["object"], row["upload_handle"], 3, [c3])
    held = datetime.now(timezone.utc) + timedelta(minutes=5)
    with storage_db.write() as conn:
        conn.execute(file_chunks.insert().values(file_seq=row["seq"], number=3))
        conn.execute(files.update().where(files.c.seq == row["seq"]).values(chunks_uploaded=3, completing_until=held))
    resumed = storage_as_key(storage_server).get_file(bucket_id, "died").to_dict()
    assert (resumed["chunksUploaded"], resumed["chunksTotal"], resumed["signature"]) == (2, 3, "")
    with ThreadPoolExecutor(1) as pool:
        resent = pool.submit(send_chunk, storage_http, bucket_id, "died", "d.mp4", c3, s3, total=len(data))
        time.sleep(1)
        assert not resent.done()  # waiting: someone holds the assembly
        with storage_db.write() as conn:  # ... whose lease lapses (no renewal: it died)
            conn.execute(
                files.update().where(files.c.seq == row["seq"]).values(completing_until=held - timedelta(minutes=10))
            )
        done = resent.result(timeout=30).json()
    assert (done["chunksUploaded"], done["signature"], done["mimeType"]) == (3, md5(data), "video/mp4")
    assert storage_http.get(f"/storage/buckets/{bucket_id}/files/died/download").content == data
    assert leftovers(storage_server, bucket_id) == []


def test_sdk_resume_fills_the_gaps_parallel_chunks_left(storage_server, storage_http):
    """Chunks 1-3 and 5 of 6 arrived (parallel chunks, then an interruption): the upload shows 3,
    so the SDK, which resumes at chunksUploaded x chunk size, sends 4, 5 again and 6."""
    bucket_id = new_bucket(storage_server)
    file_id = ID.unique()
    data = mp4(5 * CHUNK + 999)
    for number, (start, chunk) in enumerate(_chunks(data), start=1):
        if number in (1, 2, 3, 5):
            sent = send_chunk(storage_http, bucket_id, file_id, "gappy.mp4", chunk, start, total=len(data))
            assert sent.status_code == 201, sent.text
    progress = storage_http.get(f"/storage/buckets/{bucket_id}/files/{file_id}").json()
    assert (progress["chunksUploaded"], progress["chunksTotal"], progress["signature"]) == (3, 6, "")
    storage = storage_as_key(storage_server)
    resumed = storage.create_file(bucket_id, file_id, as_input(data, "gappy.mp4")).to_dict()
    assert (resumed["chunksUploaded"], resumed["chunksTotal"], resumed["signature"]) == (6, 6, md5(data))
    assert storage.get_file_download(bucket_id, file_id) == data
    assert leftovers(storage_server, bucket_id) == []
