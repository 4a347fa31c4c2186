"""What each health check measures. A check returns a ``Status`` (or the antivirus's
``{status, version}``) or raises 503 ``general_server_error`` naming what failed.

Checks of other servers (Redis, the storage device, clamd) open their own short-lived
connection, bounded by a timeout: a health check must tell what a new request would meet now,
not what a pooled connection remembers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..data.db import Database
from ..storage import antivirus
from ..storage.devices import open_device
from ..tools.config import Settings
from ..tools.errors import AppwriteError

REDIS_TIMEOUT_SECONDS = 2.0
PUBSUB_CHANNEL = "nib:health"


@dataclass(frozen=True)
class Status:
    """Appwrite's healthStatus: ``ping`` in milliseconds."""

    name: str
    ping: int
    status: str = "pass"


def _timed(name: str, probe: Callable[[], object], failure: str) -> Status:
    """``probe`` timed; any exception it raises becomes the 503 with ``failure`` (and its reason)."""
    started = time.perf_counter()
    try:
        probe()
    except Exception as error:
        reason = str(error) or type(error).__name__
        raise AppwriteError("general_server_error", f"{failure}: {reason}", status=503) from error
    return Status(name, round((time.perf_counter() - started) * 1000))


def database(db: Database) -> Status:
    started = time.perf_counter()
    if not db.ping():
        raise AppwriteError("general_server_error", "Database is not available", status=503)
    return Status("database", round((time.perf_counter() - started) * 1000))


def _redis(url: str):  # -> redis.Redis (imported only when a check needs it)
    import redis

    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)


def cache(settings: Settings) -> Status:
    """Redis, which holds the rate-limit counters, when configured. Without it the counters are
    in this process's memory, which is there whenever the process answers: ``memory`` passes."""
    if not settings.redis_url:
        return Status("memory", 0)
    url = settings.redis_url

    def ping() -> None:
        with _redis(url) as client:
            client.ping()

    return _timed("redis", ping, "Cache failure on: redis")


def pubsub(settings: Settings) -> Status:
    """Redis pub/sub, which carries realtime events between processes, when configured (a
    message published on a channel of its own); otherwise the carrier of this machine's
    processes (``local`` sockets between workers, or ``memory``), up while the process is."""
    if not settings.redis_url:
        return Status("local" if settings.workers > 1 else "memory", 0)
    url = settings.redis_url

    def publish() -> None:
        with _redis(url) as client:
            client.publish(PUBSUB_CHANNEL, b"ping")

    return _timed("redis", publish, "Pubsub failure on: redis")


def storage(settings: Settings) -> Status:
    """The configured device takes, returns and drops a small object."""
    return _timed(
        settings.storage_device, open_device(settings).check, "Storage failure on: " + settings.storage_device
    )


def storage_local(settings: Settings) -> Status:
    """The data dir (SQLite, the set-up link, local files) is readable and writable."""
    directory = settings.data_dir

    def access() -> None:
        for mode, word in ((os.R_OK | os.X_OK, "readable"), (os.W_OK, "writable")):
            if not os.access(directory, mode):
                raise PermissionError(f"{directory} is not {word}")

    return _timed("local", access, "Device local dir failure")


def antivirus_status(settings: Settings) -> dict:
    """Appwrite's healthAntivirus: ``disabled`` without clamd, ``online`` with its version when it
    answers, ``offline`` when it does not (a state to report, not a failure of this request)."""
    if not settings.clamav_host:
        return {"status": "disabled", "version": ""}
    found = antivirus.version(settings)
    return {"status": "online", "version": found} if found else {"status": "offline", "version": ""}
