"""Time as Appwrite shows it: UTC, millisecond precision, ``+00:00`` suffix."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone


def now() -> datetime:
    """Current UTC time truncated to milliseconds, so stored values equal what clients see."""
    t = datetime.now(timezone.utc)
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


def later(seconds: int) -> datetime:
    return now() + timedelta(seconds=seconds)


# A resource's datetimes mostly repeat ($createdAt = $updatedAt = registration, its targets'
# too), and formatting costs more than a cache lookup.
@functools.lru_cache(maxsize=4096)
def fmt(value: datetime | None) -> str:
    """``2024-05-01T10:20:30.123+00:00``; ``""`` for unset."""
    if value is None:
        return ""
    if value.tzinfo is not timezone.utc:
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.isoformat(timespec="milliseconds")


def parse(value: str | None) -> datetime | None:
    """An ISO 8601 date/time as ``fmt`` writes it (naive = UTC) -> aware UTC at millisecond
    precision; ``None`` for ``""``/``None``. ``ValueError`` for anything else."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
