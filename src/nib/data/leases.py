"""Leases: which one of all the processes on a database (on any number of machines) does a job.

A lease is a row of ``instance_values`` holding ``<holder> <until>``. It is taken by an insert
when absent and by a conditional update when free or expired, so of several processes trying at
once exactly one wins; its holder renews it by taking it again while it works and releases it
when done. A holder that dies keeps it until ``until`` at most.
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .db import Database
from .db.schema import instance_values


class Lease:
    def __init__(self, db: Database, name: str, seconds: float) -> None:
        self.db, self.name, self.seconds = db, name, seconds
        self.holder = uuid.uuid4().hex

    def take(self) -> bool:
        """Take the lease when it is free or expired, or renew it when this holder has it;
        ``False`` while another live holder has it."""
        now = time.time()
        value = f"{self.holder} {now + self.seconds}"
        try:
            with self.db.write() as conn:
                current = conn.execute(
                    sa.select(instance_values.c.value).where(instance_values.c.name == self.name)
                ).scalar()
                if current is None:
                    conn.execute(instance_values.insert().values(name=self.name, value=value))
                    return True
                holder, _, until = str(current).partition(" ")
                if holder != self.holder and float(until) > now:
                    return False
                changed = conn.execute(
                    instance_values.update()
                    .where(instance_values.c.name == self.name, instance_values.c.value == current)
                    .values(value=value)
                )
                return changed.rowcount == 1
        except IntegrityError:  # another process inserted the lease first
            return False

    def release(self) -> None:
        """Give the lease up, if this holder still has it."""
        with self.db.write() as conn:
            conn.execute(
                instance_values.delete().where(
                    instance_values.c.name == self.name, instance_values.c.value.like(f"{self.holder} %")
                )
            )
