"""Shared helpers of the Storage API tests: the official SDK's Storage service in server (API
key) and client (session or guest) mode, fresh buckets, real file contents (PNG, MP4 header)
and raw multipart/chunk requests for what the SDKs never send on their own; and what a server's
storage device holds (local disk or S3, from the settings it was started with), so the same
"nothing left behind" assertions hold on both."""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass

import httpx
from account_support import Member
from appwrite.client import Client
from appwrite.input_file import InputFile
from appwrite.services.storage import Storage

from nib.storage.devices.local import LocalDevice
from nib.storage.devices.s3 import PARTS, S3Device, s3_device
from s3_server import s3_settings

MIB = 1024 * 1024
CHUNK = 5 * MIB


def unique_id(prefix: str = "b") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def storage_as_key(server) -> Storage:
    return Storage(server.sdk())


def storage_as(server, who: Member | None = None) -> Storage:
    """Client mode: signed in as ``who``, or a guest."""
    client = Client().set_endpoint(server.endpoint).set_project(server.project)
    if who is not None:
        client.set_session(who.session)
    return Storage(client)


def new_bucket(server, **settings) -> str:
    bucket_id = unique_id()
    storage_as_key(server).create_bucket(bucket_id, settings.pop("name", "Files"), **settings)
    return bucket_id


def png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG (libmagic names it image/png)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def mp4(size: int) -> bytes:
    """``size`` bytes starting with an ISO-media ``ftyp`` box (libmagic: video/mp4), then noise."""
    head = struct.pack(">I", 24) + b"ftypmp42" + struct.pack(">I", 0) + b"mp42isom"
    return head + os.urandom(size - len(head))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def as_input(data: bytes, name: str) -> InputFile:
    return InputFile.from_bytes(data, name)


def multipart(file_id: str, name: str, data: bytes, permissions: list[str] | None = None) -> dict:
    """httpx arguments of one upload request as the SDKs build it."""
    fields = {"fileId": file_id}
    for index, permission in enumerate(permissions or []):
        fields[f"permissions[{index}]"] = permission
    return {"data": fields, "files": {"file": (name, data)}}


def paused_multipart(
    file_id: str, data: bytes, half_sent: threading.Event, go_on: threading.Event, *, trickle: float = 0
):
    """``(body, headers)`` of an upload whose multipart body sends half of ``data``, sets
    ``half_sent``, waits for ``go_on``, then sends the rest (64 KiB every ``trickle`` seconds when
    set, else at once)."""
    boundary = f"nib{file_id}"

    def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="fileId"\r\n\r\n{file_id}\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.mp4"\r\n\r\n'.encode()
        yield data[: len(data) // 2]
        half_sent.set()
        assert go_on.wait(60)
        rest = data[len(data) // 2 :]
        step = 64 * 1024 if trickle else len(rest) or 1
        for start in range(0, len(rest), step):
            time.sleep(trickle)
            yield rest[start : start + step]
        yield f"\r\n--{boundary}--\r\n".encode()

    return body(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def send_chunk(
    http: httpx.Client,
    bucket_id: str,
    file_id: str,
    name: str,
    data: bytes,
    start: int,
    *,
    total: int | None = None,
    permissions: list[str] | None = None,
) -> httpx.Response:
    """One chunk ``data`` at offset ``start`` with Content-Range and X-Appwrite-ID."""
    total = total if total is not None else len(data)
    end = start + len(data) - 1
    headers = {"Content-Range": f"bytes {start}-{end}/{total}", "X-Appwrite-ID": file_id}
    body = multipart(file_id, name, data, permissions)
    return http.post(f"/storage/buckets/{bucket_id}/files", headers=headers, **body)


def device(server):
    """The device ``server`` stores its files on (its NIB_STORAGE_DEVICE), opened by nib itself."""
    if server.env.get("NIB_STORAGE_DEVICE") == "s3":
        return s3_device(s3_settings(server.env["NIB_S3_ENDPOINT"], server.env["NIB_S3_BUCKET"]))
    return LocalDevice(server.data_dir / "storage")


def device_env(server) -> dict[str, str]:
    """The NIB_* settings that put another nib on ``server``'s device."""
    return {name: value for name, value in server.env.items() if name.startswith(("NIB_STORAGE_", "NIB_S3_"))}


@dataclass(frozen=True)
class S3Object:
    """An object in the S3 device's bucket, with the few ``Path`` methods the tests use on disk."""

    device: S3Device
    key: str

    def read_bytes(self) -> bytes:
        return self.device.client.get_object(Bucket=self.device.bucket, Key=self.key)["Body"].read()

    def write_bytes(self, data: bytes) -> None:
        self.device.client.put_object(Bucket=self.device.bucket, Key=self.key, Body=data)

    def unlink(self) -> None:
        self.device.client.delete_object(Bucket=self.device.bucket, Key=self.key)


def _s3_objects(store: S3Device, prefix: str) -> list[S3Object]:
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix)
    return [S3Object(store, item["Key"]) for page in pages for item in page.get("Contents", [])]


def leftovers(server, bucket_id: str) -> list:
    """A bucket's unfinished writes: on local disk its temporary objects (``.tmp-*``) and parts;
    on S3 its multipart uploads still open (as ``"upload:<key>"``) and the device's small-part
    scratch objects (``.parts/<key>/…``)."""
    store = device(server)
    prefix = f"{server.project}/{bucket_id}/"
    if isinstance(store, S3Device):
        pages = store.client.get_paginator("list_multipart_uploads").paginate(Bucket=store.bucket, Prefix=prefix)
        uploads = [f"upload:{upload['Key']}" for page in pages for upload in page.get("Uploads", [])]
        return [*uploads, *_s3_objects(store, PARTS + prefix)]
    root = server.data_dir / "storage"
    temporary = (root / prefix).rglob(".tmp-*")
    parts = (root / ".parts" / prefix).rglob("*")
    return [path for path in (*temporary, *parts) if path.is_file()]


def stored_objects(server, bucket_id: str) -> list:
    """A bucket's stored objects (files' bytes, cached previews): ``Path``s on local disk,
    ``S3Object``s on S3."""
    store = device(server)
    prefix = f"{server.project}/{bucket_id}/"
    if isinstance(store, S3Device):
        return _s3_objects(store, prefix)
    root = server.data_dir / "storage" / prefix
    return [path for path in root.rglob("*") if path.is_file() and not path.name.startswith(".tmp-")]
