"""One contract for both backup destinations: a directory and an S3 prefix (moto's server on
loopback, over HTTP). Each test also checks that the prefix keeps keys to itself."""

from __future__ import annotations

import hashlib
import os
import random
import socket
from collections.abc import Iterator

import pytest

from nib.operations.destinations import Destination, DirectoryDestination, open_destination
from nib.operations.errors import OperationRefused
from nib.tools.config import Settings
from nib.tools.errors import StorageUnavailable
from s3_server import moto_server, new_bucket, s3_settings


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["directory", "s3"])
def destination(request, tmp_path) -> Destination:
    if request.param == "directory":
        return open_destination(str(tmp_path / "backups here"), Settings())
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket, admin = new_bucket(endpoint)
    admin.put_object(Bucket=bucket, Key="nightly-other/backups/x", Body=b"not ours")
    return open_destination(f"s3://{bucket}/nightly/", s3_settings(endpoint, bucket))


def test_put_get_size_exists_delete(destination):
    body = random.Random(1).randbytes(9 << 20)  # over one S3 part: a multipart upload
    assert destination.put("backups/a/database.sqlite", [body[: 1 << 20], body[1 << 20 :]]) == len(body)
    assert b"".join(destination.get("backups/a/database.sqlite")) == body
    assert destination.size("backups/a/database.sqlite") == len(body)
    assert destination.exists("backups/a/database.sqlite")
    assert not destination.exists("backups/a/manifest.json")
    destination.delete("backups/a/database.sqlite")
    destination.delete("backups/a/database.sqlite")  # missing is no error
    assert not destination.exists("backups/a/database.sqlite")
    with pytest.raises(FileNotFoundError):
        b"".join(destination.get("backups/a/database.sqlite"))


def test_list_under_a_prefix(destination):
    destination.put("backups/a/manifest.json", [b"{}"])
    destination.put("backups/b/database.sqlite", [b"12345"])
    destination.put("objects/ab/abcd", [b"xyz"])
    assert sorted(destination.list("backups/")) == [("backups/a/manifest.json", 2), ("backups/b/database.sqlite", 5)]
    assert sorted(destination.list("objects/")) == [("objects/ab/abcd", 3)]
    assert list(destination.list("nothing/")) == []


def test_a_failed_put_leaves_nothing(destination):
    def broken() -> Iterator[bytes]:
        yield b"x" * (6 << 20)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        destination.put("backups/a/database.sqlite", broken())
    assert list(destination.list("backups/")) == []
    assert not destination.exists("backups/a/database.sqlite")


def _objects(sha256: str) -> str:
    return f"objects/{sha256[:2]}/{sha256}"


def test_put_by_checksum_names_the_object_by_its_sha256(destination):
    body = random.Random(2).randbytes(7 << 20)
    sha256 = hashlib.sha256(body).hexdigest()
    reads = []

    def read() -> Iterator[bytes]:
        reads.append(1)
        return iter([body[: 3 << 20], body[3 << 20 :]])

    assert destination.put_by_checksum(read, _objects, set()) == (sha256, False)
    assert b"".join(destination.get(_objects(sha256))) == body
    assert sorted(destination.list("")) == [(_objects(sha256), len(body))]
    # Already there: nothing more is stored, and the half copies' place is empty.
    assert destination.put_by_checksum(read, _objects, {sha256}) == (sha256, True)
    assert sorted(destination.list("")) == [(_objects(sha256), len(body))]
    # A directory reads the bytes once per call; S3 hashes them first, then sends them if new.
    assert len(reads) == (2 if isinstance(destination, DirectoryDestination) else 3)
    if isinstance(destination, DirectoryDestination):
        assert os.listdir(destination.root) == ["objects"]  # no empty incoming/ left behind


def test_put_by_checksum_that_fails_leaves_nothing(destination):
    def broken() -> Iterator[bytes]:
        yield b"x" * (6 << 20)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        destination.put_by_checksum(broken, _objects, set())
    assert list(destination.list("")) == []
    if isinstance(destination, DirectoryDestination):
        assert os.listdir(destination.root) == []


def test_an_object_lost_mid_copy_is_a_destination_failure(tmp_path):
    # A second run at the same directory deletes incoming/ as it starts: the copy fails loudly,
    # never reads as a source file deleted after the snapshot (FileNotFoundError).
    destination = open_destination(str(tmp_path), Settings())

    def read() -> Iterator[bytes]:
        yield b"x" * (1 << 20)
        for leftover in (tmp_path / "incoming").iterdir():
            leftover.unlink()
        yield b"y"

    with pytest.raises(StorageUnavailable, match="lost an object while it was written"):
        destination.put_by_checksum(read, _objects, set())
    assert list(destination.list("")) == []


def test_an_unreachable_s3_destination_says_so(tmp_path):
    closed = f"http://127.0.0.1:{_closed_port()}"
    destination = open_destination("s3://bucket/p", s3_settings(closed, "bucket"))
    with pytest.raises(StorageUnavailable, match="s3://bucket/p is not reachable"):
        list(destination.list("backups/"))


def test_a_malformed_s3_url_is_refused():
    with pytest.raises(OperationRefused, match="names no bucket"):
        open_destination("s3:///prefix", Settings())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_directory_listing_skips_writes_in_progress(tmp_path):
    destination = open_destination(str(tmp_path), Settings())
    destination.put("objects/ab/abcd", [b"xyz"])
    os.makedirs(tmp_path / "objects" / "cd", exist_ok=True)
    (tmp_path / "objects" / "cd" / ".tmp-cdef.0123456789abcdef").write_bytes(b"half")
    assert list(destination.list("objects/")) == [("objects/ab/abcd", 3)]
