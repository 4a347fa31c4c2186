"""data/leases.py on both databases: one holder at a time, renewed by its holder, free again
when released or expired."""

from __future__ import annotations

import time

from nib.data.leases import Lease


def test_one_holder_at_a_time(service_db):
    first, second = Lease(service_db, "test_lease", 60), Lease(service_db, "test_lease", 60)
    assert first.take() and not second.take()
    assert first.take()  # renewed by its holder
    second.release()  # not the holder: changes nothing
    assert not second.take()
    first.release()
    assert second.take() and not first.take()
    second.release()


def test_an_expired_lease_is_taken_over(service_db):
    dead, alive = Lease(service_db, "expiring_lease", 0.2), Lease(service_db, "expiring_lease", 60)
    assert dead.take() and not alive.take()
    time.sleep(0.3)
    assert alive.take() and not dead.take()
    alive.release()
