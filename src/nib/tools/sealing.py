"""Secrets kept encrypted at rest: provider secrets, OAuth2 tokens, one-time codes shown again.

``seal(secret, purpose, text)`` encrypts ``text`` with AES-256-GCM under a key derived (HKDF-SHA256)
from the server secret and a ``purpose`` label, so a value sealed for one purpose cannot be opened
as another; ``unseal`` reverses it. Sealed values are ASCII (``v1.`` + base64url), fit a text
column and are never the same twice (a random 96-bit nonce each time). Changing the server secret
makes them unreadable, as it does encrypted files.
"""

from __future__ import annotations

import base64
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_NONCE = 12


class SealError(ValueError):
    """A sealed value that is malformed, or was sealed under another secret or purpose."""


@functools.lru_cache(maxsize=64)
def _cipher(secret: str, purpose: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"nib sealed " + purpose.encode()).derive(
        secret.encode()
    )
    return AESGCM(key)


def seal(secret: str, purpose: str, text: str) -> str:
    """``text`` encrypted for ``purpose``; the empty string stays empty (nothing to hide)."""
    if not text:
        return ""
    nonce = os.urandom(_NONCE)
    sealed = _cipher(secret, purpose).encrypt(nonce, text.encode(), purpose.encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(secret: str, purpose: str, value: str) -> str:
    """The text ``seal`` encrypted; ``SealError`` when it cannot be opened with this secret."""
    if not value:
        return ""
    if not value.startswith(_PREFIX):
        raise SealError("not a sealed value")
    body = value[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        opened = _cipher(secret, purpose).decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode())
    except (ValueError, InvalidTag) as error:
        raise SealError("sealed under another secret or purpose") from error
    return opened.decode()
