"""A real clamd on loopback with a small custom signature database, for antivirus tests.

The official databases cannot be downloaded here; clamd starts with custom ones alone (any
``.hdb``/``.ndb`` in its DatabaseDirectory is enough; no ``main``/``daily``/``bytecode`` needed).
Names of custom signatures are reported with ``.UNOFFICIAL`` appended.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nib.tools.config import Settings

HOST = "127.0.0.1"
# Small enough that a test can exceed it quickly, larger than every other test stream.
STREAM_MAX_LENGTH = 4 * 1024 * 1024

# A whole file known by its MD5 (.hdb), and a byte pattern found anywhere in a stream (.ndb).
HASHED_FILE = b"nib antivirus test: this exact file is known by its md5\n"
HASH_SIGNATURE = "Nib.Test.Hash.UNOFFICIAL"
PATTERN = b"NIB-ANTIVIRUS-TEST-PATTERN-5d0c2a9e"
PATTERN_SIGNATURE = "Nib.Test.Pattern.UNOFFICIAL"


@dataclass
class Clamd:
    host: str
    port: int
    process: subprocess.Popen
    log: Path

    def env(self) -> dict[str, str]:
        """What a `nib serve` needs to scan with this clamd."""
        return {"NIB_CLAMAV_HOST": self.host, "NIB_CLAMAV_PORT": str(self.port)}

    def settings(self, **overrides) -> Settings:
        return Settings(clamav_host=self.host, clamav_port=self.port, **overrides)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def clamd_binary() -> str:
    """Debian's clamd (package clamav-daemon, installed by .ci/run) lives in /usr/sbin."""
    found = shutil.which("clamd") or "/usr/sbin/clamd"
    if not Path(found).is_file():
        raise RuntimeError("clamd is not installed: apt-get install clamav-daemon (see .ci/run)")
    return found


def start_clamd(directory: Path, port: int, timeout: float = 60) -> Clamd:
    """Start clamd on ``HOST:port`` with the test signatures; returns once it answers PING."""
    database = directory / "db"
    database.mkdir()
    (database / "nib.hdb").write_text(f"{hashlib.md5(HASHED_FILE).hexdigest()}:{len(HASHED_FILE)}:Nib.Test.Hash\n")
    (database / "nib.ndb").write_text(f"Nib.Test.Pattern:0:*:{PATTERN.hex()}\n")
    config = directory / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                "Foreground yes",
                f"TCPSocket {port}",
                f"TCPAddr {HOST}",
                f"DatabaseDirectory {database}",
                f"TemporaryDirectory {directory}",
                f"StreamMaxLength {STREAM_MAX_LENGTH}",
                "MaxThreads 4",
                "",
            ]
        )
    )
    log = directory / "clamd.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [clamd_binary(), "--config-file", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    daemon = Clamd(HOST, port, process, log)
    deadline = time.monotonic() + timeout
    while not _pong(HOST, port):
        if process.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            raise RuntimeError(f"clamd did not start; its log:\n{log.read_text()}")
        time.sleep(0.1)
    return daemon


def _pong(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"zPING\0")
            return sock.recv(64) == b"PONG\0"
    except OSError:
        return False
