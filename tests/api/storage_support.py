"""Shared helpers of the Storage API tests: the official SDK's Storage service in server (API
key) and client (session or guest) mode, fresh buckets, real file contents (PNG, MP4 header)
and raw multipart/chunk requests for what the SDKs never send on their own."""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
import zlib
from pathlib import Path

import httpx
from account_support import Member
from appwrite.client import Client
from appwrite.input_file import InputFile
from appwrite.services.storage import Storage

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


def leftovers(server, bucket_id: str) -> list[Path]:
    """A bucket's temporary objects (``.tmp-*``) and unfinished parts on the local device."""
    root = server.data_dir / "storage"
    temporary = (root / server.project / bucket_id).rglob(".tmp-*")
    parts = (root / ".parts" / server.project / bucket_id).rglob("*")
    return [path for path in (*temporary, *parts) if path.is_file()]


def stored_objects(server, bucket_id: str) -> list[Path]:
    root = server.data_dir / "storage" / server.project / bucket_id
    return [path for path in root.rglob("*") if path.is_file() and not path.name.startswith(".tmp-")]
