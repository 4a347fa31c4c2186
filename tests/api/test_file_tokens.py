"""File tokens through the newest Python SDK: the Tokens service (API keys with the tokens.*
scopes) and the ``token`` parameter of a file's view, download and preview, with which a guest
reads one file and nothing else; expired, tampered, foreign or deleted tokens count as none."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from account_support import as_member, member
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.permission import Permission
from appwrite.query import Query
from appwrite.role import Role
from appwrite.services.tokens import Tokens
from storage_support import as_input, new_bucket, png, storage_as, storage_as_key, unique_id

from nib.auth.tables import users
from nib.data.db.schema import audit_logs
from nib.storage.tables import resource_tokens

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FUTURE_MESSAGE = "Invalid `expire` param: Value must be valid date in the future."


def _error(call, *args, **kwargs) -> AppwriteException:
    with pytest.raises(AppwriteException) as caught:
        call(*args, **kwargs)
    return caught.value


def _later(**delta: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(**delta)
    return moment.isoformat(timespec="milliseconds")


def _with_file(server, data: bytes | None = None, **bucket_settings) -> tuple[str, str]:
    """A bucket (no permissions unless given) holding one PNG uploaded with the key."""
    bucket_id = new_bucket(server, **bucket_settings)
    file_id = unique_id("f")
    storage_as_key(server).create_file(bucket_id, file_id, as_input(data or png(), "picture.png"))
    return bucket_id, file_id


def _set_token(db, token_id: str, **values) -> None:
    with db.write() as conn:
        conn.execute(resource_tokens.update().where(resource_tokens.c.id == token_id).values(**values))


def test_tokens_are_created_read_listed_updated_and_deleted(storage_server, storage_db):
    tokens = Tokens(storage_server.sdk())
    bucket_id, file_id = _with_file(storage_server)

    plain = tokens.create_file_token(bucket_id, file_id).to_dict()
    assert plain["resourceId"] == f"{bucket_id}:{file_id}"
    assert plain["resourceType"] == "files"
    assert plain["expire"] == "" and plain["accessedAt"] == ""
    assert plain["$createdAt"].endswith("+00:00")
    assert plain["secret"].count(".") == 2  # a JWT
    # The secret is computed, not drawn: the same on every read.
    assert tokens.get(plain["$id"]).to_dict() == plain
    listed = tokens.list(bucket_id, file_id).to_dict()
    assert listed == {"total": 1, "tokens": [plain]}

    expire = _later(hours=1)
    expiring = tokens.create_file_token(bucket_id, file_id, expire=expire).to_dict()
    assert expiring["expire"] == expire
    assert expiring["secret"] != plain["secret"]
    assert [t["$id"] for t in tokens.list(bucket_id, file_id).to_dict()["tokens"]] == [plain["$id"], expiring["$id"]]

    # Changing the expiry changes the secret; clearing it (expire omitted) gives the first one back.
    later = _later(days=2)
    updated = tokens.update(plain["$id"], expire=later).to_dict()
    assert updated["expire"] == later and updated["secret"] != plain["secret"]
    assert tokens.get(plain["$id"]).secret == updated["secret"]
    cleared = tokens.update(plain["$id"]).to_dict()
    assert cleared["expire"] == "" and cleared["secret"] == plain["secret"]

    tokens.delete(expiring["$id"])
    gone = _error(tokens.get, expiring["$id"])
    assert (gone.code, gone.type, gone.message) == (
        404,
        "token_not_found",
        "The requested file token could not be found.",
    )
    assert _error(tokens.update, expiring["$id"], expire=later).type == "token_not_found"
    assert _error(tokens.delete, expiring["$id"]).type == "token_not_found"
    assert tokens.list(bucket_id, file_id).total == 1

    with storage_db.read() as conn:
        logged = conn.execute(
            sa.select(audit_logs.c.event, audit_logs.c.resource, audit_logs.c.user_type)
            .where(audit_logs.c.resource.in_([f"token/{plain['$id']}", f"token/{expiring['$id']}"]))
            .order_by(audit_logs.c.seq)
        ).all()
    assert [tuple(row) for row in logged] == [
        ("token.create", f"token/{plain['$id']}", "key"),
        ("token.create", f"token/{expiring['$id']}", "key"),
        ("tokens.update", f"token/{plain['$id']}", "key"),
        ("tokens.update", f"token/{plain['$id']}", "key"),
        ("tokens.delete", f"token/{expiring['$id']}", "key"),
    ]


def test_expiry_validation_queries_cursors_and_totals(server):
    tokens = Tokens(server.sdk())
    bucket_id, file_id = _with_file(server)
    for bad in (_later(minutes=-1), "soon", "2020-01-01T00:00:00.000+00:00"):
        refused = _error(tokens.create_file_token, bucket_id, file_id, expire=bad)
        assert (refused.code, refused.type, refused.message) == (400, "general_argument_invalid", FUTURE_MESSAGE)
    never = tokens.create_file_token(bucket_id, file_id).id
    assert _error(tokens.update, never, expire=_later(seconds=-5)).message == FUTURE_MESSAGE
    soon_expire, late_expire = _later(days=1), _later(days=3)
    soon = tokens.create_file_token(bucket_id, file_id, expire=soon_expire).id
    late = tokens.create_file_token(bucket_id, file_id, expire=late_expire).id

    def ids(*queries: str, **options) -> list[str]:
        return [t.id for t in tokens.list(bucket_id, file_id, queries=list(queries), **options).tokens]

    assert ids(Query.greater_than("expire", _later(days=2))) == [late]
    assert ids(Query.is_null("expire")) == [never]
    assert ids(Query.equal("expire", [soon_expire])) == [soon]
    assert ids(Query.order_desc("expire"), Query.is_not_null("expire")) == [late, soon]
    assert ids(Query.cursor_after(never)) == [soon, late]
    assert ids(Query.limit(1), Query.offset(1)) == [soon]
    missing = _error(tokens.list, bucket_id, file_id, queries=[Query.cursor_after("unknown-token")])
    assert (missing.code, missing.type) == (400, "general_cursor_not_found")
    assert missing.message == "File token 'unknown-token' for the 'cursor' value not found."
    wrong = _error(tokens.list, bucket_id, file_id, queries=[Query.equal("resourceId", ["x"])])
    assert (wrong.code, wrong.type) == (400, "general_argument_invalid")
    assert wrong.message == "Invalid `queries` param: Invalid query: Attribute not found in schema: resourceId"
    uncounted = tokens.list(bucket_id, file_id, total=False)
    assert uncounted.total == 0 and len(uncounted.tokens) == 3
    assert tokens.list(bucket_id, file_id, total=True).total == 3
    # Another file's tokens are not this file's.
    other_file = unique_id("f")
    storage_as_key(server).create_file(bucket_id, other_file, as_input(png(), "other.png"))
    assert tokens.list(bucket_id, other_file).total == 0
    foreign_cursor = _error(tokens.list, bucket_id, other_file, queries=[Query.cursor_after(never)])
    assert foreign_cursor.type == "general_cursor_not_found"


def test_bucket_file_and_id_errors(server):
    tokens = Tokens(server.sdk())
    bucket_id, file_id = _with_file(server)
    for call in (tokens.create_file_token, tokens.list):
        assert _error(call, bucket_id, "missing-file").type == "storage_file_not_found"
        assert _error(call, "missing-bucket", file_id).type == "storage_bucket_not_found"
        invalid = _error(call, bucket_id, "not valid!")
        assert (invalid.code, invalid.type) == (400, "general_argument_invalid")
    assert _error(tokens.get, "missing-token").type == "token_not_found"
    assert _error(tokens.get, "_bad").code == 400
    # API keys see disabled buckets: their files take tokens.
    storage_as_key(server).update_bucket(bucket_id, "Files", enabled=False)
    assert tokens.create_file_token(bucket_id, file_id).resourceid == f"{bucket_id}:{file_id}"


@pytest.mark.parametrize("file_security", [False, True])
def test_a_guest_reads_one_file_with_its_token(storage_server, storage_db, file_security):
    data = png(5, 4)
    bucket_id, file_id = _with_file(storage_server, data, file_security=file_security)
    token = Tokens(storage_server.sdk()).create_file_token(bucket_id, file_id)
    guest = storage_as(storage_server)
    assert guest.get_file_view(bucket_id, file_id, token=token.secret) == data
    assert guest.get_file_download(bucket_id, file_id, token=token.secret) == data
    preview = guest.get_file_preview(bucket_id, file_id, width=2, token=token.secret)
    assert preview.startswith(PNG_MAGIC)
    # Without the token the bucket grants nothing (with fileSecurity the file is hidden).
    for read in (guest.get_file_view, guest.get_file_download, guest.get_file_preview):
        refused = _error(read, bucket_id, file_id)
        expected = (404, "storage_file_not_found") if file_security else (401, "user_unauthorized")
        assert (refused.code, refused.type) == expected
        # An empty token is no token.
        assert _error(read, bucket_id, file_id, token="").code == expected[0]
    too_long = _error(guest.get_file_view, bucket_id, file_id, token="x" * 513)
    assert (too_long.code, too_long.type) == (400, "general_argument_invalid")

    # accessedAt: set after a use (once the response is out), then refreshed at most daily.
    tokens = Tokens(storage_server.sdk())
    accessed = _settled_access(tokens, token.id)
    assert guest.get_file_view(bucket_id, file_id, token=token.secret) == data
    time.sleep(0.3)
    assert tokens.get(token.id).accessedat == accessed
    _set_token(storage_db, token.id, accessed_at=datetime.now(timezone.utc) - timedelta(hours=25))
    assert guest.get_file_download(bucket_id, file_id, token=token.secret) == data
    assert _settled_access(tokens, token.id) > accessed


def _settled_access(tokens: Tokens, token_id: str) -> str:
    """The token's accessedAt once a use in the last moments has been recorded."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        accessed = tokens.get(token_id).accessedat
        if accessed and datetime.fromisoformat(accessed) > datetime.now(timezone.utc) - timedelta(minutes=1):
            return accessed
        time.sleep(0.05)
    raise AssertionError("accessedAt was not refreshed")


def test_a_token_grants_its_own_file_only(storage_server):
    readable = [Permission.read(Role.any())]
    bucket_id, file_a = _with_file(storage_server)
    file_b = unique_id("f")
    key_storage = storage_as_key(storage_server)
    key_storage.create_file(bucket_id, file_b, as_input(png(), "b.png"))
    open_bucket, open_file = _with_file(storage_server, permissions=readable)
    same_id_bucket = new_bucket(storage_server, permissions=readable)
    key_storage.create_file(same_id_bucket, file_a, as_input(png(), "same-id.png"))
    secret = Tokens(storage_server.sdk()).create_file_token(bucket_id, file_a).secret
    reader = member(storage_server)

    # Another file of the bucket, a file of another bucket (even one anybody may read, and one
    # with the same file ID), for guests, users and API keys alike: 401.
    for caller in (storage_as(storage_server), storage_as(storage_server, reader), key_storage):
        for bucket, file in ((bucket_id, file_b), (open_bucket, open_file), (same_id_bucket, file_a)):
            refused = _error(caller.get_file_view, bucket, file, token=secret)
            assert (refused.code, refused.type) == (401, "user_unauthorized")
        assert caller.get_file_download(open_bucket, open_file) == png()  # fine without the token
    # A token plus a missing file is refused the same way.
    assert _error(storage_as(storage_server).get_file_view, bucket_id, "missing-file", token=secret).code == 401
    # A disabled bucket stays closed to a guest with a token.
    key_storage.update_bucket(bucket_id, "Files", enabled=False)
    closed = _error(storage_as(storage_server).get_file_view, bucket_id, file_a, token=secret)
    assert (closed.code, closed.type) == (404, "storage_bucket_not_found")


def test_expired_tampered_and_deleted_tokens_count_as_none(storage_server, storage_db):
    tokens = Tokens(storage_server.sdk())
    guest = storage_as(storage_server)
    bucket_id, file_id = _with_file(storage_server)  # guests may not read it
    open_bucket, open_file = _with_file(storage_server, permissions=[Permission.read(Role.any())])
    token = tokens.create_file_token(bucket_id, file_id, expire=_later(hours=1))
    open_token = tokens.create_file_token(open_bucket, open_file, expire=_later(hours=1))
    assert guest.get_file_view(bucket_id, file_id, token=token.secret) == png()

    # Past its expiry (set in the database: the API takes future dates only) a token is no token:
    # refused where one is needed, ignored where the file is readable anyway.
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    _set_token(storage_db, token.id, expire=past)
    _set_token(storage_db, open_token.id, expire=past)
    refused = _error(guest.get_file_view, bucket_id, file_id, token=token.secret)
    assert (refused.code, refused.type) == (401, "user_unauthorized")
    assert guest.get_file_view(open_bucket, open_file, token=open_token.secret) == png()
    # Extending the expiry revives it: the old secret's exp claim has not passed.
    renewed = tokens.update(token.id, expire=_later(hours=2))
    assert guest.get_file_view(bucket_id, file_id, token=token.secret) == png()
    assert guest.get_file_view(bucket_id, file_id, token=renewed.secret) == png()

    header, payload, signature = renewed.secret.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bogus in (f"{header}.{payload}.{flipped}", "not-a-jwt", f"{header}.{payload}."):
        assert _error(guest.get_file_view, bucket_id, file_id, token=bogus).type == "user_unauthorized"
        assert guest.get_file_view(open_bucket, open_file, token=bogus) == png()

    # A deleted token, and the tokens of a deleted file or bucket, stop working (and are gone).
    tokens.delete(token.id)
    assert _error(guest.get_file_view, bucket_id, file_id, token=renewed.secret).code == 401
    kept = tokens.create_file_token(bucket_id, file_id)
    storage_as_key(storage_server).delete_file(bucket_id, file_id)
    assert _error(tokens.get, kept.id).type == "token_not_found"
    open_kept = tokens.create_file_token(open_bucket, open_file)
    storage_as_key(storage_server).delete_bucket(open_bucket)
    assert _error(tokens.get, open_kept.id).type == "token_not_found"
    # A file uploaded again under the same ID is another file: the old secret does not open it.
    storage_as_key(storage_server).create_file(bucket_id, file_id, as_input(png(), "again.png"))
    assert _error(guest.get_file_view, bucket_id, file_id, token=kept.secret).type == "user_unauthorized"


def test_only_api_keys_with_the_token_scopes_manage_tokens(server):
    bucket_id, file_id = _with_file(server)
    token_id = Tokens(server.sdk()).create_file_token(bucket_id, file_id).id
    signed_in = member(server)
    session_client = Client().set_endpoint(server.endpoint).set_project(server.project).set_session(signed_in.session)
    guest_client = Client().set_endpoint(server.endpoint).set_project(server.project)
    files_only_key = server.cli(
        "keys", "create", "--project", server.project, "--name", "files only", "--scopes", "files.read,files.write"
    ).stdout.split()[-1]
    for client, who in (
        (session_client, f"{signed_in.email} (role: users)"),
        (guest_client, "User (role: guests)"),
        (server.sdk(key=files_only_key), "app.default@service.localhost (role: applications)"),
    ):
        tokens = Tokens(client)
        for call, args, scope in (
            (tokens.create_file_token, (bucket_id, file_id), "tokens.write"),
            (tokens.list, (bucket_id, file_id), "tokens.read"),
            (tokens.get, (token_id,), "tokens.read"),
            (tokens.update, (token_id,), "tokens.write"),
            (tokens.delete, (token_id,), "tokens.write"),
        ):
            refused = _error(call, *args)
            assert (refused.code, refused.type) == (401, "general_unauthorized_scope")
            assert refused.message == f"{who} missing scope ({scope})"


def test_a_signed_in_reader_refreshes_both_its_own_and_the_token_s_access(storage_server, storage_db):
    """A signed-in user's daily accessedAt refresh and the token's run after the same response."""
    bucket_id, file_id = _with_file(storage_server)
    token = Tokens(storage_server.sdk()).create_file_token(bucket_id, file_id)
    reader = member(storage_server)
    two_days_ago = datetime.now(timezone.utc) - timedelta(days=2)
    with storage_db.write() as conn:
        conn.execute(sa.update(users).where(users.c.id == reader.user["$id"]).values(accessed_at=two_days_ago))
    with as_member(storage_server, reader) as http:
        viewed = http.get(f"/storage/buckets/{bucket_id}/files/{file_id}/view", params={"token": token.secret})
    assert viewed.status_code == 200, viewed.text
    _settled_access(Tokens(storage_server.sdk()), token.id)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with storage_db.read() as conn:
            seen = conn.execute(sa.select(users.c.accessed_at).where(users.c.id == reader.user["$id"])).scalar_one()
        if seen.replace(tzinfo=timezone.utc) > two_days_ago + timedelta(days=1):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the reader's accessedAt was not refreshed")
