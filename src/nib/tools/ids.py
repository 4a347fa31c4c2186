"""IDs and secrets, as Appwrite makes them."""

from __future__ import annotations

import hashlib
import secrets
import time


def unique_id() -> str:
    """20 chars: PHP ``uniqid()`` (8 hex of seconds + 5 hex of microseconds) + 7 random hex.

    Appwrite's own tests cut IDs out of URLs by length, so the length matters.
    """
    now = time.time_ns() // 1000
    seconds, micros = divmod(now, 1_000_000)
    return f"{seconds:08x}{micros:05x}{secrets.token_hex(4)[:7]}"


def new_secret(hex_chars: int = 256) -> str:
    """A random lowercase hex secret of the given length."""
    return secrets.token_hex((hex_chars + 1) // 2)[:hex_chars]


def secret_hash(secret: str) -> str:
    """How secrets are stored: SHA-256 hex; lookups go by this digest."""
    return hashlib.sha256(secret.encode()).hexdigest()
