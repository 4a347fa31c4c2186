"""Compression and encryption at rest of a stored file, as streams.

**Where** (as Appwrite 1.5, decided by ``plan``): a complete file of at most ``LIMIT`` bytes
(20,000,000, Appwrite's ``APP_STORAGE_READ_BUFFER``) is compressed with its bucket's
``compression`` and then, if the bucket has ``encryption`` on, encrypted; a larger file is stored
as it is whatever the bucket says. The md5 signature, the MIME type and the antivirus see the
original bytes; clients never see anything else (``decode``).

**Encrypted objects** (``encryption: "aes-256-gcm"``) are laid out so that decoding streams and
still releases only authenticated bytes. The object's key is HKDF-SHA256 of the project's key
(``project_key``) with a random 16-byte ``salt`` kept in ``TransformInfo``, so a key never seals
two objects and one file's object cannot be passed off as another's. The (compressed) bytes are
cut into ``SEGMENT``-byte segments, each sealed with AES-256-GCM under the nonce
``index (11 bytes, big-endian) || last (1 byte)``; the object is the sealed segments back to back
(each ``SEGMENT`` + 16 bytes, the last one shorter, possibly just its 16-byte tag). ``decode``
checks each segment's tag before yielding any of its bytes: a changed, dropped, reordered,
truncated or appended segment, a wrong key or another file's object raises ``CorruptObjectError``
at the first bad segment, having yielded only genuine bytes before it. A download whose response
has already started then ends short (the connection is cut), never with wrong bytes.

**Compressed-only objects** are checked by their format, at the end of the stream: gzip's CRC-32
and length, zstd's frame checksum, and the stream must end exactly where the object does (a cut
or extended object fails). Decompressed output is capped at ``LIMIT`` (only files that small are
ever compressed), so a damaged object cannot expand without bound. Untransformed objects carry
no check of their own (the file's md5 ``signature`` is there for clients, as in Appwrite).

Changing the server secret makes encrypted files unreadable (like Appwrite's
``_APP_OPENSSL_KEY_V1``). When ``NIB_SECRET`` is unset the secret lives in the database beside
the file rows: encryption then protects against a leaked disk or object store, not a leaked
database plus store.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LIMIT = 20_000_000
COMPRESSIONS = ("none", "gzip", "zstd")
ENCRYPTION = "aes-256-gcm"
SEGMENT = 64 * 1024
KEY_SIZE = 32

_TAG = 16
_SALT = 16
_GZIP_LEVEL = 6  # PHP's gzencode default, which Appwrite uses
_ZSTD_LEVEL = 3  # utopia-php/storage's Zstd default
# Our frames use a 2 MiB window (level 3); refusing larger ones bounds a damaged frame's memory.
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024
# A zstd block of 4 bytes can expand to 128 KiB, so 256 bytes in yield at most 8 MiB out.
_ZSTD_FEED = 256


class CorruptObjectError(ValueError):
    """A stored object failed its integrity check (tampered, damaged, or the wrong key)."""


@dataclass(frozen=True)
class TransformInfo:
    """How an object was stored; the service keeps ``to_dict()`` on the file row."""

    compression: str = "none"  # "none" | "gzip" | "zstd"
    encryption: str = "none"  # "none" | "aes-256-gcm"
    salt: str = ""  # hex; the object key's HKDF salt when encrypted

    @property
    def identity(self) -> bool:
        """True when the object holds the original bytes (ranges can be read from the device)."""
        return self.compression == "none" and self.encryption == "none"

    def to_dict(self) -> dict[str, str]:
        """A JSON-serialisable form: ``{"compression", "encryption", "salt"}``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> TransformInfo:
        """The inverse of ``to_dict``; ``ValueError`` on anything it would not have produced."""
        try:
            info = cls(**{name: data[name] for name in ("compression", "encryption", "salt")})
        except (KeyError, TypeError):
            raise ValueError(f"not a transform description: {data!r}") from None
        if info.compression not in COMPRESSIONS or info.encryption not in ("none", ENCRYPTION):
            raise ValueError(f"unknown transform: {data!r}")
        if (info.encryption == ENCRYPTION) != (len(info.salt) == 2 * _SALT):
            raise ValueError(f"bad salt for {info.encryption!r}: {info.salt!r}")
        if info.salt:
            bytes.fromhex(info.salt)
        return info


def plan(*, size: int, compression: str, encryption: bool) -> tuple[str, bool]:
    """``(compression, encrypt)`` for a complete file of ``size`` bytes in a bucket with these
    settings: as the bucket says up to ``LIMIT`` bytes, nothing above (Appwrite 1.5)."""
    _check_compression(compression)
    if size > LIMIT:
        return "none", False
    return compression, encryption


def project_key(secret: str, project_id: str) -> bytes:
    """The project's 32-byte storage key: HKDF-SHA256 of the server secret, one per project."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=b"nib storage project key:" + project_id.encode()
    ).derive(secret.encode())


def encode(chunks: Iterable[bytes], *, compression: str, key: bytes | None) -> tuple[Iterator[bytes], TransformInfo]:
    """The stored form of ``chunks`` (lazily, chunk by chunk) and how to read it back.

    ``key`` (from ``project_key``) encrypts; ``None`` does not. ``info`` is complete at once, before
    the stream is consumed. With no transform the chunks pass through untouched; otherwise the input
    may not exceed ``LIMIT`` bytes (``ValueError`` while streaming: ``plan`` would not ask for it).
    """
    _check_compression(compression)
    if key is not None and len(key) != KEY_SIZE:
        raise ValueError(f"storage keys are {KEY_SIZE} bytes")
    if compression == "none" and key is None:
        return iter(chunks), TransformInfo()
    salt = os.urandom(_SALT) if key is not None else b""
    info = TransformInfo(compression, ENCRYPTION if key is not None else "none", salt.hex())
    source = iter(chunks)
    stream: Iterator[bytes] = _capped(source)
    if compression != "none":
        stream = _compress(stream, compression)
    if key is not None:
        stream = _seal(stream, _object_key(key, salt))
    return _closing(stream, source), info


def decode(chunks: Iterable[bytes], info: TransformInfo, key: bytes | None) -> Iterator[bytes]:
    """The original bytes of an object stored as ``info`` says, streamed.

    Raises ``CorruptObjectError`` while streaming when the object fails its check (see the module
    docstring for when each kind of object is checked); ``ValueError`` at once when ``key`` is
    missing for an encrypted object.
    """
    source = iter(chunks)
    stream: Iterator[bytes] = source
    if info.encryption != "none":
        if key is None:
            raise ValueError("an encrypted object needs its project key")
        stream = _open(stream, _object_key(key, bytes.fromhex(info.salt)))
    if info.compression != "none":
        stream = _decompress(stream, info.compression)
    return _closing(stream, source)


def byte_range(chunks: Iterable[bytes], start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start..end`` (inclusive, as HTTP ranges) of a stream; stops reading after ``end``.

    For a transformed object: ``byte_range(decode(device.read(path), info, key), start, end)``.
    Only the part up to ``end`` is decoded (and so authenticated); the rest is never read.
    """
    if start < 0 or end < start:
        raise ValueError(f"bad range {start}-{end}")
    source = iter(chunks)
    offset = 0
    try:
        for chunk in source:
            following = offset + len(chunk)
            if following > start:
                piece = chunk[max(start - offset, 0) : end + 1 - offset]
                if piece:
                    yield piece
            offset = following
            if offset > end:
                return
    finally:
        _close(source)


def _check_compression(compression: str) -> None:
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}")


def _object_key(key: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=b"nib storage object").derive(key)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _capped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > LIMIT:
            raise ValueError(f"only files up to {LIMIT} bytes are transformed; this one is longer")
        yield chunk


class _Compressor(Protocol):
    """What zlib's and zstandard's streaming compressors have in common."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


def _compress(chunks: Iterator[bytes], algorithm: str) -> Iterator[bytes]:
    compressor: _Compressor
    if algorithm == "gzip":
        compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    else:
        compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_checksum=True).compressobj()
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def _decompress(chunks: Iterator[bytes], algorithm: str) -> Iterator[bytes]:
    total = 0
    try:
        for piece in (_gunzip if algorithm == "gzip" else _unzstd)(chunks):
            total += len(piece)
            if total > LIMIT:
                raise CorruptObjectError(f"the stored {algorithm} data expands beyond {LIMIT} bytes")
            yield piece
    except (zlib.error, zstandard.ZstdError) as error:
        raise CorruptObjectError(f"the stored {algorithm} data is damaged: {error}") from error


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """One gzip member (what ``_compress`` writes), at most ``SEGMENT`` bytes out per step."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in chunks:
        data = chunk
        while data:
            if inflater.eof:
                raise zlib.error("data after the end of the stream")
            if out := inflater.decompress(data, SEGMENT):
                yield out
            data = inflater.unconsumed_tail
        if inflater.unused_data:
            raise zlib.error("data after the end of the stream")
    if out := inflater.flush():
        yield out
    if not inflater.eof:
        raise zlib.error("the stream ends early")


def _unzstd(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """One zstd frame (what ``_compress`` writes). zstandard's decompressor has no output limit
    and its stream readers end silently on a cut frame, so input goes in small slices (bounding
    what one step can expand to) and the frame must end exactly with the input."""
    decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj()
    for chunk in chunks:
        view = memoryview(chunk)
        for offset in range(0, len(view), _ZSTD_FEED):
            if decompressor.eof:
                raise zstandard.ZstdError("data after the end of the frame")
            if out := decompressor.decompress(view[offset : offset + _ZSTD_FEED]):
                yield out
        if decompressor.unused_data:
            raise zstandard.ZstdError("data after the end of the frame")
    if not decompressor.eof:
        raise zstandard.ZstdError("the frame ends early")


def _seal(chunks: Iterator[bytes], key: bytes) -> Iterator[bytes]:
    aead = AESGCM(key)
    for index, (segment, last) in enumerate(_segments(chunks, SEGMENT)):
        yield aead.encrypt(_nonce(index, last), segment, None)


def _open(chunks: Iterator[bytes], key: bytes) -> Iterator[bytes]:
    aead = AESGCM(key)
    for index, (segment, last) in enumerate(_segments(chunks, SEGMENT + _TAG)):
        try:
            plain = aead.decrypt(_nonce(index, last), segment, None)
        except InvalidTag:
            raise CorruptObjectError(
                f"segment {index} of the stored object failed authentication (tampered, truncated or wrong key)"
            ) from None
        if plain:
            yield plain


def _segments(chunks: Iterator[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """``(segment, is_last)``: ``size``-byte pieces; a full piece is held back until more bytes
    show it is not the last. The last piece may be shorter, even empty."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        if len(pending) <= size:
            continue
        start = 0
        with memoryview(pending) as view:
            while len(pending) - start > size:
                yield bytes(view[start : start + size]), False
                start += size
        del pending[:start]
    yield bytes(pending), True


def _closing(stream: Iterator[bytes], source: Iterator[bytes]) -> Iterator[bytes]:
    """``stream``, closing it and its ``source`` (e.g. a device read holding a file) when done or
    abandoned (a range that ends early, a client that goes away)."""
    try:
        yield from stream
    finally:
        _close(stream)
        _close(source)


def _close(iterator: Iterator[bytes]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
