"""A live nib for tests: `nib serve` started on loopback with SQLite or a fresh PostgreSQL
database, and the helpers to make and drop those databases. Test modules import from here
(never from ``conftest``, whose module name two test folders share)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from appwrite.client import Client

PG_ADMIN_URL = os.environ.get("NIB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


PG_AVAILABLE = _pg_reachable()
if os.environ.get("CI") and not PG_AVAILABLE:
    raise RuntimeError(f"PostgreSQL must be reachable in CI ({PG_ADMIN_URL})")
BACKENDS = ["sqlite", "postgresql"] if PG_AVAILABLE else ["sqlite"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(process: subprocess.Popen, port: int, seconds: float) -> bool:
    """Whether ``process`` accepts connections on loopback ``port`` within ``seconds`` (False once
    it exited or the time is up)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def create_pg_database() -> str:
    name = f"nib_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class NibServer:
    """A running nib process and how to talk to it."""

    backend: str
    endpoint: str
    project: str
    key: str
    data_dir: Path
    database_url: str | None
    process: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)  # the NIB_* settings it was started with
    banner: list[str] = field(default_factory=list)  # what it printed up to "nib serving"
    # What it printed after the banner (its log, access lines included), read as it comes: a
    # full pipe would block the server. Complete once ``stop_server`` returned.
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def storage_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        return args

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the `nib` command line against this server's storage."""
        command = [sys.executable, "-m", "nib", *args, *self.storage_args()]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def sdk(self, key: str | None = None, project: str | None = None) -> Client:
        """The official Python SDK, configured as an app would."""
        client = Client().set_endpoint(self.endpoint).set_project(project or self.project)
        return client.set_key(key or self.key)

    def http(self, key: str | None = None, project: str | None = None, **headers: str) -> httpx.Client:
        base = {"X-Appwrite-Project": project or self.project, "X-Appwrite-Key": key or self.key}
        base.update(headers)
        return httpx.Client(base_url=self.endpoint, headers={k: v for k, v in base.items() if v}, timeout=30)


def launch(
    data_dir: Path, database_url: str | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, list[str], str]:
    """`nib serve` on a free port: (process, its output up to "nib serving", endpoint), once it
    answers /health."""
    process, endpoint = spawn(data_dir, database_url, env)
    return process, wait_serving(process, endpoint), endpoint


def spawn(
    data_dir: Path, database_url: str | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """`nib serve` started on a free port, not waited for: (process, endpoint). Several spawned
    before any ``wait_serving`` start together."""
    port = free_port()
    command = [sys.executable, "-m", "nib", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    if database_url:
        command += ["--database-url", database_url]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
    )
    return process, f"http://127.0.0.1:{port}/v1"


def wait_serving(process: subprocess.Popen, endpoint: str) -> list[str]:
    """The output of a spawned nib up to "nib serving", once it answers /health; RuntimeError
    (with that output) if it does not within a minute."""
    lines: list[str] = []
    deadline = time.monotonic() + 60
    for line in process.stdout:  # the bootstrap banner ends with "nib serving …"
        lines.append(line.rstrip("\n"))
        if line.startswith("nib serving") or time.monotonic() > deadline:
            break
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{endpoint}/health", timeout=1).status_code == 200:
                return lines
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    lines += [line.rstrip("\n") for line in process.stdout]  # a crash's traceback, if any
    raise RuntimeError(f"nib did not start (exit code {process.wait()}):\n" + "\n".join(lines))


def start_server(
    backend: str,
    data_dir: Path,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    *,
    key: str = "",
) -> NibServer:
    """`nib serve` on a free port; ``env`` adds NIB_* variables (e.g. ``{"NIB_SMTP_HOST": ""}``
    for a server without e-mail delivery). ``key``: the API key of an already bootstrapped
    database (a second process on another server's storage), which prints none."""
    process, lines, endpoint = launch(data_dir, database_url, env)
    printed = [line.split()[-1] for line in lines if line.strip().startswith("key:")]
    key = printed[0] if printed else key
    assert key, "first start must print an API key:\n" + "\n".join(lines)
    output, reader = drain(process)
    return NibServer(
        backend, endpoint, "default", key, data_dir, database_url, process, dict(env or {}), lines, output, reader
    )


def drain(process: subprocess.Popen) -> tuple[list[str], threading.Thread]:
    """Read a started nib's output in the background from now on, so that its log never fills
    the pipe and blocks it: (the lines read, a list that grows; the reading thread, which ends
    with the process)."""
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, name="nib-log", daemon=True)
    reader.start()
    return lines, reader


def tracebacks(server: NibServer) -> str:
    """The tracebacks a running server has logged so far (for a failing assertion's message)."""
    text = "\n".join(server.output)
    start = text.find("Traceback")
    return text[start:] if start >= 0 else "(no traceback logged)"


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_server(server: NibServer) -> None:
    stop_process(server.process)
    if server.reader is not None:
        server.reader.join(timeout=30)
