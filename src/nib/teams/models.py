"""Response models of the Teams service: Membership and Team."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..tools.dates import fmt


def membership(row: Mapping[str, Any], *, mfa: bool = False) -> dict:
    """A membership joined with its user and team (columns user_name, user_email, … team_name)."""
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "$updatedAt": fmt(row["updated_at"]),
        "userId": row["user_id"],
        "userName": row["user_name"] or "",
        "userEmail": row["user_email"] or "",
        "userPhone": row["user_phone"] or "",
        "teamId": row["team_id"],
        "teamName": row["team_name"] or "",
        "invited": fmt(row["invited"]),
        "joined": fmt(row["joined"]),
        "confirm": row["confirm"],
        "mfa": mfa,
        "userAccessedAt": fmt(row["user_accessed_at"]),
        "roles": row["roles"],
    }


def team(row: Mapping[str, Any]) -> dict:
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "$updatedAt": fmt(row["updated_at"]),
        "name": row["name"],
        "total": row["total"],
        "prefs": row["prefs"] or {},
    }
