"""The Appwrite side of `nib migrate-from appwrite` against a fake Appwrite 1.4 (httpx's mock
transport): the string query syntax after a 400 to the JSON one, cursor paging past one page,
the routes 1.4 lacks (identities, MFA), retries after a 503 or a dropped connection, downloads
checked against the file's size and signature (an S3 multipart ETag is no MD5: size only) and
not repeated once staged. The live test (tests/api/test_migrate_from_appwrite.py) covers a
server speaking the newer syntax."""

from __future__ import annotations

import hashlib
import io
import json
import re

import httpx
import pytest

from nib.operations.appwrite import AppwriteSource, SourceError, stage
from nib.operations.exchange import KINDS, ExportWriter
from nib.operations.progress import progress

NOT_FOUND = {"message": "Route not found.", "type": "general_route_not_found", "code": 404}
GOOD = b"good bytes" * 1000
MD5 = hashlib.md5(GOOD).hexdigest()


def _user(number: int) -> dict:
    return {
        "$id": f"u{number:03d}", "$createdAt": "2023-09-01T10:00:00.000+00:00", "$updatedAt": "2023-09-01T10:00:00.000+00:00",
        "name": "", "password": "$argon2id$v=19$m=65536,t=4,p=3$c2FsdA$aGFzaA", "hash": "argon2",
        "hashOptions": {"type": "argon2", "memoryCost": 65536, "timeCost": 4, "threads": 3},
        "registration": "2023-09-01T10:00:00.000+00:00", "status": True, "labels": [],
        "passwordUpdate": "2023-09-01T10:00:00.000+00:00", "email": f"u{number}@example.com", "phone": "",
        "emailVerification": False, "phoneVerification": False, "prefs": {}, "accessedAt": "",
    }  # fmt: skip


def _file(file_id: str, data: bytes, **fields) -> dict:
    return {
        "$id": file_id, "bucketId": "b", "$createdAt": "2023-09-01T10:00:00.000+00:00",
        "$updatedAt": "2023-09-01T10:00:00.000+00:00", "$permissions": ['read("any")'], "name": f"{file_id}.txt",
        "signature": hashlib.md5(data).hexdigest(), "mimeType": "text/plain", "sizeOriginal": len(data),
        "chunksTotal": 1, "chunksUploaded": 1, **fields,
    }  # fmt: skip


class _CutShort(httpx.SyncByteStream):
    """A download whose connection drops after the first bytes."""

    def __iter__(self):
        yield GOOD[:100]
        raise httpx.ReadError("connection reset by peer")


class Appwrite14:
    """Answers as Appwrite 1.4 does: string queries only, no identities list, no MFA routes."""

    def __init__(self) -> None:
        self.users = [_user(number) for number in range(250)]
        self.files = [
            _file("whole", GOOD),
            _file("partial", GOOD, chunksTotal=2),
            _file("altered", GOOD, signature="0" * 32),
            _file("on-s3", GOOD, signature="9b2cf535f27731c974343645a3985328-2"),  # a multipart ETag
        ]
        self.failures_left = {"/v1/storage/buckets/b/files/whole/download": 1}
        self.cuts_left = {"/v1/storage/buckets/b/files/on-s3/download": 1}
        self.seen_queries: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.headers["X-Appwrite-Key"] != "secret":
            return httpx.Response(401, json={"message": "Invalid API key", "type": "user_unauthorized", "code": 401})
        if self.failures_left.get(path):
            self.failures_left[path] -= 1
            return httpx.Response(503, json={"message": "busy", "type": "general_server_error", "code": 503})
        if self.cuts_left.get(path):
            self.cuts_left[path] -= 1
            return httpx.Response(200, stream=_CutShort())
        if path.endswith("/download"):
            return httpx.Response(200, content=GOOD)
        documents = {
            "/v1/users": ("users", self.users),
            "/v1/teams": ("teams", []),
            "/v1/storage/buckets": ("buckets", [{"$id": "b", "name": "B", "$permissions": []}]),
            "/v1/storage/buckets/b/files": ("files", self.files),
        }.get(path)
        if documents is None:
            return httpx.Response(404, json=NOT_FOUND)
        queries = request.url.params.get_list("queries[]")
        self.seen_queries += queries
        if any(query.startswith("{") for query in queries):
            return httpx.Response(
                400, json={"message": "Invalid query: Syntax error", "type": "general_argument_invalid"}
            )
        limit, after = 25, None
        for query in queries:
            if found := re.fullmatch(r"limit\((\d+)\)", query):
                limit = int(found[1])
            elif found := re.fullmatch(r"cursorAfter\((.+)\)", query):
                after = json.loads(found[1])
        key, rows = documents
        start = next(i + 1 for i, row in enumerate(rows) if row["$id"] == after) if after else 0
        return httpx.Response(200, json={"total": len(rows), key: rows[start : start + limit]})


def _records(writer: ExportWriter, kind: str) -> list[dict]:
    return [json.loads(line) for line in (writer.directory / f"{kind}.jsonl").read_text().splitlines()]


def test_appwrite_14(tmp_path):
    fake = Appwrite14()
    source = AppwriteSource("http://appwrite.test", "p", "secret", transport=httpx.MockTransport(fake))
    source.check()
    writer = ExportWriter(tmp_path / "staging", project={"$id": "p", "name": "p"}, kinds=KINDS)
    log = io.StringIO()
    with progress(log, bars=False) as shown:
        report = stage(source, writer, tmp_path / "downloads.jsonl", shown)
    writer.finish()

    users = _records(writer, "users")
    assert [user["$id"] for user in users] == [f"u{number:03d}" for number in range(250)]
    assert users[0]["password"] == "$argon2id$v=19$m=65536,t=4,p=3$c2FsdA$aGFzaA"
    assert users[0]["hashOptions"] == {"type": "argon2", "memoryCost": 65536, "timeCost": 4, "threads": 3}
    assert (users[0]["identities"], users[0]["targets"], users[0]["mfaRecoveryCodes"]) == ([], [], [])
    assert 'cursorAfter("u199")' in fake.seen_queries
    files = _records(writer, "files")
    assert [(file["$id"], file["signature"]) for file in files] == [("whole", MD5), ("on-s3", MD5)]
    assert (writer.directory / "objects" / "b" / "whole").read_bytes() == GOOD
    assert report.counts == {"users": 250, "teams": 0, "memberships": 0, "buckets": 1, "files": 2}
    assert report.skipped == ["file b/partial: its upload is not complete"]
    assert len(report.failed) == 1 and report.failed[0].startswith("file b/altered: the download (10000 bytes")
    assert report.downloaded == 2 and fake.failures_left["/v1/storage/buckets/b/files/whole/download"] == 0
    assert fake.cuts_left["/v1/storage/buckets/b/files/on-s3/download"] == 0  # fetched again whole
    assert "Reading users: done, 250 users" in log.getvalue()

    again = ExportWriter(tmp_path / "staging", project={"$id": "p", "name": "p"}, kinds=KINDS)
    with progress(io.StringIO(), bars=False) as shown:
        rerun = stage(source, again, tmp_path / "downloads.jsonl", shown)
    assert (rerun.already_staged, rerun.downloaded, len(rerun.failed)) == (2, 0, 1)


@pytest.mark.parametrize(
    "key,endpoint,message",
    [
        ("wrong", "http://appwrite.test/v1", "http://appwrite.test/v1 (project p) refused the API key"),
        ("secret", "appwrite.test", "The endpoint must be an http:// or https:// URL"),
    ],
)
def test_refused_at_the_start(key, endpoint, message):
    with pytest.raises(SourceError, match=re.escape(message)):
        AppwriteSource(endpoint, "p", key, transport=httpx.MockTransport(Appwrite14())).check()


def test_server_errors_are_retried_then_reported():
    fake = Appwrite14()
    fake.failures_left["/v1/users"] = 100
    source = AppwriteSource("http://appwrite.test/v1/", "p", "secret", transport=httpx.MockTransport(fake))
    with pytest.raises(SourceError, match=r"\(project p\) answered 503: busy"):
        source.check()
    assert fake.failures_left["/v1/users"] == 96  # four attempts
