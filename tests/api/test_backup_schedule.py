"""Scheduled backups: two `nib serve` processes on one database, both with --backup-every: one
backup at a time from either process (each started at least the interval after the last one
completed), pruned to --backup-keep; a bad duration stops `nib serve` before it starts."""

from __future__ import annotations

import socket
import time
from datetime import datetime
from pathlib import Path

from backup_support import listed, nib

from live_server import start_server, stop_server

EVERY = 2  # seconds


def _started(name: str) -> datetime:
    return datetime.strptime(name, "%Y%m%dT%H%M%S.%fZ")


def test_two_servers_share_one_schedule_and_prune(nib_with, tmp_path):
    dest = str(tmp_path / "dest")
    # The rate cap reaches each backup's command line (a cap it could not read would fail them all).
    env = {"NIB_BACKUP_EVERY": f"{EVERY}s", "NIB_BACKUP_TO": dest, "NIB_BACKUP_KEEP": "2", "NIB_BACKUP_MAX_RATE": "50M"}
    first = nib_with(**env)
    second = start_server(first.backend, first.data_dir, first.database_url, env=env, key=first.key)
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 120
        while len(seen) < 3 and time.monotonic() < deadline:
            seen.update(row[0] for row in listed(dest))
            time.sleep(0.2)
        assert len(seen) >= 3
    finally:
        stop_server(second)
    starts = sorted(_started(name) for name in seen)
    # Never two at once, never one started before the interval after the last completed.
    assert all((later - earlier).total_seconds() >= EVERY for earlier, later in zip(starts, starts[1:]))
    deadline = time.monotonic() + 60
    while len(listed(dest)) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    kept = [row[0] for row in listed(dest)]
    assert len(kept) == 2 and set(kept) <= seen | set(kept)


def test_a_bad_schedule_is_refused_at_start(tmp_path):
    done = nib("serve", "--backup-every", "soon", "--backup-to", str(tmp_path), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 2
    assert "'soon' is not a duration: give a positive number and a unit, e.g. 30s, 15m, 24h or 7d" in done.stderr
    alone = nib("serve", "--backup-every", "1h", "--data-dir", str(tmp_path / "d"))
    assert alone.returncode == 2 and "--backup-every and --backup-to go together" in alone.stderr
    capped = nib("serve", "--backup-every", "1h", "--backup-to", str(tmp_path), "--backup-max-rate", "fast")
    assert capped.returncode == 2
    assert "Invalid value for '--backup-max-rate': 'fast' is not a rate" in capped.stderr


def _backup_children(parent: int) -> list[int]:
    """The ``nib backup`` processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"backup" in command:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_stopped_server_ends_its_running_backup(nib_with):
    # The destination's S3 endpoint accepts connections and never answers: the backup child
    # hangs in its first request (30 s read timeout, 3 attempts) until someone ends it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        server = nib_with(
            NIB_BACKUP_EVERY="1s",
            NIB_BACKUP_TO="s3://bucket/nightly",
            NIB_S3_ENDPOINT=f"http://127.0.0.1:{silent.getsockname()[1]}",
            NIB_S3_ACCESS_KEY="key",
            NIB_S3_SECRET_KEY="secret",
        )
        deadline = time.monotonic() + 60
        while not (children := _backup_children(server.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert children, "no backup started"
        stop_server(server)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children)
