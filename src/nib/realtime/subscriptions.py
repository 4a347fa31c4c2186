"""Subscriptions: the channels (and queries) a connection listens to, as clients name them.

Both protocol generations end up here. The 1.5-era SDKs put channels in the URL
(``channels[]=files``; the SDKs of 1.9 add per-slot queries, ``files[0][]=<query>``): they form
the connection's first subscriptions, one per slot, with server-made IDs. The newest SDKs
connect with the project only and send ``subscribe`` messages carrying their own subscription
IDs, channels and queries.

Channel names are converted for the connection's user (``convert``): ``account`` also listens
to ``account.<userId>``; ``account.create|update|upsert|delete`` become the user's own action
channels; any other ``account.…`` name is dropped (nobody listens to another user's account).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ..tools.ids import unique_id
from ..tools.validators import is_key
from . import queries

# What one connection may listen to: a bound on the work each event costs per connection.
MAX_SUBSCRIPTIONS = 100
MAX_CHANNELS = 100
MAX_QUERIES = 100
_ACCOUNT_ACTIONS = frozenset({"create", "update", "upsert", "delete"})
_EVERYTHING = '{"method":"select","values":["*"]}'
_SLOT = re.compile(r"^(.+)\[(\d+)\]\[\]$")


class Refused(ValueError):
    """A subscription request that is not valid: the message is the client's error."""


@dataclass(frozen=True)
class Subscription:
    id: str
    requested: tuple[str, ...]  # the channels as the client named them
    channels: tuple[str, ...]  # converted for the connection's user, in the client's order
    queries: tuple[queries.Query, ...]  # the conditions on the payload (none: every event)
    query_texts: tuple[str, ...]  # as the client sent them

    # The channels as a set, for the match every event makes.
    channel_set: frozenset[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_set", frozenset(self.channels))

    def for_user(self, user_id: str | None) -> Subscription:
        """The same subscription for a connection that (re)authenticated as ``user_id``."""
        return Subscription(self.id, self.requested, convert(self.requested, user_id), self.queries, self.query_texts)

    def describe(self) -> dict[str, Any]:
        """As the ``subscribe`` response lists it."""
        return {"subscriptionId": self.id, "channels": list(self.channels), "queries": list(self.query_texts)}


def convert(channels: Sequence[str], user_id: str | None) -> tuple[str, ...]:
    """Channel names as the connection of ``user_id`` (None: a guest) listens to them."""
    found: list[str] = []
    for channel in channels:
        if channel == "account":
            found.append("account")
            if user_id:
                found.append(f"account.{user_id}")
        elif channel.startswith("account."):
            action = channel[len("account.") :]
            if action in _ACCOUNT_ACTIONS:
                # A guest keeps the name (it matches nothing) until it authenticates.
                found.append(f"account.{user_id}.{action}" if user_id else channel)
        else:
            found.append(channel)
    return tuple(dict.fromkeys(found))


def make(
    subscription_id: str, channels: Sequence[str], query_texts: Sequence[str], user_id: str | None
) -> Subscription:
    """A subscription; ``Refused`` for a query realtime cannot evaluate."""
    texts = tuple(query_texts) or (_EVERYTHING,)
    parsed: list[queries.Query] = []
    for text in texts:
        try:
            parsed.append(queries.parse(text))
        except queries.InvalidQuery as error:
            raise Refused(str(error)) from None
    # select(["*"]) asks for everything: only the other queries are evaluated on each event.
    conditions = tuple(query for query in parsed if query.method != "select")
    return Subscription(subscription_id, tuple(channels), convert(channels, user_id), conditions, texts)


def from_url(params: Mapping[str, Any], query_string: bytes, user_id: str | None) -> list[Subscription] | None:
    """The subscriptions of a connection's URL: ``None`` without a ``channels`` parameter (the
    client subscribes by message), ``Refused`` when it names no channel or too many, or a
    query that realtime cannot evaluate. ``query_string`` is the raw one (slot numbers matter)."""
    if "channels" not in params:
        return None
    raw = params["channels"]
    named = raw if isinstance(raw, list) else [raw]
    channels = list(dict.fromkeys(c for c in named if isinstance(c, str) and c))
    if not channels:
        raise Refused("Missing channels")
    if len(channels) > MAX_CHANNELS:
        raise Refused(f"Too many channels: at most {MAX_CHANNELS} per connection")
    # Per-slot queries: ``<channel with "." as "_">[<slot>][]=<query>``; a channel without any
    # listens in slot 0 with no condition.
    per_channel: dict[str, dict[int, list[str]]] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        found = _SLOT.match(name)
        if found:
            texts = per_channel.setdefault(found.group(1), {}).setdefault(int(found.group(2)), [])
            texts.append(value)
    slots: dict[int, tuple[list[str], list[str]]] = {}
    for channel in channels:
        for slot, texts in (per_channel.get(channel.replace(".", "_")) or {0: []}).items():
            named_channels, slot_texts = slots.setdefault(slot, ([], []))
            named_channels.append(channel)
            slot_texts.extend(t for t in texts if t not in slot_texts)
    return [make(unique_id(), named_channels, texts, user_id) for _, (named_channels, texts) in sorted(slots.items())]


def from_message(data: Any, user_id: str | None) -> list[Subscription]:
    """The subscriptions of a ``subscribe`` message; ``Refused`` with the client's error."""
    if not isinstance(data, list):
        raise Refused("Payload is not valid.")
    found: list[Subscription] = []
    for item in data:
        if not isinstance(item, dict):
            raise Refused("items: Each subscribe payload must be an object.")
        subscription_id = item.get("subscriptionId")
        if subscription_id is None or subscription_id == "":
            subscription_id = unique_id()
        elif not is_key(subscription_id):
            raise Refused("items: subscriptionId is not a valid id.")
        if "channels" not in item:
            raise Refused("items: channels is not present in payload.")
        channels = item["channels"]
        if not isinstance(channels, list):
            raise Refused("items: channels is not a valid array.")
        if not all(isinstance(channel, str) for channel in channels):
            raise Refused("items: channels must contain only strings.")
        if len(channels) > MAX_CHANNELS:
            raise Refused(f"items: channels may hold at most {MAX_CHANNELS} channels.")
        texts = item.get("queries", [])
        if texts is None:
            texts = []
        if not isinstance(texts, list):
            raise Refused("items: queries is not a valid array.")
        if len(texts) > MAX_QUERIES:
            raise Refused(f"items: queries may hold at most {MAX_QUERIES} queries.")
        try:
            found.append(make(subscription_id, list(dict.fromkeys(channels)), texts, user_id))
        except Refused as error:
            raise Refused(f"items: {error}") from None
    return found
