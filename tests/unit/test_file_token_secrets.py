"""nib.storage.file_tokens on a real database (SQLite and PostgreSQL): what a token's secret
resolves to once its claims, its row or the signing key no longer agree, and the future-date
validator of ``expire``."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from nib.auth.credentials import issue_jwt, verify_jwt
from nib.storage import buckets, file_tokens
from nib.storage.tables import files, resource_tokens
from nib.tools import dates
from nib.tools import validators as v
from nib.tools.errors import AppwriteError

PROJECT = "default"
SECRET = "5e" * 32  # as long as a generated server secret


def _file(db) -> tuple[str, str]:
    bucket_id, file_id = f"b{uuid.uuid4().hex[:12]}", f"f{uuid.uuid4().hex[:12]}"
    buckets.create_bucket(
        db,
        project_id=PROJECT,
        bucket_id=bucket_id,
        name="Files",
        permissions=[],
        file_security=False,
        enabled=True,
        maximum_file_size=1024,
        allowed_file_extensions=[],
        compression="none",
        encryption=False,
        antivirus=False,
    )
    now = dates.now()
    with db.write() as conn:
        conn.execute(
            files.insert().values(
                project_id=PROJECT,
                bucket_id=bucket_id,
                id=file_id,
                created_at=now,
                updated_at=now,
                name="a.txt",
                permissions=[],
                status="ready",
                size_original=1,
                chunks_total=1,
                chunk_size=1,
                object=f"{PROJECT}/{bucket_id}/{file_id}/data",
            )
        )
    return bucket_id, file_id


def _token(db, **values) -> dict:
    bucket_id, file_id = _file(db)
    row = file_tokens.create_token(db, project_id=PROJECT, bucket_id=bucket_id, file_id=file_id, expire=None)
    if values:
        with db.write() as conn:
            conn.execute(resource_tokens.update().where(resource_tokens.c.seq == row["seq"]).values(**values))
    return file_tokens.get_token(db, project_id=PROJECT, token_id=row["id"])


def _resolve(db, secret: str, server_secret: str = SECRET):
    return file_tokens.resolve(db, server_secret, project_id=PROJECT, token=secret)


def test_a_secret_is_stable_and_resolves_to_its_token(service_db):
    row = _token(service_db)
    secret = file_tokens.encode(row, SECRET)
    assert file_tokens.encode(row, SECRET) == secret
    assert _resolve(service_db, secret)["id"] == row["id"]
    assert file_tokens.resolve(service_db, SECRET, project_id="another-project", token=secret) is None


def test_an_old_secret_keeps_its_expiry_after_the_token_is_extended(service_db):
    past = dates.now() - timedelta(minutes=1)
    row = _token(service_db, expire=past)
    old_secret = file_tokens.encode(row, SECRET)
    assert _resolve(service_db, old_secret) is None
    extended = file_tokens.update_token(
        service_db, project_id=PROJECT, token_id=row["id"], expire=dates.now() + timedelta(days=1)
    )
    assert _resolve(service_db, old_secret) is None  # its exp claim has passed
    assert _resolve(service_db, file_tokens.encode(extended, SECRET))["id"] == row["id"]


def test_a_token_without_expiry_dies_ten_years_after_creation(service_db):
    young = _token(service_db, created_at=dates.now() - timedelta(days=365 * 10 - 1))
    assert _resolve(service_db, file_tokens.encode(young, SECRET)) is not None
    old = _token(service_db, created_at=dates.now() - timedelta(days=365 * 10 + 1))
    assert _resolve(service_db, file_tokens.encode(old, SECRET)) is None


def test_secrets_of_other_keys_and_purposes_are_no_tokens(service_db):
    row = _token(service_db)
    assert _resolve(service_db, file_tokens.encode(row, "a0" * 32)) is None
    # An account JWT signed with the server secret is no file token, and a file token is no
    # account JWT: file tokens are signed with a key of their own.
    account_jwt = issue_jwt(SECRET, user_id="u1", session_id="s1", duration=900)
    assert _resolve(service_db, account_jwt) is None
    with pytest.raises(AppwriteError) as refused:
        verify_jwt(file_tokens.encode(row, SECRET), SECRET)
    assert refused.value.type == "user_jwt_invalid"
    file_tokens.delete_token(service_db, project_id=PROJECT, token_id=row["id"])
    assert _resolve(service_db, file_tokens.encode(row, SECRET)) is None


def test_future_date_validator():
    message = "Value must be valid date in the future."
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert v.future_date(later.isoformat()) == later.replace(microsecond=later.microsecond // 1000 * 1000)
    naive = (later.replace(tzinfo=None)).isoformat(sep=" ")
    assert v.future_date(naive).tzinfo is timezone.utc
    assert v.future_date("2999-01-01T02:00:00+02:00") == datetime(2999, 1, 1, tzinfo=timezone.utc)
    for bad in ("yesterday", "", 1893456000, None, "0001-01-01T00:00:00+05:00", "2000-01-01"):
        with pytest.raises(v.Invalid) as refused:
            v.future_date(bad)
        assert str(refused.value) == message
