"""Appwrite's abuse limits: fixed-window counters per route (BEHAVIOUR.md §1.10).

``RULES`` is the per-route table (method + route path template -> limit, period, key templates).
``Limiter.check`` runs once per request, after the scope check and before parameter validation;
a route without a rule costs one dict lookup and no query.

Counting goes through ``Counters``, with two real backends: the database (table ``rate_limits``,
one atomic upsert per hit, shared by every process on that database) and Redis (``INCR`` and
``EXPIREAT`` in one transaction). Stored keys are SHA-256 digests of ``<project>/<key text>``: the
key text may hold an e-mail address, and the project prefix keeps projects apart.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .config import Settings
from .db import Database
from .db.schema import rate_limits
from .errors import AppwriteError


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
# path spellings (BEHAVIOUR.md §10) as aliases. Routes not registered yet are limited as soon as
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
    ("POST", "/account/tokens/magic-url", 60, ("url:{url},email:{param-email}", _IP)),
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
    ("POST", ("/account/verification/phone", "/account/verifications/phone"), 10, ("url:{url},userId:{userId}", _IP)),
    ("PUT", ("/account/verification/phone", "/account/verifications/phone"), 10, "userId:{param-userId}"),
    ("POST", ("/account/mfa/challenge", "/account/mfa/challenges"), 10, "url:{url},token:{param-token}"),
    ("PUT", ("/account/mfa/challenge", "/account/mfa/challenges"), 10, "userId:{param-userId}"),
    ("POST", "/teams/{teamId}/memberships", 10, _IP),
    ("POST", "/storage/buckets/{bucketId}/files", 60, _WRITE + ",chunkId:{chunkId}", 60),
    ("PUT", "/storage/buckets/{bucketId}/files/{fileId}", 60, _WRITE, 60),
    ("DELETE", "/storage/buckets/{bucketId}/files/{fileId}", 60, _WRITE, 60),
)


class Counters(ABC):
    """Hit counters of fixed windows, shared by every process that uses the same store."""

    @abstractmethod
    def hit(self, key: str, window_start: int, period: int) -> int:
        """Count one hit of ``key`` in the window starting at ``window_start`` and lasting
        ``period`` seconds; the window's hits including this one. Atomic: concurrent hits from
        any process are all counted."""

    @abstractmethod
    def peek(self, key: str, window_start: int) -> int:
        """The hits of ``key`` in the window starting at ``window_start`` (0 if none)."""


class DatabaseCounters(Counters):
    """Counters in the ``rate_limits`` table: one upsert statement per hit.

    Ended windows are deleted by the first hit after ``CLEANUP_INTERVAL`` seconds (per process):
    an indexed range delete, so the table holds about one window per active key.
    """

    CLEANUP_INTERVAL = 60.0

    def __init__(self, db: Database, *, retention: int, clock: Callable[[], float] = time.time) -> None:
        """``retention``: the longest period in use; older windows have ended for every rule."""
        self.db = db
        self.retention = retention
        self.clock = clock
        insert = (postgresql.insert if db.dialect == "postgresql" else sqlite.insert)(rate_limits)
        self._upsert = insert.values(key=sa.bindparam("key"), window_start=sa.bindparam("window_start"), hits=1)
        self._upsert = self._upsert.on_conflict_do_update(
            index_elements=[rate_limits.c.key, rate_limits.c.window_start],
            set_={"hits": rate_limits.c.hits + 1},
        ).returning(rate_limits.c.hits)
        self._peek = sa.select(rate_limits.c.hits).where(
            rate_limits.c.key == sa.bindparam("key"), rate_limits.c.window_start == sa.bindparam("window_start")
        )
        self._next_cleanup = 0.0
        self._lock = threading.Lock()

    def hit(self, key: str, window_start: int, period: int) -> int:
        with self.db.write() as conn:
            hits = conn.execute(self._upsert, {"key": key, "window_start": window_start}).scalar_one()
            if self._cleanup_due():
                cutoff = int(self.clock()) - self.retention
                conn.execute(rate_limits.delete().where(rate_limits.c.window_start < cutoff))
        return hits

    def peek(self, key: str, window_start: int) -> int:
        rows = self.db.fetch(self._peek, {"key": key, "window_start": window_start})
        return rows[0]["hits"] if rows else 0

    def _cleanup_due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next_cleanup:
                return False
            self._next_cleanup = now + self.CLEANUP_INTERVAL
            return True


class RedisCounters(Counters):
    """Counters in Redis: ``INCR`` and ``EXPIREAT`` (the window's end) in one transaction."""

    def __init__(self, url: str, *, prefix: str = "nib:ratelimit:") -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix

    def hit(self, key: str, window_start: int, period: int) -> int:
        name = self._name(key, window_start)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                hits, _ = pipe.incr(name).expireat(name, window_start + period).execute()
        except redis.RedisError as error:
            raise _unavailable() from error
        return int(hits)

    def peek(self, key: str, window_start: int) -> int:
        try:
            hits = self.redis.get(self._name(key, window_start))
        except redis.RedisError as error:
            raise _unavailable() from error
        return int(hits) if hits is not None else 0

    def _name(self, key: str, window_start: int) -> str:
        return f"{self.prefix}{key}:{window_start}"


def _unavailable() -> AppwriteError:
    return AppwriteError("general_server_error", "Rate limit store is not available", status=503)


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
    def from_settings(cls, db: Database, settings: Settings, rules: Mapping[tuple[str, str], Rule] = RULES) -> Limiter:
        """Redis counters when ``settings.redis_url`` is set, else the database's."""
        if settings.redis_url:
            counters: Counters = RedisCounters(settings.redis_url)
        else:
            counters = DatabaseCounters(db, retention=longest_period(rules.values()))
        return cls(counters, enforce=settings.abuse, rules=rules)

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
        ``general_rate_limit_exceeded`` once a key's window already holds ``limit`` hits.
        """
        rule = self.rules.get((method, path))
        if rule is None:
            return
        window = int(self.clock()) // rule.period * rule.period
        values = _placeholders(rule, method, user_id, ip, host, content_range, params)
        counting = self.enforce and not is_key
        closest: int | None = None
        for template in rule.keys:
            text = _PLACEHOLDER.sub(lambda found: values.get(found.group(0), found.group(0)), template)
            key = hashlib.sha256(f"{project_id}/{text}".encode()).hexdigest()
            before = self.counters.hit(key, window, rule.period) - 1 if counting else self.counters.peek(key, window)
            remaining = max(0, rule.limit - (before + 1))
            if closest is None or remaining < closest:
                closest = remaining
                headers["X-RateLimit-Limit"] = str(rule.limit)
                headers["X-RateLimit-Remaining"] = str(remaining)
                headers["X-RateLimit-Reset"] = str(window + rule.period)
            if counting and before >= rule.limit:
                raise AppwriteError("general_rate_limit_exceeded")


def longest_period(rules: Iterable[Rule]) -> int:
    """The longest window of ``rules``: every window older than that has ended."""
    return max((rule.period for rule in rules), default=3600)


# Unknown placeholders (a ``{param-x}`` whose value is empty) stay in the key as written, as in
# Appwrite: such requests share one counter.
_PLACEHOLDER = re.compile(r"\{[^{}]+\}")
_CONTENT_RANGE = re.compile(r"^\S+ (\d+)-(\d+)/(\d+)$")


def _placeholders(
    rule: Rule, method: str, user_id: str, ip: str, host: str, content_range: str, params: Mapping[str, Any]
) -> dict[str, str]:
    values = {
        "{url}": _hostname(host) + rule.path,
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


def _hostname(host: str) -> str:
    """The Host header without its port, lower-cased (PHP ``parse_url(…, PHP_URL_HOST)``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0]


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
