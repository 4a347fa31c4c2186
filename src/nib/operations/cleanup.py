"""The clean-up: what no request will ever use again, removed in small batches.

Abandoned chunked uploads (no chunk for ``--upload-abandoned-after``, 3 days by default: rows,
then their parts on the storage device), expired sessions and tokens, MFA and passkey challenges,
expired team invitations, passkey registrations never completed, expired console sessions and
set-up link, and audit log entries older than ``--audit-retention`` (14 days, Appwrite's default). Each kind is deleted by
the domain that owns its table; this module only paces them: at most ``BATCH`` rows per
statement, each batch in its own short transaction, with a pause between batches so that the
server's requests (on SQLite, its writes) go first.

``nib serve`` runs it every ``--cleanup-every`` (1 hour by default) in its main process, from one
process of all those on the database (``Cleanup``, a ``schedule.Periodic`` job); ``nib cleanup``
runs it once.

Team invitations go once their 7 days to accept are over: accepting one is refused then, and
while it stays the same user cannot be invited again. Kept on purpose: file tokens past their
expiry (the Tokens API still lists them and can extend them, as in Appwrite).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from ..account import mfa, passkeys
from ..auth import admins
from ..data import audit
from ..data.batches import BATCH
from ..data.db import Database
from ..storage import chunks
from ..storage.devices import Device
from ..teams import invitations
from ..tools import dates
from ..users import sessions
from .schedule import Periodic

log = logging.getLogger("nib.cleanup")

PAUSE_SECONDS = 0.05
ABANDONED_AFTER = 3 * 86400.0
AUDIT_RETENTION = 14 * 86400.0


def _sweeps(
    db: Database, device: Device, abandoned_after: float, audit_retention: float
) -> dict[str, Callable[[int], int]]:
    """Each kind's sweep: ``sweep(limit)`` deletes one batch and returns its size."""
    now = dates.now()
    return {
        "abandoned uploads": lambda limit: chunks.sweep_abandoned(
            db, device, now - timedelta(seconds=abandoned_after), limit
        ),
        "sessions": lambda limit: sessions.sweep_expired_sessions(db, now, limit),
        "tokens": lambda limit: sessions.sweep_expired_tokens(db, now, limit),
        "invitations": lambda limit: invitations.sweep_expired(db, now, limit),
        "mfa challenges": lambda limit: mfa.sweep_expired(db, now, limit),
        "passkey challenges": lambda limit: passkeys.sweep_expired(db, now, limit),
        "passkey registrations": lambda limit: passkeys.sweep_stale_registrations(db, now, limit),
        "console sessions": lambda limit: admins.sweep_expired_sessions(db, now, limit),
        "console set-up links": lambda limit: admins.sweep_expired_setup(db, now),
        "audit logs": lambda limit: audit.sweep(db, now - timedelta(seconds=audit_retention), limit),
    }


def clean(
    db: Database,
    device: Device,
    *,
    abandoned_after: float = ABANDONED_AFTER,
    audit_retention: float = AUDIT_RETENTION,
    batch: int = BATCH,
    between: Callable[[], object] = lambda: None,
) -> dict[str, list[int]]:
    """One clean-up: each kind's batch sizes, in order (a kind's last batch is the one smaller
    than ``batch``). ``between`` runs after every full batch (the job renews its lease there)."""
    done: dict[str, list[int]] = {}
    for kind, sweep in _sweeps(db, device, abandoned_after, audit_retention).items():
        sizes = done[kind] = [sweep(batch)]
        while sizes[-1] == batch:
            time.sleep(PAUSE_SECONDS)
            between()
            sizes.append(sweep(batch))
    return done


def summary(done: dict[str, list[int]]) -> str:
    """``3 abandoned uploads, 1200 sessions (3 batches), …``: every kind, one line."""
    parts = []
    for kind, sizes in done.items():
        batches = sum(1 for size in sizes if size)
        parts.append(f"{sum(sizes)} {kind}" + (f" ({batches} batches)" if batches > 1 else ""))
    return ", ".join(parts)


class Cleanup(Periodic):
    name = "cleanup"
    log = log

    def __init__(self, db: Database, device: Device, every: float, *, abandoned_after: float, audit_retention: float):
        super().__init__(db, every)
        self.device = device
        self.abandoned_after, self.audit_retention = abandoned_after, audit_retention

    def work(self) -> None:
        started = time.monotonic()
        done = clean(
            self.db,
            self.device,
            abandoned_after=self.abandoned_after,
            audit_retention=self.audit_retention,
            between=self.lease.take,
        )
        self.completed()
        self.log.info("clean-up removed %s in %.1f s", summary(done), time.monotonic() - started)
