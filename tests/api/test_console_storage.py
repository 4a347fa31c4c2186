"""The console's Storage pages against a live nib: buckets and every setting (seen through the
REST API with a key), the permissions editor and the API's messages, an admin-mode chunked upload
as upload.js sends it, the files table and thumbnail grid, a file's page, rename, permissions,
delete, escaped file names; and admin mode's CSRF and origin checks."""

from __future__ import annotations

import html
import os
import re
import struct
import uuid
import zlib

import pytest
from appwrite.exception import AppwriteException
from storage_support import CHUNK, MIB, png, storage_as_key, unique_id

from console_support import XSS, Console, assert_forms_carry_the_token, audited, notice, origin, sign_in


@pytest.fixture(scope="module")
def console(server) -> Console:
    return sign_in(server)


def base(server) -> str:
    return f"/projects/{server.project}/storage"


def noise_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of random pixels, stored uncompressed: about width x height x 3 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")


def upload(console: Console, project: str, bucket_id: str, name: str, data: bytes) -> list[dict]:
    """What upload.js sends: one request up to 5 MiB, else consecutive 5 MiB chunks with
    Content-Range, and X-Appwrite-ID after the first. The File JSON of each request."""
    file_id = uuid.uuid4().hex[:20]
    answers = []
    starts = range(0, len(data), CHUNK) if len(data) > CHUNK else [0]
    for start in starts:
        piece = data[start : start + CHUNK] if len(data) > CHUNK else data
        headers = {}
        if len(data) > CHUNK:
            headers["Content-Range"] = f"bytes {start}-{start + len(piece) - 1}/{len(data)}"
        if answers:
            headers["X-Appwrite-ID"] = answers[-1]["$id"]
        answer = console.api(
            "POST",
            f"/storage/buckets/{bucket_id}/files",
            project,
            headers=headers,
            data={"fileId": file_id},
            files={"file": (name, piece)},
        )
        assert answer.status_code == 201, answer.text
        answers.append(answer.json())
    return answers


def permission_form(rows: list[tuple[str, list[str]]]) -> dict[str, str]:
    """The editor's fields: row i's role-i and a checked <action>-i per granted action."""
    fields = {}
    for index, (role, granted) in enumerate(rows):
        fields[f"role-{index}"] = role
        for kind in granted:
            fields[f"{kind}-{index}"] = "on"
    return fields


def test_bucket_create_and_every_setting_round_trips(server, db, console):
    bucket_id = unique_id("cb")
    answer = console.post(base(server), {"name": f"Photos {XSS}", "bucket_id": bucket_id})
    assert answer.status_code == 303 and answer.headers["location"] == f"/console{base(server)}/{bucket_id}/settings"
    created = storage_as_key(server).get_bucket(bucket_id)
    assert (created.name, created.enabled, created.permissions) == (f"Photos {XSS}", True, [])
    assert [e["user_type"] for e in audited(db, server.project, "bucket.create", f"bucket/{bucket_id}")] == ["admin"]

    listed = console.get(base(server), params={"search": bucket_id}).text
    assert_forms_carry_the_token(listed, console)
    assert f"<code>{bucket_id}</code>" in listed and XSS not in listed and html.escape(XSS, quote=False) in listed

    form = {
        "name": "Renamed photos",
        "maximum_file_size": "1234567",
        "allowed_file_extensions": "png, .JPG gif",
        "compression": "zstd",
        "file_security": "on",
        **permission_form(
            [
                ("any", ["read"]),
                ("users", ["create", "update"]),
                ("guests", []),
                ("team:crew/editor", ["delete"]),
                ("user:someone", ["read", "update"]),
                ("", ["read"]),  # a blank row, ignored
            ]
        ),
    }
    answer = console.post(f"{base(server)}/{bucket_id}/settings", form)
    assert answer.status_code == 303 and "Bucket settings saved." in notice(answer)
    bucket = storage_as_key(server).get_bucket(bucket_id).to_dict()
    assert bucket["name"] == "Renamed photos"
    assert bucket["$permissions"] == [
        'read("any")',
        'create("users")',
        'update("users")',
        'delete("team:crew/editor")',
        'read("user:someone")',
        'update("user:someone")',
    ]
    assert (bucket["fileSecurity"], bucket["enabled"], bucket["encryption"], bucket["antivirus"]) == (
        True,
        False,
        False,
        False,
    )
    assert (bucket["maximumFileSize"], bucket["allowedFileExtensions"], bucket["compression"]) == (
        1234567,
        ["png", "jpg", "gif"],
        "zstd",
    )
    assert [e["user_type"] for e in audited(db, server.project, "bucket.update", f"bucket/{bucket_id}")] == ["admin"]

    # The settings page shows what is stored: typed roles get their own rows.
    page = console.get(f"{base(server)}/{bucket_id}/settings").text
    assert_forms_carry_the_token(page, console)
    assert 'value="team:crew/editor"' in page and 'value="user:someone"' in page
    assert 'value="1234567"' in page and 'value="png, jpg, gif"' in page
    assert '<option value="zstd" selected>' in page

    # Back on; a bad role: the API's message, nothing changed.
    on = {"name": "Renamed photos", "enabled": "on", "encryption": "on", "antivirus": "on", "compression": "gzip"}
    answer = console.post(f"{base(server)}/{bucket_id}/settings", on | permission_form([("any", ["read"])]))
    bucket = storage_as_key(server).get_bucket(bucket_id)
    assert (bucket.enabled, bucket.encryption, bucket.antivirus, bucket.filesecurity) == (True, True, True, False)
    assert (bucket.compression, bucket.permissions, bucket.allowedfileextensions) == ("gzip", ['read("any")'], [])
    assert bucket.maximumfilesize > 1234567  # empty: the server's limit

    referer = {"Referer": f"{origin(server)}/console{base(server)}/{bucket_id}/settings"}
    answer = console.post(
        f"{base(server)}/{bucket_id}/settings", on | permission_form([("team:", ["read"])]), headers=referer
    )
    assert answer.headers["location"] == f"/console{base(server)}/{bucket_id}/settings"
    assert 'Invalid `permissions` param: Role "team" must have an ID value.' in notice(answer)
    shown = console.get(f"{base(server)}/{bucket_id}/settings").text
    assert "Invalid `permissions` param: Role &#34;team&#34; must have an ID value." in shown
    answer = console.post(f"{base(server)}/{bucket_id}/settings", on | {"maximum_file_size": "0"}, headers=referer)
    assert "Invalid `maximumFileSize` param: Value must be a valid range between 1 and" in notice(answer)
    assert storage_as_key(server).get_bucket(bucket_id).permissions == ['read("any")']

    answer = console.post(f"{base(server)}/{bucket_id}/delete")
    assert answer.headers["location"] == f"/console{base(server)}"
    with pytest.raises(AppwriteException) as missing:
        storage_as_key(server).get_bucket(bucket_id)
    assert missing.value.code == 404
    assert [e["user_type"] for e in audited(db, server.project, "bucket.delete", f"bucket/{bucket_id}")] == ["admin"]


def test_chunked_upload_grid_preview_and_file_page(server, db, console):
    bucket_id = unique_id("cu")
    console.post(base(server), {"name": "Uploads", "bucket_id": bucket_id})
    name = f"{XSS}.png"
    data = noise_png(2048, 2048)
    assert 10 * MIB < len(data) <= 15 * MIB
    answers = upload(console, server.project, bucket_id, name, data)
    assert [(a["chunksUploaded"], a["chunksTotal"]) for a in answers] == [(1, 3), (2, 3), (3, 3)]
    file_id = answers[-1]["$id"]
    stored = storage_as_key(server).get_file(bucket_id, file_id)
    assert (stored.name, stored.sizeoriginal, stored.mimetype) == (name, len(data), "image/png")
    # The pipeline records the upload as the administrator's.
    assert "admin" in [e["user_type"] for e in audited(db, server.project, "file.create", f"file/{file_id}")]

    files_page = f"{base(server)}/{bucket_id}"
    table = console.get(files_page).text
    assert f'href="/console{files_page}/files/{file_id}"' in table and f"<code>{file_id}</code>" in table
    assert XSS not in table and html.escape(XSS) in table
    assert 'id="upload-input"' in table and 'id="uploads"' in table and "/static/upload.js" in table

    grid = console.get(files_page, params={"view": "grid"}).text
    thumbnail = (
        f"/v1/storage/buckets/{bucket_id}/files/{file_id}/preview?project={server.project}&amp;mode=admin"
        "&amp;width=240&amp;height=240"
    )
    assert f'src="{thumbnail}"' in grid and XSS not in grid
    preview = console.client.get(html.unescape(thumbnail))
    assert preview.status_code == 200 and preview.headers["content-type"].startswith("image/")
    assert len(preview.content) > 100

    page = console.get(f"{files_page}/files/{file_id}").text
    assert '<img class="viewer" src="/v1/storage/buckets/' in page and "width=1200" in page
    assert XSS not in page and html.escape(XSS) in page and stored.signature in page
    download = f"/v1/storage/buckets/{bucket_id}/files/{file_id}/download?project={server.project}&amp;mode=admin"
    assert f'href="{download}"' in page
    got = console.client.get(html.unescape(download))
    assert got.status_code == 200 and got.content == data

    # A non-image: its preview is an icon, and its page has no viewer.
    text_id = upload(console, server.project, bucket_id, "notes.txt", b"plain words\n")[0]["$id"]
    icon = console.client.get(
        f"/v1/storage/buckets/{bucket_id}/files/{text_id}/preview?project={server.project}&mode=admin&width=240&height=240"
    )
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/")
    assert 'class="viewer"' not in console.get(f"{files_page}/files/{text_id}").text

    # Search.
    found = console.get(files_page, params={"search": "notes"}).text
    assert "notes.txt" in found and file_id not in found


def test_rename_permissions_and_delete_a_file(server, db, console):
    bucket_id = unique_id("cf")
    console.post(base(server), {"name": "Files", "bucket_id": bucket_id})
    file_id = upload(console, server.project, bucket_id, "a.png", png())[0]["$id"]
    path = f"{base(server)}/{bucket_id}/files/{file_id}"

    answer = console.post(f"{path}/name", {"name": XSS})
    assert "File renamed." in notice(answer)
    assert storage_as_key(server).get_file(bucket_id, file_id).name == XSS
    assert [e["user_type"] for e in audited(db, server.project, "file.update", f"file/{file_id}")] == ["admin"]
    page = console.get(path).text
    assert_forms_carry_the_token(page, console)
    assert XSS not in page and html.escape(XSS) in page

    rows = [("any", ["read"]), ("users", []), ("guests", []), ("label:vip", ["update", "delete"])]
    answer = console.post(f"{path}/permissions", permission_form(rows))
    assert "File permissions saved." in notice(answer)
    assert storage_as_key(server).get_file(bucket_id, file_id).permissions == [
        'read("any")',
        'update("label:vip")',
        'delete("label:vip")',
    ]
    referer = {"Referer": f"{origin(server)}/console{path}"}
    answer = console.post(f"{path}/permissions", permission_form([("role:all", ["read"])]), headers=referer)
    assert 'Invalid `permissions` param: Permissions using the "role:" prefix have been replaced.' in notice(answer)
    answer = console.post(f"{path}/name", {"name": ""}, headers=referer)
    assert "Invalid `name` param: Value must be a valid string and at least 1 chars" in notice(answer)
    assert storage_as_key(server).get_file(bucket_id, file_id).name == XSS

    answer = console.post(f"{path}/delete")
    assert answer.headers["location"] == f"/console{base(server)}/{bucket_id}"
    with pytest.raises(AppwriteException) as missing:
        storage_as_key(server).get_file(bucket_id, file_id)
    assert missing.value.code == 404
    assert [e["user_type"] for e in audited(db, server.project, "file.delete", f"file/{file_id}")] == ["admin"]
    assert console.get(path).status_code == 404


def test_admin_mode_needs_the_csrf_header_and_the_console_origin(server, console):
    bucket_id = unique_id("ca")
    console.post(base(server), {"name": "Guarded", "bucket_id": bucket_id})
    request = {"data": {"fileId": "unique()"}, "files": {"file": ("a.txt", b"abc")}}
    refused = console.api("POST", f"/storage/buckets/{bucket_id}/files", server.project, csrf=False, **request)
    assert refused.status_code == 401 and refused.json()["type"] == "general_unauthorized_scope"
    elsewhere = console.api(
        "POST",
        f"/storage/buckets/{bucket_id}/files",
        server.project,
        headers={"Origin": "https://evil.example"},
        **request,
    )
    assert elsewhere.status_code == 403
    assert storage_as_key(server).list_files(bucket_id).total == 0
    # The console's own origin is welcome.
    own = console.api(
        "POST", f"/storage/buckets/{bucket_id}/files", server.project, headers={"Origin": origin(server)}, **request
    )
    assert own.status_code == 201, own.text
    # The upload page's script is served from the console itself (CSP 'self').
    script = console.client.get("/console/static/upload.js")
    assert script.status_code == 200 and "X-Appwrite-ID" in script.text and re.search(r"5 \* 1024 \* 1024", script.text)
