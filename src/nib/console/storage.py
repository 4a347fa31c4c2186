"""The console's Storage pages: buckets (list, create, every setting, delete) and their files
(table or thumbnail grid, upload zone, a file's facts, viewer, rename, permissions, delete).

Changes go through the storage services with the Storage API's own parameter declarations
(``BUCKET_SETTINGS``, ``FILE_SETTINGS``), so a value the API refuses is refused here with the
same message. Uploads, previews and downloads are the REST API's, called by the page's script
and <img>/<a> elements in admin mode (upload.js).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from ..auth.permissions import FILE_TYPES, TYPES, parse
from ..data.query import Order, ParsedQueries
from ..data.rows import Row
from ..http.routing import Param, validate
from ..storage import buckets, files, models, transforms
from ..storage.routes import BUCKET_SETTINGS, FILE_SETTINGS, device_for
from ..tools import validators as v
from .pages import Page, PageRouter

router = PageRouter()

PAGE_SIZE = 25
GRID_SIZE = 48
# The roles every editor offers a row for; others (user:ID, team:T/role, label:L…) are typed.
FIXED_ROLES = ("any", "users", "guests")
BLANK_ROWS = 3
MAX_ROWS = 200
THUMBNAIL = 240
VIEWER = 1200
CHUNK_SIZE = 5 * 1024 * 1024  # the Appwrite SDKs' chunk size
# The editor's columns: a file's own permissions never grant "create"; "write" is shorthand.
FILE_TYPES_SHOWN = tuple(kind for kind in TYPES if kind in FILE_TYPES)

_CREATE = [Param("bucketId", v.custom_id), *BUCKET_SETTINGS]


@dataclass
class PermissionRow:
    """One row of the permissions editor: a role and the actions it is granted."""

    role: str
    granted: set[str] = field(default_factory=set)
    fixed: bool = False


def permission_rows(permissions: list[str], types: tuple[str, ...]) -> list[PermissionRow]:
    """The editor's rows for stored ``permissions``: the fixed roles, then each other role in
    the order it first appears, then blank rows to type new roles in."""
    rows = {role: PermissionRow(role, fixed=True) for role in FIXED_ROLES}
    for permission in permissions:
        parsed = parse(permission)  # stored: always well formed
        row = rows.setdefault(parsed.role_string, PermissionRow(parsed.role_string))
        if parsed.type in types:
            row.granted.add(parsed.type)
    return [*rows.values(), *(PermissionRow("") for _ in range(BLANK_ROWS))]


def permissions_from_form(page: Page, types: tuple[str, ...]) -> list[str]:
    """The permission strings the editor's form describes (row ``i``: ``role-i`` and a checkbox
    ``<type>-i`` per action), not validated yet."""
    found: list[str] = []
    for index in range(MAX_ROWS):
        role = page.form.get(f"role-{index}") if page.form is not None else None
        if not isinstance(role, str):
            break
        role = role.strip()
        if not role:
            continue
        found.extend(f'{kind}("{role}")' for kind in types if page.value(f"{kind}-{index}") == "on")
    return found


def _offset(page: Page) -> int:
    try:
        return max(0, int(page.value("offset", "0")))
    except ValueError:
        return 0


def _extensions(text: str) -> list[str]:
    """Extensions typed as one line: separated by commas and/or spaces, a leading dot dropped."""
    return [part.lstrip(".") for part in re.split(r"[\s,]+", text) if part.lstrip(".")]


def _q(value: str) -> str:
    return quote(value, safe="")


def _bucket_path(project_id: str, bucket_id: str) -> str:
    return f"/projects/{_q(project_id)}/storage/{_q(bucket_id)}"


def _bucket(page: Page, project_id: str, bucket_id: str) -> Row:
    return buckets.get_bucket(page.db, project_id=project_id, bucket_id=bucket_id)


def _file(page: Page, project_id: str, bucket: Row, file_id: str) -> Row:
    return files.get_file(page.db, project_id=project_id, bucket=bucket, file_id=file_id, roles=None)


def api_url(project_id: str, bucket_id: str, file_id: str, action: str, **params: int) -> str:
    """A REST API URL of a file for <img>/<a>: admin mode through the console's cookie."""
    query = "".join(f"&{name}={value}" for name, value in params.items())
    return (
        f"/v1/storage/buckets/{_q(bucket_id)}/files/{_q(file_id)}/{action}?project={_q(project_id)}&mode=admin{query}"
    )


# -- buckets ------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/storage")
def storage(page: Page, project_id: str) -> Response:
    project = page.project(project_id)
    search = page.value("search").strip()
    queries = ParsedQueries(filters=(), orders=(), limit=PAGE_SIZE, offset=_offset(page))
    total, rows = buckets.list_buckets(page.db, project_id=project_id, queries=queries, search=search or None)
    ids = [row["id"] for row in rows]
    return page.render(
        "storage.html",
        project=project,
        buckets=rows,
        sizes=buckets.total_sizes(page.db, project_id, ids),
        counts=buckets.file_counts(page.db, project_id, ids),
        total=total,
        offset=queries.offset,
        limit=PAGE_SIZE,
        search=search,
    )


@router.post("/projects/{project_id}/storage", audit=("bucket.create", "bucket/{id}"))
def create_bucket(page: Page, project_id: str) -> Response:
    page.project(project_id)
    raw = {"bucketId": page.value("bucket_id").strip() or "unique()", "name": page.value("name")}
    settings = buckets.settings_from(validate(_CREATE, raw), page.settings.storage_limit)
    settings["permissions"] = settings["permissions"] or []
    row = buckets.create_bucket(page.db, project_id=project_id, bucket_id=raw["bucketId"], **settings)
    page.created_id = row["id"]
    return page.redirect(_bucket_path(project_id, row["id"]) + "/settings", f"Bucket {row['name']} created.")


@router.get("/projects/{project_id}/storage/{bucket_id}/settings")
def bucket_settings(page: Page, project_id: str, bucket_id: str) -> Response:
    project = page.project(project_id)
    bucket = _bucket(page, project_id, bucket_id)
    return page.render(
        "bucket_settings.html",
        project=project,
        bucket=bucket,
        rows=permission_rows(bucket["permissions"], TYPES),
        types=TYPES,
        compressions=transforms.COMPRESSIONS,
        storage_limit=page.settings.storage_limit,
    )


@router.post("/projects/{project_id}/storage/{bucket_id}/settings", audit=("bucket.update", "bucket/{bucket_id}"))
def update_bucket(page: Page, project_id: str, bucket_id: str) -> Response:
    page.project(project_id)
    size = page.value("maximum_file_size").strip()
    raw: dict[str, Any] = {
        "name": page.value("name"),
        "permissions": permissions_from_form(page, TYPES),
        "fileSecurity": page.value("file_security") == "on",
        "enabled": page.value("enabled") == "on",
        "maximumFileSize": size or None,
        "allowedFileExtensions": _extensions(page.value("allowed_file_extensions")),
        "compression": page.value("compression"),
        "encryption": page.value("encryption") == "on",
        "antivirus": page.value("antivirus") == "on",
    }
    settings = buckets.settings_from(validate(BUCKET_SETTINGS, raw), page.settings.storage_limit)
    buckets.update_bucket(page.db, project_id=project_id, bucket_id=bucket_id, **settings)
    return page.redirect(_bucket_path(project_id, bucket_id) + "/settings", "Bucket settings saved.")


@router.post("/projects/{project_id}/storage/{bucket_id}/delete", audit=("bucket.delete", "bucket/{bucket_id}"))
def delete_bucket(page: Page, project_id: str, bucket_id: str) -> Response:
    page.project(project_id)
    bucket = _bucket(page, project_id, bucket_id)
    buckets.delete_bucket(page.db, device_for(page.settings), project_id=project_id, bucket_id=bucket_id)
    return page.redirect(f"/projects/{_q(project_id)}/storage", f"Bucket {bucket['name']} deleted.")


# -- files --------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/storage/{bucket_id}")
def bucket_files(page: Page, project_id: str, bucket_id: str) -> Response:
    project = page.project(project_id)
    bucket = _bucket(page, project_id, bucket_id)
    grid = page.value("view") == "grid"
    limit = GRID_SIZE if grid else PAGE_SIZE
    search = page.value("search").strip()
    queries = ParsedQueries(filters=(), orders=(Order(None, True),), limit=limit, offset=_offset(page))
    total, rows = files.list_files(
        page.db, project_id=project_id, bucket=bucket, roles=None, queries=queries, search=search or None
    )
    query = {k: value for k, value in (("view", "grid" if grid else ""), ("search", search)) if value}
    return page.render(
        "bucket.html",
        project=project,
        bucket=bucket,
        files=[
            {
                **row,
                "chunks_done": models.chunks_uploaded(row),
                "thumbnail": api_url(project_id, bucket_id, row["id"], "preview", width=THUMBNAIL, height=THUMBNAIL),
            }
            for row in rows
        ],
        grid=grid,
        total=total,
        offset=queries.offset,
        limit=limit,
        search=search,
        query=query,
        chunk_size=CHUNK_SIZE,
    )


@router.get("/projects/{project_id}/storage/{bucket_id}/files/{file_id}")
def file(page: Page, project_id: str, bucket_id: str, file_id: str) -> Response:
    project = page.project(project_id)
    bucket = _bucket(page, project_id, bucket_id)
    row = _file(page, project_id, bucket, file_id)
    return page.render(
        "file.html",
        project=project,
        bucket=bucket,
        file=row,
        chunks_done=models.chunks_uploaded(row),
        image=row["status"] == files.READY and row["mime_type"].startswith("image/"),
        viewer=api_url(project_id, bucket_id, file_id, "preview", width=VIEWER, height=VIEWER),
        download=api_url(project_id, bucket_id, file_id, "download"),
        rows=permission_rows(row["permissions"], FILE_TYPES_SHOWN),
        types=FILE_TYPES_SHOWN,
        file_security=bucket["file_security"],
    )


def _update_file(page: Page, project_id: str, bucket_id: str, file_id: str, raw: dict[str, Any]) -> Row:
    page.project(project_id)
    bucket = _bucket(page, project_id, bucket_id)
    values = validate(FILE_SETTINGS, raw)
    return files.update_file(
        page.db,
        project_id=project_id,
        bucket=bucket,
        file_id=file_id,
        roles=None,
        name=values["name"],
        permissions=values["permissions"],
    )


@router.post("/projects/{project_id}/storage/{bucket_id}/files/{file_id}/name", audit=("file.update", "file/{file_id}"))
def rename_file(page: Page, project_id: str, bucket_id: str, file_id: str) -> Response:
    _update_file(page, project_id, bucket_id, file_id, {"name": page.value("name")})
    return page.redirect(_bucket_path(project_id, bucket_id) + f"/files/{_q(file_id)}", "File renamed.")


@router.post(
    "/projects/{project_id}/storage/{bucket_id}/files/{file_id}/permissions",
    audit=("file.update", "file/{file_id}"),
)
def file_permissions(page: Page, project_id: str, bucket_id: str, file_id: str) -> Response:
    raw = {"permissions": permissions_from_form(page, FILE_TYPES_SHOWN)}
    _update_file(page, project_id, bucket_id, file_id, raw)
    return page.redirect(_bucket_path(project_id, bucket_id) + f"/files/{_q(file_id)}", "File permissions saved.")


@router.post(
    "/projects/{project_id}/storage/{bucket_id}/files/{file_id}/delete", audit=("file.delete", "file/{file_id}")
)
def delete_file(page: Page, project_id: str, bucket_id: str, file_id: str) -> Response:
    page.project(project_id)
    bucket = _bucket(page, project_id, bucket_id)
    row = files.delete_file(
        page.db, device_for(page.settings), project_id=project_id, bucket=bucket, file_id=file_id, roles=None
    )
    return page.redirect(_bucket_path(project_id, bucket_id), f"File {row['name']} deleted.")
