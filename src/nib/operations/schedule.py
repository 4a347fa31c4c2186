"""Jobs run on a schedule by ``nib serve``: backups (``--backup-every 24h --backup-to DEST
--backup-keep 7``) and the clean-up (``--cleanup-every``, operations/cleanup.py).

Each is a daemon thread in ``nib serve``'s main process that wakes every few seconds. A lease
(data/leases.py) says which one process of all those on the database runs the job next, on any
number of machines; the time of the last completed run is stored beside it in
``instance_values``, so the interval counts from it whichever process ran it. A failure is logged
and tried again at the next tick; it never stops the server.

A backup runs as a child process, ``python -m nib backup --to DEST`` (at idle CPU priority: the
server's requests come first); its holder renews the lease while the child runs, then prunes to
``--backup-keep``. A server that stops ends its running backup (the next run deletes what it left).
"""

from __future__ import annotations

import atexit
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import sqlalchemy as sa

from ..data.db import Database
from ..data.db.schema import instance_values
from ..data.leases import Lease
from ..tools.config import Settings
from .backups import prune
from .destinations import open_destination

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``30s``, ``15m``, ``24h``, ``7d`` in seconds; ``ValueError`` otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not found or float(found[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration: give a positive number and a unit, e.g. 30s, 15m, 24h or 7d")
    return float(found[1]) * _UNITS[found[2]]


class Periodic:
    """A job run every ``every`` seconds by one process of all those on the database; its lease
    and last run are the ``instance_values`` rows ``<name>_lease`` and ``<name>_last``.
    Subclasses say what the job does (``work``) and how it is logged."""

    name = ""
    log = logging.getLogger("nib")

    def __init__(self, db: Database, every: float):
        self.db, self.every = db, every
        self.tick = max(0.5, min(every / 4, 30.0))
        # A holder that died keeps the lease this long at most (renewed every tick while alive).
        self.lease = Lease(db, f"{self.name}_lease", max(4 * self.tick, 10.0))
        self._last = f"{self.name}_last"

    def work(self) -> None:
        """Run the job once, calling ``completed`` when it has (else it is tried again at the next tick)."""
        raise AssertionError("a Periodic job defines its work")

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=f"nib-{self.name}", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        while True:
            try:
                if self._due() and self.lease.take():
                    try:
                        if self._due():  # another process may have completed one meanwhile
                            self.work()
                    finally:
                        self.lease.release()
            except Exception:
                self.log.exception("scheduled %s failed; trying again at the next tick", self.name)
            time.sleep(self.tick)

    def _due(self) -> bool:
        with self.db.read() as conn:
            last = conn.execute(sa.select(instance_values.c.value).where(instance_values.c.name == self._last)).scalar()
        return last is None or time.time() - float(last) >= self.every

    def completed(self) -> None:
        """Store now as the time of the last completed run."""
        with self.db.write() as conn:
            stored = conn.execute(
                instance_values.update().where(instance_values.c.name == self._last).values(value=str(time.time()))
            )
            if stored.rowcount == 0:
                conn.execute(instance_values.insert().values(name=self._last, value=str(time.time())))


class Scheduler(Periodic):
    name = "backup"
    log = logging.getLogger("nib.backups")

    def __init__(self, db: Database, settings: Settings, every: float, to: str, keep: int, child_args: Sequence[str]):
        super().__init__(db, every)
        self.settings, self.to, self.keep = settings, to, keep
        self.child_args = list(child_args)

    def work(self) -> None:
        command = [sys.executable, "-m", "nib", "backup", "--to", self.to, *self.child_args]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # A server that stops takes its backup with it: left running, the backup would go on
        # without the lease, beside the one the next holder starts at the same destination.
        atexit.register(_stop, child)
        try:
            while True:
                try:
                    out, err = child.communicate(timeout=self.tick)
                    break
                except subprocess.TimeoutExpired:
                    self.lease.take()
        finally:
            atexit.unregister(_stop)
        if child.returncode != 0:
            lines = err.strip().splitlines()
            self.log.warning("scheduled backup failed: %s", lines[-1] if lines else f"exit status {child.returncode}")
            return
        self.log.info("%s", out.strip())
        self.completed()
        gone, objects = prune(open_destination(self.to, self.settings), self.keep)
        if gone:
            self.log.info("pruned backups %s (%d objects no longer referenced)", ", ".join(gone), objects)


def _stop(child: subprocess.Popen[str]) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
