"""Password hashing and verification compatible with Appwrite 1.5.

New passwords are always hashed with argon2id. Verification understands every
algorithm Appwrite can import users with: ``argon2``, ``bcrypt``, ``md5``,
``sha``, ``phpass``, ``scrypt`` and ``scryptMod``.

All functions are synchronous and some are deliberately slow; call them from a
worker thread, never directly on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from typing import Any

import bcrypt
from argon2 import PasswordHasher, Type
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from passlib.hash import phpass

from ..tools import metrics

__all__ = ["ALGORITHMS", "ARGON2_DEFAULT_OPTIONS", "SHA_VERSIONS", "hash_password", "verify_password"]

ARGON2_DEFAULT_OPTIONS: dict[str, Any] = {
    "type": "argon2",
    "memoryCost": 2048,
    "timeCost": 4,
    "threads": 3,
}
"""The ``hashOptions`` Appwrite reports for argon2 users (not the costs actually used)."""

# Appwrite's version names -> hashlib constructor names.
_SHA_ALGORITHMS: dict[str, str] = {
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512/224": "sha512_224",
    "sha512/256": "sha512_256",
    "sha512": "sha512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
}

SHA_VERSIONS: tuple[str, ...] = tuple(_SHA_ALGORITHMS)
"""The ``passwordVersion`` values accepted for ``sha`` imports."""

_SHA_DEFAULT_VERSION = "sha3-512"

# Appwrite's scrypt defaults when an option is absent.
_SCRYPT_DEFAULTS = {"costCpu": 8, "costMemory": 14, "costParallel": 1, "length": 64}

# Firebase's modified scrypt always uses these costs (rounds=8, mem_cost=14).
_FIREBASE_N, _FIREBASE_R, _FIREBASE_P, _FIREBASE_KEY_LEN = 2**14, 8, 1, 64

# Imported scrypt costs are admin-controlled; hashlib's 32 MiB default is too
# small for Appwrite's own test vector (N=16384, r=13 needs ~27 MB + overhead).
_SCRYPT_MAXMEM = 2**30

# PHP's crypt() only looks at the first 72 bytes of a bcrypt password; newer
# `bcrypt` releases raise instead of truncating.
_BCRYPT_MAX_BYTES = 72

# PHP's password_hash(PASSWORD_ARGON2ID) defaults, which Appwrite really uses.
_ARGON2_HASHER = PasswordHasher(
    time_cost=4,
    memory_cost=65536,
    parallelism=3,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)

_CORES = os.cpu_count() or 2
# One slow hash per core at most, so a burst of logins cannot starve the
# worker pool or exhaust memory.
_CPU_SLOTS = threading.BoundedSemaphore(_CORES)
# An argon2 hash runs its 3 lanes on threads of its own, but they wait for each other at every
# segment: on 2 cores two hashes at once give 10.6 hashes/s where one at a time gives 8.1 (more
# at once gives no more). Two hashes for every three cores, rounded up; each holds 64 MiB while
# it runs.
_ARGON2_SLOTS = threading.BoundedSemaphore(_CORES - _CORES // 3)


def hash_password(plain: str) -> str:
    """Return a new argon2id PHC string (``$argon2id$v=19$m=65536,t=4,p=3$…``) for ``plain``."""
    with _ARGON2_SLOTS:
        metrics.METRICS.password_hashed("argon2")
        return _ARGON2_HASHER.hash(plain)


def verify_password(
    plain: str,
    stored: str | None,
    algorithm: str | None,
    options: dict[str, Any] | None,
) -> bool:
    """Check ``plain`` against a stored hash.

    ``algorithm`` is the user's ``hash`` field and ``options`` its ``hashOptions``.
    Returns ``False`` (never raises) for a wrong password, a missing or malformed
    stored hash, an unknown algorithm or unusable options.
    """
    if not isinstance(plain, str) or not isinstance(stored, str) or not stored:
        return False
    verifier = _VERIFIERS.get(algorithm) if isinstance(algorithm, str) else None
    if verifier is None:
        return False
    opts = options if isinstance(options, dict) else {}
    metrics.METRICS.password_hashed(str(algorithm))  # a str: it named a verifier
    try:
        return verifier(plain, stored, opts)
    except Exception:
        # Garbage hashes and options surface as assorted library errors
        # (ValueError, TypeError, binascii.Error, argon2 errors, ...).
        return False


def _equal(computed: str, stored: str) -> bool:
    return hmac.compare_digest(computed.encode("utf-8"), stored.encode("utf-8"))


def _option(opts: dict[str, Any], key: str, default: Any) -> Any:
    value = opts.get(key)
    return default if value is None else value


def _int_option(opts: dict[str, Any], key: str) -> int:
    value = _option(opts, key, _SCRYPT_DEFAULTS[key])
    # bool is an int subclass but never a meaningful cost.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be an integer")
    return value


def _b64decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected a base64 string")
    return base64.b64decode(value)


def _verify_argon2(plain: str, stored: str, opts: dict[str, Any]) -> bool:
    # PasswordHasher.verify reads the variant and costs from the PHC string.
    with _ARGON2_SLOTS:
        return _ARGON2_HASHER.verify(stored, plain)


def _verify_bcrypt(plain: str, stored: str, opts: dict[str, Any]) -> bool:
    with _CPU_SLOTS:
        return bcrypt.checkpw(plain.encode("utf-8")[:_BCRYPT_MAX_BYTES], stored.encode("utf-8"))


def _verify_md5(plain: str, stored: str, opts: dict[str, Any]) -> bool:
    return _equal(hashlib.md5(plain.encode("utf-8")).hexdigest(), stored)


def _verify_sha(plain: str, stored: str, opts: dict[str, Any]) -> bool:
    version = _option(opts, "version", _SHA_DEFAULT_VERSION)
    name = _SHA_ALGORITHMS.get(version) if isinstance(version, str) else None
    if name is None:
        return False
    return _equal(hashlib.new(name, plain.encode("utf-8")).hexdigest(), stored)


def _verify_phpass(plain: str, stored: str, opts: dict[str, Any]) -> bool:
    if stored.startswith(("$P$", "$H$")):
        with _CPU_SLOTS:
            return phpass.verify(plain, stored)
    # phpass's CheckPassword falls back to crypt(); bcrypt is the only
    # crypt() scheme Appwrite users realistically carry.
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        return _verify_bcrypt(plain, stored, opts)
    return False


def _verify_scrypt(plain: str, stored: str, opts: dict[str, Any]) -> bool:
    salt = _option(opts, "salt", "")
    if not isinstance(salt, str):
        return False
    with _CPU_SLOTS:
        digest = hashlib.scrypt(
            plain.encode("utf-8"),
            salt=salt.encode("utf-8"),
            n=_int_option(opts, "costCpu"),
            r=_int_option(opts, "costMemory"),
            p=_int_option(opts, "costParallel"),
            dklen=_int_option(opts, "length"),
            maxmem=_SCRYPT_MAXMEM,
        )
    return _equal(digest.hex(), stored)


def _verify_scrypt_modified(plain: str, stored: str, opts: dict[str, Any]) -> bool:
    salt = _b64decode(opts.get("salt")) + _b64decode(opts.get("saltSeparator"))
    signer_key = _b64decode(opts.get("signerKey"))
    with _CPU_SLOTS:
        derived = hashlib.scrypt(
            plain.encode("utf-8"),
            salt=salt,
            n=_FIREBASE_N,
            r=_FIREBASE_R,
            p=_FIREBASE_P,
            dklen=_FIREBASE_KEY_LEN,
            maxmem=_SCRYPT_MAXMEM,
        )
    encryptor = Cipher(algorithms.AES(derived[:32]), modes.CTR(bytes(16))).encryptor()
    cipher_text = encryptor.update(signer_key) + encryptor.finalize()
    return _equal(base64.b64encode(cipher_text).decode("ascii"), stored)


_VERIFIERS: dict[str, Callable[[str, str, dict[str, Any]], bool]] = {
    "argon2": _verify_argon2,
    "plaintext": _verify_argon2,
    "bcrypt": _verify_bcrypt,
    "md5": _verify_md5,
    "sha": _verify_sha,
    "phpass": _verify_phpass,
    "scrypt": _verify_scrypt,
    "scryptMod": _verify_scrypt_modified,
}

ALGORITHMS: tuple[str, ...] = tuple(_VERIFIERS)
"""The ``hash`` values a stored password may have (what an imported user may bring)."""
