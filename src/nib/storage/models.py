"""Storage rows -> Appwrite's Bucket, File and ResourceToken (file token) models.

Fields newer SDKs require are always sent: Bucket ``transformations``/``totalSize``/
``description``/``stripMetadata``, File ``sizeActual``/``encryption``/``compression``/``folder``/``key``.
"""

from __future__ import annotations

from ..data.rows import Row
from ..tools import dates
from . import file_tokens
from .files import READY


def bucket(row: Row, total_size: int = 0) -> dict:
    return {
        "$id": row["id"],
        "$createdAt": dates.fmt(row["created_at"]),
        "$updatedAt": dates.fmt(row["updated_at"]),
        "$permissions": list(row["permissions"]),
        "fileSecurity": row["file_security"],
        "name": row["name"],
        "description": "",
        "enabled": row["enabled"],
        "maximumFileSize": row["maximum_file_size"],
        "allowedFileExtensions": list(row["allowed_file_extensions"]),
        "compression": row["compression"],
        "encryption": row["encryption"],
        "antivirus": row["antivirus"],
        "transformations": True,
        "stripMetadata": False,
        "totalSize": total_size,
    }


def chunks_uploaded(row: Row) -> int:
    """Chunks received, as clients see it. An upload in progress shows how many chunks *from the
    first* are in (Appwrite counts every chunk): the SDKs resume at chunksUploaded x chunk size,
    and the newest sends 8 chunks at once, so an interruption can leave gaps that a count of
    every chunk would make the resumed upload skip (a repeated chunk is counted once).
    It also shows at most ``chunksTotal - 1``: an upload is not complete until its chunks are
    joined, so a client resuming an upload whose assembly was interrupted (process killed) sends
    the last chunk again, which makes nib assemble it (storage/chunks.py); the SDKs take the
    first response showing all chunks as the finished file, which only the assembling one is."""
    if row["status"] == READY:
        return row["chunks_uploaded"]
    return max(0, min(row["chunks_contiguous"], row["chunks_total"] - 1))


def file(row: Row) -> dict:
    return {
        "$id": row["id"],
        "bucketId": row["bucket_id"],
        "$createdAt": dates.fmt(row["created_at"]),
        "$updatedAt": dates.fmt(row["updated_at"]),
        "$permissions": list(row["permissions"]),
        "name": row["name"],
        "folder": "",
        "key": row["name"],
        "signature": row["signature"],
        "mimeType": row["mime_type"],
        "sizeOriginal": row["size_original"],
        "sizeActual": row["size_actual"],
        "chunksTotal": row["chunks_total"],
        "chunksUploaded": chunks_uploaded(row),
        "encryption": row["encryption"],
        "compression": row["compression"],
    }


def resource_token(row: Row, server_secret: str) -> dict:
    """A file token, its JWT signed with a key of ``server_secret``. No expiry (or no use yet) is ``""``."""
    return {
        "$id": row["id"],
        "$createdAt": dates.fmt(row["created_at"]),
        "resourceId": f"{row['bucket_id']}:{row['file_id']}",
        "resourceType": file_tokens.RESOURCE_TYPE,
        "expire": dates.fmt(row["expire"]),
        "secret": file_tokens.encode(row, server_secret),
        "accessedAt": dates.fmt(row["accessed_at"]),
    }
