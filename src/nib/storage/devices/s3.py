"""Objects in an S3-compatible store (AWS, MinIO, Ceph, R2, …) through boto3.

Only the portable core of the S3 API is used (GET with Range, PUT, HEAD, DELETE, batch delete,
ListObjectsV2, multipart uploads), with path-style addressing for custom endpoints and
checksums only where S3 requires them, which stores other than AWS reject less often.

``write`` reads the caller's iterator in the caller's thread (it may be bridging an async request
body) and holds one part in memory (briefly two while the buffer grows: ~17 MiB at the default
8 MiB parts, whatever the object's size): objects under ``part_size`` are one PUT, larger ones a
multipart upload that is aborted if the stream fails, so nothing is ever visible half-written.

Multi-part writes map onto one S3 multipart upload whose ID is the handle. S3 refuses to join a
part under 5 MiB unless it is the last, and whether a part is the last is only known when the
write completes, so ``write_part`` uploads parts of 5 MiB or more as real parts (the SDKs' 5 MiB
chunks always are) and keeps smaller ones as objects under ``.parts/<path>/<handle digest>/``.
``complete_parts`` then chooses:

* only the last part small: it is copied into the upload, which is completed (the usual case);
* every part small (a client with small chunks): the parts are streamed into ``path`` by ``write``
  and the upload is aborted;
* real parts mixed with small non-last ones (chunk sizes changed mid-upload): real parts cannot
  be read back before completion, so the upload is completed with the real parts alone and
  ``path`` is then rewritten from ranges of that object and the small parts. Only in this case does
  ``path`` briefly hold an incomplete object; a layout record written first lets a retry after a
  crash finish the job instead of mistaking the partial object for the result.

Completing twice is harmless: once the upload is gone and ``path`` holds the result, it returns.
A part is at most 5 GiB (S3's limit), far above any upload chunk.

An outage of the store (no connection, a connection broken off, a 5xx answer once boto3's retries
are spent) raises ``StorageUnavailable`` from every method and from a read's stream; other S3
errors (denied access, a missing bucket) are configuration faults and stay as boto3 raises them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import tempfile
from collections.abc import Iterable, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from ...tools.config import Settings
from ...tools.errors import StorageUnavailable
from . import HEALTH_BYTES, HEALTH_PREFIX
from .keys import check_path, check_prefix

MIN_PART = 5 << 20  # S3's minimum size of every part but the last
PART_SIZE = 8 << 20  # write()'s part size: few requests, little memory
READ_SIZE = 1 << 18
PARTS = ".parts/"
REBUILT = "nib-rebuilt"  # metadata marking an object rewritten by the mixed-parts case
_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}
_BROKEN_TRANSFER = (EndpointUnreachable, HTTPClientError, IncompleteReadError)
UNAVAILABLE = "The storage device is not available. Please try again later."
# Bounds on one attempt: an endpoint that drops connection attempts fails in seconds, not the
# minute boto3 waits by default; reads get longer, as a loaded store may be slow to answer.
CONNECT_TIMEOUT, READ_TIMEOUT, ATTEMPTS = 5, 30, 3


def _outage_unavailable(method):
    """``method`` raising ``StorageUnavailable`` when S3 is out (see the module's docstring)."""

    @functools.wraps(method)
    def guarded(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (*_BROKEN_TRANSFER, ClientError) as error:
            if not _is_outage(error):
                raise
            raise StorageUnavailable(UNAVAILABLE) from error

    return guarded


class S3Device:
    """A ``Device`` on one bucket of an S3-compatible object store (the bucket must exist)."""

    def __init__(self, client, bucket: str, part_size: int = PART_SIZE) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part size must be at least {MIN_PART} bytes")
        self.client = client
        self.bucket = bucket
        self.part_size = part_size

    # Objects

    @_outage_unavailable
    def write(self, path: str, chunks: Iterable[bytes], metadata: dict[str, str] | None = None) -> int:
        key = check_path(path)
        extra = {"Metadata": metadata} if metadata else {}
        stream = iter(chunks)
        first = _take(stream, bytearray(), self.part_size)
        if len(first) < self.part_size:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=first, **extra)
            return len(first)
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]
        try:
            done: list[dict[str, int | str]] = []
            written, buffer = 0, first
            while buffer:
                number = len(done) + 1
                etag = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=buffer
                )["ETag"]
                done.append({"PartNumber": number, "ETag": etag})
                written += len(buffer)
                del buffer  # free the sent part before reading the next one
                # Growing parts keep S3's 10,000-part limit out of reach (~430 GiB at 8 MiB).
                buffer = _take(stream, bytearray(), self.part_size * (1 + number // 1000))
            self._complete(key, upload, done)
        except BaseException:
            self._abort(key, upload)
            raise
        return written

    @_outage_unavailable
    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return self._read(check_path(path), start, end, path)

    def open_local(self, path: str) -> None:
        return None

    @_outage_unavailable
    def size(self, path: str) -> int:
        return self._head(check_path(path), path)["ContentLength"]

    def exists(self, path: str) -> bool:
        try:
            self.size(path)
        except FileNotFoundError:
            return False
        return True

    @_outage_unavailable
    def delete(self, path: str) -> None:
        key = check_path(path)
        for upload in self._uploads(key):
            if upload["Key"] == key:  # not those of keys that merely start with this one
                self._abort(key, upload["UploadId"])
        self._delete_under(f"{PARTS}{key}/")
        self.client.delete_object(Bucket=self.bucket, Key=key)

    @_outage_unavailable
    def delete_prefix(self, prefix: str) -> None:
        prefix = check_prefix(prefix)
        for upload in self._uploads(prefix):
            self._abort(upload["Key"], upload["UploadId"])
        self._delete_under(prefix)
        self._delete_under(PARTS + prefix)

    @_outage_unavailable
    def listing(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of every object whose key starts with ``prefix`` (not part of ``Device``:
        backups list their destination, operations/destinations.py)."""
        return [(obj["Key"], obj["Size"]) for obj in self._objects(prefix)]

    # Multi-part writes

    @_outage_unavailable
    def begin_parts(self, path: str) -> str:
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=check_path(path))["UploadId"]

    @_outage_unavailable
    def write_part(self, path: str, handle: str, number: int, chunks: Iterable[bytes]) -> int:
        key = check_path(path)
        if not 1 <= number <= 10_000:
            raise ValueError(f"bad part number: {number}")
        small = self._scratch(path, handle) + str(number)
        # The part's size decides where it goes, and S3 needs the length up front: spool it
        # (in memory up to one SDK chunk, on disk beyond).
        with tempfile.SpooledTemporaryFile(max_size=PART_SIZE) as spool:
            for chunk in chunks:
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)
            try:
                if size >= MIN_PART:
                    self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=handle, PartNumber=number, Body=spool, ContentLength=size
                    )
                    # A small copy from an earlier write of this number would win at completion.
                    self.client.delete_object(Bucket=self.bucket, Key=small)
                else:
                    self._parts(key, handle, limit=1)  # NoSuchUpload once aborted or completed
                    self.client.put_object(Bucket=self.bucket, Key=small, Body=spool, ContentLength=size)
            except ClientError as error:
                raise _translated(error, path) from error
        return size

    @_outage_unavailable
    def complete_parts(self, path: str, handle: str, count: int) -> None:
        if count < 1:
            raise ValueError(f"bad part count: {count}")
        key = check_path(path)
        scratch = self._scratch(path, handle)
        try:
            real = {part["PartNumber"]: part for part in self._parts(key, handle)}
        except ClientError as error:
            if _code(error) != "NoSuchUpload":
                raise
            self._complete_again(path, key, scratch)
            return
        small = self._small_parts(scratch)
        missing = [n for n in range(1, count + 1) if n not in real and n not in small]
        if missing:
            raise FileNotFoundError(f"parts {missing} of {path} are missing")
        if not any(n in small for n in range(1, count)):
            if count in small:
                data = self.client.get_object(Bucket=self.bucket, Key=scratch + str(count))["Body"].read()
                real[count] = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=handle, PartNumber=count, Body=data
                )
            self._complete(key, handle, [{"PartNumber": n, "ETag": real[n]["ETag"]} for n in range(1, count + 1)])
        elif all(n in small for n in range(1, count + 1)):
            self.write(path, self._joined(key, scratch, count, {}))
            self._abort(key, handle)
        else:
            layout = {str(n): real[n]["Size"] for n in range(1, count + 1) if n not in small}
            record = json.dumps({"count": count, "real": layout}).encode()
            self.client.put_object(Bucket=self.bucket, Key=scratch + "layout", Body=record)
            self._complete(key, handle, [{"PartNumber": int(n), "ETag": real[int(n)]["ETag"]} for n in layout])
            self._rebuild(path, key, scratch, count, layout)
        self._delete_under(scratch)

    @_outage_unavailable
    def abort_parts(self, path: str, handle: str) -> None:
        key = check_path(path)
        scratch = self._scratch(path, handle)
        self._abort(key, handle)
        if self._pending_rebuild(key, scratch):
            self.client.delete_object(Bucket=self.bucket, Key=key)  # half-joined by an interrupted completion
        self._delete_under(scratch)

    def check(self) -> None:
        key = f"{HEALTH_PREFIX}probe-{secrets.token_hex(8)}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=HEALTH_BYTES)
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            finally:
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except (*_BROKEN_TRANSFER, ClientError) as error:
            # Here a 4xx is a failure too: a missing bucket or refused keys serve no file either.
            reason = _code(error) if isinstance(error, ClientError) else str(error)
            raise StorageUnavailable(f"The S3 bucket {self.bucket} is not available: {reason}.") from error
        if body != HEALTH_BYTES:
            raise StorageUnavailable(f"The S3 bucket {self.bucket} returned other bytes than written.")

    # Helpers

    def _read(self, key: str, start: int, end: int | None, path: str) -> Iterator[bytes]:
        if end is not None and end < start:
            self._head(key, path)  # still FileNotFoundError when missing
            return iter(())
        # No Range header for the whole object: S3 answers 416 to any range of an empty one.
        extra = {"Range": f"bytes={start}-{'' if end is None else end}"} if start or end is not None else {}
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except ClientError as error:
            if _code(error) == "InvalidRange":
                return iter(())  # starts past the end: nothing to read, as on disk
            raise _translated(error, path) from error
        return _stream(body)

    def _head(self, key: str, path: str) -> dict:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            raise _translated(error, path) from error

    def _scratch(self, path: str, handle: str) -> str:
        # Upload IDs may hold any character; a digest keeps the scratch prefix one plain segment.
        return f"{PARTS}{check_path(path)}/{hashlib.sha256(handle.encode()).hexdigest()[:32]}/"

    def _parts(self, key: str, handle: str, limit: int | None = None) -> list[dict]:
        if limit:
            return self.client.list_parts(Bucket=self.bucket, Key=key, UploadId=handle, MaxParts=limit).get("Parts", [])
        pages = self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=handle)
        return [part for page in pages for part in page.get("Parts", [])]

    def _small_parts(self, scratch: str) -> set[int]:
        names = (obj["Key"][len(scratch) :] for obj in self._objects(scratch))
        return {int(name) for name in names if name.isdigit()}

    def _uploads(self, prefix: str) -> Iterator[dict]:
        """The multipart uploads still open under ``prefix`` (``write``'s and ``begin_parts``')."""
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Uploads", [])

    def _objects(self, prefix: str) -> Iterator[dict]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def _delete_under(self, prefix: str) -> None:
        batch: list[dict] = []
        for obj in self._objects(prefix):
            batch.append({"Key": obj["Key"]})
            if len(batch) == 1000:  # DeleteObjects' limit per request
                self._delete_batch(batch)
        self._delete_batch(batch)

    def _delete_batch(self, batch: list[dict]) -> None:
        if batch:
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            batch.clear()
            if answer.get("Errors"):  # a batch answers 200 even when keys failed: never leave them silently
                raise OSError(f"S3 could not delete {len(answer['Errors'])} objects: {answer['Errors'][0]}")

    def _complete(self, key: str, upload: str, parts: list[dict]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )

    def _abort(self, key: str, upload: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
        except ClientError as error:
            if _code(error) not in _MISSING:
                raise

    def _joined(self, key: str, scratch: str, count: int, layout: dict[str, int]) -> Iterator[bytes]:
        """Parts ``1..count`` in order: small ones from their objects, real ones (listed in
        ``layout`` with their sizes) from their ranges of the object the upload completed to."""
        offset = 0
        for number in range(1, count + 1):
            size = layout.get(str(number))
            if size is None:
                yield from self._read(scratch + str(number), 0, None, scratch)
            else:
                yield from self._read(key, offset, offset + size - 1, key)
                offset += size

    def _rebuild(self, path: str, key: str, scratch: str, count: int, layout: dict[str, int]) -> None:
        self.write(path, self._joined(key, scratch, count, layout), metadata={REBUILT: scratch})

    def _complete_again(self, path: str, key: str, scratch: str) -> None:
        record = self._pending_rebuild(key, scratch)
        if record:
            self._rebuild(path, key, scratch, record["count"], record["real"])
        else:
            self._head(key, path)  # FileNotFoundError unless an earlier call completed it
        self._delete_under(scratch)

    def _pending_rebuild(self, key: str, scratch: str) -> dict | None:
        """The layout of a mixed-parts completion that stopped before its rewrite of ``key``
        finished (``key`` then holds only the real parts), else ``None``."""
        try:
            record = json.loads(self.client.get_object(Bucket=self.bucket, Key=scratch + "layout")["Body"].read())
            metadata = self.client.head_object(Bucket=self.bucket, Key=key).get("Metadata", {})
        except ClientError as error:
            if _code(error) not in _MISSING:
                raise
            return None
        return None if metadata.get(REBUILT) == scratch else record


def s3_device(settings: Settings) -> S3Device:
    """The device configured by ``NIB_S3_*``: a custom endpoint gets path-style addressing;
    empty keys fall back to boto3's usual credential chain (environment, instance role). The
    bucket must exist, and the keys need list rights on it (AWS answers a HEAD of a missing key
    with 403 instead of 404 otherwise) besides get, put, delete and the multipart calls."""
    if not settings.s3_bucket:
        raise ValueError("NIB_S3_BUCKET is required when NIB_STORAGE_DEVICE is s3")
    config = Config(
        region_name=settings.s3_region,
        s3={"addressing_style": "path" if settings.s3_endpoint else "auto"},
        # Many S3-compatible stores reject the newer default checksum headers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=64,  # one per worker thread streaming a download
    )
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint or None,
        aws_access_key_id=settings.s3_access_key or None,
        aws_secret_access_key=settings.s3_secret_key or None,
        config=config,
    )
    return S3Device(client, settings.s3_bucket)


def _take(stream: Iterator[bytes], buffer: bytearray, size: int) -> bytearray:
    """Fill ``buffer`` from ``stream`` until it holds at least ``size`` bytes or the stream ends."""
    for chunk in stream:
        buffer += chunk
        if len(buffer) >= size:
            break
    return buffer


def _stream(body) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(READ_SIZE)
    except _BROKEN_TRANSFER as error:
        raise StorageUnavailable(UNAVAILABLE) from error
    finally:
        body.close()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _is_outage(error: Exception) -> bool:
    """A broken transfer or a 5xx answer; not a 4xx (a configuration fault, or a missing key)."""
    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
    return True


def _translated(error: ClientError, path: str) -> Exception:
    if _code(error) in _MISSING:
        return FileNotFoundError(f"no such object or multi-part write: {path}")
    return error
