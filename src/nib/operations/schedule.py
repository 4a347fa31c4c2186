"""Scheduled backups (``nib serve --backup-every 24h --backup-to DEST --backup-keep 7``).

A daemon thread in ``nib serve``'s main process wakes every few seconds. A lease in
``instance_values`` (taken by a conditional update, so one process of all those on the database
wins, on any number of machines) says who runs the next backup; the time of the last completed
one is stored beside it, so the interval counts from it whichever process ran it. The holder runs
``python -m nib backup --to DEST`` as a child process (which runs at idle CPU priority: the
server's requests come first), renews its lease while the child runs, then prunes to ``--backup-keep``.
A failure is logged and tried again at the next tick; it never stops the server.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..data.db import Database
from ..data.db.schema import instance_values
from ..tools.config import Settings
from .backups import prune
from .destinations import open_destination

log = logging.getLogger("nib.backups")

_LEASE, _LAST = "backup_lease", "backup_last"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``30s``, ``15m``, ``24h``, ``7d`` in seconds; ``ValueError`` otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not found or float(found[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration: give a positive number and a unit, e.g. 30s, 15m, 24h or 7d")
    return float(found[1]) * _UNITS[found[2]]


class Scheduler:
    def __init__(self, db: Database, settings: Settings, every: float, to: str, keep: int, child_args: Sequence[str]):
        self.db, self.settings = db, settings
        self.every, self.to, self.keep = every, to, keep
        self.child_args = list(child_args)
        self.holder = uuid.uuid4().hex
        self.tick = max(0.5, min(every / 4, 30.0))
        # A holder that died keeps the lease this long at most (renewed every tick while alive).
        self.lease_seconds = max(4 * self.tick, 10.0)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="nib-backups", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        while True:
            try:
                if self._due() and self._take_lease():
                    try:
                        if self._due():  # another process may have finished one meanwhile
                            self._backup()
                    finally:
                        self._release()
            except Exception:
                log.exception("scheduled backup failed; trying again at the next tick")
            time.sleep(self.tick)

    def _value(self, conn: sa.Connection, name: str) -> str | None:
        found = conn.execute(sa.select(instance_values.c.value).where(instance_values.c.name == name)).scalar()
        return str(found) if found is not None else None

    def _due(self) -> bool:
        with self.db.read() as conn:
            last = self._value(conn, _LAST)
        return last is None or time.time() - float(last) >= self.every

    def _take_lease(self) -> bool:
        """The lease, when it is free or expired; renewing it when this process holds it."""
        now = time.time()
        value = f"{self.holder} {now + self.lease_seconds}"
        try:
            with self.db.write() as conn:
                current = self._value(conn, _LEASE)
                if current is None:
                    conn.execute(instance_values.insert().values(name=_LEASE, value=value))
                    return True
                holder, _, until = current.partition(" ")
                if holder != self.holder and float(until) > now:
                    return False
                changed = conn.execute(
                    instance_values.update()
                    .where(instance_values.c.name == _LEASE, instance_values.c.value == current)
                    .values(value=value)
                )
                return changed.rowcount == 1
        except IntegrityError:  # another process inserted the lease first
            return False

    def _release(self) -> None:
        with self.db.write() as conn:
            conn.execute(
                instance_values.delete().where(
                    instance_values.c.name == _LEASE, instance_values.c.value.like(f"{self.holder} %")
                )
            )

    def _backup(self) -> None:
        command = [sys.executable, "-m", "nib", "backup", "--to", self.to, *self.child_args]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while True:
            try:
                out, err = child.communicate(timeout=self.tick)
                break
            except subprocess.TimeoutExpired:
                self._take_lease()
        if child.returncode != 0:
            lines = err.strip().splitlines()
            log.warning("scheduled backup failed: %s", lines[-1] if lines else f"exit status {child.returncode}")
            return
        log.info("%s", out.strip())
        with self.db.write() as conn:
            stored = conn.execute(
                instance_values.update().where(instance_values.c.name == _LAST).values(value=str(time.time()))
            )
            if stored.rowcount == 0:
                conn.execute(instance_values.insert().values(name=_LAST, value=str(time.time())))
        gone, objects = prune(open_destination(self.to, self.settings), self.keep)
        if gone:
            log.info("pruned backups %s (%d objects no longer referenced)", ", ".join(gone), objects)
