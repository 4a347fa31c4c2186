"""Files with the API key: single uploads through the official SDK and raw multipart, their
checks, list/get/update/delete, and downloads with their headers, ranges and conditional
requests."""

from __future__ import annotations

import os

import pytest
from appwrite.exception import AppwriteException
from appwrite.permission import Permission
from appwrite.query import Query
from appwrite.role import Role
from storage_support import as_input, md5, multipart, new_bucket, png, storage_as_key, stored_objects, unique_id


def _error(call, *args, **kwargs) -> AppwriteException:
    with pytest.raises(AppwriteException) as caught:
        call(*args, **kwargs)
    return caught.value


def test_sdk_upload_computes_signature_and_mime_from_content(storage_server):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server)
    data = png()
    created = storage.create_file(bucket_id, "unique()", as_input(data, "logo.txt")).to_dict()
    assert created["name"] == "logo.txt"
    assert created["mimeType"] == "image/png"  # from the bytes, not the name
    assert created["signature"] == md5(data)
    # Buckets encrypt by default (Appwrite): 16 bytes of GCM tag per 64 KiB segment are stored.
    assert (created["sizeOriginal"], created["sizeActual"]) == (len(data), len(data) + 16)
    assert (created["chunksTotal"], created["chunksUploaded"]) == (1, 1)
    assert created["$permissions"] == []  # API key: no default permissions
    assert (created["compression"], created["encryption"]) == ("none", True)
    assert len(created["$id"]) == 20
    assert storage.get_file(bucket_id, created["$id"]).to_dict() == created
    assert storage.get_file_download(bucket_id, created["$id"]) == data


def test_raw_multipart_upload_and_errors(storage_server, storage_http):
    bucket_id = new_bucket(storage_server, allowed_file_extensions=["png", "jfif"], maximum_file_size=100)
    path = f"/storage/buckets/{bucket_id}/files"
    created = storage_http.post(path, **multipart("raw1", "Pic.PNG", png(), ['read("any")', 'write("any")']))
    assert created.status_code == 201, created.text
    assert created.json()["$permissions"] == ['read("any")', 'update("any")', 'delete("any")']
    again = storage_http.post(path, **multipart("raw1", "Pic.PNG", png()))
    assert (again.status_code, again.json()["type"]) == (409, "storage_file_already_exists")
    gif = storage_http.post(path, **multipart("raw2", "kitten.gif", png()))
    assert (gif.status_code, gif.json()["type"], gif.json()["message"]) == (
        400,
        "storage_file_type_unsupported",
        "File extension not allowed",
    )
    big = storage_http.post(path, **multipart("raw3", "big.png", os.urandom(500)))
    assert (big.status_code, big.json()["type"], big.json()["message"]) == (
        400,
        "storage_invalid_file_size",
        "File size not allowed",
    )
    empty = storage_http.post(path, data={"fileId": "raw4"})
    assert (empty.status_code, empty.json()["type"]) == (400, "storage_file_empty")
    no_id = storage_http.post(path, files={"file": ("a.png", png())})
    assert (no_id.status_code, no_id.json()["message"]) == (400, 'Param "fileId" is not optional.')
    create_perm = storage_http.post(path, **multipart("raw5", "a.png", png(), ['create("any")']))
    assert create_perm.status_code == 400 and "`permissions`" in create_perm.json()["message"]
    missing = storage_http.post(f"/storage/buckets/{unique_id()}/files", **multipart("raw6", "a.png", png()))
    assert (missing.status_code, missing.json()["type"]) == (404, "storage_bucket_not_found")
    # Refused uploads keep nothing: only raw1's object is stored.
    assert len(stored_objects(storage_server, bucket_id)) == 1


def test_permissions_after_the_file_part_apply(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    body = {
        "data": {"fileId": "late"},
        "files": [("file", ("a.png", png())), ("permissions[0]", (None, 'read("any")'))],
    }
    response = storage_http.post(f"/storage/buckets/{bucket_id}/files", **body)
    assert response.status_code == 201, response.text
    assert response.json()["$permissions"] == ['read("any")']


def test_list_get_update_delete(storage_server):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server)
    storage.create_file(bucket_id, "first", as_input(png(), "first.png"))
    storage.create_file(bucket_id, "second", as_input(b"hello text\n", "notes.txt"))
    listed = storage.list_files(bucket_id).to_dict()
    assert listed["total"] == 2 and [f["$id"] for f in listed["files"]] == ["first", "second"]
    assert storage.list_files(bucket_id, queries=[Query.limit(1)]).to_dict()["files"][0]["$id"] == "first"
    assert storage.list_files(bucket_id, queries=[Query.equal("mimeType", ["image/png"])]).total == 1
    assert storage.list_files(bucket_id, queries=[Query.equal("mimeType", ["image/jpeg"])]).total == 0
    assert [f.id for f in storage.list_files(bucket_id, search="notes").files] == ["second"]
    assert storage.get_file(bucket_id, "second").mimetype == "text/plain"

    renamed = storage.update_file(bucket_id, "first", name="renamed.png", permissions=[Permission.read(Role.any())])
    assert renamed.name == "renamed.png" and renamed.permissions == ['read("any")']
    kept = storage.update_file(bucket_id, "first")
    assert kept.name == "renamed.png" and kept.permissions == ['read("any")']
    assert storage.update_file(bucket_id, "first", permissions=[]).permissions == []

    storage.delete_file(bucket_id, "first")
    error = _error(storage.get_file, bucket_id, "first")
    assert (error.code, error.type, error.message) == (
        404,
        "storage_file_not_found",
        "The requested file could not be found.",
    )
    assert _error(storage.delete_file, bucket_id, "first").type == "storage_file_not_found"
    assert _error(storage.update_file, bucket_id, "first", name="x").type == "storage_file_not_found"
    assert len(stored_objects(storage_server, bucket_id)) == 1  # only "second" is left on disk


def test_download_and_view_headers(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    storage = storage_as_key(storage_server)
    data = png()
    storage.create_file(bucket_id, "pic", as_input(data, "café.png"))
    base = f"/storage/buckets/{bucket_id}/files/pic"
    download = storage_http.get(f"{base}/download")
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == "image/png"
    assert (
        download.headers["content-disposition"] == "attachment; filename=\"caf?.png\"; filename*=UTF-8''caf%C3%A9.png"
    )
    assert download.headers["etag"] == f'"{md5(data)}"'
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "script-src 'none'"
    assert download.headers["cache-control"].startswith("private, max-age=")
    assert download.headers["expires"].endswith("GMT")
    view = storage_http.get(f"{base}/view")
    assert view.content == data and view.headers["content-disposition"].startswith("inline; ")
    assert view.headers["content-type"] == "image/png"


def test_stored_html_is_never_served_as_html(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    page = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"
    storage_as_key(storage_server).create_file(bucket_id, "page", as_input(page, "page.html"))
    view = storage_http.get(f"/storage/buckets/{bucket_id}/files/page/view")
    assert view.headers["content-type"].startswith("text/plain")
    assert view.headers["content-security-policy"] == "script-src 'none'"
    download = storage_http.get(f"/storage/buckets/{bucket_id}/files/page/download")
    assert download.headers["content-type"] == "text/html"
    assert download.headers["content-disposition"].startswith("attachment;")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    storage_as_key(storage_server).create_file(bucket_id, "svg", as_input(svg, "x.svg"))
    assert storage_as_key(storage_server).get_file(bucket_id, "svg").mimetype == "image/svg+xml"
    shown = storage_http.get(f"/storage/buckets/{bucket_id}/files/svg/view")
    assert shown.content == svg and shown.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("encryption", [True, False])  # decrypted segments, or ranges of the stored object
def test_ranges_and_conditional_requests(storage_server, storage_http, encryption):
    bucket_id = new_bucket(storage_server, encryption=encryption)
    data = bytes(range(256)) * 8  # 2048 bytes
    storage_as_key(storage_server).create_file(bucket_id, "bin", as_input(data, "data.bin"))
    url = f"/storage/buckets/{bucket_id}/files/bin/download"
    part = storage_http.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == data[:100]
    assert part.headers["content-range"] == "bytes 0-99/2048"
    assert part.headers["content-length"] == "100" and part.headers["accept-ranges"] == "bytes"
    middle = storage_http.get(url.replace("download", "view"), headers={"Range": "bytes=1000-"})
    assert middle.status_code == 206 and middle.content == data[1000:]
    assert middle.headers["content-range"] == "bytes 1000-2047/2048"
    for bad in ("bytes=988", "bytes=-988", "items=0-10", "bytes=10-5", "bytes=0-2048"):
        refused = storage_http.get(url, headers={"Range": bad})
        assert (refused.status_code, refused.json()["type"]) == (416, "storage_invalid_range"), bad
    etag = storage_http.get(url).headers["etag"]
    cached = storage_http.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["etag"] == etag
    assert storage_http.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("encryption", [True, False])
def test_responses_on_either_side_of_the_single_send_limit(storage_server, storage_http, encryption):
    # Up to 1 MiB a response goes out whole (a plain local file by sendfile); past it, streamed.
    mib = 1 << 20
    bucket_id = new_bucket(storage_server, encryption=encryption)
    storage = storage_as_key(storage_server)
    exact, large = os.urandom(mib), os.urandom(3 * mib + 5)
    storage.create_file(bucket_id, "exact", as_input(exact, "exact.bin"))
    storage.create_file(bucket_id, "large", as_input(large, "large.bin"))
    base = f"/storage/buckets/{bucket_id}/files"
    assert storage_http.get(f"{base}/exact/download").content == exact
    assert storage_http.get(f"{base}/large/view").content == large
    for start, end in ((0, mib - 1), (7, mib + 7), (2 * mib, 3 * mib + 4), (3 * mib, 3 * mib + 4)):
        part = storage_http.get(f"{base}/large/download", headers={"Range": f"bytes={start}-{end}"})
        assert part.status_code == 206 and part.content == large[start : end + 1], (start, end)
        assert part.headers["content-length"] == str(end - start + 1)
    for name, data in (("exact", exact), ("large", large)):
        head = storage_http.head(f"{base}/{name}/download")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(data)) and head.headers["etag"] == f'"{md5(data)}"'
    # the connection is still in step after HEADs and ranges
    assert storage_http.get(f"{base}/exact/view", headers={"Range": "bytes=5-9"}).content == exact[5:10]


def test_missing_file_and_bytes(storage_server, storage_http):
    bucket_id = new_bucket(storage_server)
    missing = storage_http.get(f"/storage/buckets/{bucket_id}/files/{unique_id()}/download")
    assert (missing.status_code, missing.json()["type"]) == (404, "storage_file_not_found")
    storage_as_key(storage_server).create_file(bucket_id, "lost", as_input(png(), "lost.png"))
    for path in stored_objects(storage_server, bucket_id):
        path.unlink()
    lost = storage_http.get(f"/storage/buckets/{bucket_id}/files/lost/download")
    assert lost.status_code == 404 and lost.json()["message"].startswith("File not found in ")


def test_disabled_bucket_still_open_to_keys(storage_server):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server, enabled=False)
    created = storage.create_file(bucket_id, "k", as_input(png(), "k.png"))
    assert storage.get_file(bucket_id, created.id).id == "k"
    assert storage.list_files(bucket_id).total == 1


# name -> the Content-Disposition parameters sent for it: control characters (CR/LF would end the
# header), quotes and backslashes become "_" in the plain filename, other non-ASCII "?"; the exact
# name is in filename* (RFC 6266/5987) whenever the plain one differs.
AWKWARD_NAMES = {
    "report\r\nSet-Cookie: x=1.txt": (
        "filename=\"report__Set-Cookie: x=1.txt\"; filename*=UTF-8''report%0D%0ASet-Cookie%3A%20x%3D1.txt"
    ),
    "tab\tsoh\x01esc\x1bdel\x7f.txt": (
        "filename=\"tab_soh_esc_del_.txt\"; filename*=UTF-8''tab%09soh%01esc%1Bdel%7F.txt"
    ),
    'say "hi" \\ bye.txt': "filename=\"say _hi_ _ bye.txt\"; filename*=UTF-8''say%20%22hi%22%20%5C%20bye.txt",
    "résumé ✓.txt": "filename=\"r?sum? ?.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%9C%93.txt",
    "plain name.txt": 'filename="plain name.txt"',
}


@pytest.mark.parametrize("name", AWKWARD_NAMES, ids=["crlf", "controls", "quotes", "non-ascii", "ascii"])
def test_download_and_view_of_a_file_renamed_to_any_name(storage_server, storage_http, name):
    bucket_id = new_bucket(storage_server)
    data = png()
    storage_as_key(storage_server).create_file(bucket_id, "named", as_input(data, "before.png"))
    base = f"/storage/buckets/{bucket_id}/files/named"
    renamed = storage_http.put(base, json={"name": name})
    assert (renamed.status_code, renamed.json()["name"]) == (200, name)
    for route, kind in (("download", "attachment"), ("view", "inline")):
        response = storage_http.get(f"{base}/{route}")
        assert (response.status_code, response.content) == (200, data)
        assert response.headers["content-disposition"] == f"{kind}; {AWKWARD_NAMES[name]}"
        assert (response.headers["content-type"], response.headers["etag"]) == ("image/png", f'"{md5(data)}"')
