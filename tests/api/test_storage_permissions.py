"""Who may touch which file: guests and signed-in users through the official SDK in client mode,
with fileSecurity off and on, disabled buckets, and self-assignment (a caller may grant only its
own roles)."""

from __future__ import annotations

import os

import pytest
from account_support import as_member, member
from appwrite.exception import AppwriteException
from appwrite.permission import Permission
from appwrite.query import Query
from appwrite.role import Role
from storage_support import as_input, md5, new_bucket, png, send_chunk, storage_as, storage_as_key


def _error(call, *args, **kwargs) -> AppwriteException:
    with pytest.raises(AppwriteException) as caught:
        call(*args, **kwargs)
    return caught.value


def test_bucket_permissions_decide_without_file_security(storage_server):
    owner, other = member(storage_server), member(storage_server)
    bucket_id = new_bucket(
        storage_server, permissions=[Permission.create(Role.users()), Permission.read(Role.user(owner.user["$id"]))]
    )
    mine = storage_as(storage_server, owner).create_file(bucket_id, "f1", as_input(png(), "a.png")).to_dict()
    uid = owner.user["$id"]
    assert mine["$permissions"] == [f'read("user:{uid}")', f'update("user:{uid}")', f'delete("user:{uid}")']
    assert storage_as(storage_server, owner).get_file(bucket_id, "f1").id == "f1"
    # File permissions are ignored: the bucket grants no update/delete, and no read to "other".
    assert _error(storage_as(storage_server, owner).update_file, bucket_id, "f1", name="x").type == "user_unauthorized"
    assert _error(storage_as(storage_server, owner).delete_file, bucket_id, "f1").code == 401
    assert _error(storage_as(storage_server, other).get_file, bucket_id, "f1").type == "user_unauthorized"
    assert _error(storage_as(storage_server, other).list_files, bucket_id).code == 401
    assert _error(storage_as(storage_server, other).get_file_download, bucket_id, "f1").code == 401
    guest_upload = _error(storage_as(storage_server).create_file, bucket_id, "g1", as_input(png(), "g.png"))
    assert (guest_upload.code, guest_upload.type) == (401, "user_unauthorized")


def test_file_security_grants_per_file_and_hides_the_rest(storage_server):
    owner, other = member(storage_server), member(storage_server)
    bucket_id = new_bucket(storage_server, permissions=[Permission.create(Role.users())], file_security=True)
    client = storage_as(storage_server, owner)
    client.create_file(bucket_id, "private", as_input(png(), "p.png"))
    uid = owner.user["$id"]
    shared = [Permission.read(Role.users()), Permission.update(Role.user(uid)), Permission.delete(Role.user(uid))]
    client.create_file(bucket_id, "shared", as_input(png(), "s.png"), permissions=shared)
    assert storage_as(storage_server, owner).list_files(bucket_id).total == 2
    seen = storage_as(storage_server, other).list_files(bucket_id).to_dict()
    assert seen["total"] == 1 and [f["$id"] for f in seen["files"]] == ["shared"]
    hidden = _error(storage_as(storage_server, other).get_file, bucket_id, "private")
    assert (hidden.code, hidden.type) == (404, "storage_file_not_found")
    assert _error(storage_as(storage_server, other).get_file_view, bucket_id, "private").code == 404
    assert storage_as(storage_server, other).get_file_download(bucket_id, "shared") == png()
    # Update/delete: found without permission checks, then refused.
    assert _error(storage_as(storage_server, other).delete_file, bucket_id, "shared").type == "user_unauthorized"
    assert storage_as(storage_server, owner).update_file(bucket_id, "private", name="mine.png").name == "mine.png"
    # Revoking read hides the file again.
    client.update_file(bucket_id, "shared", permissions=[Permission.delete(Role.user(uid))])
    assert storage_as(storage_server, other).list_files(bucket_id).total == 0
    assert storage_as(storage_server, owner).list_files(bucket_id).total == 1  # "shared" lost owner's read too
    client.delete_file(bucket_id, "shared")
    assert storage_as_key(storage_server).list_files(bucket_id).total == 1


def test_file_security_lists_page_search_and_cursor_over_readable_files_only(storage_server):
    owner, other = member(storage_server), member(storage_server)
    bucket_id = new_bucket(storage_server, permissions=[Permission.create(Role.users())], file_security=True)
    client = storage_as(storage_server, owner)
    readable = [Permission.read(Role.users())]  # a user may only grant roles it holds itself
    for name in ("r1", "h1", "r2", "h2", "r3"):
        client.create_file(
            bucket_id, name, as_input(png(), f"{name}.png"), permissions=readable if name[0] == "r" else []
        )
    elsewhere = new_bucket(storage_server, permissions=[Permission.create(Role.users())], file_security=True)
    client.create_file(elsewhere, "r9", as_input(png(), "r9.png"), permissions=readable)  # another bucket's file
    theirs = storage_as(storage_server, other)
    first = theirs.list_files(bucket_id, queries=[Query.limit(2)]).to_dict()
    assert first["total"] == 3 and [f["$id"] for f in first["files"]] == ["r1", "r2"]
    rest = theirs.list_files(bucket_id, queries=[Query.cursor_after("r2")]).to_dict()
    assert [f["$id"] for f in rest["files"]] == ["r3"]
    assert _error(theirs.list_files, bucket_id, queries=[Query.cursor_after("h1")]).type == "general_cursor_not_found"
    assert [f["$id"] for f in theirs.list_files(bucket_id, search="r3").to_dict()["files"]] == ["r3"]
    assert theirs.list_files(bucket_id, search="h2").total == 0


def test_guests_upload_into_an_open_bucket(storage_server):
    bucket_id = new_bucket(storage_server, permissions=[Permission.create(Role.any()), Permission.read(Role.any())])
    created = storage_as(storage_server).create_file(bucket_id, "anon", as_input(png(), "anon.png"))
    assert created.permissions == []  # guests get no default permissions
    assert storage_as(storage_server).get_file_download(bucket_id, "anon") == png()


def test_self_assignment_is_refused(storage_server):
    user = member(storage_server)
    uid = user.user["$id"]
    bucket_id = new_bucket(
        storage_server,
        permissions=[Permission.create(Role.users()), Permission.update(Role.users())],
        file_security=True,
    )
    client = storage_as(storage_server, user)
    refused = _error(
        client.create_file, bucket_id, "abuse", as_input(png(), "a.png"), [Permission.read(Role.user("notme"))]
    )
    assert (refused.code, refused.type) == (401, "user_unauthorized")
    assert refused.message.startswith("Permissions must be one of: (any, users, user:" + uid)
    client.create_file(bucket_id, "ok", as_input(png(), "a.png"), [Permission.read(Role.user(uid))])
    assert client.update_file(bucket_id, "ok", permissions=[Permission.read(Role.any())]).permissions == ['read("any")']
    assert _error(client.update_file, bucket_id, "ok", permissions=[Permission.read(Role.team("t1"))]).code == 401
    assert storage_as_key(storage_server).list_files(bucket_id).total == 1


def test_disabled_bucket_is_missing_for_clients(storage_server):
    user = member(storage_server)
    bucket_id = new_bucket(
        storage_server, permissions=[Permission.create(Role.any()), Permission.read(Role.any())], enabled=False
    )
    storage_as_key(storage_server).create_file(bucket_id, "k", as_input(png(), "k.png"))
    for storage in (storage_as(storage_server), storage_as(storage_server, user)):
        for call, args in (
            (storage.get_file, ("k",)),
            (storage.list_files, ()),
            (storage.get_file_download, ("k",)),
            (storage.create_file, ("n", as_input(png(), "n.png"))),
        ):
            error = _error(call, bucket_id, *args)
            assert (error.code, error.type) == (404, "storage_bucket_not_found")


def test_chunks_of_an_upload_need_no_read_permission(storage_server):
    """An uploader whose file permissions grant only delete still resumes its chunked upload:
    each chunk re-checks the bucket's create permission, never the file's read."""
    user = member(storage_server)
    uid = user.user["$id"]
    bucket_id = new_bucket(storage_server, permissions=[Permission.create(Role.users())], file_security=True)
    data = os.urandom(2500)
    only_delete = [Permission.delete(Role.user(uid))]
    with as_member(storage_server, user) as http:
        for number, start in enumerate((0, 1000, 2000), start=1):
            chunk = data[start : start + 1000]
            response = send_chunk(
                http, bucket_id, "mine", "m.bin", chunk, start, total=len(data), permissions=only_delete
            )
            assert response.status_code == 201, response.text
            assert response.json()["chunksUploaded"] == number
        assert response.json()["signature"] == md5(data)
        assert response.json()["$permissions"] == [f'delete("user:{uid}")']
        assert http.get(f"/storage/buckets/{bucket_id}/files/mine").status_code == 404  # no read


def test_the_last_chunk_s_permissions_are_the_file_s(storage_server):
    """File permissions are replaced by the latest chunk's, in the row and in the
    file_permissions rows that fileSecurity lists read."""
    user = member(storage_server)
    uid = user.user["$id"]
    bucket_id = new_bucket(storage_server, permissions=[Permission.create(Role.users())], file_security=True)
    data = os.urandom(2500)
    only_delete = [Permission.delete(Role.user(uid))]
    readable = [Permission.read(Role.user(uid)), Permission.delete(Role.user(uid))]
    with as_member(storage_server, user) as http:
        for start, permissions in ((0, only_delete), (1000, only_delete), (2000, readable)):
            chunk = data[start : start + 1000]
            response = send_chunk(
                http, bucket_id, "mine", "m.bin", chunk, start, total=len(data), permissions=permissions
            )
            assert response.status_code == 201, response.text
        assert response.json()["$permissions"] == [f'read("user:{uid}")', f'delete("user:{uid}")']
        listed = http.get(f"/storage/buckets/{bucket_id}/files").json()
        assert [f["$id"] for f in listed["files"]] == ["mine"]
        assert http.get(f"/storage/buckets/{bucket_id}/files/mine/download").content == data
