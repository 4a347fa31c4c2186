"""Appwrite's abuse limits: fixed-window counters per route.

``RULES`` is the per-route table (method + route path template -> limit, period, key templates);
``NIB_RATE_LIMITS_OVERRIDES`` changes a route's limit or period (``with_overrides``).
``Limiter.check`` runs once per request, after the scope check and before parameter validation;
a route without a rule costs one dict lookup.

Counting goes through ``Counters``, with two backends: ``MemoryCounters`` (the default, one
process: with ``nib serve --workers N`` every worker counts on its own) and ``RedisCounters``
(``NIB_REDIS_URL``: ``INCR`` and ``EXPIREAT`` in one transaction, one window shared by every
process on that Redis). Stored keys are SHA-256 digests of ``<project>/<key text>``: the key text
may hold an e-mail address, and the project prefix keeps projects apart.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ..tools import metrics
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.validators import request_host

log = logging.getLogger("nib")


@dataclass(frozen=True)
class Rule:
    """The abuse limit of one route: ``limit`` hits per fixed ``period`` seconds for each key."""

    limit: int
    period: int
    keys: tuple[str, ...]
    # The route's path template as Appwrite names it in ``{url}``; aliases share it, so both
    # spellings of one route count against one window.
    path: str


_IP = "url:{url},ip:{ip}"
_WRITE = "ip:{ip},method:{method},url:{url},userId:{userId}"  # storage file writes, 60 per 60 s


def _table(*entries: tuple) -> dict[tuple[str, str], Rule]:
    """``(method, path or (path, alias…), limit, key or keys[, period])`` rows -> ``{(method, path): Rule}``."""
    table: dict[tuple[str, str], Rule] = {}
    for method, paths, limit, keys, *period in entries:
        paths = (paths,) if isinstance(paths, str) else paths
        keys = (keys,) if isinstance(keys, str) else keys
        rule = Rule(limit, period[0] if period else 3600, keys, "/v1" + paths[0])
        for path in paths:
            table[(method, "/v1" + path)] = rule
    return table


# Appwrite 1.5's labels (app/controllers/api/{account,teams,storage}.php), with the newer SDKs'
# path spellings (``/account/jwts``, …) as aliases. Routes not registered yet are limited as soon as
# they are.
RULES: dict[tuple[str, str], Rule] = _table(
    ("POST", "/account", 10, _IP),
    ("DELETE", "/account/sessions", 100, _IP),
    ("DELETE", "/account/sessions/{sessionId}", 100, _IP),
    ("PATCH", "/account/sessions/{sessionId}", 10, _IP),
    ("POST", ("/account/sessions/email", "/account/sessions"), 10, "url:{url},email:{param-email}"),
    ("POST", "/account/sessions/anonymous", 50, "ip:{ip}"),
    ("POST", "/account/sessions/token", 10, "ip:{ip},userId:{param-userId}"),
    ("GET", "/account/sessions/oauth2/{provider}", 50, "ip:{ip}"),
    ("GET", "/account/tokens/oauth2/{provider}", 50, "ip:{ip}"),
    ("GET", "/account/sessions/oauth2/{provider}/redirect", 50, "ip:{ip}"),
    ("POST", "/account/sessions/id-token", 10, _IP),
    ("POST", ("/account/tokens/magic-url", "/account/sessions/magic-url"), 60, ("url:{url},email:{param-email}", _IP)),
    ("POST", "/account/tokens/email", 10, "url:{url},email:{param-email}"),
    ("PUT", "/account/sessions/magic-url", 10, "ip:{ip},userId:{param-userId}"),
    ("PUT", "/account/sessions/phone", 10, "ip:{ip},userId:{param-userId}"),
    ("POST", "/account/tokens/phone", 10, ("url:{url},phone:{param-phone}", _IP)),
    ("POST", ("/account/jwt", "/account/jwts"), 100, "url:{url},userId:{userId}"),
    ("PATCH", "/account/password", 10, _IP),
    ("POST", "/account/recovery", 10, ("url:{url},email:{param-email}", _IP)),
    ("PUT", "/account/recovery", 10, "url:{url},userId:{param-userId}"),
    ("POST", ("/account/verification", "/account/verifications/email"), 10, "url:{url},userId:{userId}"),
    ("PUT", ("/account/verification", "/account/verifications/email"), 10, "url:{url},userId:{param-userId}"),
    # The same by e-mail code: their own windows.
    ("POST", "/account/recovery/otp", 10, ("url:{url},email:{param-email}", _IP)),
    ("PUT", "/account/recovery/otp", 10, "url:{url},userId:{param-userId}"),
    ("POST", "/account/verifications/email/otp", 10, "url:{url},userId:{userId}"),
    ("PUT", "/account/verifications/email/otp", 10, "url:{url},userId:{param-userId}"),
    ("POST", ("/account/verification/phone", "/account/verifications/phone"), 10, ("url:{url},userId:{userId}", _IP)),
    ("PUT", ("/account/verification/phone", "/account/verifications/phone"), 10, "userId:{param-userId}"),
    ("POST", ("/account/mfa/challenge", "/account/mfa/challenges"), 10, "url:{url},token:{param-token}"),
    ("PUT", ("/account/mfa/challenge", "/account/mfa/challenges"), 10, "userId:{param-userId}"),
    ("POST", "/account/passkeys", 10, "url:{url},userId:{userId}"),
    ("PUT", "/account/passkeys/{passkeyId}/verification", 10, "url:{url},userId:{userId}"),
    ("POST", "/account/tokens/passkey", 10, _IP),
    ("PUT", "/account/tokens/passkey", 10, _IP),
    ("POST", "/teams/{teamId}/memberships", 10, _IP),
    ("POST", "/storage/buckets/{bucketId}/files", 60, _WRITE + ",chunkId:{chunkId}", 60),
    ("PUT", "/storage/buckets/{bucketId}/files/{fileId}", 60, _WRITE, 60),
    ("DELETE", "/storage/buckets/{bucketId}/files/{fileId}", 60, _WRITE, 60),
    ("POST", "/tokens/buckets/{bucketId}/files/{fileId}", 60, _WRITE, 60),
    ("PATCH", "/tokens/{tokenId}", 60, _WRITE, 60),
    ("DELETE", "/tokens/{tokenId}", 60, _WRITE, 60),
    # Realtime connections (counted by the realtime socket, not the pipeline).
    ("GET", "/realtime", 128, _IP, 60),
)


class Counters(ABC):
    """Hit counters of fixed windows."""

    @abstractmethod
    def hit(self, key: str, window_start: int, period: int) -> int:
        """Count one hit of ``key`` in the window starting at ``window_start`` and lasting
        ``period`` seconds; the window's hits including this one. Atomic: concurrent hits
        sharing the store are all counted."""

    @abstractmethod
    def peek(self, key: str, window_start: int) -> int:
        """The hits of ``key`` in the window starting at ``window_start`` (0 if none)."""


class MemoryCounters(Counters):
    """Counters in this process's memory, safe across the pipeline's worker threads.

    Hits are grouped by window start; a group is dropped as a whole once its longest window has
    ended (looked at on every hit, one comparison until a group is due), so memory holds only
    the keys of windows still running.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[int, _Window] = {}  # by window start
        self._next_end = float("inf")  # the earliest end among ``_windows``

    def hit(self, key: str, window_start: int, period: int) -> int:
        with self._lock:
            if self.clock() >= self._next_end:
                self._drop_ended()
            window = self._windows.get(window_start)
            if window is None:
                window = self._windows[window_start] = _Window(window_start + period)
            window.end = max(window.end, window_start + period)
            self._next_end = min(self._next_end, window.end)
            hits = window.hits[key] = window.hits.get(key, 0) + 1
        return hits

    def peek(self, key: str, window_start: int) -> int:
        with self._lock:
            window = self._windows.get(window_start)
            return window.hits.get(key, 0) if window else 0

    def size(self) -> int:
        """The number of counters held, over all windows."""
        with self._lock:
            return sum(len(window.hits) for window in self._windows.values())

    def _drop_ended(self) -> None:
        now = self.clock()
        self._windows = {start: window for start, window in self._windows.items() if window.end > now}
        self._next_end = min((window.end for window in self._windows.values()), default=float("inf"))


class _Window:
    """The counters of one window start: ``{key: hits}``, held until ``end``."""

    __slots__ = ("end", "hits")

    def __init__(self, end: int) -> None:
        self.end = end
        self.hits: dict[str, int] = {}


class RedisCounters(Counters):
    """Counters in Redis: ``INCR`` and ``EXPIREAT`` (the window's end) in one transaction.

    A Redis that is down or hangs fails the hit within ``_REDIS_TIMEOUT_SECONDS`` with
    ``StoreUnavailable``; its commands take microseconds, so that is long enough for a busy one.
    """

    def __init__(self, url: str, *, prefix: str = "nib:ratelimit:") -> None:
        import redis  # only processes configured with Redis load it

        self.failure = redis.RedisError
        self.redis = redis.Redis.from_url(
            url, socket_timeout=_REDIS_TIMEOUT_SECONDS, socket_connect_timeout=_REDIS_TIMEOUT_SECONDS
        )
        self.prefix = prefix

    def hit(self, key: str, window_start: int, period: int) -> int:
        name = self._name(key, window_start)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                # One command a statement: redis-py types a pipeline's commands as their replies.
                pipe.incr(name)
                pipe.expireat(name, window_start + period)
                hits, _ = pipe.execute()
        except self.failure as error:
            raise StoreUnavailable() from error
        return int(hits)

    def peek(self, key: str, window_start: int) -> int:
        try:
            hits = self.redis.get(self._name(key, window_start))
        except self.failure as error:
            raise StoreUnavailable() from error
        return int(hits) if hits is not None else 0

    def _name(self, key: str, window_start: int) -> str:
        return f"{self.prefix}{key}:{window_start}"


_REDIS_TIMEOUT_SECONDS = 2


class StoreUnavailable(AppwriteError):
    """The counters' store cannot be reached: 503 for a request that must be counted."""

    def __init__(self) -> None:
        super().__init__("general_server_error", "Rate limit store is not available", status=503)


def with_overrides(text: str, rules: Mapping[tuple[str, str], Rule] = RULES) -> dict[tuple[str, str], Rule]:
    """``rules`` with the overrides of ``NIB_RATE_LIMITS_OVERRIDES`` applied.

    ``text`` is a JSON object keyed like the table, ``"METHOD /v1/path-template"``, each value
    ``{"limit": int >= 0, "period": int >= 1}`` (either may be left out). Limit 0 lifts the
    route's limit, as a route without a limit in Appwrite (no headers, nothing counted). An
    override applies to every spelling of the route (``POST /v1/account/sessions`` is
    ``POST /v1/account/sessions/email``). Empty text: ``rules`` unchanged. Raises ``ValueError``
    naming the offending entry, so a bad setting stops nib at start-up.
    """
    table = dict(rules)
    if not text.strip():
        return table
    try:
        overrides = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error}") from None
    if not isinstance(overrides, dict):
        raise ValueError('expected a JSON object such as {"POST /v1/account": {"limit": 20, "period": 3600}}')
    overridden: dict[Rule, str] = {}
    for route, change in overrides.items():
        method, _, path = route.strip().partition(" ")
        rule = rules.get((method.upper(), path.strip()))
        if rule is None:
            known = ", ".join(sorted({f"{m} {p}" for m, p in rules}))
            raise ValueError(f"{route!r} is not a rate-limited route; the routes are: {known}")
        if rule in overridden:
            raise ValueError(f"{route!r} and {overridden[rule]!r} are one route; override it once")
        overridden[rule] = route
        _check_override(route, change)
        new = replace(rule, limit=change.get("limit", rule.limit), period=change.get("period", rule.period))
        for entry, old in rules.items():
            if old is rule:
                table[entry] = new
    return {entry: rule for entry, rule in table.items() if rule.limit > 0}


def _check_override(route: str, change: Any) -> None:
    """Refuse an override entry that is not ``{"limit": …, "period": …}`` (either or both)."""
    if not isinstance(change, dict) or not change or set(change) - {"limit", "period"}:
        raise ValueError(
            f'{route!r}: expected {{"limit": …, "period": …}} (either or both), got {orjson.dumps(change).decode()}'
        )
    for field, least in (("limit", 0), ("period", 1)):
        value = change.get(field, least)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(
                f"{route!r}: {field} must be a whole number >= {least}, got {orjson.dumps(value).decode()}"
            )


class Limiter:
    """Applies ``rules`` to requests, counting in ``counters``."""

    def __init__(
        self,
        counters: Counters,
        *,
        enforce: bool = True,
        rules: Mapping[tuple[str, str], Rule] = RULES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters = counters
        self.enforce = enforce
        self.rules = rules
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, deployment: str = "") -> Limiter:
        """Redis counters when ``settings.redis_url`` is set (their keys under ``deployment``, so
        that deployments sharing a Redis count apart), else in memory; the table with
        ``settings.rate_limits_overrides`` applied (``ValueError`` if they are invalid)."""
        rules = with_overrides(settings.rate_limits_overrides)
        counters = (
            RedisCounters(settings.redis_url, prefix=f"nib:{deployment}:ratelimit:" if deployment else "nib:ratelimit:")
            if settings.redis_url
            else MemoryCounters()
        )
        return cls(counters, enforce=settings.rate_limits, rules=rules)

    def limited(self, method: str, path: str) -> bool:
        """Whether the route (method and path template) has abuse limits."""
        return (method, path) in self.rules

    def check(
        self,
        method: str,
        path: str,
        *,
        project_id: str,
        user_id: str,
        is_key: bool,
        ip: str,
        host: str,
        content_range: str,
        params: Mapping[str, Any],
        headers: dict[str, str],
    ) -> None:
        """Count this request against its route's limits (``path`` is the route's template).

        Adds ``X-RateLimit-*`` to ``headers`` for the tightest key, even when enforcement is off
        or the caller is an API key (those are never counted). Raises 429
        ``general_rate_limit_exceeded`` once a key's window already holds ``limit`` hits, and
        ``StoreUnavailable`` (503) when the counters cannot be reached for a request that must be
        counted; one that is not goes on without the headers.
        """
        rule = self.rules.get((method, path))
        if rule is not None:
            self.apply(rule, method, project_id, user_id, is_key, ip, host, content_range, params, headers)

    def apply(
        self,
        rule: Rule,
        method: str,
        project_id: str,
        user_id: str,
        is_key: bool,
        ip: str,
        host: str,
        content_range: str,
        params: Mapping[str, Any],
        headers: dict[str, str],
    ) -> None:
        """``check`` with a given rule (a limit outside the API's route table)."""
        window = int(self.clock()) // rule.period * rule.period
        values = _placeholders(rule, method, user_id, ip, host, content_range, params)
        counting = self.enforce and not is_key
        closest: int | None = None
        for template in rule.keys:
            text = _PLACEHOLDER.sub(lambda found: values.get(found.group(0), found.group(0)), template)
            key = hashlib.sha256(f"{project_id}/{text}".encode()).hexdigest()
            try:
                before = (
                    self.counters.hit(key, window, rule.period) - 1 if counting else self.counters.peek(key, window)
                )
            except StoreUnavailable:
                if counting:
                    raise
                # Never counted (an API key, or enforcement off): the headers only inform, so the
                # request goes on without them rather than failing with the store.
                log.warning(
                    "rate-limit store unavailable: %s %s answered without X-RateLimit-* headers", method, rule.path
                )
                for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                    headers.pop(name, None)
                return
            remaining = max(0, rule.limit - (before + 1))
            if closest is None or remaining < closest:
                closest = remaining
                headers["X-RateLimit-Limit"] = str(rule.limit)
                headers["X-RateLimit-Remaining"] = str(remaining)
                headers["X-RateLimit-Reset"] = str(window + rule.period)
            if counting and before >= rule.limit:
                metrics.METRICS.rate_limited(method, rule.path)
                raise AppwriteError("general_rate_limit_exceeded")


# Unknown placeholders (a ``{param-x}`` whose value is empty) stay in the key as written, as in
# Appwrite: such requests share one counter.
_PLACEHOLDER = re.compile(r"\{[^{}]+\}")
_CONTENT_RANGE = re.compile(r"^\S+ (\d+)-(\d+)/(\d+)$")


def _placeholders(
    rule: Rule, method: str, user_id: str, ip: str, host: str, content_range: str, params: Mapping[str, Any]
) -> dict[str, str]:
    values = {
        "{url}": request_host(host) + rule.path,
        "{ip}": ip,
        "{userId}": user_id,
        "{method}": method,
        "{chunkId}": str(_chunk_id(content_range)),
    }
    for name, value in params.items():
        text = _php_text(value)
        if text is not None:
            values[f"{{param-{name}}}"] = text
    return values


def _chunk_id(content_range: str) -> int:
    """``floor(start / chunk size)`` of a valid ``Content-Range``; 0 without one (Appwrite)."""
    found = _CONTENT_RANGE.match(content_range.strip())
    if not found:
        return 0
    start, end, size = (int(part) for part in found.groups())
    if start > end or end > size:
        return 0
    return start // (end + 1 - start)


def _php_text(value: Any) -> str | None:
    """A param as Appwrite substitutes it; None for PHP ``empty()`` values, which are not."""
    if value is None or value is False or value in ("", "0", 0, [], {}):
        return None
    if value is True:
        return "1"
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return str(value)
