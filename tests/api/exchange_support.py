"""Shared helpers of the export/import tests: nibs of their own on either backend, the
`nib export` / `nib import` commands run as subprocesses, and what a project holds, read
through the API for comparing two servers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from live_server import NibServer, create_pg_database, drop_pg_database, start_server, stop_server
from nib.data.db import Database
from nib.tools.config import Settings

ENV = {"NIB_RATE_LIMITS": "off", "NIB_SMTP_HOST": ""}


@contextlib.contextmanager
def nib_on(backend: str, data_dir: Path) -> Iterator[NibServer]:
    """A nib of its own on a fresh database of ``backend``; stopped and dropped afterwards."""
    pg_name = create_pg_database() if backend == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    nib = start_server(backend, data_dir, url, env=ENV)
    try:
        yield nib
    finally:
        stop_server(nib)
        if pg_name:
            drop_pg_database(pg_name)


@contextlib.contextmanager
def database_of(nib: NibServer) -> Iterator[Database]:
    """Direct access to a nib's database: for rows no API creates (identities come from OAuth2)."""
    settings = Settings.from_env(data_dir=nib.data_dir, database_url=nib.database_url)
    database = Database(settings.resolved_database_url, pool_size=2)
    try:
        yield database
    finally:
        database.dispose()


def nib_command(nib: NibServer, *args: str) -> list[str]:
    """The command line of `nib ARGS` on ``nib``'s storage (for Popen)."""
    return [sys.executable, "-m", "nib", *args, *nib.storage_args()]


def run(nib: NibServer, *args: str) -> subprocess.CompletedProcess:
    """`nib ARGS` on ``nib``'s storage with the settings it was started with (its storage device)."""
    command = nib_command(nib, *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **nib.env})


def export(nib: NibServer, project: str, to: Path, *more: str) -> subprocess.CompletedProcess:
    return run(nib, "export", "--project", project, "--to", str(to), *more)


def import_(nib: NibServer, project: str, source: Path, *more: str) -> subprocess.CompletedProcess:
    return run(nib, "import", "--project", project, "--from", str(source), *more)


def report_counts(stdout: str) -> dict[str, dict[str, int]]:
    """The per-kind table of an import report: {kind: {outcome: count}}."""
    lines = stdout.splitlines()
    header = lines[1].split()
    counts = {}
    for line in lines[2:]:
        if not line.startswith("  ") or line.startswith("   "):
            break
        kind, *numbers = line.split()
        counts[kind] = dict(zip(header, map(int, numbers), strict=True))
    return counts


def every(http: httpx.Client, path: str, key: str) -> list[dict]:
    """Every item of a list route (pages of 100)."""
    found: list[dict] = []
    while True:
        query = ['{"method":"limit","values":[100]}', '{"method":"offset","values":[%d]}' % len(found)]
        response = http.get(path, params={"queries[]": query})
        assert response.status_code == 200, response.text
        page = response.json()[key]
        found += page
        if len(page) < 100:
            return found
