"""nib.storage.antivirus against a real clamd on loopback (tests/clamav_support.py)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from clamav_support import HASH_SIGNATURE, HASHED_FILE, HOST, PATTERN, PATTERN_SIGNATURE, STREAM_MAX_LENGTH
from live_server import free_port
from nib.storage.antivirus import CHUNK, SCAN_LIMIT, ScanResult, applies, scan
from nib.tools.config import Settings
from nib.tools.errors import AppwriteError


def assert_unscanned(settings: Settings, chunks, reason: str, within: float) -> None:
    started = time.monotonic()
    with pytest.raises(AppwriteError) as failure:
        scan(settings, chunks)
    assert time.monotonic() - started < within
    assert (failure.value.type, failure.value.status) == ("general_server_error", 503)
    assert failure.value.message == f"The file could not be scanned for viruses: {reason}. Please try again later."


# ---------------------------------------------------------------------------------------------
# Verdicts


def test_clean_file_passes(clamd):
    result = scan(clamd.settings(), [b"just a harmless text file\n"])
    assert result == ScanResult(signature=None)
    assert not result.infected


def test_empty_file_passes(clamd):
    assert scan(clamd.settings(), []) == ScanResult()


def test_file_known_by_its_hash_is_infected(clamd):
    result = scan(clamd.settings(), [HASHED_FILE[:10], HASHED_FILE[10:]])
    assert result.infected
    assert result.signature == HASH_SIGNATURE


def test_one_changed_byte_makes_it_another_file(clamd):
    assert scan(clamd.settings(), [HASHED_FILE[:-1] + b"!"]) == ScanResult()


def test_pattern_across_chunk_boundaries_is_found(clamd):
    """A 1 MiB stream (many protocol chunks) with the pattern straddling a chunk boundary, given
    as input chunks that match neither the protocol chunks nor the pattern."""
    size = 1024 * 1024
    at = 3 * CHUNK - len(PATTERN) // 2
    data = bytearray(b"x" * size)
    data[at : at + len(PATTERN)] = PATTERN
    pieces = [bytes(data[i : i + 100_003]) for i in range(0, size, 100_003)]
    assert scan(clamd.settings(), pieces) == ScanResult(signature=PATTERN_SIGNATURE)
    assert scan(clamd.settings(), [b"x" * size]) == ScanResult()


def test_single_input_chunk_larger_than_a_protocol_chunk(clamd):
    data = b"y" * (3 * CHUNK + 5) + PATTERN
    assert scan(clamd.settings(), [data]).signature == PATTERN_SIGNATURE


# ---------------------------------------------------------------------------------------------
# No verdict: 503, nothing kept


def test_stream_over_clamds_limit_is_not_scanned(clamd):
    chunks = (b"z" * CHUNK for _ in range(STREAM_MAX_LENGTH // CHUNK + 4))
    assert_unscanned(
        clamd.settings(), chunks, "the file is larger than the antivirus server accepts (StreamMaxLength)", within=10
    )


def test_clamd_down(caplog):
    settings = Settings(clamav_host=HOST, clamav_port=free_port(), clamav_timeout=5)
    assert_unscanned(settings, [b"data"], "the antivirus server could not be reached", within=5)
    assert "virus scan via clamd at 127.0.0.1" in caplog.text


def test_silent_server_times_out():
    """Something that accepts connections (the kernel does, for a listening socket) but never answers."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(8)
        settings = Settings(clamav_host=HOST, clamav_port=listener.getsockname()[1], clamav_timeout=0.5)
        assert_unscanned(settings, [b"data"], "the antivirus server did not answer in time", within=3)


def test_server_hanging_up_without_verdict():
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(8)

        def hang_up():
            connection, _ = listener.accept()
            connection.recv(64)
            connection.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        settings = Settings(clamav_host=HOST, clamav_port=listener.getsockname()[1], clamav_timeout=5)
        assert_unscanned(settings, [b"data"], "the antivirus server closed the connection without a verdict", within=5)
        thread.join()


def test_errors_of_the_source_are_not_blamed_on_clamd(clamd):
    def failing_device():
        yield b"first part"
        raise OSError("disk read failed")

    with pytest.raises(OSError, match="disk read failed"):
        scan(clamd.settings(), failing_device())


def test_scan_needs_a_configured_clamd():
    with pytest.raises(ValueError, match="NIB_CLAMAV_HOST"):
        scan(Settings(), [b"data"])


# ---------------------------------------------------------------------------------------------
# When files are scanned (Appwrite: bucket setting, files up to 20 MB)


@pytest.mark.parametrize(
    ("host", "antivirus", "size", "expected"),
    [
        ("clamav", True, 0, True),
        ("clamav", True, SCAN_LIMIT, True),
        ("clamav", True, SCAN_LIMIT + 1, False),
        ("clamav", False, 10, False),
        ("", True, 10, False),
    ],
)
def test_applies(host, antivirus, size, expected):
    assert SCAN_LIMIT == 20_000_000
    assert applies(Settings(clamav_host=host), antivirus=antivirus, size=size) is expected
