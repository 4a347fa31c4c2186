"""nib.storage.transforms: compression and encryption at rest, streamed both ways."""

from __future__ import annotations

import gzip
import json
import random
import tracemalloc

import pytest
import zstandard

from nib.storage.transforms import (
    LIMIT,
    SEGMENT,
    CorruptObjectError,
    TransformInfo,
    byte_range,
    decode,
    encode,
    plan,
    project_key,
)

SECRET = "test-server-secret"
KEY = project_key(SECRET, "project-a")
OTHER_KEY = project_key(SECRET, "project-b")
SEALED = SEGMENT + 16  # one encrypted segment with its tag

COMBINATIONS = [(compression, key) for compression in ("none", "gzip", "zstd") for key in (None, KEY)]
COMBINATION_IDS = [f"{compression}-{'encrypted' if key else 'plain'}" for compression, key in COMBINATIONS]
SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, 3 * SEGMENT + 17]


def sample(size: int, seed: int = 1) -> bytes:
    """Half random, half repetitive, so compression has something to do but not everything."""
    rng = random.Random(seed)
    half = size // 2
    text = (b"the quick brown fox jumps over the lazy dog " * (half // 44 + 1))[:half]
    return rng.randbytes(size - half) + text


def rechunk(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def stored(data: bytes, compression: str, key: bytes | None, chunk: int = 10_000) -> tuple[bytes, TransformInfo]:
    stream, info = encode(rechunk(data, chunk), compression=compression, key=key)
    return b"".join(stream), info


def read_until_error(chunks) -> tuple[bytes, CorruptObjectError]:
    """What a decode yields before it fails, and the failure."""
    received = bytearray()
    with pytest.raises(CorruptObjectError) as failure:
        for piece in chunks:
            received += piece
    return bytes(received), failure.value


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize(("compression", "key"), COMBINATIONS, ids=COMBINATION_IDS)
@pytest.mark.parametrize("size", SIZES)
def test_round_trip(compression, key, size):
    data = sample(size)
    for input_chunk in (1000, SEGMENT, max(size, 1)):
        obj, info = stored(data, compression, key, chunk=input_chunk)
        assert info.compression == compression
        assert info.encryption == ("aes-256-gcm" if key else "none")
        # Whatever chunking the device reads back with.
        for read_chunk in (7, 4096, SEALED, max(len(obj), 1)):
            assert b"".join(decode(rechunk(obj, read_chunk), info, key)) == data


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_largest_transformed_file_round_trips(compression):
    data = sample(LIMIT, seed=2)
    obj, info = stored(data, compression, KEY, chunk=1 << 20)
    assert len(obj) < LIMIT  # half of it compresses
    assert b"".join(decode(rechunk(obj, 1 << 20), info, KEY)) == data


def test_encryption_only_adds_one_tag_per_segment():
    data = sample(3 * SEGMENT + 17)
    obj, _ = stored(data, "none", KEY)
    assert len(obj) == len(data) + 4 * 16
    empty, _ = stored(b"", "none", KEY)
    assert len(empty) == 16  # the last (empty) segment still carries a tag: truncation shows


def test_nothing_to_do_passes_chunks_through():
    chunks = [b"a", b"bc"]
    stream, info = encode(chunks, compression="none", key=None)
    assert list(stream) == chunks
    assert info == TransformInfo() and info.identity
    assert list(decode(iter(chunks), info, None)) == chunks


def test_each_object_has_its_own_salt():
    data = sample(1000)
    first, first_info = stored(data, "gzip", KEY)
    second, second_info = stored(data, "gzip", KEY)
    assert first_info.salt != second_info.salt
    assert first != second
    assert b"".join(decode([first], first_info, KEY)) == b"".join(decode([second], second_info, KEY)) == data


def test_only_files_up_to_the_limit_are_transformed():
    with pytest.raises(ValueError, match="up to 20000000 bytes"):
        b"".join(encode([b"\0" * LIMIT, b"\0"], compression="zstd", key=None)[0])
    untouched, info = encode([b"\0" * LIMIT, b"\0"], compression="none", key=None)
    assert sum(map(len, untouched)) == LIMIT + 1 and info.identity


@pytest.mark.parametrize(
    ("size", "compression", "encryption", "expected"),
    [
        (0, "gzip", True, ("gzip", True)),
        (LIMIT, "zstd", True, ("zstd", True)),
        (LIMIT, "none", False, ("none", False)),
        (LIMIT + 1, "gzip", True, ("none", False)),
        (5_000_000_000, "zstd", True, ("none", False)),
    ],
)
def test_plan_follows_the_bucket_up_to_20_mb(size, compression, encryption, expected):
    assert plan(size=size, compression=compression, encryption=encryption) == expected


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown compression 'brotli'"):
        plan(size=1, compression="brotli", encryption=False)
    with pytest.raises(ValueError, match="unknown compression"):
        encode([b"x"], compression="lz4", key=None)
    with pytest.raises(ValueError, match="32 bytes"):
        encode([b"x"], compression="none", key=b"short")
    _, info = stored(b"x", "none", KEY)
    with pytest.raises(ValueError, match="needs its project key"):
        decode([b""], info, None)


# ---------------------------------------------------------------------------------------------
# Metadata the service keeps


def test_info_survives_json():
    _, info = stored(b"x", "zstd", KEY)
    row = json.loads(json.dumps(info.to_dict()))
    assert row == {"compression": "zstd", "encryption": "aes-256-gcm", "salt": info.salt}
    assert len(info.salt) == 32
    assert TransformInfo.from_dict(row) == info
    assert TransformInfo.from_dict(TransformInfo().to_dict()) == TransformInfo()


@pytest.mark.parametrize(
    "row",
    [
        {},
        {"compression": "gzip", "encryption": "none"},
        {"compression": "brotli", "encryption": "none", "salt": ""},
        {"compression": "none", "encryption": "aes-128-cbc", "salt": "00" * 16},
        {"compression": "none", "encryption": "aes-256-gcm", "salt": ""},
        {"compression": "none", "encryption": "none", "salt": "00" * 16},
        {"compression": "none", "encryption": "aes-256-gcm", "salt": "zz" * 16},
    ],
)
def test_info_refuses_what_encode_never_writes(row):
    with pytest.raises(ValueError):
        TransformInfo.from_dict(row)


# ---------------------------------------------------------------------------------------------
# Keys


def test_project_keys_are_stable_and_distinct():
    assert len(KEY) == 32
    assert project_key(SECRET, "project-a") == KEY
    assert KEY != OTHER_KEY
    assert project_key("another-secret", "project-a") != KEY


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_another_projects_key_is_detected(compression):
    data = sample(3 * SEGMENT)
    obj, info = stored(data, compression, KEY)
    received, failure = read_until_error(decode([obj], info, OTHER_KEY))
    assert received == b""
    assert "segment 0 of the stored object failed authentication" in str(failure)


def test_another_objects_salt_is_detected():
    data = sample(1000)
    obj, _ = stored(data, "none", KEY)
    _, other_info = stored(data, "none", KEY)
    received, _ = read_until_error(decode([obj], other_info, KEY))
    assert received == b""


# ---------------------------------------------------------------------------------------------
# Tampering


def _flip(obj: bytes, index: int) -> bytes:
    return obj[:index] + bytes([obj[index] ^ 0x01]) + obj[index + 1 :]


TAMPERINGS = {
    "first byte": lambda obj: _flip(obj, 0),
    "second segment": lambda obj: _flip(obj, SEALED + 5),
    "last tag": lambda obj: _flip(obj, len(obj) - 1),
    "one byte cut": lambda obj: obj[:-1],
    "last segment dropped": lambda obj: obj[: len(obj) - (len(obj) - 1) % SEALED - 1],
    "segment appended": lambda obj: obj + obj[:SEALED],
    "segments swapped": lambda obj: obj[SEALED : 2 * SEALED] + obj[:SEALED] + obj[2 * SEALED :],
    "emptied": lambda obj: b"",
    "tag only left": lambda obj: obj[-16:],
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_tampered_encrypted_object_never_yields_wrong_bytes(tamper, compression):
    data = sample(4 * SEGMENT + 100, seed=3)
    obj, info = stored(data, compression, KEY)
    if compression == "none":
        assert len(obj) > 4 * SEALED  # several segments, as the tamperings assume
    received, failure = read_until_error(decode(rechunk(tamper(obj), 5000), info, KEY))
    assert data.startswith(received)  # only genuine bytes came out before the failure
    assert "failed authentication" in str(failure)


def test_a_range_before_a_damaged_segment_is_served():
    """Decoding is lazy: a range decodes (and authenticates) only the segments it needs."""
    data = sample(4 * SEGMENT)
    obj, info = stored(data, "none", KEY)
    damaged = _flip(obj, 3 * SEALED)
    assert b"".join(byte_range(decode([damaged], info, KEY), 10, SEGMENT + 10)) == data[10 : SEGMENT + 11]
    with pytest.raises(CorruptObjectError):
        b"".join(byte_range(decode([damaged], info, KEY), 0, len(data) - 1))


def test_gzip_output_is_standard_gzip():
    data = sample(3 * SEGMENT)
    obj, _ = stored(data, "gzip", None)
    assert gzip.decompress(obj) == data


def test_zstd_output_is_a_standard_checksummed_frame():
    data = sample(3 * SEGMENT)
    obj, _ = stored(data, "zstd", None)
    assert zstandard.get_frame_parameters(obj).has_checksum
    assert zstandard.ZstdDecompressor().decompressobj().decompress(obj) == data


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
@pytest.mark.parametrize("damage", ["middle", "end", "appended"])
def test_damaged_compressed_object_is_detected(compression, damage):
    data = sample(3 * SEGMENT)
    obj, info = stored(data, compression, None)
    if damage == "middle":
        obj = _flip(obj, len(obj) // 2)
    elif damage == "end":
        obj = obj[:-3]
    else:
        obj = obj + b"garbage"
    received, failure = read_until_error(decode([obj], info, None))
    assert f"stored {compression} data is damaged" in str(failure)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_decompression_is_capped_at_the_limit(compression):
    """Only files up to LIMIT are compressed, so anything expanding further is not ours."""
    bomb = gzip.compress(b"\0" * (LIMIT + 1)) if compression == "gzip" else zstandard.compress(b"\0" * (LIMIT + 1))
    received, failure = read_until_error(decode([bomb], TransformInfo(compression=compression), None))
    assert len(received) <= LIMIT
    assert "expands beyond 20000000 bytes" in str(failure)


# ---------------------------------------------------------------------------------------------
# Ranges


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 0), (0, 99), (5, 5), (999, 1000), (1000, 1999), (SEGMENT - 1, SEGMENT), (0, 3 * SEGMENT - 1), (7, 10**9)],
)
def test_byte_range_of_a_decoded_stream(start, end):
    data = sample(3 * SEGMENT)
    obj, info = stored(data, "gzip", KEY)
    assert b"".join(byte_range(decode(rechunk(obj, 1000), info, KEY), start, end)) == data[start : end + 1]
    assert b"".join(byte_range(rechunk(data, 1000), start, end)) == data[start : end + 1]


def test_byte_range_stops_reading_and_closes_the_source():
    pulled: list[int] = []
    closed: list[bool] = []

    def device():
        try:
            for index in range(100):
                pulled.append(index)
                yield bytes([index]) * 10
        finally:
            closed.append(True)

    assert b"".join(byte_range(device(), 15, 24)) == b"\x01" * 5 + b"\x02" * 5
    assert pulled == [0, 1, 2] and closed == [True]


def test_abandoned_decode_closes_the_device_read():
    closed: list[bool] = []
    obj, info = stored(sample(3 * SEGMENT), "zstd", KEY)

    def device():
        try:
            yield from rechunk(obj, 1000)
        finally:
            closed.append(True)

    stream = decode(device(), info, KEY)
    next(stream)
    stream.close()
    assert closed == [True]


def test_bad_ranges_are_refused():
    for start, end in [(-1, 5), (5, 4)]:
        with pytest.raises(ValueError, match="bad range"):
            list(byte_range([b"abcdef"], start, end))


# ---------------------------------------------------------------------------------------------
# Streaming: memory stays flat however large the file


def _chunks(total: int, size: int = SEGMENT):
    rng = random.Random(4)
    for offset in range(0, total, size):
        piece = min(size, total - offset)
        yield rng.randbytes(piece // 2) + b"z" * (piece - piece // 2)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_encode_and_decode_stream_in_bounded_memory(tmp_path, compression):
    path = tmp_path / "object"
    tracemalloc.start()
    try:
        stream, info = encode(_chunks(LIMIT), compression=compression, key=KEY)
        with open(path, "wb") as out:
            for piece in stream:
                out.write(piece)
        _, encode_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()

        def device():
            with open(path, "rb") as source:
                while block := source.read(SEGMENT):
                    yield block

        decoded = sum(len(piece) for piece in decode(device(), info, KEY))
        _, decode_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded == LIMIT
    # A few segments in flight (about 0.7 MB measured), never the file (20 MB).
    assert encode_peak < 2_000_000, encode_peak
    assert decode_peak < 2_000_000, decode_peak
