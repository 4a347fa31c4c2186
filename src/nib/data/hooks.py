"""Writes of one domain that others must follow, in the same transaction.

Domains only import those below them, so a lower one (users) cannot call a higher one (teams)
when its records go. The higher one registers a callback here instead; the app wires them once
per process, before any request.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

UserDeleted = Callable[[Connection, str, str], None]

_user_deleted: list[UserDeleted] = []


def on_user_deleted(callback: UserDeleted) -> None:
    """Run ``callback(conn, project_id, user_id)`` inside every user deletion, before the
    user's own rows go (registering the same callback again changes nothing)."""
    if callback not in _user_deleted:
        _user_deleted.append(callback)


def user_deleted(conn: Connection, project_id: str, user_id: str) -> None:
    """Called by the deletion of a user, in its write transaction."""
    for callback in _user_deleted:
        callback(conn, project_id, user_id)
