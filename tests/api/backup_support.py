"""Shared helpers of the backup tests: data made through the API (users with passwords, a team,
buckets plain, compressed and encrypted, files), checks that a restored nib serves it all, the
`nib backup`/`nib restore` commands, and an empty target (data dir or PostgreSQL database)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from account_support import sign_in

from live_server import NibServer, create_pg_database, drop_pg_database, start_server, stop_server

PASSWORD = "backup-horse-7"
SUMMARY = re.compile(
    r"backup (\S+) complete: database (\d+) bytes in (\d+\.\d\d) s; objects (\d+) \((\d+) bytes\) in (\d+\.\d\d) s, (\d+) reused"
)


@dataclass
class Seeded:
    emails: list[str] = field(default_factory=list)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (bucket, file) -> bytes


@dataclass
class Summary:
    name: str
    database_bytes: int
    objects: int
    object_bytes: int
    reused: int


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def seed(server: NibServer, files_per_bucket: int = 2, size: int = 40_000) -> Seeded:
    seeded = Seeded()
    with server.http() as http:
        for _ in range(3):
            email = f"{uid('u')}@example.com"
            body = {"userId": uid("u"), "email": email, "password": PASSWORD, "name": "Backed Up"}
            assert http.post("/users", json=body).status_code == 201
            seeded.emails.append(email)
        assert http.post("/teams", json={"teamId": uid("t"), "name": "Team"}).status_code == 201
        for settings in ({}, {"compression": "gzip"}, {"encryption": True, "compression": "zstd"}):
            bucket = uid("b")
            created = http.post("/storage/buckets", json={"bucketId": bucket, "name": "B", **settings})
            assert created.status_code == 201, created.text
            for _ in range(files_per_bucket):
                seeded.files[bucket, uid("f")] = b"backup me " * (size // 10) + os.urandom(16)
        for (bucket, file_id), data in seeded.files.items():
            upload(http, bucket, file_id, data)
    return seeded


def upload(http, bucket: str, file_id: str, data: bytes) -> None:
    response = http.post(
        f"/storage/buckets/{bucket}/files", data={"fileId": file_id}, files={"file": ("data.bin", data)}
    )
    assert response.status_code == 201, response.text


def assert_serves(server: NibServer, seeded: Seeded) -> None:
    """Every seeded user signs in with their password; every file downloads byte-identical."""
    for email in seeded.emails:
        sign_in(server, email, PASSWORD)
    with server.http() as http:
        for (bucket, file_id), data in seeded.files.items():
            response = http.get(f"/storage/buckets/{bucket}/files/{file_id}/download")
            assert response.status_code == 200, response.text
            assert response.content == data


def nib(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nib", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def backup(server: NibServer, dest: str, *extra: str, env: dict[str, str] | None = None) -> Summary:
    done = nib("backup", "--to", dest, *server.storage_args(), *extra, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    found = SUMMARY.fullmatch(lines[-1])
    assert found, done.stdout
    return Summary(found[1], int(found[2]), int(found[4]), int(found[5]), int(found[7]))


def listed(dest: str, env: dict[str, str] | None = None) -> list[list[str]]:
    done = nib("backup", "list", "--from", dest, env=env)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


@dataclass
class Target:
    """An empty place to restore into: a data dir, plus a fresh database on PostgreSQL."""

    backend: str
    data_dir: Path
    database_url: str | None

    def storage_args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir)] + (["--database-url", self.database_url] if self.database_url else [])

    def restore(self, dest: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return nib("restore", "--from", dest, *extra, *self.storage_args(), env=env)

    @contextmanager
    def serving(self, key: str):
        server = start_server(self.backend, self.data_dir, self.database_url, key=key)
        try:
            yield server
        finally:
            stop_server(server)


@contextmanager
def empty_target(backend: str, data_dir: Path):
    name = create_pg_database() if backend == "postgresql" else None
    try:
        yield Target(backend, data_dir, f"postgresql://postgres@127.0.0.1:5432/{name}" if name else None)
    finally:
        if name:
            drop_pg_database(name)


class Writer:
    """A thread creating users until stopped: the server keeps taking writes during a backup."""

    def __init__(self, server: NibServer) -> None:
        self.server = server
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.server.http() as http:
            while not self._stop.is_set():
                body = {"userId": uid("w"), "email": f"{uid('w')}@example.com", "password": PASSWORD}
                self.statuses.append(http.post("/users", json=body).status_code)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)
