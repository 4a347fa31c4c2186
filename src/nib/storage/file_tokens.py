"""File tokens: links to one file that need no session (the Tokens service), and what a file's
view, download and preview make of the ``token`` they are given.

A token is a row naming its file by the file's row (``file_seq``): a file deleted and uploaded
again under the same ID is another file, and deleting a file (or its bucket) deletes its tokens.
What clients hold is the token's ``secret``, an HS256 JWT computed from the row on every output
(never stored, so the same until ``expire`` changes), signed with a key derived from the server
secret: ``tokenId``, ``resourceId`` (``<bucketId>:<fileId>``), ``resourceType`` (``files``),
``resourceInternalId`` (the bucket's and file's rows), ``iat`` = creation and ``exp`` = the
expiry when there is one. A JWT handed out before an update keeps its ``exp``; the row's own
``expire`` is checked as well.

The Tokens routes are for API keys only (the ``tokens.*`` scopes exist for keys alone), which
skip every permission check, so these functions check none: the bucket (a disabled one
included) and the file must exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..data.db import Database
from ..data.listing import list_rows
from ..data.query import DATE, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import unique_id
from .buckets import bucket_for_files
from .files import find_file, locked_file
from .tables import resource_tokens

RESOURCE_TYPE = "files"
TOKEN_LIST = ListSpec(
    entity="File token",
    table=resource_tokens,
    attributes={**standard_attributes(resource_tokens), "expire": Attribute(resource_tokens.c.expire, DATE)},
)

_ALGORITHM = "HS256"
_LEEWAY_SECONDS = 10
_MAX_AGE_SECONDS = 10 * 365 * 24 * 3600  # a token without expiry still dies ten years after creation
_ACCESS_INTERVAL = timedelta(hours=24)  # accessedAt is refreshed at most this often

_BY_ID = sa.select(resource_tokens).where(
    resource_tokens.c.project_id == sa.bindparam("project_id"), resource_tokens.c.id == sa.bindparam("id")
)


@functools.lru_cache(maxsize=8)
def _signing_key(server_secret: str) -> bytes:
    """The key of file-token JWTs: the server secret's, for this purpose only (an account JWT
    can never pass for a file token, nor the reverse)."""
    return hmac.new(server_secret.encode(), b"nib file tokens", hashlib.sha256).digest()


def encode(row: Row, server_secret: str) -> str:
    """The token's ``secret``: its JWT, the same for the same row."""
    payload: dict[str, str | int] = {
        "tokenId": row["id"],
        "resourceId": f"{row['bucket_id']}:{row['file_id']}",
        "resourceType": RESOURCE_TYPE,
        "resourceInternalId": f"{row['bucket_seq']}:{row['file_seq']}",
        "iat": int(row["created_at"].timestamp()),
    }
    if row["expire"] is not None:
        payload["exp"] = int(row["expire"].timestamp())
    import jwt  # PyJWT (and the cryptography it loads) only where file tokens are used

    return jwt.encode(payload, _signing_key(server_secret), algorithm=_ALGORITHM)


def _existing_file(db: Database, project_id: str, bucket_id: str, file_id: str) -> Row:
    bucket_for_files(db, project_id=project_id, bucket_id=bucket_id, privileged=True)
    file = find_file(db, project_id, bucket_id, file_id)
    if file is None:
        raise AppwriteError("storage_file_not_found")
    return file


def create_token(db: Database, *, project_id: str, bucket_id: str, file_id: str, expire: datetime | None) -> Row:
    """A new token for the file (``expire`` None = never expires)."""
    bucket = bucket_for_files(db, project_id=project_id, bucket_id=bucket_id, privileged=True)
    now = dates.now()
    with db.write() as conn:
        # Locked, so the file cannot go between this read and the insert.
        file = locked_file(conn, project_id, bucket_id, file_id)
        if file is None:
            raise AppwriteError("storage_file_not_found")
        row = {
            "project_id": project_id,
            "id": unique_id(),
            "created_at": now,
            "updated_at": now,
            "bucket_id": bucket_id,
            "file_id": file_id,
            "bucket_seq": bucket["seq"],
            "file_seq": file["seq"],
            "expire": expire,
            "accessed_at": None,
        }
        row["seq"] = conn.execute(resource_tokens.insert().values(row).returning(resource_tokens.c.seq)).scalar_one()
    return row


def list_tokens(
    db: Database, *, project_id: str, bucket_id: str, file_id: str, queries: ParsedQueries
) -> tuple[int, list[Row]]:
    file = _existing_file(db, project_id, bucket_id, file_id)
    scope = {"project_id": project_id, "file_seq": file["seq"]}
    return list_rows(db, TOKEN_LIST, scope=scope, queries=queries)


def _find(db: Database, project_id: str, token_id: str) -> Row | None:
    rows = db.fetch(_BY_ID, {"project_id": project_id, "id": token_id})
    return rows[0] if rows else None


def get_token(db: Database, *, project_id: str, token_id: str) -> Row:
    row = _find(db, project_id, token_id)
    if row is None:
        raise AppwriteError("token_not_found")
    return row


def _by_id(project_id: str, token_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(resource_tokens.c.project_id == project_id, resource_tokens.c.id == token_id)


def update_token(db: Database, *, project_id: str, token_id: str, expire: datetime | None) -> Row:
    """Set the expiry to ``expire``; None clears it (the token never expires)."""
    values = {"expire": expire, "updated_at": dates.now()}
    with db.write() as conn:
        updated = conn.execute(resource_tokens.update().where(_by_id(project_id, token_id)).values(values))
        if updated.rowcount == 0:
            raise AppwriteError("token_not_found")
        row = conn.execute(sa.select(resource_tokens).where(_by_id(project_id, token_id))).mappings().one()
    return dict(row)


def delete_token(db: Database, *, project_id: str, token_id: str) -> None:
    with db.write() as conn:
        deleted = conn.execute(resource_tokens.delete().where(_by_id(project_id, token_id)))
        if deleted.rowcount == 0:
            raise AppwriteError("token_not_found")


# -- the ``token`` parameter of view, download and preview ---------------------------------------


def resolve(db: Database, server_secret: str, *, project_id: str, token: str) -> Row | None:
    """The live token a request's ``token`` names, or None — silently — when it is empty, does not
    decode (signature, ``exp``, age), names no token of the project, or the token has expired."""
    if not token:
        return None
    import jwt

    try:
        payload = jwt.decode(
            token,
            _signing_key(server_secret),
            algorithms=[_ALGORITHM],
            leeway=_LEEWAY_SECONDS,
            options={"require": ["iat"]},
        )
    except jwt.PyJWTError:
        return None
    token_id = payload.get("tokenId")
    if not isinstance(token_id, str) or time.time() >= payload["iat"] + _MAX_AGE_SECONDS - _LEEWAY_SECONDS:
        return None
    row = _find(db, project_id, token_id)
    if row is None or (row["expire"] is not None and row["expire"] <= dates.now()):
        return None
    return row


def access_due(row: Row) -> bool:
    """Whether the token's ``accessedAt`` is due for a refresh (never used, or not for a day)."""
    return row["accessed_at"] is None or row["accessed_at"] < dates.now() - _ACCESS_INTERVAL


def record_access(db: Database, token_seq: int) -> None:
    """Refresh ``accessedAt`` unless another request just did."""
    now = dates.now()
    due = sa.or_(resource_tokens.c.accessed_at.is_(None), resource_tokens.c.accessed_at < now - _ACCESS_INTERVAL)
    with db.write() as conn:
        conn.execute(resource_tokens.update().where(resource_tokens.c.seq == token_seq, due).values(accessed_at=now))
