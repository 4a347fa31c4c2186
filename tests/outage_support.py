"""Servers of a test's own to stop and start at will: a PostgreSQL cluster and a Redis server on
free loopback ports (the machine's shared ones are never touched).

PostgreSQL refuses to run as root (CI runs as root): there its programs run as the ``postgres``
OS user, in a directory that user owns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from live_server import free_port

PG_BIN = Path(os.environ.get("NIB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
_AS_ROOT = os.geteuid() == 0


class PgCluster:
    """A throw-away PostgreSQL cluster (trust auth, user ``postgres``) on a free loopback port."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: its parents are private to root, out of reach of ``postgres``.
        self.root = Path(tempfile.mkdtemp(prefix="nib-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.sockets.mkdir()
        if _AS_ROOT:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self.port = free_port()
        self._pg("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--no-sync")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB"
        self._pg("pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options)

    def stop(self) -> None:
        """Stop it now: open connections are cut, as in a database restart."""
        self._pg("pg_ctl", "stop", "-w", "-t", "30", "-m", "fast", "-D", str(self.data))

    def create_database(self, name: str) -> str:
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self) -> None:
        """Stop it if it runs and delete its files."""
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg(self, program: str, *args: str) -> None:
        command = [str(PG_BIN / program), *args]
        if _AS_ROOT:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60, cwd=self.root)


class RedisServer:
    """A redis-server without persistence on a free loopback port: a restart loses its counters."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start it and wait until it answers PING."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
