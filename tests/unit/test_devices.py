"""One contract for every storage device: the same tests run on the local disk and on S3 (moto's
server on loopback, spoken to over HTTP). ``leftovers`` lists everything a device has stored —
objects, temporary files, parts, unfinished uploads — so each test also proves nothing is left."""

from __future__ import annotations

import errno
import fcntl
import os
import random
import signal
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from nib.storage.devices import Device
from nib.storage.devices.local import LocalDevice
from nib.storage.devices.s3 import MIN_PART, S3Device, s3_device
from nib.tools.errors import StorageUnavailable
from s3_server import moto_server, new_bucket, s3_settings

KIB, MIB = 1 << 10, 1 << 20
PATH = "p/b/f/data"


@dataclass
class Store:
    device: Device
    leftovers: Callable[[], set[str]]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


# "local-bulk": the local device as backups read their source and write their destination.
@pytest.fixture(params=["local", "local-bulk", "s3"])
def store(request, tmp_path) -> Store:
    if request.param.startswith("local"):
        root = tmp_path / "storage"

        def on_disk() -> set[str]:
            return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()

        return Store(LocalDevice(root, bulk=request.param == "local-bulk"), on_disk)
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket, admin = new_bucket(endpoint)

    def in_bucket() -> set[str]:
        keys = {obj["Key"] for obj in admin.list_objects_v2(Bucket=bucket).get("Contents", [])}
        uploads = admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return keys | {f"upload:{upload['Key']}" for upload in uploads}

    return Store(s3_device(s3_settings(endpoint, bucket)), in_bucket)


def data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def chunks(blob: bytes, size: int = 64 * KIB) -> Iterator[bytes]:
    for start in range(0, len(blob), size):
        yield blob[start : start + size]


def read_all(device: Device, path: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(device.read(path, start, end))


def failing(blob: bytes, after: int) -> Iterator[bytes]:
    """``blob``'s chunks, then an error once ``after`` bytes went out (a client that disconnects)."""
    sent = 0
    for chunk in chunks(blob):
        if sent >= after:
            raise ConnectionError("client went away")
        sent += len(chunk)
        yield chunk


# Objects


@pytest.mark.parametrize("size", [0, 1, 300 * KIB, 9 * MIB])  # 9 MiB: a multipart PUT on S3
def test_write_read_round_trip(store, size):
    blob = data(size)
    assert store.device.write(PATH, chunks(blob)) == size
    assert read_all(store.device, PATH) == blob
    assert store.device.size(PATH) == size
    assert store.device.exists(PATH)
    assert store.leftovers() == {PATH}


def test_read_streams_in_chunks(store):
    store.device.write(PATH, chunks(data(4 * MIB)))
    pieces = list(store.device.read(PATH))
    assert len(pieces) > 1 and max(map(len, pieces)) <= MIB


def test_write_replaces(store):
    store.device.write(PATH, [b"old contents"])
    assert store.device.write(PATH, [b"new", b"er"]) == 5
    assert read_all(store.device, PATH) == b"newer"


@pytest.mark.parametrize(
    "start, end",
    [(0, 0), (10, 99), (1000, None), (300 * KIB - 1, 300 * KIB - 1), (300 * KIB - 1, None), (5, 10 * MIB)],
    ids=["first byte", "middle", "open end", "last byte", "last byte open", "end past size"],
)
def test_ranged_read(store, start, end):
    blob = data(300 * KIB)
    store.device.write(PATH, chunks(blob))
    assert read_all(store.device, PATH, start, end) == blob[start : None if end is None else end + 1]


@pytest.mark.parametrize("start, end", [(300 * KIB, None), (400 * KIB, 500 * KIB), (10, 9)])
def test_ranged_read_outside_the_object_is_empty(store, start, end):
    store.device.write(PATH, chunks(data(300 * KIB)))
    assert read_all(store.device, PATH, start, end) == b""


def test_missing_object(store):
    with pytest.raises(FileNotFoundError):
        store.device.read(PATH)  # before the first chunk is asked for
    with pytest.raises(FileNotFoundError):
        store.device.read(PATH, 10, 5)
    with pytest.raises(FileNotFoundError):
        store.device.size(PATH)
    assert not store.device.exists(PATH)


def test_open_local_gives_the_file_on_local_disk_only(store):
    blob = data(3 * KIB)
    store.device.write(PATH, chunks(blob))
    opened = store.device.open_local(PATH)
    if isinstance(store.device, LocalDevice):
        with opened:
            assert opened.read() == blob
        with pytest.raises(FileNotFoundError):
            store.device.open_local("p/b/f/missing")
    else:
        assert opened is None  # remote objects are read through read()


def test_delete_is_idempotent(store):
    store.device.write(PATH, [b"x"])
    store.device.delete(PATH)
    store.device.delete(PATH)
    assert not store.device.exists(PATH)
    assert store.leftovers() == set()


def killed_mid_write(device: Device, path: str) -> None:
    """Write ``path`` in a forked process, SIGKILLed once 9 MiB have gone to the device (on S3,
    its first 8 MiB part is in an open multipart upload): what a crash leaves of a write."""
    sent, signal_sent = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child never returns)

        def stalling() -> Iterator[bytes]:
            yield from chunks(data(9 * MIB))
            os.write(signal_sent, b"!")
            time.sleep(60)

        try:
            device.write(path, stalling())
        finally:
            os._exit(1)
    assert os.read(sent, 1) == b"!"
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    os.close(sent)
    os.close(signal_sent)


def test_delete_removes_what_crashed_writes_left(store):
    device = store.device
    longer = PATH + "-stored"  # another object whose path starts with this one
    device.write(longer, [b"kept"])
    killed_mid_write(device, PATH)
    handle = device.begin_parts(PATH)  # an unfinished multi-part write of it too
    device.write_part(PATH, handle, 1, chunks(data(MIN_PART)))
    device.write_part(PATH, handle, 2, [b"small"])
    assert len(store.leftovers()) > 1 and not device.exists(PATH)
    device.delete(PATH)
    assert store.leftovers() == {longer}
    assert read_all(device, longer) == b"kept"


@pytest.mark.parametrize("size", [200 * KIB, 20 * MIB])  # one PUT / a multipart upload on S3
def test_failed_write_leaves_nothing(store, size):
    with pytest.raises(ConnectionError):
        store.device.write(PATH, failing(data(size), after=size // 2))
    assert not store.device.exists(PATH)
    assert store.leftovers() == set()


def test_failed_write_keeps_the_previous_object(store):
    store.device.write(PATH, [b"previous"])
    with pytest.raises(ConnectionError):
        store.device.write(PATH, failing(data(12 * MIB), after=10 * MIB))
    assert read_all(store.device, PATH) == b"previous"
    assert store.leftovers() == {PATH}


def test_readers_never_see_a_partial_write(store):
    store.device.write(PATH, [b"a" * MIB])
    seen: list[bytes] = []

    def slow() -> Iterator[bytes]:
        for _ in range(16):
            seen.append(read_all(store.device, PATH))  # read while the new object is being written
            yield b"b" * MIB

    store.device.write(PATH, slow())
    assert all(blob == b"a" * MIB for blob in seen)
    assert read_all(store.device, PATH) == b"b" * 16 * MIB


def test_large_write_streams_with_bounded_memory(store):
    size = 48 * MIB
    consumed = 0

    def generated() -> Iterator[bytes]:
        nonlocal consumed
        for _ in range(size // (64 * KIB)):
            consumed += 64 * KIB
            yield random.randbytes(64 * KIB)

    tracemalloc.start()
    try:
        assert store.device.write(PATH, generated()) == size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert consumed == size
    assert peak < size // 2  # at most about one S3 part in memory, never the object
    assert store.device.size(PATH) == size


@pytest.mark.parametrize("path", ["", "/abs", "../x", "a/../b", "a/./b", ".parts/x", "a//b", "a/b/", "a/.tmp-1"])
def test_bad_paths_are_refused(store, path):
    with pytest.raises(ValueError):
        store.device.write(path, [b"x"])
    with pytest.raises(ValueError):
        store.device.begin_parts(path)


@pytest.mark.parametrize("prefix", ["", "/", "../", ".parts/"])
def test_delete_prefix_refuses_the_whole_store(store, prefix):
    store.device.write(PATH, [b"x"])
    with pytest.raises(ValueError):
        store.device.delete_prefix(prefix)
    assert store.device.exists(PATH)


@pytest.mark.parametrize("prefix", ["p/b/", "p/b"])
def test_delete_prefix_removes_objects_and_unfinished_parts(store, prefix):
    device = store.device
    for path in ["p/b/f1/data", "p/b/f1/previews/200x200", "p/b/f2/data", "p/bx/f/data", "q/b/f/data"]:
        device.write(path, [path.encode()])
    handle = device.begin_parts("p/b/f3/data")
    device.write_part("p/b/f3/data", handle, 1, chunks(data(MIN_PART)))
    device.write_part("p/b/f3/data", handle, 2, [b"small"])

    device.delete_prefix(prefix)
    assert store.leftovers() == {"p/bx/f/data", "q/b/f/data"}
    with pytest.raises(FileNotFoundError):
        device.write_part("p/b/f3/data", handle, 3, [b"late"])
    with pytest.raises(FileNotFoundError):
        device.complete_parts("p/b/f3/data", handle, 2)
    device.delete_prefix(prefix)  # nothing left: not an error


# Multi-part writes

# Part sizes: the SDKs' 5 MiB chunks; small chunks; sizes changing mid-upload (on S3 the small
# non-last part forces a rewrite); a small part first.
LAYOUTS = {
    "sdk chunks": [MIN_PART, MIN_PART, 123],
    "small chunks": [64 * KIB, 64 * KIB, 10],
    "mixed sizes": [MIN_PART, KIB, MIN_PART + 7, 3],
    "small first": [100, MIN_PART, MIN_PART],
    "one part": [42],
}


@pytest.mark.parametrize("sizes", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_parts_join_in_order_whatever_the_arrival(store, sizes):
    device = store.device
    parts = [data(size, seed) for seed, size in enumerate(sizes, 1)]
    handle = device.begin_parts(PATH)
    for number in reversed(range(1, len(parts) + 1)):
        assert device.write_part(PATH, handle, number, chunks(parts[number - 1])) == sizes[number - 1]
    device.write_part(PATH, handle, 1, chunks(parts[0]))  # a repeated part is kept once
    assert not device.exists(PATH)

    device.complete_parts(PATH, handle, len(parts))
    assert read_all(device, PATH) == b"".join(parts)
    assert store.leftovers() == {PATH}


def test_concurrent_part_writes(store):
    device = store.device
    parts = [data(MIN_PART if n < 7 else 777, n) for n in range(1, 9)]
    handle = device.begin_parts(PATH)
    order = [8, 3, 1, 5, 2, 2, 7, 4, 6, 3, 1]  # shuffled, with repeats racing each other
    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(lambda n: device.write_part(PATH, handle, n, chunks(parts[n - 1])), order))
    assert sizes == [len(parts[n - 1]) for n in order]
    device.complete_parts(PATH, handle, 8)
    assert read_all(device, PATH) == b"".join(parts)
    assert store.leftovers() == {PATH}


@pytest.mark.parametrize("first, second", [(MIN_PART, 10), (10, MIN_PART)], ids=["big then small", "small then big"])
def test_rewritten_part_keeps_the_last_copy(store, first, second):
    device = store.device
    handle = device.begin_parts(PATH)
    device.write_part(PATH, handle, 1, chunks(data(first, 1)))
    device.write_part(PATH, handle, 1, chunks(data(second, 2)))
    device.write_part(PATH, handle, 2, [b"end"])
    device.complete_parts(PATH, handle, 2)
    assert read_all(device, PATH) == data(second, 2) + b"end"


def test_complete_with_a_missing_part_keeps_the_upload(store):
    device = store.device
    handle = device.begin_parts(PATH)
    device.write_part(PATH, handle, 1, [b"one "])
    device.write_part(PATH, handle, 3, [b"three"])
    with pytest.raises(FileNotFoundError):
        device.complete_parts(PATH, handle, 3)
    assert not device.exists(PATH)
    device.write_part(PATH, handle, 2, [b"two "])
    device.complete_parts(PATH, handle, 3)
    assert read_all(device, PATH) == b"one two three"


def test_failed_part_write_stores_nothing(store):
    device = store.device
    handle = device.begin_parts(PATH)
    with pytest.raises(ConnectionError):
        device.write_part(PATH, handle, 1, failing(data(MIN_PART + 1), after=MIB))
    with pytest.raises(FileNotFoundError):
        device.complete_parts(PATH, handle, 1)


@pytest.mark.parametrize("sizes", [LAYOUTS["sdk chunks"], LAYOUTS["small chunks"]], ids=["sdk chunks", "small chunks"])
def test_complete_twice_is_harmless(store, sizes):
    device = store.device
    handle = device.begin_parts(PATH)
    for number, size in enumerate(sizes, 1):
        device.write_part(PATH, handle, number, chunks(data(size, number)))
    device.complete_parts(PATH, handle, len(sizes))
    device.complete_parts(PATH, handle, len(sizes))  # a retry after a crash before it was recorded
    assert read_all(device, PATH) == b"".join(data(size, n) for n, size in enumerate(sizes, 1))
    assert store.leftovers() == {PATH}


def test_unknown_or_finished_handle(store):
    device = store.device
    handle = device.begin_parts(PATH)
    device.write_part(PATH, handle, 1, [b"x"])
    device.complete_parts(PATH, handle, 1)
    with pytest.raises(FileNotFoundError):
        device.write_part(PATH, handle, 2, [b"y"])
    other = device.begin_parts("p/b/g/data")
    device.abort_parts("p/b/g/data", other)
    with pytest.raises(FileNotFoundError):
        device.complete_parts("p/b/g/data", other, 1)


def test_abort(store):
    device = store.device
    handle = device.begin_parts(PATH)
    device.write_part(PATH, handle, 1, chunks(data(MIN_PART)))
    device.write_part(PATH, handle, 2, [b"small"])
    device.abort_parts(PATH, handle)
    device.abort_parts(PATH, handle)  # missing is not an error
    assert not device.exists(PATH)
    assert store.leftovers() == set()
    with pytest.raises(FileNotFoundError):
        device.write_part(PATH, handle, 3, [b"late"])


def test_bad_part_numbers_are_refused(store):
    handle = store.device.begin_parts(PATH)
    for number in (0, -1):
        with pytest.raises(ValueError):
            store.device.write_part(PATH, handle, number, [b"x"])
    with pytest.raises(ValueError):
        store.device.complete_parts(PATH, handle, 0)


def test_restarted_write_is_independent(store):
    device = store.device
    first = device.begin_parts(PATH)
    device.write_part(PATH, first, 1, [b"stale"])
    second = device.begin_parts(PATH)
    assert second != first
    device.write_part(PATH, second, 1, [b"fresh"])
    device.abort_parts(PATH, first)
    device.complete_parts(PATH, second, 1)
    assert read_all(device, PATH) == b"fresh"


# S3 only


@pytest.fixture
def s3(s3_endpoint) -> S3Device:
    bucket, _ = new_bucket(s3_endpoint)
    return s3_device(s3_settings(s3_endpoint, bucket))


def crashed_mixed_completion(s3: S3Device, parts: list[bytes], monkeypatch) -> str:
    """A mixed-sizes multi-part write whose completion was killed during the rewrite."""
    handle = s3.begin_parts(PATH)
    for number, part in enumerate(parts, 1):
        s3.write_part(PATH, handle, number, [part])

    def crash(*args, **kwargs):
        raise ConnectionError("killed while rewriting")

    with monkeypatch.context() as patch:
        patch.setattr(s3, "_rebuild", crash)
        with pytest.raises(ConnectionError):
            s3.complete_parts(PATH, handle, len(parts))
    return handle


MIXED = [data(MIN_PART, 1), b"tiny", data(MIN_PART, 3), b"end"]


def test_s3_mixed_completion_resumes_after_a_crash(s3, monkeypatch):
    handle = crashed_mixed_completion(s3, MIXED, monkeypatch)
    s3.complete_parts(PATH, handle, len(MIXED))  # the retry finishes the job
    assert read_all(s3, PATH) == b"".join(MIXED)
    s3.complete_parts(PATH, handle, len(MIXED))
    assert read_all(s3, PATH) == b"".join(MIXED)


def test_s3_abort_after_a_crashed_mixed_completion_leaves_nothing(s3, monkeypatch):
    handle = crashed_mixed_completion(s3, MIXED, monkeypatch)
    s3.abort_parts(PATH, handle)
    assert not s3.exists(PATH)
    assert s3.client.list_objects_v2(Bucket=s3.bucket).get("Contents", []) == []


def test_s3_device_needs_a_bucket(s3_endpoint):
    with pytest.raises(ValueError):
        s3_device(s3_settings(s3_endpoint, ""))


def test_check_round_trips_a_probe_and_leaves_nothing(store):
    store.device.write(PATH, [b"kept"])
    store.device.check()
    store.device.check()
    assert store.leftovers() == {PATH}
    assert read_all(store.device, PATH) == b"kept"


def test_check_of_an_unusable_store_says_why(tmp_path, s3_endpoint):
    (tmp_path / "storage").write_bytes(b"")  # a file where the directory should be
    with pytest.raises(StorageUnavailable, match="The storage directory .* is not writable"):
        LocalDevice(tmp_path / "storage").check()
    with pytest.raises(StorageUnavailable, match="The S3 bucket missing-bucket is not available: NoSuchBucket"):
        s3_device(s3_settings(s3_endpoint, "missing-bucket")).check()


def cached_bytes(path) -> int:
    """Bytes of ``path`` in the page cache (util-linux's fincore)."""
    found = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)], capture_output=True)
    assert found.returncode == 0, found.stderr
    return int(found.stdout)


# Sizes about the direct I/O's 4 KiB blocks, 1 MiB reads and 4 MiB write buffer.
@pytest.mark.parametrize("size", [1, 4096, 4097, MIB + 1, 4 * MIB, 4 * MIB + 1, 9 * MIB + 123])
def test_bulk_writes_and_reads_leave_the_page_cache_alone(tmp_path, size):
    device = LocalDevice(tmp_path, bulk=True)
    blob = data(size)
    assert device.write(PATH, chunks(blob, 100_000)) == size
    # Only the last partial block went through the cache: what the file system accepts in
    # direct writes never made a page dirty, nor one to free.
    assert cached_bytes(tmp_path / PATH) <= 4096
    assert b"".join(device.read(PATH)) == blob
    assert cached_bytes(tmp_path / PATH) <= 4096  # nor did the direct reads fill any
    assert read_all(device, PATH, 1, size - 1) == blob[1:]  # ranges read through the cache
    cached = LocalDevice(tmp_path)
    cached.write("cached", chunks(blob, 100_000))
    assert cached_bytes(tmp_path / "cached") >= size - 4096  # the check itself sees cached pages


def test_bulk_reads_fall_back_to_the_cache_where_direct_reads_are_refused(tmp_path, monkeypatch):
    blob = data(3 * MIB + 7)
    (tmp_path / PATH).parent.mkdir(parents=True)
    (tmp_path / PATH).write_bytes(blob)
    readv = os.readv
    refused = []

    def refusing(fd: int, buffers) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return readv(fd, buffers)

    monkeypatch.setattr(os, "readv", refusing)
    assert b"".join(LocalDevice(tmp_path, bulk=True).read(PATH)) == blob
    assert len(refused) == 1  # refused once, then cached reads only
    with pytest.raises(FileNotFoundError):
        LocalDevice(tmp_path, bulk=True).read("p/b/f/missing")  # before the first chunk


def test_bulk_writes_fall_back_to_the_cache_where_direct_writes_are_refused(tmp_path, monkeypatch):
    # Some file systems refuse O_DIRECT writes with EINVAL (where it is refused at the switch
    # already, the writes are cached from the start).
    write = os.write
    refused = []

    def refusing(fd: int, data) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return write(fd, data)

    monkeypatch.setattr(os, "write", refusing)
    blob = data(9 * MIB + 5)
    assert LocalDevice(tmp_path, bulk=True).write(PATH, chunks(blob)) == len(blob)
    assert refused == [4 * MIB]  # refused once, then cached writes only
    assert (tmp_path / PATH).read_bytes() == blob
