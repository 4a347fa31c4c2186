"""HTTP routes of the Storage service: parse, call the services, serialise.

Bucket routes need the ``buckets.*`` scopes (API keys only). File routes serve API keys (no
permission checks, disabled buckets included) and guests/users (bucket and file permissions, see
files.py). Uploads are ``streaming`` routes: upload_requests.py reads the request (form fields,
``Content-Range``, ``X-Appwrite-ID``) and uploads.py takes the file's bytes as a stream. Downloads
(``reads_device`` routes): downloads.py finds the file, file_responses.py sends small local files
with sendfile and the rest in one buffer or streamed, through the process's device (``open_device``).
View, download and preview also take a file token's secret (``token``, file_tokens.py), which
grants its one file to anybody and refuses every other file.
"""

from __future__ import annotations

from functools import cache

from starlette.background import BackgroundTask
from starlette.responses import Response

from ..auth.permissions import ALL_TYPES, FILE_TYPES
from ..auth.permissions import validator as permissions_validator
from ..data.instance import server_secret
from ..data.rows import Row
from ..http.context import Context
from ..http.render import listing
from ..http.responses import BASE_HEADERS
from ..http.routing import Param, Router, optional, queries_param
from ..tools import validators as v
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from . import (
    buckets,
    downloads,
    file_responses,
    file_tokens,
    files,
    models,
    preview,
    processing,
    transforms,
    upload_requests,
    uploads,
)
from .devices import Device, open_device
from .preview_engine import PreviewEngine

router = Router()

BUCKETS_READ, BUCKETS_WRITE = "buckets.read", "buckets.write"
FILES_READ, FILES_WRITE = "files.read", "files.write"
BUCKET_ID = Param("bucketId", v.uid)
FILE_ID = Param("fileId", v.uid)
SEARCH = optional("search", v.text(256, 0), default="")
# A file token's secret (file_tokens.py): reads the file it names without a session.
TOKEN = optional("token", v.text(512, 0), default="")
BUCKET_EVENT = "bucket/{bucketId}"
FILE_EVENT = "file/{fileId}"
FILE = "buckets.[bucketId].files.[fileId]"  # its events' pattern (realtime)
_EXTENSIONS = v.array_of(
    v.text(64), 100, "Value must be a valid string and at least 1 chars and no longer than 64 chars"
)
# Create and update share these; omitted optional settings take their defaults on update too
# (Appwrite 1.5 resets them), except permissions (None keeps them) and maximumFileSize, which
# is checked against the instance limit by the handler (buckets.check_file_size_limit).
BUCKET_SETTINGS = [
    Param("name", v.text(128)),
    optional("permissions", permissions_validator(ALL_TYPES)),
    optional("fileSecurity", v.loose_boolean, default=False),
    optional("enabled", v.loose_boolean, default=True),
    optional("maximumFileSize"),
    optional("allowedFileExtensions", _EXTENSIONS, default=[]),
    optional("compression", v.whitelist(transforms.COMPRESSIONS, strict=True), default="none"),
    optional("encryption", v.loose_boolean, default=True),
    optional("antivirus", v.loose_boolean, default=True),
    optional("transformations", v.loose_boolean),  # newer SDKs send it; always on here
]
# What a file's update may change.
FILE_SETTINGS = [optional("name", v.text(255)), optional("permissions", permissions_validator(FILE_TYPES))]


@cache
def device_for(settings: Settings) -> Device:
    """One device per process (an S3 client is worth reusing)."""
    return open_device(settings)


def _settings(ctx: Context, values: dict) -> dict:
    return buckets.settings_from(values, ctx.settings.storage_limit)


def _file_bucket(ctx: Context, bucket_id: str) -> dict:
    return buckets.bucket_for_files(
        ctx.db, project_id=ctx.project_id, bucket_id=bucket_id, privileged=ctx.principal.is_key
    )


# -- buckets ------------------------------------------------------------------------------------


@router.post(
    "/v1/storage/buckets",
    scope=BUCKETS_WRITE,
    status=201,
    audit=("bucket.create", "bucket/{id}"),
    event="buckets.[bucketId].create",
    params=[Param("bucketId", v.custom_id), *BUCKET_SETTINGS],
)
def create_bucket(ctx: Context, bucketId: str, **values) -> dict:
    settings = _settings(ctx, values)
    settings["permissions"] = settings["permissions"] or []
    row = buckets.create_bucket(ctx.db, project_id=ctx.project_id, bucket_id=bucketId, **settings)
    return models.bucket(row)


@router.get("/v1/storage/buckets", scope=BUCKETS_READ, params=[queries_param(buckets.BUCKET_LIST), SEARCH])
def list_buckets(ctx: Context, queries, search: str) -> dict:
    total, rows = buckets.list_buckets(ctx.db, project_id=ctx.project_id, queries=queries, search=search or None)
    sizes = buckets.total_sizes(ctx.db, ctx.project_id, [row["id"] for row in rows])
    return listing("buckets", total, [models.bucket(row, sizes.get(row["id"], 0)) for row in rows])


@router.get("/v1/storage/buckets/{bucketId}", scope=BUCKETS_READ, params=[BUCKET_ID])
def get_bucket(ctx: Context, bucketId: str) -> dict:
    row = buckets.get_bucket(ctx.db, project_id=ctx.project_id, bucket_id=bucketId)
    return models.bucket(row, row["total_size"])


@router.put(
    "/v1/storage/buckets/{bucketId}",
    scope=BUCKETS_WRITE,
    audit=("bucket.update", BUCKET_EVENT),
    event="buckets.[bucketId].update",
    params=[BUCKET_ID, *BUCKET_SETTINGS],
)
def update_bucket(ctx: Context, bucketId: str, **values) -> dict:
    row = buckets.update_bucket(ctx.db, project_id=ctx.project_id, bucket_id=bucketId, **_settings(ctx, values))
    return models.bucket(row, buckets.total_sizes(ctx.db, ctx.project_id, [row["id"]]).get(row["id"], 0))


# Realtime carries no bucket events: the deleted bucket is not read for a payload nobody gets.
@router.delete(
    "/v1/storage/buckets/{bucketId}",
    scope=BUCKETS_WRITE,
    audit=("bucket.delete", BUCKET_EVENT),
    event="buckets.[bucketId].delete",
    params=[BUCKET_ID],
)
def delete_bucket(ctx: Context, bucketId: str) -> None:
    buckets.delete_bucket(ctx.db, device_for(ctx.settings), project_id=ctx.project_id, bucket_id=bucketId)


# -- files --------------------------------------------------------------------------------------


@router.post(
    "/v1/storage/buckets/{bucketId}/files",
    scope=FILES_WRITE,
    status=201,
    audit=("file.create", "file/{id}"),
    event=f"{FILE}.create",
    params=[BUCKET_ID],
    streaming=True,
)
def create_file(ctx: Context, bucketId: str) -> dict:
    assert ctx.body is not None
    user = ctx.principal.user
    roles = ctx.roles()
    user_id = None if user is None or ctx.principal.is_key else user["id"]
    form = upload_requests.UploadForm(ctx.body, ctx.headers.get("content-type", ""))
    bucket, permissions = uploads.check_upload(
        ctx.db,
        project_id=ctx.project_id,
        bucket_id=bucketId,
        roles=roles,
        user_id=user_id,
        permissions=form.permissions,
    )
    if form.file is None or not form.file.filename:
        raise AppwriteError("storage_file_empty")
    content_range = upload_requests.parse_content_range(ctx.headers.get("content-range"))
    row = uploads.create_file(
        ctx.db,
        device_for(ctx.settings),
        ctx.settings,
        project_id=ctx.project_id,
        bucket=bucket,
        roles=roles,
        user_id=user_id,
        file_id=upload_requests.requested_file_id(form.file_id, ctx.headers.get("x-appwrite-id", "")),
        name=form.file.filename,
        permissions=permissions,
        content_range=content_range,
        data=form.file.chunks(),
        late_permissions=form.late_permissions,
    )
    # Every chunk's request announces the file, as Appwrite's.
    ctx.event_roles = files.read_roles(bucket, row["permissions"])
    return models.file(row)


@router.get(
    "/v1/storage/buckets/{bucketId}/files", scope=FILES_READ, params=[BUCKET_ID, queries_param(files.FILE_LIST), SEARCH]
)
def list_files(ctx: Context, bucketId: str, queries, search: str) -> dict:
    total, rows = files.list_files(
        ctx.db,
        project_id=ctx.project_id,
        bucket=_file_bucket(ctx, bucketId),
        roles=ctx.roles(),
        queries=queries,
        search=search or None,
    )
    return listing("files", total, [models.file(row) for row in rows])


@router.get("/v1/storage/buckets/{bucketId}/files/{fileId}", scope=FILES_READ, params=[BUCKET_ID, FILE_ID])
def get_file(ctx: Context, bucketId: str, fileId: str) -> dict:
    bucket = _file_bucket(ctx, bucketId)
    return models.file(
        files.get_file(ctx.db, project_id=ctx.project_id, bucket=bucket, file_id=fileId, roles=ctx.roles())
    )


@router.put(
    "/v1/storage/buckets/{bucketId}/files/{fileId}",
    scope=FILES_WRITE,
    audit=("file.update", FILE_EVENT),
    event=f"{FILE}.update",
    params=[BUCKET_ID, FILE_ID, *FILE_SETTINGS],
)
def update_file(ctx: Context, bucketId: str, fileId: str, name: str | None, permissions: list[str] | None) -> dict:
    bucket = _file_bucket(ctx, bucketId)
    row = files.update_file(
        ctx.db,
        project_id=ctx.project_id,
        bucket=bucket,
        file_id=fileId,
        roles=ctx.roles(),
        name=name,
        permissions=permissions,
    )
    ctx.event_roles = files.read_roles(bucket, row["permissions"])
    return models.file(row)


@router.delete(
    "/v1/storage/buckets/{bucketId}/files/{fileId}",
    scope=FILES_WRITE,
    audit=("file.delete", FILE_EVENT),
    event=f"{FILE}.delete",
    params=[BUCKET_ID, FILE_ID],
)
def delete_file(ctx: Context, bucketId: str, fileId: str) -> None:
    bucket = _file_bucket(ctx, bucketId)
    row = files.delete_file(
        ctx.db, device_for(ctx.settings), project_id=ctx.project_id, bucket=bucket, file_id=fileId, roles=ctx.roles()
    )
    ctx.event_payload = models.file(row)
    ctx.event_roles = files.read_roles(bucket, row["permissions"])


def _download(ctx: Context, bucket_id: str, file_id: str, token: str) -> tuple[downloads.Download, Row | None]:
    """The file to send and the live file token the request carries, if any."""
    bucket = _file_bucket(ctx, bucket_id)
    found = file_tokens.resolve(ctx.db, server_secret(ctx.db, ctx.settings), project_id=ctx.project_id, token=token)
    download = downloads.find_download(
        ctx.db, project_id=ctx.project_id, bucket=bucket, file_id=file_id, roles=ctx.roles(), token=found
    )
    return download, found


def _record_use(ctx: Context, token: Row | None, response: Response) -> Response:
    """Refresh a used token's ``accessedAt`` (at most daily) once the response is sent."""
    if token is not None and file_tokens.access_due(token):
        response.background = BackgroundTask(file_tokens.record_access, ctx.db, token["seq"])
    return response


def _serve(ctx: Context, bucket_id: str, file_id: str, token: str, *, view: bool) -> Response:
    download, found = _download(ctx, bucket_id, file_id, token)
    response = file_responses.file_response(
        device_for(ctx.settings),
        ctx.settings,
        secret=server_secret(ctx.db, ctx.settings),
        project_id=ctx.project_id,
        download=download,
        view=view,
        headers=ctx.headers,
        on_event_loop=ctx.on_event_loop,
    )
    return _record_use(ctx, found, response)


@router.get(
    "/v1/storage/buckets/{bucketId}/files/{fileId}/download",
    scope=FILES_READ,
    params=[BUCKET_ID, FILE_ID, TOKEN],
    reads_device=True,
)
def download(ctx: Context, bucketId: str, fileId: str, token: str):
    return _serve(ctx, bucketId, fileId, token, view=False)


@router.get(
    "/v1/storage/buckets/{bucketId}/files/{fileId}/view",
    scope=FILES_READ,
    params=[BUCKET_ID, FILE_ID, TOKEN],
    reads_device=True,
)
def view(ctx: Context, bucketId: str, fileId: str, token: str):
    return _serve(ctx, bucketId, fileId, token, view=True)


# One per process: renders bounded by the cores, identical concurrent previews merged.
PREVIEWS = PreviewEngine()


@router.get(
    "/v1/storage/buckets/{bucketId}/files/{fileId}/preview",
    scope=FILES_READ,
    params=[BUCKET_ID, FILE_ID, *preview.QUERY_PARAMS, TOKEN],
    streaming=True,  # never on the event loop: a render takes milliseconds of CPU
)
def get_preview(ctx: Context, bucketId: str, fileId: str, token: str, **query) -> Response:
    download, found = _download(ctx, bucketId, fileId, token)
    row, device, size = download.file, device_for(ctx.settings), download.size
    secret = server_secret(ctx.db, ctx.settings)

    def original() -> bytes:  # called on a cache miss for an image within the preview limit only
        decoded = processing.decode(
            device, ctx.settings, secret=secret, project_id=ctx.project_id, file=row, start=0, end=size - 1
        )
        return b"".join(decoded)

    data, content_type = PREVIEWS.cached_render(
        device,
        files.file_prefix(ctx.project_id, bucketId, fileId).rstrip("/"),
        row["signature"],
        original,
        mime_type=row["mime_type"],
        size=size,
        params=preview.PreviewParams.from_query(**query),
        accept=ctx.headers.get("accept", ""),
    )
    return _record_use(ctx, found, Response(data, headers={**BASE_HEADERS, **preview.response_headers(content_type)}))
