"""Appwrite's events: what a successful write announces, built from its route's declaration.

A route declares its event pattern the way Appwrite labels it, e.g.
``event="buckets.[bucketId].files.[fileId].create"``. After the handler returned (its transaction
committed; a failed request announces nothing) the pipeline fills the placeholders, generalises
the name (``buckets.*.files.*.create``, ``buckets.B``, …), derives the realtime channels and the
roles that may receive it, and hands the ``Event`` to the process's event carrier
(``tools.carriers``), which brings it to every process's realtime connections.

Placeholders come from, in order: what the handler set in ``ctx.event_params``, the response
model's field of that name (``userId`` of a Session, ``bucketId`` of a File), the response's
``$id`` for the last placeholder, then the route's validated parameters. The payload is the
response model as the caller received it, or ``ctx.event_payload`` (deletes name the deleted
resource), without secrets and password hashes (``_HIDDEN``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..tools import dates

_PLACEHOLDER = re.compile(r"\[(\w+)\]")
# Never carried by an event: a token's or session's secret (Appwrite marks it sensitive on the
# routes that issue one) and a user's password hash and its options (the Users API answers the
# key holder with them; realtime delivers to the user's own browsers, which read Account models).
_HIDDEN = ("secret", "password", "hash", "hashOptions")
# Channel segments that also get "<channel>.<action>" (realtime action channels).
_ACTION_LEAVES = frozenset({"files", "account", "teams", "memberships"})
_ACTIONS = frozenset({"create", "update", "upsert", "delete"})


@dataclass
class Event:
    """One announced write, as it travels between processes."""

    project_id: str
    names: list[str]  # most specific first
    channels: list[str]
    roles: list[str]  # who may receive it; "any" = everyone subscribed
    timestamp: str
    payload: dict[str, Any]
    # Whose roles may have changed: the realtime side reloads these users' connections (a user
    # ID) and every connection holding the team's role (a team ID) before delivering.
    refresh_user: str = ""
    refresh_team: str = ""

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "project": self.project_id,
                "events": self.names,
                "channels": self.channels,
                "roles": self.roles,
                "timestamp": self.timestamp,
                "payload": self.payload,
                "refreshUser": self.refresh_user,
                "refreshTeam": self.refresh_team,
            }
        )

    @classmethod
    def decode(cls, message: bytes) -> Event:
        data = orjson.loads(message)
        return cls(
            project_id=data["project"],
            names=data["events"],
            channels=data["channels"],
            roles=data["roles"],
            timestamp=data["timestamp"],
            payload=data["payload"],
            refresh_user=data.get("refreshUser", ""),
            refresh_team=data.get("refreshTeam", ""),
        )


def fill(pattern: str, result: Any, values: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """The placeholder values of ``pattern`` (see the module's docstring for the order)."""
    names = _PLACEHOLDER.findall(pattern)
    model = result if isinstance(result, dict) else {}
    found: dict[str, str] = {}
    for index, name in enumerate(names):
        value = given.get(name) or model.get(name)
        if not value and index == len(names) - 1:
            value = model.get("$id")
        if not value:
            value = values.get(name)
        found[name] = str(value or "")
    return found


def generate(pattern: str, params: Mapping[str, str]) -> list[str]:
    """Every name subscribers may know the event by, most specific first (Appwrite's
    ``Event::generateEvents``): each shape of the pattern (with its action and attribute, with
    its sub-resource, the resource alone), each with its IDs and with ``*`` in their place."""
    parts = pattern.split(".")
    has_sub = len(parts) > 3 and parts[3].startswith("[")
    kind, resource = parts[0], parts[1]
    if has_sub:
        sub_kind, sub = parts[2], parts[3]
        action = parts[4] if len(parts) > 4 else ""
        attribute = parts[5] if len(parts) > 5 else ""
    else:
        sub_kind = sub = ""
        action = parts[2] if len(parts) > 2 else ""
        attribute = parts[3] if len(parts) > 3 else ""
    shapes: list[str] = []
    if action:
        if has_sub:
            if attribute:
                shapes.append(".".join((kind, resource, sub_kind, sub, action, attribute)))
            shapes.append(".".join((kind, resource, sub_kind, sub, action)))
        else:
            shapes.append(".".join((kind, resource, action)))
        if attribute:
            shapes.append(".".join((kind, resource, action, attribute)))
    if has_sub:
        shapes.append(".".join((kind, resource, sub_kind, sub)))
    shapes.append(".".join((kind, resource)))
    names: list[str] = []
    for shape in dict.fromkeys(shapes):
        keys = _PLACEHOLDER.findall(shape)
        # Every combination of IDs and "*", the one with all IDs first, then all "*".
        variants = [dict.fromkeys(keys, False), dict.fromkeys(keys, True)]
        if len(keys) == 2:
            variants += [{keys[0]: False, keys[1]: True}, {keys[0]: True, keys[1]: False}]
        for starred in variants:
            name = _PLACEHOLDER.sub(lambda m: "*" if starred[m.group(1)] else params[m.group(1)], shape)
            if name not in names:
                names.append(name)
    return names


def channels_and_roles(name: str, file_roles: list[str] | None) -> tuple[list[str], list[str]]:
    """The realtime channels of an event (its most specific name) and the roles that may
    receive it; no channels for events realtime does not carry (buckets themselves)."""
    parts = name.split(".")
    kind = parts[0]
    channels: list[str]
    if kind == "users":
        channels, roles = ["account", f"account.{parts[1]}"], [f"user:{parts[1]}"]
        # Only the user's own changes (create, update.<attribute>, delete) have action channels.
        action = parts[2] if len(parts) > 2 and parts[2] in _ACTIONS else ""
    elif kind == "teams":
        roles = [f"team:{parts[1]}"]
        if len(parts) > 3 and parts[2] == "memberships":
            channels = ["memberships", f"memberships.{parts[3]}"]
        else:
            channels = ["teams", f"teams.{parts[1]}"]
        action = _action(parts)
    elif kind == "buckets" and len(parts) > 3 and parts[2] == "files":
        channels = ["files", f"buckets.{parts[1]}.files", f"buckets.{parts[1]}.files.{parts[3]}"]
        roles = list(file_roles or ())
        action = _action(parts)
    else:
        return [], []
    if action:
        channels += [f"{channel}.{action}" for channel in list(channels) if _takes_action(channel)]
    return channels, roles


def _takes_action(channel: str) -> bool:
    """A channel naming a resource kind (``files``) or one resource (``buckets.B.files.F``)."""
    segments = channel.split(".")
    return segments[-1] in _ACTION_LEAVES or (len(segments) > 1 and segments[-2] in _ACTION_LEAVES)


def _action(parts: list[str]) -> str:
    """The event's action: its last segment if one of Appwrite's, else the one before."""
    if parts[-1] in _ACTIONS:
        return parts[-1]
    return parts[-2] if len(parts) > 1 and parts[-2] in _ACTIONS else ""


def build(
    project_id: str,
    pattern: str,
    params: Mapping[str, str],
    payload: Mapping[str, Any],
    *,
    file_roles: list[str] | None = None,
    actor: str = "",
) -> Event | None:
    """The event of a successful write; ``None`` when realtime carries none of its names.
    ``actor``: the signed-in user who made it (a team's creator becomes its first member)."""
    names = generate(pattern, params)
    channels, roles = channels_and_roles(names[0], file_roles)
    if not channels:
        return None
    refresh_user = refresh_team = ""
    parts = _PLACEHOLDER.sub(lambda m: params[m.group(1)], pattern).split(".")
    if parts[0] == "teams":
        if len(parts) > 3 and parts[2] == "memberships":
            refresh_user = str(payload.get("userId") or "")
        elif parts[2] == "create":
            refresh_user = actor
        elif parts[2] == "delete":
            refresh_team = parts[1]
    elif parts[0] == "users" and _changes_roles(parts):
        refresh_user = parts[1]
    return Event(
        project_id=project_id,
        names=names,
        channels=channels,
        roles=roles,
        timestamp=dates.fmt(dates.now()),
        payload={key: value for key, value in payload.items() if key not in _HIDDEN},
        refresh_user=refresh_user,
        refresh_team=refresh_team,
    )


def _changes_roles(parts: list[str]) -> bool:
    """User events after which the user's connections must be re-checked: the user deleted,
    updated (status, labels, verification…) or a session of theirs deleted."""
    if parts[2] in ("delete", "update"):
        return True
    return parts[2] == "sessions" and parts[-1] == "delete"
